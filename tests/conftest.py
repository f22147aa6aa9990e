"""Fixtures shared by several test modules: small data sets made with fixed seeds,
and one fitted estimator.

A fixture used by one module only lives in that module. The small network's
parameters are in ``small_network.py`` (``from small_network import small``).
"""

import numpy as np
import pandas as pd
import pytest
import torch
from small_network import small

from skmmoe import MMOEEstimator


@pytest.fixture(autouse=True)
def _torch_threads_left_as_found():
    """Every test leaves torch's thread count as it found it: one that sets it and
    does not restore it changes the speed, and the float sums, of every test
    after it."""
    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"the test left torch's threads at {after}; it found {before}")


# Small networks and few epochs keep each fit well under a second.
@pytest.fixture
def numeric_binary_regression():
    """(X, y_binary, y_regression): X of 300 rows of 4 standard normal features, a
    learnable 0/1 task and a learnable regression task."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y_binary = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    y_regression = 2.0 * X[:, 1] - X[:, 2] + 0.1 * rng.normal(size=300)
    return X, y_binary, y_regression


@pytest.fixture
def mixed_frame_xy():
    """(X, Y): X a 400-row DataFrame of object (with None), category, bool and float
    (with NaN) columns; Y a DataFrame of a learnable 'yes'/'no' task 'bought' and a
    learnable regression task 'spend'."""
    rng = np.random.default_rng(42)
    n = 400
    city = rng.choice(["paris", "rome", "oslo", "lima"], n).astype(object)
    city[rng.random(n) < 0.05] = None
    member = rng.random(n) < 0.4
    age = rng.normal(40.0, 10.0, n)
    X = pd.DataFrame(
        {
            "city": pd.Series(city, dtype=object),
            "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "member": member,
            "age": age,
        }
    )
    X.loc[rng.random(n) < 0.05, "age"] = np.nan
    bought = np.where((X["city"] == "rome") | member, "yes", "no")
    spend = 2.0 * age + 5.0 * (X["color"] == "red").to_numpy() + rng.normal(size=n)
    Y = pd.DataFrame({"bought": bought, "spend": spend})
    return X, Y


def _mixed_frame(n, seed):
    """object (with None), category, bool and float (with NaN) columns."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["paris", "rome", "oslo", "lima"], n).astype(object)
    city[rng.random(n) < 0.1] = None
    age = rng.normal(40.0, 10.0, n)
    age[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "city": pd.Series(city, dtype=object),
            "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "member": rng.random(n) < 0.4,
            "age": age,
        }
    )


@pytest.fixture(scope="module")
def fitted_mixed_estimator():
    """(est, X, Y): an MMOEEstimator fitted for 2 epochs on X, a 200-row DataFrame of
    the same columns as mixed_frame_xy's (10% of city None, 10% of age NaN), and a
    two-task Y: a string-labelled binary task 'bought' and a regression task
    'spend'. Shared by a module's tests: do not change it (copy it first)."""
    X = _mixed_frame(200, seed=0)
    rng = np.random.default_rng(1)
    bought = np.where((X["city"] == "rome") | X["member"], "yes", "no")
    spend = np.nan_to_num(X["age"].to_numpy(), nan=40.0) + rng.normal(size=len(X))
    Y = pd.DataFrame({"bought": bought, "spend": spend})
    est = MMOEEstimator(**small(epochs=2)).fit(X, Y)
    return est, X, Y
