"""The public estimators MMOEEstimator, MMOEClassifier and MMOERegressor."""

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.preprocessing import OrdinalEncoder, StandardScaler
from small_network import SMALL, small

from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor


# Small networks and few epochs keep each fit well under a second.
@pytest.fixture
def numeric_data():
    """X of 4 standard normal features, a learnable binary and regression task."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y_binary = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    y_regression = 2.0 * X[:, 1] - X[:, 2] + 0.1 * rng.normal(size=300)
    return X, y_binary, y_regression


@pytest.fixture
def mixed_frame():
    """A DataFrame of object (with None), category, bool and float (with NaN)
    columns, and a Y DataFrame of a 'yes'/'no' task and a regression task."""
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


# --------------------------------------------------------------- acceptance
def test_acceptance_default_parameters_on_mixed_dataframe(mixed_frame):
    X, Y = mixed_frame
    assert X["city"].dtype == object and X["city"].isna().any()
    assert X["age"].isna().any()

    est = MMOEEstimator().fit(X, Y)

    assert est.task_names_ == ["bought", "spend"]
    assert est.task_types_ == ["binary", "regression"]
    pred = est.predict(X)
    assert pred.shape == (len(X), 2)
    assert set(pred[:, 0]) <= {"yes", "no"}
    assert all(isinstance(v, str) for v in pred[:, 0])
    spend = pred[:, 1].astype(np.float64)
    assert np.isfinite(spend).all()
    assert all(isinstance(v, float) for v in pred[:, 1])

    majority = max(np.mean(Y["bought"] == "yes"), np.mean(Y["bought"] == "no"))
    accuracy = np.mean(pred[:, 0] == Y["bought"].to_numpy())
    assert accuracy > majority + 0.2
    assert accuracy > 0.9
    assert r2_score(Y["spend"], spend) > 0.5

    new = pd.DataFrame(
        {
            "city": pd.Series(["tokyo", None, "rome"], dtype=object),
            "color": pd.Categorical(["purple", None, "red"]),
            "member": [True, False, False],
            "age": [np.nan, 25.0, np.nan],
        }
    )
    new_pred = est.predict(new)
    assert new_pred.shape == (3, 2)
    assert set(new_pred[:, 0]) <= {"yes", "no"}
    assert np.isfinite(new_pred[:, 1].astype(np.float64)).all()
    proba = est.predict_proba(new)
    assert proba[1] is None
    assert np.isfinite(proba[0]).all()
    assert_allclose(proba[0].sum(axis=1), 1.0)


# ------------------------------------------------------------------- shapes
def test_output_shapes_1d_y(numeric_data):
    X, y, _ = numeric_data
    est = MMOEClassifier(**SMALL).fit(X, y)
    assert est.predict(X).shape == (len(X),)
    assert est.predict_proba(X).shape == (len(X), 2)
    assert isinstance(est.classes_, np.ndarray)
    assert_array_equal(est.classes_, [0, 1])
    assert est.n_tasks_ == 1


def test_output_shapes_2d_y(numeric_data):
    X, y_binary, y_regression = numeric_data
    Y = np.column_stack([y_binary, y_regression])
    est = MMOEEstimator(**small(task_types=("binary", "regression"))).fit(X, Y)
    assert est.predict(X).shape == (len(X), 2)
    proba = est.predict_proba(X)
    assert isinstance(proba, list) and len(proba) == 2
    assert proba[0].shape == (len(X), 2)
    assert proba[1] is None
    assert isinstance(est.classes_, list)
    assert_array_equal(est.classes_[0], [0.0, 1.0])
    assert est.classes_[1] is None


def test_single_column_2d_y_stays_2d(numeric_data):
    X, y, _ = numeric_data
    est = MMOEClassifier(**SMALL).fit(X, y.reshape(-1, 1))
    assert est.predict(X).shape == (len(X), 1)
    proba = est.predict_proba(X)
    assert isinstance(proba, list) and proba[0].shape == (len(X), 2)
    assert isinstance(est.classes_, list) and len(est.classes_) == 1

    est = MMOERegressor(**SMALL).fit(X, pd.DataFrame({"target": y * 1.5}))
    assert est.predict(X).shape == (len(X), 1)
    assert est.task_names_ == ["target"]


# ------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog"], dtype=object),
        np.array([False, True]),
        np.array([3, 7], dtype=np.int64),
        np.array([-1, 1], dtype=np.int32),
    ],
    ids=["str", "bool", "int64", "int32"],
)
def test_labels_come_back_as_given(numeric_data, labels):
    X, y, _ = numeric_data
    y_given = labels[y]
    est = MMOEClassifier(**small(epochs=10, learning_rate=0.01)).fit(X, y_given)
    pred = est.predict(X)
    assert pred.dtype.kind == labels.dtype.kind
    assert set(pred.tolist()) <= set(labels.tolist())
    assert_array_equal(est.classes_, np.sort(labels))
    assert np.mean(pred == y_given) > 0.8
    # predict_proba's columns follow classes_: predict is their argmax.
    proba = est.predict_proba(X)
    assert_array_equal(est.classes_[np.argmax(proba, axis=1)], pred)


def test_pandas_category_labels(numeric_data):
    X, y, _ = numeric_data
    y_cat = pd.Series(np.where(y == 1, "high", "low")).astype("category")
    est = MMOEClassifier(**small(epochs=10, learning_rate=0.01)).fit(X, y_cat)
    pred = est.predict(X)
    assert set(pred.tolist()) <= {"high", "low"}
    assert list(est.classes_) == ["high", "low"]
    assert np.mean(pred == y_cat.to_numpy()) > 0.8
    positive = est.predict_proba(X)[:, 1]
    assert roc_auc_score(y_cat == "low", positive) > 0.9


def test_2d_string_and_int_labels_keep_their_types(numeric_data):
    X, y, _ = numeric_data
    Y = pd.DataFrame({"s": np.where(y == 1, "a", "b"), "i": 5 * (X[:, 2] > 0)})
    est = MMOEClassifier(**small(epochs=10)).fit(X, Y)
    pred = est.predict(X)
    assert pred.dtype == object
    assert set(pred[:, 0]) <= {"a", "b"}
    assert all(isinstance(v, (int, np.integer)) for v in pred[:, 1])
    assert set(pred[:, 1].tolist()) <= {0, 5}


def test_multiclass_task_end_to_end():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    y = np.array(["north", "east", "south", "west"])[
        (X[:, 0] > 0).astype(int) * 2 + (X[:, 1] > 0).astype(int)
    ]
    est = MMOEEstimator(**small(epochs=20, learning_rate=0.01)).fit(X, y)
    assert est.task_types_ == ["multiclass"]
    assert_array_equal(est.classes_, ["east", "north", "south", "west"])
    proba = est.predict_proba(X)
    assert proba.shape == (400, 4)
    assert_allclose(proba.sum(axis=1), 1.0)
    pred = est.predict(X)
    assert_array_equal(est.classes_[np.argmax(proba, axis=1)], pred)
    assert accuracy_score(y, pred) > 0.85
    assert est.score(X, y) == pytest.approx(accuracy_score(y, pred))


# --------------------------------------------------------- task names/types
def test_task_names_default_and_given(numeric_data):
    X, y_binary, y_regression = numeric_data
    Y = np.column_stack([y_binary, y_regression])
    est = MMOEEstimator(**small(epochs=1)).fit(X, Y)
    assert est.task_names_ == ["task_0", "task_1"]
    assert set(est.history_[0]["train_loss"]) == {"task_0", "task_1"}

    est = MMOEEstimator(**small(epochs=1)).fit(
        X, pd.DataFrame({"click": y_binary, "dwell": y_regression})
    )
    assert est.task_names_ == ["click", "dwell"]

    est = MMOEEstimator(**small(epochs=1, task_names=("a", "b"))).fit(X, Y)
    assert est.task_names_ == ["a", "b"]
    assert set(est.history_[0]["train_loss"]) == {"a", "b"}

    with pytest.raises(ValueError, match="task_names has 3 entries"):
        MMOEEstimator(**small(epochs=1, task_names=("a", "b", "c"))).fit(X, Y)


def test_task_types_given(numeric_data):
    X, y_binary, y_regression = numeric_data
    # Integer labels would be inferred as classes; task_types makes it regression.
    y_int = np.round(3 * y_regression).astype(int)
    Y = np.column_stack([y_binary, y_int])
    est = MMOEEstimator(**small(epochs=1)).fit(X, Y)
    assert est.task_types_ == ["binary", "multiclass"]
    est = MMOEEstimator(**small(epochs=1, task_types=("binary", "regression")))
    est.fit(X, Y)
    assert est.task_types_ == ["binary", "regression"]
    assert all(isinstance(v, float) for v in est.predict(X)[:, 1])


@pytest.mark.parametrize(
    "task_types, y_kind, match",
    [
        (("binary",), "mixed", "task_types has 1 entries but y has 2"),
        (("binary", "ordinal"), "mixed", "Unknown task type"),
        (("binary", "regression"), "strings", "regression task but its labels"),
        (("binary", "binary"), "three", "binary but y holds 3 classes"),
    ],
    ids=["wrong-length", "unknown-type", "regression-strings", "binary-3-classes"],
)
def test_task_types_validated(numeric_data, task_types, y_kind, match):
    X, y_binary, y_regression = numeric_data
    second = {
        "mixed": y_regression,
        "strings": np.where(y_binary == 1, "up", "down"),
        "three": np.arange(len(X)) % 3,
    }[y_kind]
    Y = pd.DataFrame({"a": y_binary, "b": second})
    with pytest.raises(ValueError, match=match):
        MMOEEstimator(**small(epochs=1, task_types=task_types)).fit(X, Y)


def test_classifier_and_regressor_restrict_task_types(numeric_data):
    X, y, y_regression = numeric_data
    with pytest.raises(ValueError, match="not allowed for this estimator"):
        MMOEClassifier(**small(epochs=1, task_types=("regression",))).fit(X, y)
    with pytest.raises(ValueError, match="continuous"):
        MMOEClassifier(**small(epochs=1)).fit(X, y_regression)
    est = MMOERegressor(**small(epochs=1)).fit(X, y)
    assert est.task_types_ == ["regression"]


# ------------------------------------------------------------ missing labels
def test_missing_label_masks_only_that_task(numeric_data):
    X, y_binary, y_regression = numeric_data
    rng = np.random.default_rng(3)
    hidden = rng.random(len(X)) < 0.5
    Y = pd.DataFrame({"a": y_binary.astype(object), "b": y_regression})
    Y.loc[hidden, "a"] = None
    params = small(batch_size=32, epochs=5, learning_rate=0.01)
    masked = MMOEEstimator(**params).fit(X, Y)
    assert_array_equal(masked.classes_[0], [0, 1])

    # The same fit with the hidden labels set (to anything) and weighted zero.
    Y_filled = pd.DataFrame({"a": np.where(hidden, 1 - y_binary, y_binary), "b": Y.b})
    weights = np.ones((len(X), 2))
    weights[hidden, 0] = 0.0
    filled = MMOEEstimator(**params).fit(X, Y_filled, sample_weight=weights)
    assert_allclose(
        masked.predict_proba(X)[0], filled.predict_proba(X)[0], rtol=1e-5, atol=1e-6
    )
    assert_allclose(
        masked.predict(X)[:, 1].astype(float),
        filled.predict(X)[:, 1].astype(float),
        rtol=1e-5,
    )

    # Masking task a leaves task b's training intact: b still learns.
    assert r2_score(y_regression, masked.predict(X)[:, 1].astype(float)) > 0.5


def test_values_of_zero_weight_classification_labels_do_not_matter(numeric_data):
    X, y, _ = numeric_data
    weight = np.ones(len(X))
    weight[::3] = 0.0
    flipped = y.copy()
    flipped[::3] = 1 - flipped[::3]
    params = small(batch_size=512, epochs=8)
    a = MMOEClassifier(**params).fit(X, y, sample_weight=weight)
    b = MMOEClassifier(**params).fit(X, flipped, sample_weight=weight)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_values_of_zero_weight_regression_labels_do_not_matter(numeric_data):
    X, _, y = numeric_data
    weight = np.ones(len(X))
    weight[::3] = 0.0
    changed = y.copy()
    changed[::3] = 100.0
    params = small(batch_size=512, epochs=8)
    a = MMOERegressor(**params).fit(X, y, sample_weight=weight)
    b = MMOERegressor(**params).fit(X, changed, sample_weight=weight)
    assert_allclose(a.predict(X), b.predict(X), rtol=1e-5)


def test_all_labels_missing_in_a_task_raises(numeric_data):
    X, y, _ = numeric_data
    Y = pd.DataFrame({"a": y, "b": np.full(len(X), np.nan)})
    with pytest.raises(ValueError, match="no observed|no sample with a label"):
        MMOEEstimator(**small(epochs=1)).fit(X, Y)


# ------------------------------------------------------------ sample weight
def test_sample_weight_shapes(numeric_data):
    X, y_binary, y_regression = numeric_data
    Y = np.column_stack([y_binary, y_regression])
    rng = np.random.default_rng(0)
    params = small(batch_size=512, epochs=5, task_types=("binary", "regression"))

    unweighted = MMOEEstimator(**params).fit(X, Y).predict(X)
    ones_1d = MMOEEstimator(**params).fit(X, Y, sample_weight=np.ones(len(X)))
    assert_allclose(ones_1d.predict(X).astype(float), unweighted, rtol=1e-5)

    w = rng.uniform(0.5, 2.0, len(X))
    one_d = MMOEEstimator(**params).fit(X, Y, sample_weight=w)
    two_d = MMOEEstimator(**params).fit(X, Y, sample_weight=np.column_stack([w, w]))
    assert_array_equal(one_d.predict(X), two_d.predict(X))
    assert not np.allclose(one_d.predict(X).astype(float), unweighted)

    with pytest.raises(ValueError, match="sample_weight of shape"):
        MMOEEstimator(**params).fit(X, Y, sample_weight=np.ones((len(X), 3)))
    with pytest.raises(ValueError, match="Negative"):
        MMOEEstimator(**params).fit(X, Y, sample_weight=-np.ones(len(X)))


def test_per_task_sample_weight_affects_only_its_task(numeric_data):
    X, y_binary, y_regression = numeric_data
    Y = pd.DataFrame({"a": y_binary, "b": y_regression})
    params = small(batch_size=512, epochs=6)
    weight = np.ones((len(X), 2))
    weight[::2, 0] = 0.0
    flipped = Y.copy()
    flipped.loc[::2, "a"] = 1 - flipped.loc[::2, "a"]
    a = MMOEEstimator(**params).fit(X, Y, sample_weight=weight)
    b = MMOEEstimator(**params).fit(X, flipped, sample_weight=weight)
    assert_array_equal(a.predict(X), b.predict(X))
    c = MMOEEstimator(**params).fit(X, flipped)
    assert not np.allclose(a.predict_proba(X)[0], c.predict_proba(X)[0])


# ------------------------------------------------------------- loss weights
def test_loss_weight_zero_leaves_a_task_unlearned():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    Y = np.column_stack([X[:, 0] * 2.0, X[:, 1] - X[:, 2]])
    params = small(epochs=20, learning_rate=0.01)
    both = MMOERegressor(**params).fit(X, Y)
    only_first = MMOERegressor(**params, loss_weights=(1.0, 0.0)).fit(X, Y)
    r2_both = r2_score(Y, both.predict(X), multioutput="raw_values")
    r2_first = r2_score(Y, only_first.predict(X), multioutput="raw_values")
    assert r2_both.min() > 0.8
    assert r2_first[0] > 0.8
    assert r2_first[1] < 0.5


def test_loss_weights_wrong_length_or_values_raise(numeric_data):
    X, y, _ = numeric_data
    with pytest.raises(ValueError, match="loss_weights has 2 entries"):
        MMOEClassifier(**small(epochs=1, loss_weights=(1.0, 1.0))).fit(X, y)
    with pytest.raises(ValueError, match="not all zero"):
        MMOEClassifier(**small(epochs=1, loss_weights=(0.0,))).fit(X, y)


# ------------------------------------------------------------------- score
def test_estimator_score_is_mean_of_per_task_metrics():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 4))
    Y = pd.DataFrame(
        {
            "b": np.where(X[:, 0] > 0, "yes", "no"),
            "m": np.digitize(X[:, 1], [-0.5, 0.5]),
            "r": X[:, 2] + X[:, 3],
        }
    )
    est = MMOEEstimator(**small(epochs=10, learning_rate=0.01)).fit(X, Y)
    assert est.task_types_ == ["binary", "multiclass", "regression"]
    proba = est.predict_proba(X)
    pred = est.predict(X)
    expected = np.mean(
        [
            roc_auc_score(Y["b"] == "yes", proba[0][:, 1]),
            accuracy_score(Y["m"], pred[:, 1].astype(int)),
            r2_score(Y["r"], pred[:, 2].astype(float)),
        ]
    )
    assert est.score(X, Y) == pytest.approx(expected, rel=1e-10)

    weight = rng.uniform(0.1, 1.0, len(X))
    expected_weighted = np.mean(
        [
            roc_auc_score(Y["b"] == "yes", proba[0][:, 1], sample_weight=weight),
            accuracy_score(Y["m"], pred[:, 1].astype(int), sample_weight=weight),
            r2_score(Y["r"], pred[:, 2].astype(float), sample_weight=weight),
        ]
    )
    score = est.score(X, Y, sample_weight=weight)
    assert score == pytest.approx(expected_weighted, rel=1e-10)


def test_estimator_score_skips_missing_labels(numeric_data):
    X, y_binary, y_regression = numeric_data
    Y = pd.DataFrame({"a": y_binary.astype(float), "b": y_regression})
    est = MMOEEstimator(**small(epochs=5)).fit(X, Y)
    Y_test = Y.copy()
    Y_test.loc[:99, "a"] = np.nan
    keep = Y_test["a"].notna().to_numpy()
    expected = np.mean(
        [
            roc_auc_score(y_binary[keep], est.predict_proba(X)[0][keep, 1]),
            r2_score(y_regression, est.predict(X)[:, 1]),
        ]
    )
    assert est.score(X, Y_test) == pytest.approx(expected, rel=1e-10)


def test_classifier_score_is_subset_accuracy_for_string_labels(numeric_data):
    X, y, _ = numeric_data
    Y = pd.DataFrame(
        {"a": np.where(y == 1, "s", "t"), "b": np.where(X[:, 3] > 0, "p", "q")}
    )
    est = MMOEClassifier(**small(epochs=3)).fit(X, Y)
    pred = est.predict(X)
    all_right = (pred == Y.to_numpy()).all(axis=1)
    assert est.score(X, Y) == pytest.approx(all_right.mean())
    assert est.score(X, Y) <= min(
        accuracy_score(Y["a"], pred[:, 0]), accuracy_score(Y["b"], pred[:, 1])
    )
    weight = np.linspace(0.1, 1.0, len(X))
    assert est.score(X, Y, sample_weight=weight) == pytest.approx(
        np.average(all_right, weights=weight)
    )


def test_classifier_score_with_column_y_after_1d_fit(numeric_data):
    X, y, _ = numeric_data
    est = MMOEClassifier(**small(epochs=10, learning_rate=0.01)).fit(X, y)
    expected = est.score(X, y)
    assert expected > 0.8
    try:
        got = est.score(X, y.reshape(-1, 1))
    except ValueError:
        return  # refusing the shape is as good as scoring it right
    assert got == pytest.approx(expected)


def test_regressor_score_is_mean_r2(numeric_data):
    X, _, y = numeric_data
    Y = np.column_stack([y, X[:, 0] * 3.0])
    est = MMOERegressor(**small(epochs=5)).fit(X, Y)
    pred = est.predict(X)
    expected = np.mean([r2_score(Y[:, 0], pred[:, 0]), r2_score(Y[:, 1], pred[:, 1])])
    assert est.score(X, Y) == pytest.approx(expected, rel=1e-10)


# ------------------------------------------------------------- determinism
def test_same_seed_same_predictions_different_seed_differs(numeric_data):
    X, y, _ = numeric_data
    params = small(epochs=3, dnn_dropout=0.2)
    a = MMOEClassifier(**params, seed=7).fit(X, y).predict_proba(X)
    b = MMOEClassifier(**params, seed=7).fit(X, y).predict_proba(X)
    c = MMOEClassifier(**params, seed=8).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_global_rng_states_alone(numeric_data):
    X, y, _ = numeric_data
    torch_state = torch.get_rng_state()
    # The legacy global numpy RNG is the state a user's program may rely on.
    numpy_state = np.random.get_state()  # noqa: NPY002
    est = MMOEClassifier(**small(epochs=3, dnn_dropout=0.1, early_stopping=True))
    est.fit(X, y)
    est.predict(X)
    MMOEClassifier(**small(epochs=2, seed=None)).fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0]
    assert_array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


# ------------------------------------------------------------------ params
def test_init_stores_params_only_and_get_set_params_clone():
    units = (32, 16)
    est = MMOEEstimator(expert_dnn_hidden_units=units, device="bogus", epochs=3)
    # No validation in __init__: a bogus device only fails at fit.
    assert est.device == "bogus"
    assert est.expert_dnn_hidden_units is units
    assert not [k for k in vars(est) if k.endswith("_")]
    params = est.get_params()
    assert params["epochs"] == 3 and params["num_experts"] == 3
    assert set(params) == set(vars(est))

    est.set_params(num_experts=5, loss_weights=(1.0, 2.0))
    assert est.num_experts == 5 and est.loss_weights == (1.0, 2.0)
    copy = clone(est)
    assert copy is not est
    assert copy.get_params() == est.get_params()
    assert MMOEClassifier().get_params() == MMOERegressor().get_params()


def test_clone_of_fitted_estimator_is_unfitted(numeric_data):
    X, y, _ = numeric_data
    est = MMOEClassifier(**small(epochs=1)).fit(X, y)
    copy = clone(est)
    assert not hasattr(copy, "network_")
    assert copy.get_params() == est.get_params()


# --------------------------------------------------------------- gates etc.
@pytest.mark.parametrize("num_experts", [1, 4])
def test_gate_weights_shape_and_sum(numeric_data, num_experts):
    X, y_binary, y_regression = numeric_data
    Y = pd.DataFrame({"a": y_binary, "b": y_regression})
    est = MMOEEstimator(**small(epochs=3, num_experts=num_experts)).fit(X, Y)
    gates = est.gate_weights(X)
    assert gates.shape == (len(X), 2, num_experts)
    assert (gates >= 0).all()
    assert_allclose(gates.sum(axis=2), 1.0, rtol=1e-5)


@pytest.mark.parametrize("num_experts", [1, 3])
def test_shared_bottom_and_multiple_experts_both_learn(numeric_data, num_experts):
    X, y_binary, y_regression = numeric_data
    Y = pd.DataFrame({"a": y_binary, "b": y_regression})
    est = MMOEEstimator(**small(epochs=20, num_experts=num_experts)).fit(X, Y)
    pred = est.predict(X)
    assert accuracy_score(y_binary, pred[:, 0].astype(int)) > 0.85
    assert r2_score(y_regression, pred[:, 1].astype(float)) > 0.7


def test_fitted_attributes(mixed_frame):
    X, Y = mixed_frame
    est = MMOEEstimator(**small(epochs=4)).fit(X, Y)
    assert est.n_features_in_ == 4
    assert_array_equal(est.feature_names_in_, ["city", "color", "member", "age"])
    kinds = {c.name: c.kind for c in est.feature_columns_}
    assert kinds["city"] == kinds["color"] == kinds["member"] == "sparse"
    # The default "scaled+embedding": the standardised value and its bin's embedding.
    assert kinds["age"] == "dense" and kinds["age_bin"] == "sparse"
    age_bins = next(c for c in est.feature_columns_ if c.name == "age_bin")
    assert age_bins.vocabulary_size > 4 and age_bins.embedding_dim == 8
    city = next(c for c in est.feature_columns_ if c.name == "city")
    # 4 cities plus the reserved index for unknown and missing.
    assert city.vocabulary_size == 5 and city.embedding_dim == 8
    assert all(
        c.vocabulary_size is None for c in est.feature_columns_ if c.kind == "dense"
    )
    assert isinstance(est.preprocessor_, ColumnTransformer)
    assert hasattr(est.preprocessor_, "transformers_")
    assert est.n_epochs_ == 4 and len(est.history_) == 4
    assert est.best_epoch_ is None
    assert est.n_tasks_ == 2
    for epoch, record in enumerate(est.history_, start=1):
        assert record["epoch"] == epoch
        assert set(record["train_loss"]) == {"bought", "spend"}
        assert all(np.isfinite(v) for v in record["train_loss"].values())
        assert "valid" not in record
    assert isinstance(est.network_, torch.nn.Module)


def test_array_input_has_no_feature_names(numeric_data):
    X, y, _ = numeric_data
    est = MMOEClassifier(**small(epochs=1)).fit(X, y)
    assert est.n_features_in_ == 4
    assert not hasattr(est, "feature_names_in_")
    # Numeric columns only: dense piecewise-linear inputs and bin embeddings.
    sparse = [c.name for c in est.feature_columns_ if c.kind == "sparse"]
    assert sparse == [f"x{j}_bin" for j in range(4)]
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])


def test_unfitted_estimator_raises():
    from sklearn.exceptions import NotFittedError

    est = MMOEEstimator()
    for method in (est.predict, est.predict_proba, est.gate_weights):
        with pytest.raises(NotFittedError):
            method(np.zeros((2, 2)))


def test_predict_proba_absent_for_regression_only(numeric_data):
    X, _, y = numeric_data
    est = MMOEEstimator(**small(epochs=1)).fit(X, y)
    assert not hasattr(est, "predict_proba")
    assert not hasattr(MMOERegressor(), "predict_proba")


# --------------------------------------------------------- DataFrame input
def test_reordered_columns_match_by_name(mixed_frame):
    X, Y = mixed_frame
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    expected = est.predict(X)
    shuffled = X[["age", "member", "city", "color"]]
    assert_array_equal(est.predict(shuffled), expected)
    assert_array_equal(est.predict_proba(shuffled)[0], est.predict_proba(X)[0])

    with pytest.raises(ValueError):
        est.predict(X.drop(columns="member"))


def test_predictions_do_not_depend_on_other_rows(mixed_frame):
    X, Y = mixed_frame
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    full = est.predict_proba(X)[0]
    part = est.predict_proba(X.iloc[7:19])[0]
    assert_array_equal(part, full[7:19])


def test_user_column_transformer(mixed_frame):
    X, Y = mixed_frame
    X = X.assign(city=X["city"].fillna("unknown"))
    ct = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["city", "color"],
            ),
            ("num", StandardScaler(), ["age"]),
        ],
        remainder="drop",
    )
    X = X.assign(age=X["age"].fillna(40.0))
    est = MMOEEstimator(**small(epochs=10, preprocessor=ct)).fit(X, Y)
    kinds = {c.name: c.kind for c in est.feature_columns_}
    assert kinds == {"cat__city": "sparse", "cat__color": "sparse", "num__age": "dense"}
    city = next(c for c in est.feature_columns_ if c.name == "cat__city")
    assert city.vocabulary_size == 6  # 4 cities, 'unknown', and the reserved index
    # The user's object is left unfitted; the fitted copy is preprocessor_.
    assert not hasattr(ct, "transformers_")
    assert est.preprocessor_ is not ct
    new = X.head(3).assign(city=["atlantis", "rome", "oslo"])
    assert np.isfinite(est.predict(new)[:, 1].astype(float)).all()

    with pytest.raises(ValueError, match="categorical_features cannot be set"):
        MMOEEstimator(**small(preprocessor=ct, categorical_features=["city"])).fit(X, Y)


def test_categorical_features_as_names():
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"shop": rng.integers(0, 6, 300), "x": rng.normal(size=300)})
    y = np.isin(X["shop"], [1, 4]).astype(int)
    est = MMOEClassifier(
        **small(epochs=20, categorical_features=["shop"], numeric_encoding="scaled")
    ).fit(X, y)
    kinds = {c.name: (c.kind, c.vocabulary_size) for c in est.feature_columns_}
    assert kinds == {"shop": ("sparse", 7), "x": ("dense", None)}
    assert est.score(X, y) > 0.9
    # An unseen shop id goes to the reserved index.
    assert est.predict(pd.DataFrame({"shop": [99], "x": [0.0]})).shape == (1,)


def test_categorical_features_on_object_array():
    rng = np.random.default_rng(6)
    X = np.empty((300, 2), dtype=object)
    X[:, 0] = rng.choice(["a", "b", "c"], 300)
    X[:, 1] = rng.normal(size=300)
    y = (X[:, 0] == "a").astype(int)
    new = np.array([["zzz", 0.3], [None, -1.0]], dtype=object)
    probas = []
    for spec in ([0], [-2], [True, False], np.array([True, False])):
        est = MMOEClassifier(
            **small(epochs=2, categorical_features=spec, numeric_encoding="scaled")
        ).fit(X, y)
        kinds = [(c.kind, c.vocabulary_size) for c in est.feature_columns_]
        assert kinds == [("sparse", 4), ("dense", None)]
        assert est.n_features_in_ == 2
        probas.append(est.predict_proba(np.vstack([X[:20], new])))
    for proba in probas[1:]:
        assert_array_equal(proba, probas[0])
    assert np.isfinite(probas[0]).all()


def test_categorical_features_none_and_bad_names(mixed_frame):
    X, Y = mixed_frame
    numeric = X[["age"]].assign(code=np.arange(len(X)) % 4)
    est = MMOEEstimator(
        **small(epochs=1, categorical_features=None, numeric_encoding="scaled")
    ).fit(numeric, Y)
    assert [c.kind for c in est.feature_columns_] == ["dense"] * 3
    with pytest.raises(ValueError, match="not in X"):
        MMOEEstimator(**small(epochs=1, categorical_features=["nope"])).fit(X, Y)
    with pytest.raises(ValueError, match="DataFrame"):
        MMOEEstimator(**small(epochs=1, categorical_features=["a"])).fit(
            np.zeros((10, 2)), np.arange(10) % 2
        )


# ------------------------------------------------------------------ device
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize(
    "device_params", [{"device": "cuda"}, {"device": "cuda:0"}, {"gpus": [0]}]
)
def test_cuda_without_cuda_raises_at_fit(numeric_data, device_params):
    X, y, _ = numeric_data
    est = MMOEClassifier(**small(epochs=1), **device_params)
    with pytest.raises(ValueError, match="CUDA"):
        est.fit(X, y)
    assert not hasattr(est, "network_")


def test_unknown_device_raises_and_auto_works(numeric_data):
    X, y, _ = numeric_data
    with pytest.raises(ValueError, match="bogus"):
        MMOEClassifier(**small(epochs=1, device="bogus")).fit(X, y)
    est = MMOEClassifier(**small(epochs=1, device="auto")).fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(est.network_.parameters()).device.type == expected
    assert est.predict(X).shape == (len(X),)
    est = MMOEClassifier(**small(epochs=1, device=torch.device("cpu"))).fit(X, y)
    assert est.predict(X).shape == (len(X),)


def test_failed_fit_keeps_previous_fit(numeric_data):
    X, y, _ = numeric_data
    est = MMOEClassifier(**small(epochs=3)).fit(X, y)
    expected = est.predict_proba(X)
    history = est.history_
    network = est.network_
    est.set_params(device="bogus", epochs=7)
    with pytest.raises(ValueError, match="bogus"):
        est.fit(X, y)
    assert est.network_ is network
    assert est.history_ is history
    assert_array_equal(est.predict_proba(X), expected)
    # A failure later in fit (labels of a 3-class task declared binary) as well.
    est.set_params(device="cpu", task_types=("binary",))
    with pytest.raises(ValueError, match="binary"):
        est.fit(X, np.arange(len(X)) % 3)
    assert_array_equal(est.predict_proba(X), expected)
    assert est.n_epochs_ == 3


# ----------------------------------------------------------------- verbose
def test_verbose_zero_prints_nothing(capsys, mixed_frame):
    X, Y = mixed_frame
    est = MMOEEstimator(**small(epochs=3, early_stopping=True, verbose=0))
    est.fit(X, Y)
    est.predict(X)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""


def test_verbose_one_reports_each_task_on_stderr(capsys, mixed_frame):
    X, Y = mixed_frame
    MMOEEstimator(**small(epochs=2, verbose=1)).fit(X, Y)
    out, err = capsys.readouterr()
    assert out == ""
    assert "bought" in err and "spend" in err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err


# ------------------------------------------------------ pickle and threads
def test_pickle_round_trip(mixed_frame):
    X, Y = mixed_frame
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    assert_array_equal(restored.predict_proba(X)[0], est.predict_proba(X)[0])
    assert_array_equal(restored.gate_weights(X), est.gate_weights(X))
    assert restored.task_names_ == est.task_names_


def test_predict_from_threads(mixed_frame):
    X, Y = mixed_frame
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    expected = est.predict_proba(X)[0]
    barrier = threading.Barrier(4)

    def work(_):
        barrier.wait()
        return [est.predict_proba(X)[0] for _ in range(3)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(4)))
    for per_thread in results:
        for proba in per_thread:
            assert_array_equal(proba, expected)


# ---------------------------------------------------------------- partial_fit
@pytest.fixture(scope="module")
def stream_data():
    rng = np.random.default_rng(7)
    n = 4000
    X = pd.DataFrame(
        {
            "c": rng.choice(list("abcdefgh"), n).astype(object),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    Y = pd.DataFrame(
        {
            "b": ((X.c.isin(list("abc"))) ^ (X.x > 0.5)).astype(np.int64),
            "r": np.sin(2 * X.x) + X.z + (X.c == "a") + 0.1 * rng.normal(size=n),
        }
    )
    return X.iloc[:3000], Y.iloc[:3000], X.iloc[3000:], Y.iloc[3000:]


def _quality(est, X, Y):
    proba = est.predict_proba(X)[0][:, 1]
    pred = est.predict(X)[:, 1].astype(float)
    return roc_auc_score(Y["b"], proba), r2_score(Y["r"], pred)


def test_partial_fit_streaming_reaches_single_fit_quality(stream_data):
    """Eight passes over 6 chunks of 500 rows come within 0.02 AUC and 0.05 R^2 of
    one fit of eight epochs on all 3000 rows."""
    X, Y, X_test, Y_test = stream_data
    params = small(epochs=1, batch_size=128, expert_dnn_hidden_units=(32,))
    full = MMOEEstimator(**{**params, "epochs": 8}).fit(X, Y)
    stream = MMOEEstimator(**params)
    for _ in range(8):
        for start in range(0, len(X), 500):
            stream.partial_fit(X.iloc[start : start + 500], Y.iloc[start : start + 500])
    auc_full, r2_full = _quality(full, X_test, Y_test)
    auc_stream, r2_stream = _quality(stream, X_test, Y_test)
    assert auc_full > 0.95 and r2_full > 0.8
    assert auc_stream >= auc_full - 0.02
    assert r2_stream >= r2_full - 0.05
    assert stream.n_epochs_ == 8 * 6
    assert [h["epoch"] for h in stream.history_] == list(range(1, 49))


def test_partial_fit_first_call_is_fit(stream_data):
    X, Y, X_test, _ = stream_data
    a = MMOEEstimator(**small()).partial_fit(X, Y)
    b = MMOEEstimator(**small()).fit(X, Y)
    assert_array_equal(a.predict_proba(X_test)[0], b.predict_proba(X_test)[0])


def test_partial_fit_unseen_categories_and_classes_argument(stream_data):
    X, Y, _, _ = stream_data
    est = MMOEEstimator(**small())
    first = X.c != "h"
    est.partial_fit(X[first], Y[first])
    assert est.feature_columns_[0].vocabulary_size == 8  # 7 seen + reserved
    est.partial_fit(X[~first], Y[~first])  # 'h' goes to the reserved index
    assert np.isfinite(est.predict(X)[:, 1].astype(float)).all()

    y = np.where(X.x > 0, "pos", np.where(X.z > 1, "rare", "neg"))
    clf = MMOEClassifier(**small())
    common = y != "rare"
    with_classes = clf.partial_fit(X[common], y[common], classes=["neg", "pos", "rare"])
    assert list(with_classes.classes_) == ["neg", "pos", "rare"]
    clf.partial_fit(X[~common], y[~common])
    assert with_classes.predict_proba(X).shape == (len(X), 3)
    without = MMOEClassifier(**small()).partial_fit(X[common], y[common])
    with pytest.raises(ValueError, match="not seen in fit"):
        without.partial_fit(X[~common], y[~common])


def test_partial_fit_checks_tasks_and_features(stream_data):
    X, Y, _, _ = stream_data
    est = MMOEEstimator(**small()).partial_fit(X, Y)
    before = est.predict(X)
    with pytest.raises(ValueError, match="tasks"):
        est.partial_fit(X, Y[["r", "b"]])
    with pytest.raises(ValueError):
        est.partial_fit(X.drop(columns="z"), Y)
    assert_array_equal(est.predict(X), before)  # failed calls changed nothing


# --------------------------------------------------------------- class_weight
def test_class_weight_balanced_raises_minority_recall():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=600) > 1.3).astype(int)  # ~10% positives
    plain = MMOEClassifier(**small(epochs=10)).fit(X, y)
    balanced = MMOEClassifier(**small(epochs=10), class_weight="balanced").fit(X, y)
    recall_plain = (plain.predict(X)[y == 1] == 1).mean()
    recall_balanced = (balanced.predict(X)[y == 1] == 1).mean()
    assert recall_balanced > recall_plain + 0.2


def test_class_weight_dict_equals_sample_weight(numeric_data):
    X, y, _ = numeric_data
    by_class = MMOEClassifier(**small(), class_weight={1: 3.0}).fit(X, y)
    by_sample = MMOEClassifier(**small()).fit(X, y, sample_weight=np.where(y, 3.0, 1.0))
    assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X), atol=1e-6)


def test_class_weight_per_task_list(numeric_data):
    X, y_binary, y_regression = numeric_data
    Y = np.column_stack([y_binary, y_regression])
    est = MMOEEstimator(**small(), class_weight=[{0: 2.0}, None]).fit(X, Y)
    assert est.predict(X).shape == (len(X), 2)
    with pytest.raises(ValueError, match="regression task"):
        MMOEEstimator(**small(), class_weight=["balanced", "balanced"]).fit(X, Y)
    with pytest.raises(ValueError, match="one entry per task"):
        MMOEEstimator(**small(), class_weight=["balanced"]).fit(X, Y)
    with pytest.raises(ValueError, match="single task"):
        MMOEEstimator(**small(), class_weight={0: 2.0}).fit(X, Y)
    with pytest.raises(ValueError, match="labels not in y"):
        MMOEClassifier(**small(), class_weight={7: 2.0}).fit(X, y_binary)
