"""Tests of skmmoe._tasks: losses, label encoding, missing labels, task inference and
validation, validation metrics; the poisson kind's own behaviour (its paths through
the estimators are in test_poisson.py)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import (
    d2_tweedie_score,
    log_loss,
    mean_poisson_deviance,
    roc_auc_score,
)

from skmmoe._tasks import (
    TASK_KINDS,
    BinaryTask,
    MulticlassTask,
    PoissonTask,
    RegressionTask,
    kinds_accepted,
    make_tasks,
    split_label_column,
    task_from_json,
)


def make_task(labels, task_type=None, kind="any", name="t"):
    """The fitted task of one label column, as the estimator builds it."""
    types = None if task_type is None else (task_type,)
    return make_tasks([split_label_column(labels)], [name], types, kind)[0]


def confident_logits(task, target):
    """Logits under which ``task`` decodes to the encoded ``target``."""
    if isinstance(task, BinaryTask):
        return np.where(target == 1, 6.0, -6.0)[:, None]
    return 12.0 * np.eye(task.output_dim)[target.astype(int)]


def _sigmoid(z):
    return 1 / (1 + math.exp(-z))


# ----------------------------------------------------------------------- losses
def test_binary_loss_is_cross_entropy_with_logits():
    task = make_task(pd.Series(["no", "yes", "yes", "no"]))
    assert isinstance(task, BinaryTask)
    assert task.output_dim == 1
    logits = [0.3, -1.2, 2.0, 4.5]
    target = task.encode(
        np.array(["yes", "no", "yes", "no"], dtype=object), np.zeros(4, bool)
    )
    assert_array_equal(target, [1, 0, 1, 0])
    expected = [
        -math.log(_sigmoid(0.3)),
        -math.log(1 - _sigmoid(-1.2)),
        -math.log(_sigmoid(2.0)),
        -math.log(1 - _sigmoid(4.5)),
    ]
    loss = task.loss(torch.tensor(logits).view(-1, 1), torch.from_numpy(target))
    assert loss.shape == (4,)
    assert_allclose(loss.numpy(), expected, rtol=1e-6)


def test_multiclass_loss_is_cross_entropy_of_log_softmax():
    task = make_task(pd.Series(["b", "a", "c", "a"]))
    assert isinstance(task, MulticlassTask)
    assert task.output_dim == 3
    logits = np.array([[0.1, 2.0, -1.0], [1.5, 0.0, 0.3], [-0.7, 0.2, 0.9]])
    target = task.encode(np.array(["b", "a", "c"], dtype=object), np.zeros(3, bool))
    assert_array_equal(target, [1, 0, 2])
    expected = []
    for row, k in zip(logits, target):
        log_norm = math.log(sum(math.exp(v) for v in row))
        expected.append(-(row[k] - log_norm))
    loss = task.loss(
        torch.tensor(logits, dtype=torch.float32), torch.from_numpy(target)
    )
    assert_allclose(loss.numpy(), expected, rtol=1e-6)


def test_regression_loss_is_squared_error_on_standardised_target():
    y = np.array([3.0, 7.0, 11.0, 15.0])
    task = make_task(pd.Series(y))
    assert isinstance(task, RegressionTask)
    mean = sum(y) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in y) / 4)
    target = task.encode(y, np.zeros(4, bool))
    assert_allclose(target, (y - mean) / std, rtol=1e-6)
    logits = np.array([0.5, -1.0, 0.0, 2.0])
    expected = [(z - (v - mean) / std) ** 2 for z, v in zip(logits, y)]
    loss = task.loss(
        torch.tensor(logits, dtype=torch.float32).view(-1, 1), torch.from_numpy(target)
    )
    assert_allclose(loss.numpy(), expected, rtol=1e-5)


# ------------------------------------------------------------ labels round trip
@pytest.mark.parametrize(
    "labels, task_type",
    [
        (pd.Series(["cat", "dog", "cat", "ant"]), "multiclass"),
        (pd.Series(["yes", "no", "no", "yes"]), "binary"),
        (pd.Series([True, False, False, True]), "binary"),
        (pd.Series([3, -1, 7, 3, 7]), "multiclass"),
        (pd.Series([10, 20, 20]), "binary"),
        (pd.Series(pd.Categorical(["lo", "hi", "mid", "hi"])), "multiclass"),
        (pd.Series(pd.Categorical([2, 5, 5, 2])), "binary"),
    ],
    ids=[
        "str-multi",
        "str-binary",
        "bool",
        "int-multi",
        "int-binary",
        "cat-str",
        "cat-int",
    ],
)
def test_label_encode_decode_round_trip(labels, task_type):
    observed, missing = split_label_column(labels)
    task = make_task(labels)
    assert task.task_type == task_type
    assert_array_equal(task.classes_, np.unique(observed))
    target = task.encode(observed, missing)
    assert_array_equal(target, np.searchsorted(task.classes_, observed))
    decoded = task.decode(confident_logits(task, target))
    assert_array_equal(decoded, labels.to_numpy(dtype=observed.dtype))
    assert decoded.dtype.kind == observed.dtype.kind
    assert type(decoded[0]) is type(observed[0])


def test_decode_keeps_the_label_type():
    assert make_task(pd.Series([True, False])).decode(np.array([[1.0]])).dtype == bool
    assert make_task(pd.Series([4, 9, 1])).decode(np.eye(3)).dtype.kind == "i"
    decoded = make_task(pd.Series(["x", "y"])).decode(np.array([[-1.0], [1.0]]))
    assert decoded.tolist() == ["x", "y"]


def test_binary_positive_class_is_the_larger_label():
    task = make_task(pd.Series(["yes", "no", "yes"]))
    assert_array_equal(task.classes_, ["no", "yes"])
    target = task.encode(np.array(["no", "yes"], dtype=object), np.zeros(2, bool))
    assert_array_equal(target, [0, 1])
    z = np.array([[0.8], [-2.0]])
    proba = task.predict_proba(z)
    assert_allclose(proba[:, 1], [_sigmoid(0.8), _sigmoid(-2.0)], rtol=1e-12)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(task.decode(z), ["yes", "no"])


def test_multiclass_predict_proba_follows_classes():
    task = make_task(pd.Series(["c", "a", "b", "c"]))
    assert_array_equal(task.classes_, ["a", "b", "c"])
    z = np.array([[0.0, 3.0, 1.0], [2.0, -1.0, 0.5]])
    proba = task.predict_proba(z)
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert_allclose(proba, expected, rtol=1e-12)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(task.decode(z), ["b", "a"])


def test_regression_has_no_predict_proba():
    assert make_task(pd.Series([0.1, 0.2, 0.7])).predict_proba(np.zeros((3, 1))) is None


def test_encode_marks_missing_rows_and_rejects_unseen_labels():
    labels = pd.Series(["a", None, "b", np.nan, "c"])
    observed, missing = split_label_column(labels)
    task = make_task(labels)
    target = task.encode(observed, missing)
    assert_array_equal(target, [0, 0, 1, 0, 2])
    assert target.dtype == np.int64
    with pytest.raises(ValueError, match="not seen in fit"):
        task.encode(np.array(["a", "z"], dtype=object), np.zeros(2, bool))


def test_mixed_label_types_raise():
    with pytest.raises(ValueError, match="mixes label types"):
        make_task(pd.Series(["a", 1, "b"], dtype=object))


# ------------------------------------------------------------------ regression
def test_regression_standardises_and_decode_inverts():
    y = np.array([2.0, -4.0, 10.0, 0.5, 7.25])
    task = make_task(pd.Series(y), "regression")
    assert_allclose(task.mean_, np.mean(y), rtol=1e-12)
    assert_allclose(task.scale_, np.std(y), rtol=1e-12)
    target = task.encode(y, np.zeros(5, bool))
    assert target.dtype == np.float32
    assert_allclose(target.mean(), 0.0, atol=1e-6)
    assert_allclose(target.std(), 1.0, rtol=1e-6)
    assert_allclose(task.decode(target[:, None]), y, rtol=1e-6)
    assert task.decode(target[:, None]).dtype == np.float64


def test_regression_of_constant_target_has_unit_scale():
    task = make_task(pd.Series([3.5, 3.5, 3.5]), "regression")
    assert task.mean_ == 3.5
    assert task.scale_ == 1.0
    assert_array_equal(task.encode(np.array([3.5, 3.5]), np.zeros(2, bool)), [0, 0])
    assert_allclose(task.decode(np.array([[0.0], [1.0]])), [3.5, 4.5])


def test_regression_ints_and_missing_labels():
    labels = pd.Series([1, None, 3, 5], dtype="Int64")
    observed, missing = split_label_column(labels)
    task = make_task(labels, "regression")
    assert task.mean_ == 3.0
    target = task.encode(observed, missing)
    assert_allclose(
        target, [-2.0 / task.scale_, 0.0, 0.0, 2.0 / task.scale_], rtol=1e-6
    )


# --------------------------------------------------------- split_label_column
@pytest.mark.parametrize(
    "labels, observed",
    [
        (pd.Series([1.5, np.nan, 2.5, None]), [1.5, 2.5]),
        (pd.Series(["a", None, "b", np.nan, pd.NA], dtype=object), ["a", "b"]),
        (pd.Series([1, None, 3, pd.NA], dtype="Int64"), [1, 3]),
        (pd.Series([0.5, None], dtype="Float64"), [0.5]),
        (pd.Series([True, None, False], dtype="boolean"), [True, False]),
        (pd.Series(["a", None, "b", pd.NA], dtype="string"), ["a", "b"]),
        (pd.Series(["a", None, "b", np.nan], dtype="str"), ["a", "b"]),
        (pd.Series(["a", None, "b", np.nan], dtype="category"), ["a", "b"]),
        (pd.Series([4, None, 2], dtype="category"), [4, 2]),
        (pd.Series([1, None, 3], dtype=object), [1, 3]),
        (np.array([1, None, 2], dtype=object), [1, 2]),
        (np.array([1.0, np.nan, 2.0]), [1.0, 2.0]),
    ],
    ids=[
        "float",
        "object-str",
        "Int64",
        "Float64",
        "boolean",
        "string",
        "str",
        "category-str",
        "category-int",
        "object-int",
        "ndarray-object",
        "ndarray-float",
    ],
)
def test_split_label_column_finds_missing_values(labels, observed):
    values, missing = split_label_column(labels)
    n = len(labels)
    expected_missing = np.array([pd.isna(v) for v in labels])
    assert missing.shape == (n,)
    assert missing.dtype == bool
    assert_array_equal(missing, expected_missing)
    assert values.tolist() == observed
    assert not isinstance(values.dtype, pd.api.extensions.ExtensionDtype)


@pytest.mark.parametrize(
    "labels, kind",
    [
        (pd.Series([1, None, 3], dtype="Int64"), "i"),
        (pd.Series([1, None, 3], dtype=object), "i"),
        (pd.Series([7, None, 2], dtype="category"), "i"),
        (pd.Series([1.5, None]), "f"),
        (pd.Series([0.5, None], dtype="Float64"), "f"),
        (pd.Series([True, None], dtype="boolean"), "b"),
        (pd.Series([True, None, False], dtype=object), "b"),
        (pd.Series(["a", None], dtype="string"), "O"),
        (pd.Series(["a", None], dtype="category"), "O"),
    ],
)
def test_split_label_column_gives_observed_values_a_plain_dtype(labels, kind):
    values, _ = split_label_column(labels)
    assert isinstance(values, np.ndarray)
    assert values.dtype.kind == kind


def test_ints_with_missing_labels_stay_ints_for_classification():
    task = make_task(pd.Series([1, None, 3, 1], dtype="Int64"))
    assert isinstance(task, BinaryTask)
    assert task.classes_.dtype.kind == "i"
    assert_array_equal(task.classes_, [1, 3])


# ------------------------------------------------------------- type inference
@pytest.mark.parametrize(
    "labels, expected",
    [
        (pd.Series(["a", "b", "a"]), "binary"),
        (pd.Series(["a", "b", "c"]), "multiclass"),
        (pd.Series([True, False, True]), "binary"),
        (pd.Series([0, 1, 1, 0]), "binary"),
        (pd.Series([5, 9]), "binary"),
        (pd.Series([0, 1, 2, 1]), "multiclass"),
        (pd.Series([0.0, 1.0, 1.0]), "binary"),
        (pd.Series([0.1, 0.5, 2.3, 0.5]), "regression"),
        (pd.Series([1.0, 2.0, 3.0]), "regression"),
    ],
)
def test_make_tasks_infers_task_type(labels, expected):
    assert make_task(labels).task_type == expected


@pytest.mark.parametrize(
    "labels, expected",
    [
        (pd.Series([0, 1, 2, 1]), "multiclass"),
        (pd.Series([1.0, 2.0, 3.0]), "multiclass"),
        (pd.Series(["a", "b"]), "binary"),
    ],
)
def test_make_tasks_classifier_kind(labels, expected):
    assert make_task(labels, kind="classifier").task_type == expected


def test_classifier_kind_rejects_continuous_labels():
    with pytest.raises(ValueError, match="Unknown label type"):
        make_task(pd.Series([0.1, 0.5, 2.3, 0.5]), kind="classifier")


def test_classifier_kind_rejects_two_continuous_values():
    with pytest.raises(ValueError, match="Unknown label type"):
        make_task(pd.Series([0.5, 1.5, 0.5]), kind="classifier")


@pytest.mark.parametrize(
    "labels", [pd.Series([0, 1, 1]), pd.Series([0.5, 1.5]), pd.Series([True, False])]
)
def test_regressor_kind_is_always_regression(labels):
    assert make_task(labels, kind="regressor").task_type == "regression"


def test_regressor_kind_rejects_string_labels_naming_the_task():
    with pytest.raises(ValueError, match="'price'.*not numeric"):
        make_task(pd.Series(["a", "b", "c"]), kind="regressor", name="price")


def test_make_tasks_builds_one_task_per_column():
    columns = [
        split_label_column(pd.Series(["x", "y", None, "x"])),
        split_label_column(pd.Series([0.3, 1.7, 2.2, np.nan])),
        split_label_column(pd.Series([0, 2, 1, 1])),
    ]
    tasks = make_tasks(columns, ["a", "b", "c"], None, "any")
    assert [t.name for t in tasks] == ["a", "b", "c"]
    assert [t.task_type for t in tasks] == ["binary", "regression", "multiclass"]
    assert [t.output_dim for t in tasks] == [1, 1, 3]
    assert [t.is_classification for t in tasks] == [True, False, True]


# ------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "labels, task_types, kind, match",
    [
        (
            pd.Series(["a", "b"]),
            ("binary", "binary"),
            "any",
            "task_types has 2 entries",
        ),
        (pd.Series(["a", "b"]), (), "any", "task_types has 0 entries"),
        (pd.Series(["a", "b"]), ("ordinal",), "any", "Unknown task type.*ordinal"),
        (pd.Series(["a", "a", None]), ("binary",), "any", "only one class"),
        (pd.Series(["a", "a"]), None, "any", "only one class"),
        (
            pd.Series(["a", "b", "c"]),
            ("binary",),
            "any",
            "binary but y holds 3 classes",
        ),
        (pd.Series([1, 2, 3]), ("regression",), "classifier", "not allowed"),
        (pd.Series([1, 2, 3]), ("multiclass",), "regressor", "not allowed"),
        (pd.Series([1, 2, 3]), ("poisson",), "classifier", "not allowed"),
        (pd.Series([None, np.nan], dtype=object), None, "any", "no observed"),
    ],
)
def test_make_tasks_validation(labels, task_types, kind, match):
    columns = [split_label_column(labels)]
    with pytest.raises(ValueError, match=match):
        make_tasks(columns, ["t"], task_types, kind)


def test_make_tasks_accepts_a_single_task_type_string():
    columns = [split_label_column(pd.Series([0, 1, 2]))]
    (task,) = make_tasks(columns, ["t"], "regression", "any")
    assert task.task_type == "regression"


def test_error_messages_name_the_task():
    with pytest.raises(ValueError, match="'income'"):
        make_task(pd.Series(["a", "b", "c"]), "binary", name="income")


# -------------------------------------------------------- validation_metrics
@pytest.fixture
def binary_validation_data():
    rng = np.random.default_rng(0)
    labels = pd.Series(rng.choice(["neg", "pos"], size=40))
    labels[[3, 11, 29]] = None
    observed, missing = split_label_column(labels)
    task = make_task(labels)
    target = task.encode(observed, missing)
    logits = rng.normal(size=(40, 1)) + 1.5 * (target[:, None] - 0.5)
    return task, logits, target, missing


def test_binary_validation_metrics_match_sklearn(binary_validation_data):
    task, logits, target, missing = binary_validation_data
    keep = ~missing
    z, t = logits[keep], target[keep]
    metrics, loss = task.validation_metrics(
        torch.tensor(z, dtype=torch.float32), torch.from_numpy(t), None
    )
    assert set(metrics) == {"log_loss", "roc_auc"}
    assert_allclose(metrics["roc_auc"], roc_auc_score(t, z[:, 0]), rtol=1e-12)
    p = 1 / (1 + np.exp(-z[:, 0]))
    assert_allclose(metrics["log_loss"], log_loss(t, p), rtol=1e-5)
    assert loss == metrics["log_loss"]


def test_validation_metrics_leave_out_missing_labels(binary_validation_data):
    task, logits, target, missing = binary_validation_data
    # Wrong, extreme logits on rows whose label is missing: they must not count.
    logits = logits.copy()
    logits[missing] = 50.0
    weight = (~missing).astype(np.float32)
    metrics, loss = task.validation_metrics(
        torch.tensor(logits, dtype=torch.float32),
        torch.from_numpy(target),
        torch.from_numpy(weight),
    )
    keep = ~missing
    z, t = logits[keep, 0], target[keep]
    assert_allclose(metrics["roc_auc"], roc_auc_score(t, z), rtol=1e-12)
    assert_allclose(metrics["log_loss"], log_loss(t, 1 / (1 + np.exp(-z))), rtol=1e-5)
    assert loss == metrics["log_loss"]


def test_binary_validation_metrics_with_sample_weights(binary_validation_data):
    task, logits, target, missing = binary_validation_data
    weight = np.where(missing, 0.0, np.linspace(0.5, 2.0, len(target)))
    metrics, _ = task.validation_metrics(
        torch.tensor(logits, dtype=torch.float32),
        torch.from_numpy(target),
        torch.tensor(weight, dtype=torch.float32),
    )
    keep = ~missing
    z, t, w = logits[keep, 0], target[keep], weight[keep]
    expected_auc = roc_auc_score(t, z, sample_weight=w)
    assert_allclose(metrics["roc_auc"], expected_auc, rtol=1e-6)
    p = 1 / (1 + np.exp(-z))
    assert_allclose(metrics["log_loss"], log_loss(t, p, sample_weight=w), rtol=1e-5)


def test_binary_roc_auc_is_nan_with_one_class():
    task = make_task(pd.Series([0, 1]))
    metrics, _ = task.validation_metrics(
        torch.tensor([[0.2], [-0.1]]), torch.tensor([1.0, 1.0]), None
    )
    assert math.isnan(metrics["roc_auc"])


def test_multiclass_validation_metrics():
    task = make_task(pd.Series(["a", "b", "c"]))
    z = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 3.0], [0.0, 5.0, 0.0]])
    t = np.array([0, 1, 2, 0])
    weight = np.array([1.0, 1.0, 1.0, 0.0], dtype=np.float32)
    metrics, loss = task.validation_metrics(
        torch.tensor(z, dtype=torch.float32),
        torch.from_numpy(t),
        torch.from_numpy(weight),
    )
    assert_allclose(metrics["accuracy"], 2 / 3, rtol=1e-12)
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(proba[np.arange(3), t[:3]]))
    assert_allclose(loss, expected, rtol=1e-5)
    assert loss == metrics["log_loss"]


def test_regression_mse_is_in_target_units():
    y = pd.Series([100.0, 250.0, np.nan, 175.0, 400.0, 220.0])
    observed, missing = split_label_column(y)
    task = make_task(y)
    assert task.scale_ > 50  # far from 1: a unit mix-up would show
    target = task.encode(observed, missing)
    z = np.array([[0.3], [-0.2], [9.0], [0.1], [1.0], [-0.5]])
    weight = (~missing).astype(np.float32)
    metrics, loss = task.validation_metrics(
        torch.tensor(z, dtype=torch.float32),
        torch.from_numpy(target),
        torch.from_numpy(weight),
    )
    keep = ~missing
    expected_mse = np.mean((task.decode(z)[keep] - y.to_numpy()[keep]) ** 2)
    assert set(metrics) == {"mse"}
    assert_allclose(metrics["mse"], expected_mse, rtol=1e-5)
    assert_allclose(loss, expected_mse / task.scale_**2, rtol=1e-5)


def test_task_scores():
    reg = make_task(pd.Series([1.0, 2.0, 4.0, 8.0]))
    y = np.array([1.0, 2.0, 4.0, 8.0])
    z = ((y - reg.mean_) / reg.scale_)[:, None]
    assert_allclose(reg.score(y, z), 1.0, rtol=1e-12)

    binary = make_task(pd.Series(["n", "p", "p", "n"]))
    labels = np.array(["n", "p", "p", "n"], dtype=object)
    z = np.array([[-1.0], [2.0], [0.5], [0.7]])
    assert_allclose(binary.score(labels, z), roc_auc_score(labels == "p", z[:, 0]))


# --------------------------------------------------------------------- poisson
def _poisson_labels():
    """Counts with a zero, a non-integer rate and a missing label."""
    return pd.Series([0.0, 1.0, 3.0, np.nan, 7.0, 2.5, 0.0])


def _half_deviance(y, mu):
    """y log(y / mu) - y + mu, with 0 log 0 = 0, by hand."""
    return np.array(
        [(v * math.log(v / m) if v > 0 else 0.0) - v + m for v, m in zip(y, mu)]
    )


def test_poisson_is_a_registered_kind_that_predicts_values():
    assert TASK_KINDS["poisson"] is PoissonTask
    task = make_task(_poisson_labels(), "poisson")
    assert isinstance(task, PoissonTask)
    assert not task.is_classification
    assert task.output_dim == 1
    assert task.prediction_dtype == np.float64
    assert task.onnx_outputs == ("value",)
    assert task.predict_proba(np.zeros((2, 1))) is None
    assert "poisson" in kinds_accepted("regressor")
    assert "poisson" in kinds_accepted("any")
    assert "poisson" not in kinds_accepted("classifier")


@pytest.mark.parametrize("kind", ["any", "regressor", "classifier"])
@pytest.mark.parametrize(
    "labels",
    [
        pd.Series([0, 1, 2, 5, 3, 1]),
        pd.Series([0, 1, 1, 0]),
        pd.Series([0.0, 3.0, 1.0]),
    ],
    ids=["counts", "zero-one", "float-counts"],
)
def test_poisson_is_never_inferred(labels, kind):
    assert make_task(labels, kind=kind).task_type != "poisson"


@pytest.mark.parametrize("kind", ["any", "regressor"])
def test_poisson_is_never_inferred_for_rates(kind):
    assert make_task(pd.Series([0.5, 1.25, 3.0, 2.0]), kind=kind).task_type != "poisson"


def test_poisson_offset_is_the_log_of_the_weighted_mean():
    labels = _poisson_labels()
    observed, missing = split_label_column(labels)
    task = make_task(labels, "poisson")
    assert_allclose(task.mean_, np.mean(observed), rtol=1e-12)
    assert_allclose(task.offset_, math.log(np.mean(observed)), rtol=1e-12)
    # The network starts near 0: its first predictions are the mean.
    assert_allclose(task.decode(np.zeros((3, 1))), task.mean_, rtol=1e-12)
    # Weighted; a zero weight leaves its (huge) label out.
    weight = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 0.0, 1.0])
    (weighted,) = make_tasks(
        [split_label_column(labels.where(~missing, 0.0).replace(2.5, 1e9))],
        ["t"],
        ("poisson",),
        "any",
        [weight],
    )
    expected = np.average([0.0, 1.0, 3.0, 0.0, 7.0, 0.0], weights=[1, 2, 1, 1, 3, 1])
    assert_allclose(weighted.mean_, expected, rtol=1e-12)


def test_poisson_mean_of_counts_near_the_float64_limit_is_finite():
    task = make_task(pd.Series([1e308, 1.5e308, 0.0]), "poisson")
    assert_allclose(task.mean_, 2.5 / 3 * 1e308, rtol=1e-12)
    assert_allclose(task.decode(np.zeros((1, 1))), task.mean_, rtol=1e-12)


def test_poisson_target_is_the_count_over_the_mean_and_missing_rows_hold_zero():
    labels = _poisson_labels()
    observed, missing = split_label_column(labels)
    task = make_task(labels, "poisson")
    target = task.encode(observed, missing)
    assert target.dtype == np.float32
    expected = labels.fillna(0.0).to_numpy() / task.mean_
    assert_allclose(target, expected, rtol=1e-6)


def test_poisson_loss_is_the_half_deviance_over_the_mean():
    labels = _poisson_labels()
    observed, missing = split_label_column(labels)
    task = make_task(labels, "poisson")
    target = task.encode(observed, np.zeros(len(observed), bool))
    z = np.array([0.3, -1.2, 0.9, 0.0, 2.0, -0.4])
    logits = torch.tensor(z, dtype=torch.float32, requires_grad=True)
    loss = task.loss(logits.view(-1, 1), torch.from_numpy(target))
    assert loss.shape == (6,)
    mu = task.mean_ * np.exp(z)  # = exp(z + offset_), the predicted count
    expected = _half_deviance(observed, mu) / task.mean_
    assert_allclose(loss.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    # The Poisson negative log-likelihood plus a constant of the label: the same
    # gradient, exp(z) - y / mean_.
    nll = torch.nn.functional.poisson_nll_loss(
        logits.detach(),
        torch.from_numpy(target),
        log_input=True,
        full=False,
        reduction="none",
    )
    t = torch.from_numpy(target)
    assert_allclose(
        loss.detach().numpy(),
        (nll + torch.xlogy(t, t) - t).numpy(),
        rtol=1e-6,
        atol=1e-6,
    )
    loss.sum().backward()
    assert_allclose(logits.grad.numpy(), np.exp(z) - target, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_poisson_loss_is_float32_for_half_precision_logits(dtype):
    """Mixed precision gives the loss float16 or bfloat16 logits; exp would
    overflow float16 past 11."""
    task = make_task(pd.Series([1.0, 4.0]), "poisson")
    target = torch.tensor([1.0, 3e4])
    logits = torch.tensor([[0.5], [12.0]], dtype=dtype)
    loss = task.loss(logits, target)
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss).all()
    expected = task.loss(logits.float(), target)
    assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-6)


def test_poisson_loss_is_zero_at_the_label_and_positive_elsewhere():
    task = make_task(pd.Series([1.0, 4.0, 2.0]), "poisson")
    y = np.array([1.0, 4.0, 2.0, 0.5])
    target = torch.from_numpy(task.encode(y, np.zeros(4, bool)))
    at_label = torch.log(target).view(-1, 1)
    assert_allclose(task.loss(at_label, target).numpy(), 0.0, atol=1e-6)
    for shift in (-1.0, -0.1, 0.1, 1.0):
        assert (task.loss(at_label + shift, target) > 0).all()
    # A zero count: loss exp(z), falling to 0 as the predicted count does.
    zero = torch.zeros(1)
    assert_allclose(
        task.loss(torch.tensor([[-3.0]]), zero).numpy(), [math.exp(-3.0)], rtol=1e-6
    )


def test_poisson_decode_is_non_negative_float64_and_serving_computes_it():
    task = make_task(_poisson_labels(), "poisson")
    z = np.array([[-800.0], [-30.0], [-1.0], [0.0], [0.5], [4.0]])
    decoded = task.decode(z)
    assert decoded.dtype == np.float64
    assert (decoded >= 0).all()
    assert_allclose(decoded, np.exp(z[:, 0] + math.log(task.mean_)), rtol=1e-12)
    (served,) = task.serving_outputs(torch.tensor(z, dtype=torch.float32))
    assert served.dtype == torch.float64
    assert_allclose(served.numpy(), task.decode(z.astype(np.float32)), rtol=1e-12)


def test_poisson_score_is_d2():
    task = make_task(_poisson_labels(), "poisson")
    y = np.array([0.0, 1.0, 3.0, 7.0, 2.5, 0.0])
    z = np.array([[-1.0], [0.1], [0.3], [0.9], [-0.2], [-2.0]])
    weight = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0])
    assert_allclose(
        task.score(y, z, weight),
        d2_tweedie_score(y, task.decode(z), sample_weight=weight, power=1),
        rtol=1e-12,
    )
    assert task.score(y, z) > 0
    # The counts themselves explain it all; their mean, nothing.
    assert_allclose(task.score(y, np.log(y + 1e-300)[:, None] - task.offset_), 1.0)
    at_mean = np.full((6, 1), math.log(y.mean()) - task.offset_)
    assert_allclose(task.score(y, at_mean), 0.0, atol=1e-12)


def test_poisson_validation_metrics_are_the_mean_deviance_in_the_labels_units():
    labels = pd.Series([100.0, 250.0, np.nan, 175.0, 0.0, 220.0])
    observed, missing = split_label_column(labels)
    task = make_task(labels, "poisson")
    assert task.mean_ > 100  # far from 1: a unit mix-up would show
    target = task.encode(observed, missing)
    z = np.array([[0.3], [-0.2], [9.0], [0.1], [-1.0], [-0.5]])
    weight = np.where(missing, 0.0, [1.0, 2.0, 1.0, 1.0, 0.5, 1.0])
    metrics, loss = task.validation_metrics(
        torch.tensor(z, dtype=torch.float32),
        torch.from_numpy(target),
        torch.tensor(weight, dtype=torch.float32),
    )
    keep = ~missing
    expected = mean_poisson_deviance(
        labels.to_numpy()[keep], task.decode(z)[keep], sample_weight=weight[keep]
    )
    assert set(metrics) == {"poisson_deviance"}
    assert_allclose(metrics["poisson_deviance"], expected, rtol=1e-5)
    assert_allclose(loss, expected / (2 * task.mean_), rtol=1e-5)


def test_poisson_validation_metrics_are_nan_without_a_label():
    task = make_task(_poisson_labels(), "poisson")
    metrics, loss = task.validation_metrics(
        torch.zeros(2, 1), torch.zeros(2), torch.zeros(2)
    )
    assert math.isnan(loss) and math.isnan(metrics["poisson_deviance"])


def test_poisson_json_round_trip():
    task = make_task(pd.Series([1, 0, 4, 2], dtype="Int64"), "poisson", name="visits")
    spec = json.loads(json.dumps(task.to_json()))
    assert spec == {"name": "visits", "type": "poisson", "mean": 1.75}
    restored = task_from_json(spec)
    assert isinstance(restored, PoissonTask)
    assert restored.name == "visits"
    assert restored.mean_ == task.mean_
    z = np.array([[0.2], [-1.5]])
    assert_array_equal(restored.decode(z), task.decode(z))


@pytest.mark.parametrize(
    "labels",
    [
        pd.Series([0, 3, 1]),
        pd.Series([0.0, 2.5, 1.0]),
        pd.Series([True, False, True]),
        pd.Series([2, None, 1], dtype="Int64"),
        pd.Series([1, None, 3], dtype=object),
    ],
    ids=["int", "float", "bool", "Int64", "object-int"],
)
def test_poisson_accepts_numeric_labels(labels):
    task = make_task(labels, "poisson")
    assert_allclose(task.mean_, labels.dropna().astype(float).mean(), rtol=1e-12)


@pytest.mark.parametrize(
    "labels, match",
    [
        (pd.Series(["a", "b", "a"]), "'visits' is a poisson task.*not numeric"),
        (pd.Series([1.0, -2.0, 3.0]), "'visits' .*negative labels.*-2.0"),
        (pd.Series([1.0, np.inf, 3.0]), "'visits' has infinite labels"),
        (pd.Series([0, 0, None, 0]), "'visits' is a poisson task.*all its labels"),
        (pd.Series([False, False]), "'visits' is a poisson task.*all its labels"),
    ],
    ids=["strings", "negative", "infinite", "all-zero", "all-false"],
)
def test_poisson_refuses_bad_labels_naming_the_task(labels, match):
    with pytest.raises(ValueError, match=match):
        make_task(labels, "poisson", name="visits")


def test_poisson_refuses_a_mean_of_zero_over_the_weighted_labels():
    labels = split_label_column(pd.Series([0.0, 5.0, 0.0]))
    with pytest.raises(ValueError, match="'visits'.*of positive weight"):
        make_tasks([labels], ["visits"], ("poisson",), "any", [np.array([1, 0, 1.0])])


def test_poisson_encode_checks_later_labels():
    task = make_task(pd.Series([1, 2, 3]), "poisson", name="visits")
    # A later chunk (partial_fit) may be all zeros, not negative or strings.
    assert_array_equal(task.encode(np.zeros(2), np.zeros(2, bool)), [0, 0])
    with pytest.raises(ValueError, match="'visits'.*negative"):
        task.encode(np.array([1.0, -1.0]), np.zeros(2, bool))
    with pytest.raises(ValueError, match="'visits'.*not numeric"):
        task.encode(np.array(["a"], dtype=object), np.zeros(1, bool))
    # No label in the chunk: nothing to check, whatever its dtype.
    empty = task.encode(np.array([], dtype=object), np.ones(3, bool))
    assert_array_equal(empty, [0, 0, 0])
