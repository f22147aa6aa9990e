"""y and the weights -> tasks (skmmoe._targets), through the estimators and
directly: reading y, the label types given back, task inference, task names and
types, missing labels, sample weights, loss weights, class weights, and the rows set
aside for early stopping."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from small_network import small

from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor
from skmmoe._params import TargetSpec
from skmmoe._targets import make_targets, read_labels, validation_split


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
def test_labels_come_back_as_given(numeric_binary_regression, labels):
    X, y, _ = numeric_binary_regression
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


def test_pandas_category_labels(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    y_cat = pd.Series(np.where(y == 1, "high", "low")).astype("category")
    est = MMOEClassifier(**small(epochs=10, learning_rate=0.01)).fit(X, y_cat)
    pred = est.predict(X)
    assert set(pred.tolist()) <= {"high", "low"}
    assert list(est.classes_) == ["high", "low"]
    assert np.mean(pred == y_cat.to_numpy()) > 0.8
    positive = est.predict_proba(X)[:, 1]
    assert roc_auc_score(y_cat == "low", positive) > 0.9


def test_2d_string_and_int_labels_keep_their_types(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
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
def test_task_names_default_and_given(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
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


def test_task_types_given(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
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
def test_task_types_validated(numeric_binary_regression, task_types, y_kind, match):
    X, y_binary, y_regression = numeric_binary_regression
    second = {
        "mixed": y_regression,
        "strings": np.where(y_binary == 1, "up", "down"),
        "three": np.arange(len(X)) % 3,
    }[y_kind]
    Y = pd.DataFrame({"a": y_binary, "b": second})
    with pytest.raises(ValueError, match=match):
        MMOEEstimator(**small(epochs=1, task_types=task_types)).fit(X, Y)


def test_classifier_and_regressor_restrict_task_types(numeric_binary_regression):
    X, y, y_regression = numeric_binary_regression
    with pytest.raises(ValueError, match="not allowed for this estimator"):
        MMOEClassifier(**small(epochs=1, task_types=("regression",))).fit(X, y)
    with pytest.raises(ValueError, match="continuous"):
        MMOEClassifier(**small(epochs=1)).fit(X, y_regression)
    est = MMOERegressor(**small(epochs=1)).fit(X, y)
    assert est.task_types_ == ["regression"]


# ------------------------------------------------------------ missing labels
def test_missing_label_masks_only_that_task(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
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


def test_values_of_zero_weight_classification_labels_do_not_matter(
    numeric_binary_regression,
):
    X, y, _ = numeric_binary_regression
    weight = np.ones(len(X))
    weight[::3] = 0.0
    flipped = y.copy()
    flipped[::3] = 1 - flipped[::3]
    params = small(batch_size=512, epochs=8)
    a = MMOEClassifier(**params).fit(X, y, sample_weight=weight)
    b = MMOEClassifier(**params).fit(X, flipped, sample_weight=weight)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_values_of_zero_weight_regression_labels_do_not_matter(
    numeric_binary_regression,
):
    X, _, y = numeric_binary_regression
    weight = np.ones(len(X))
    weight[::3] = 0.0
    changed = y.copy()
    changed[::3] = 100.0
    params = small(batch_size=512, epochs=8)
    a = MMOERegressor(**params).fit(X, y, sample_weight=weight)
    b = MMOERegressor(**params).fit(X, changed, sample_weight=weight)
    assert_allclose(a.predict(X), b.predict(X), rtol=1e-5)


def test_all_labels_missing_in_a_task_raises(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    Y = pd.DataFrame({"a": y, "b": np.full(len(X), np.nan)})
    with pytest.raises(ValueError, match="no observed|no sample with a label"):
        MMOEEstimator(**small(epochs=1)).fit(X, Y)


# ------------------------------------------------------------ sample weight
def test_sample_weight_shapes(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
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


def test_per_task_sample_weight_affects_only_its_task(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
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


def test_loss_weights_wrong_length_or_values_raise(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    with pytest.raises(ValueError, match="loss_weights has 2 entries"):
        MMOEClassifier(**small(epochs=1, loss_weights=(1.0, 1.0))).fit(X, y)
    with pytest.raises(ValueError, match="not all zero"):
        MMOEClassifier(**small(epochs=1, loss_weights=(0.0,))).fit(X, y)


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


def test_class_weight_dict_equals_sample_weight(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    by_class = MMOEClassifier(**small(), class_weight={1: 3.0}).fit(X, y)
    by_sample = MMOEClassifier(**small()).fit(X, y, sample_weight=np.where(y, 3.0, 1.0))
    assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X), atol=1e-6)


def test_class_weight_per_task_list(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
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


# ------------------------------------------------- read_labels, make_targets
ANY = TargetSpec(
    task_types=None, task_names=None, class_weight=None, loss_weights=None, kind="any"
)


@pytest.mark.parametrize(
    "y, names, ndim",
    [
        (np.array([0, 1, 1]), ["task_0"], 1),
        (pd.Series(["a", "b", "a"]), ["task_0"], 1),
        (np.array([[0, 1.5], [1, 2.5], [1, 0.5]]), ["task_0", "task_1"], 2),
        (np.array([[0], [1], [1]]), ["task_0"], 2),
        (pd.DataFrame({"click": [0, 1, 1], 7: [1.0, 2.0, 3.0]}), ["click", "7"], 2),
        ([0, 1, 1], ["task_0"], 1),
    ],
    ids=["1d-array", "series", "2d-array", "column", "dataframe", "list"],
)
def test_read_labels_names_and_ndim(y, names, ndim):
    labels, got_names, got_ndim = read_labels(y)
    assert got_names == names
    assert got_ndim == ndim
    assert len(labels) == len(names)
    assert all(len(missing) == 3 and not missing.any() for _, missing in labels)


def test_read_labels_task_names_given():
    y = np.array([[0, 1.5], [1, 2.5]])
    assert read_labels(y, ("a", "b"))[1] == ["a", "b"]
    assert read_labels(np.array([0, 1]), "click")[1] == ["click"]
    with pytest.raises(ValueError, match="task_names has 1 entries but y has 2"):
        read_labels(y, ("a",))
    with pytest.raises(ValueError, match="unique"):
        read_labels(y, ("a", "a"))


def test_read_labels_finds_missing_labels_per_task():
    y = pd.DataFrame({"a": ["x", None, "y", "x"], "b": [1.0, 2.0, np.nan, np.nan]})
    (a, b), _, _ = read_labels(y)
    assert_array_equal(a.missing, [False, True, False, False])
    assert_array_equal(a.observed, ["x", "y", "x"])
    assert_array_equal(b.missing, [False, False, True, True])
    assert_array_equal(b.observed, [1.0, 2.0])


@pytest.mark.parametrize(
    "y, error, match",
    [
        (None, ValueError, "requires y"),
        (np.zeros((3, 2, 2)), ValueError, "1-D"),
        (np.zeros((3, 0)), ValueError, "no columns"),
        (np.array([1 + 1j, 2j]), ValueError, "Complex"),
        (scipy.sparse.csr_matrix(np.eye(3)), TypeError, "sparse"),
    ],
    ids=["none", "3d", "no-columns", "complex", "sparse"],
)
def test_read_labels_rejects(y, error, match):
    with pytest.raises(error, match=match):
        read_labels(y)


def test_make_targets_weights_are_zero_where_a_label_is_missing():
    y = pd.DataFrame({"a": ["x", None, "y", "x"], "b": [1.0, 2.0, 3.0, 0.5]})
    X = np.zeros((4, 2))
    targets = make_targets(y, None, X, ANY)
    assert targets.names == ["a", "b"]
    assert targets.ndim == 2
    assert [t.task_type for t in targets.tasks] == ["binary", "regression"]
    assert_array_equal(targets.weights[0], [1.0, 0.0, 1.0, 1.0])
    assert targets.weights[1] is None  # every row counts equally
    assert targets.loss_weights == [1.0, 1.0]

    weighted = make_targets(y, np.array([2.0, 3.0, 4.0, 5.0]), X, ANY)
    assert_array_equal(weighted.weights[0], [2.0, 0.0, 4.0, 5.0])
    assert_array_equal(weighted.weights[1], [2.0, 3.0, 4.0, 5.0])


def test_make_targets_takes_the_tasks_of_an_earlier_fit():
    X = np.zeros((4, 1))
    first = make_targets(np.array(["a", "b", "a", "b"]), None, X, ANY)
    again = make_targets(
        np.array(["b", "b", "a", "a"]), None, X, ANY, tasks=first.tasks
    )
    assert again.tasks is first.tasks
    targets, weights = again.encoded()
    assert targets[0].tolist() == [1.0, 1.0, 0.0, 0.0] and weights == [None]
    # A label the tasks have not seen fails when the targets are encoded.
    unseen = make_targets(
        np.array(["a", "c", "a", "b"]), None, X, ANY, tasks=first.tasks
    )
    with pytest.raises(ValueError, match="not seen in fit"):
        unseen.encoded()
    with pytest.raises(ValueError):
        make_targets(np.array(["a", "b"]), None, X, ANY)  # y shorter than X


def test_make_targets_classes_for_a_2d_y_need_one_entry_per_task():
    X = np.zeros((4, 1))
    y = np.array([["a", "p"], ["b", "q"], ["a", "p"], ["b", "q"]], dtype=object)
    targets = make_targets(y, None, X, ANY, classes=[["a", "b", "c"], None])
    assert_array_equal(targets.tasks[0].classes_, ["a", "b", "c"])
    assert_array_equal(targets.tasks[1].classes_, ["p", "q"])
    with pytest.raises(ValueError, match="one entry per task"):
        make_targets(y, None, X, ANY, classes=["a", "b", "c"])


# ---------------------------------------------------------- validation_split
def _binary_targets(n=200, positive_rate=0.2, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < positive_rate, "pos", "neg")
    return y, make_targets(y, None, np.zeros((n, 1)), ANY)


def test_validation_split_sizes_and_rows():
    y, targets = _binary_targets()
    train, valid = validation_split(targets, 0.25, seed=0)
    assert len(valid) == 50 and len(train) == 150
    assert_array_equal(np.sort(np.concatenate([train, valid])), np.arange(200))
    assert_array_equal(train, np.sort(train))
    assert_array_equal(valid, np.sort(valid))
    again = validation_split(targets, 0.25, seed=0)
    assert_array_equal(again[1], valid)
    other = validation_split(targets, 0.25, seed=1)
    assert not np.array_equal(other[1], valid)


def test_validation_split_is_stratified_on_the_first_classification_task():
    y, targets = _binary_targets()
    for seed in range(5):
        _, valid = validation_split(targets, 0.25, seed=seed)
        assert abs(np.mean(y[valid] == "pos") - np.mean(y == "pos")) < 0.02


def test_validation_split_of_regression_only_and_of_a_class_too_small():
    rng = np.random.default_rng(0)
    X = np.zeros((50, 1))
    regression = make_targets(rng.normal(size=50), None, X, ANY)
    train, valid = validation_split(regression, 0.2, seed=0)
    assert len(valid) == 10 and len(train) == 40
    # One sample of class "c" cannot be stratified: a plain shuffle split instead.
    y = np.array(["a", "b"] * 24 + ["a", "c"], dtype=object)
    lonely = make_targets(y, None, X, ANY)
    train, valid = validation_split(lonely, 0.2, seed=0)
    assert len(valid) == 10 and len(train) == 40


def test_validation_split_leaving_fewer_than_two_training_rows_raises():
    targets = make_targets(np.array([0, 1, 0]), None, np.zeros((3, 1)), ANY)
    with pytest.raises(ValueError, match="fewer than 2 training samples"):
        validation_split(targets, 0.5, seed=0)


def test_class_weight_that_zeroes_every_sample_is_refused():
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = np.arange(40) % 2
    est = MMOEClassifier(**small(epochs=1), class_weight={0: 0.0, 1: 0.0})
    with pytest.raises(ValueError, match="no sample with a label.*class_weight"):
        est.fit(X, y)


@pytest.mark.parametrize("spec", [{0: "big"}, {0: None}, {0: True}], ids=str)
def test_class_weight_values_that_are_not_numbers_name_class_weight(spec):
    X = np.random.default_rng(0).normal(size=(40, 2))
    est = MMOEClassifier(**small(epochs=1), class_weight=spec)
    with pytest.raises(ValueError, match="class_weight .* must map labels to numbers"):
        est.fit(X, np.arange(40) % 2)


@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200, 1e300])
def test_regression_targets_of_any_magnitude_train_and_predict(scale):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 0.5) * scale
    est = MMOERegressor(**small(epochs=20)).fit(X, y)
    pred = est.predict(X)
    assert np.isfinite(pred).all()
    assert np.corrcoef(pred / scale, y / scale)[0, 1] > 0.9


# ------------------------------------------------ labels in other containers
def _containers(values: list, dtype: str):
    """The same labels (None where missing) in the containers users pass."""
    import polars as pl
    import pyarrow as pa

    series = pd.Series(values, dtype=dtype)
    arrow = pa.array(
        values,
        type={"Int64": pa.int64(), "boolean": pa.bool_()}.get(dtype, pa.string()),
    )
    return {
        "pandas ExtensionArray": series.array,
        "pandas Index": pd.Index(series),
        "polars Series": pl.from_arrow(arrow),
        "pyarrow Array": arrow,
        "pyarrow ChunkedArray": pa.chunked_array([arrow[:3], arrow[3:]]),
    }


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["Int64", "boolean", "string"]),
    missing=st.lists(st.booleans(), min_size=12, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_labels_in_any_container_read_as_the_same_pandas_series(kind, missing, seed):
    """Nullable ints with missing values stay ints (a pandas Int64 array came back
    as floats), booleans bools, strings strings, in whatever container: the
    classes and the missing mask equal the pandas Series'."""
    pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(seed)
    pool = {"Int64": [3, 7, 11], "boolean": [True, False], "string": ["x", "y"]}[kind]
    values = [None if m else pool[i % len(pool)] for i, m in enumerate(missing)]
    values = [values[i] for i in rng.permutation(len(values))]
    (expected,), _, _ = read_labels(pd.Series(values, dtype=kind))
    for name, y in _containers(values, kind).items():
        (labels,), names, ndim = read_labels(y)
        assert (names, ndim) == (["task_0"], 1), name
        assert labels.observed.dtype == expected.observed.dtype, name
        assert_array_equal(labels.observed, expected.observed)
        assert_array_equal(labels.missing, expected.missing)


def test_a_nullable_int_array_fits_int_classes_and_predicts_ints():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = pd.array(np.where(X[:, 0] > 0, 5, 9), dtype="Int64")
    y[::7] = pd.NA
    clf = MMOEClassifier(**small()).fit(X, y)
    assert clf.classes_.dtype.kind == "i"
    assert_array_equal(clf.classes_, [5, 9])
    assert clf.predict(X).dtype.kind == "i"


def test_a_polars_and_pyarrow_y_keep_names_and_types():
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    frame = pd.DataFrame(
        {"buys": np.where(X[:, 0] > 0, 1, 2), "spend": X[:, 1] * 2.0}
    ).astype({"buys": "Int64"})
    frame.loc[::5, "buys"] = pd.NA
    expected = MMOEEstimator(**small()).fit(X, frame)
    for y in (pl.from_pandas(frame), pa.Table.from_pandas(frame)):
        est = MMOEEstimator(**small()).fit(X, y)
        assert est.task_names_ == ["buys", "spend"]
        assert_array_equal(est.classes_[0], [1, 2])
        assert est.classes_[0].dtype.kind == "i"
        assert_array_equal(est.predict(X), expected.predict(X))
        assert est.score(X, y) == pytest.approx(expected.score(X, frame))
