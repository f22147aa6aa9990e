"""Property-based tests: on random mixed DataFrames (random dtypes, missing values,
constant and single-category columns, unseen categories at predict), fit and predict
either work, with the right shapes and finite outputs, or raise a documented
ValueError; never anything else."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skmmoe import MMOEEstimator

SMALL = dict(
    expert_dnn_hidden_units=(4,),
    gate_dnn_hidden_units=(),
    tower_dnn_hidden_units=(),
    epochs=2,
    batch_size=16,
    num_experts=2,
)
KINDS = (
    "float",
    "float_missing",
    "int",
    "constant",
    "str",
    "str_missing",
    "single_category",
    "category",
    "bool",
    "all_missing_float",
    "all_missing_str",
    "mixed_object",
    "interval_category",
    "timestamp_category",
)
# The ValueErrors skmmoe documents for data it cannot learn from.
DOCUMENTED = ("only one class", "no observed", "no sample with a label")


def make_column(kind, n, rng, pool):
    if kind == "float":
        return rng.normal(size=n)
    if kind == "float_missing":
        values = rng.normal(size=n)
        values[rng.random(n) < 0.3] = np.nan
        return values
    if kind == "int":
        return rng.integers(-5, 5, size=n)
    if kind == "constant":
        return np.full(n, 3.0)
    if kind == "str":
        return rng.choice(pool, n).astype(object)
    if kind == "str_missing":
        values = rng.choice(pool, n).astype(object)
        values[rng.random(n) < 0.3] = None
        return values
    if kind == "single_category":
        return np.full(n, "only", dtype=object)
    if kind == "category":
        return pd.Categorical(
            rng.choice(pool, n), categories=sorted(set(pool) | {"zz"})
        )
    if kind == "bool":
        return rng.random(n) < 0.5
    if kind == "all_missing_float":
        return np.full(n, np.nan)
    if kind == "all_missing_str":
        return np.full(n, None, dtype=object)
    if kind == "mixed_object":
        return rng.choice(np.array(["a", 1, 2.5, True, None], dtype=object), n)
    if kind == "interval_category":
        return pd.cut(rng.normal(size=n), 3)
    if kind == "timestamp_category":
        days = pd.to_timedelta(rng.integers(0, 4, n), "D")
        return pd.Categorical(pd.Timestamp("2024-01-01") + days)
    raise AssertionError(kind)


@st.composite
def datasets(draw):
    n = draw(st.integers(min_value=2, max_value=40))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    seed = draw(st.integers(min_value=0, max_value=2**31 - 1))
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {f"c{j}": make_column(k, n, rng, ["u", "v", "w"]) for j, k in enumerate(kinds)}
    )
    X_new = pd.DataFrame(
        {
            f"c{j}": make_column(k, 7, rng, ["w", "new", "other"])
            for j, k in enumerate(kinds)
        }
    )
    task = draw(st.sampled_from(["binary", "regression", "both", "huge"]))
    y_binary = rng.choice(["yes", "no"], n).astype(object)
    y_binary[rng.random(n) < 0.2] = None
    y_regression = rng.normal(size=n)
    y_regression[rng.random(n) < 0.2] = np.nan
    Y = {
        "binary": pd.Series(y_binary),
        "regression": pd.Series(y_regression),
        "both": pd.DataFrame({"b": y_binary, "r": y_regression}),
        "huge": pd.Series(y_regression * 1e200),  # near the float64 limit
    }[task]
    return X, Y, X_new


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(datasets())
def test_fit_predict_work_or_raise_a_documented_value_error(data):
    X, Y, X_new = data
    est = MMOEEstimator(**SMALL)
    try:
        est.fit(X, Y)
    except ValueError as exc:
        assert any(s in str(exc) for s in DOCUMENTED), str(exc)
        assert not hasattr(est, "network_")
        return
    for frame in (X, X_new):
        pred = est.predict(frame)
        n = len(frame)
        if isinstance(Y, pd.DataFrame):
            assert pred.shape == (n, 2)
            assert set(pred[:, 0]) <= {"yes", "no"}
            assert np.isfinite(pred[:, 1].astype(float)).all()
            proba = est.predict_proba(frame)[0]
        else:
            assert pred.shape == (n,)
            proba = est.predict_proba(frame) if est.task_types_[0] == "binary" else None
            if proba is None:
                assert np.isfinite(pred.astype(float)).all()
        if proba is not None:
            assert proba.shape == (n, 2)
            assert np.isfinite(proba).all()
            np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        gates = est.gate_weights(frame)
        assert gates.shape == (n, est.n_tasks_, 2)
        assert np.isfinite(gates).all()


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 500),
    n_bins=st.integers(2, 40),
    n_atoms=st.integers(0, 4),
    integers=st.booleans(),
)
def test_bin_edges_keep_every_point_mass_and_value(seed, n, n_bins, n_atoms, integers):
    """Whatever the column: sorted edges spanning the observed range; each value
    holding more than a bin's share of the rows alone in its bin; a column with at
    most n_bins distinct values binned value by value."""
    from skmmoe._features import QuantileBinner, bin_edges

    rng = np.random.default_rng(seed)
    column = rng.standard_t(2, n) * 10 ** rng.uniform(-3, 6)
    if integers:
        column = np.round(column)
    for value in rng.normal(0, 100, n_atoms):
        column[rng.random(n) < rng.uniform(0.05, 0.6)] = value
    column[rng.random(n) < 0.1] = np.nan
    observed = column[~np.isnan(column)]
    edges = bin_edges(column, n_bins)
    if observed.size == 0:
        assert list(edges) == [0.0]
        return
    assert edges[0] == observed.min() and edges[-1] == observed.max()
    assert np.all(np.diff(edges) > 0)
    codes = QuantileBinner(n_bins=n_bins).fit(column[:, None])
    codes = codes.transform(observed[:, None])[:, 0]
    values, counts = np.unique(observed, return_counts=True)
    if len(values) <= n_bins:
        assert len(np.unique(codes)) == len(values)
    heavy = values[counts * n_bins > observed.size]
    for value in heavy:
        assert set(codes[observed == value]).isdisjoint(codes[observed != value])


@st.composite
def labelled_frames(draw):
    """A small numeric and string frame with int or str column labels, a
    permutation of its columns, and two tasks."""
    n_columns = draw(st.integers(2, 5))
    as_ints = draw(st.booleans())
    labels = [10 * j + 7 if as_ints else f"col{j}" for j in range(n_columns)]
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({label: rng.normal(size=40) for label in labels})
    if draw(st.booleans()):
        X[labels[0]] = rng.choice(["a", "b", "c"], 40)
    order = draw(st.permutations(labels))
    Y = pd.DataFrame(
        {"t_bin": (rng.random(40) < 0.5).astype(int), "t_reg": rng.normal(size=40)}
    )
    return X, Y, list(order)


@settings(max_examples=15, deadline=None)
@given(labelled_frames())
def test_columns_and_tasks_are_matched_by_name_in_any_order(data):
    """Reordered X columns (int or str labels) predict as the original order;
    reordered y columns score as the original order."""
    X, Y, order = data
    est = MMOEEstimator(**SMALL).fit(X, Y)
    np.testing.assert_array_equal(
        est.predict_proba(X[order])[0], est.predict_proba(X)[0]
    )
    assert est.score(X, Y[["t_reg", "t_bin"]]) == est.score(X, Y)


@settings(max_examples=15, deadline=None)
@given(
    keys=st.sampled_from([(0, 1), (True, False), ("no", "yes"), (2, 7)]),
    weights=st.tuples(
        st.floats(0.1, 10, allow_nan=False), st.floats(0.1, 10, allow_nan=False)
    ),
)
def test_class_weight_survives_save_and_load_whatever_its_keys(keys, weights):
    import tempfile
    from pathlib import Path

    import skmmoe
    from skmmoe import MMOEClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0, keys[0], keys[1])
    class_weight = dict(zip(keys, weights))
    est = MMOEClassifier(**SMALL, class_weight=class_weight).fit(X, y)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.skmmoe"
        skmmoe.save(est, path)
        loaded = skmmoe.load(path)
    assert loaded.class_weight == class_weight
    assert [type(k) for k in loaded.class_weight] == [type(k) for k in keys]
