"""Bad input gets a clear error: one test per case, each checking the exception type
and that the message names the problem."""

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler
from small_network import small

from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor

SMALL = small(
    expert_dnn_hidden_units=(8,),
    gate_dnn_hidden_units=(4,),
    tower_dnn_hidden_units=(4,),
    epochs=2,
)


@pytest.fixture(scope="module")
def random_label_frame():
    """(X, Y): 120 rows of a categorical and two numeric columns; random labels
    of a 'yes'/'no' task and a regression task."""
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame(
        {
            "city": rng.choice(["a", "b", "c"], n).astype(object),
            "age": rng.normal(40, 10, n),
            "visits": rng.poisson(3, n).astype(float),
        }
    )
    Y = pd.DataFrame(
        {"bought": rng.choice(["yes", "no"], n), "spend": rng.normal(size=n)}
    )
    return X, Y


@pytest.fixture(scope="module")
def fitted_on_random_labels(random_label_frame):
    """An MMOEEstimator fitted on random_label_frame."""
    X, Y = random_label_frame
    return MMOEEstimator(**SMALL).fit(X, Y)


@pytest.fixture(scope="module")
def fitted_array_regressor():
    """(X, est): an MMOERegressor fitted on an array X of 3 columns."""
    X = np.random.default_rng(1).normal(size=(80, 3))
    return X, MMOERegressor(**SMALL).fit(X, X[:, 0])


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score", "gate_weights"]
)
def test_predict_before_fit(random_label_frame, method):
    X, Y = random_label_frame
    args = (X, Y) if method == "score" else (X,)
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(MMOEEstimator(), method)(*args)


def test_wrong_number_of_features(fitted_array_regressor):
    X, est = fitted_array_regressor
    with pytest.raises(
        ValueError, match="X has 2 features, but MMOERegressor is expecting 3"
    ):
        est.predict(X[:, :2])


def test_dataframe_with_a_missing_column(random_label_frame, fitted_on_random_labels):
    X, _ = random_label_frame
    with pytest.raises(ValueError, match="missing"):
        fitted_on_random_labels.predict(X.drop(columns="age"))


def test_dataframe_with_a_renamed_column(random_label_frame, fitted_on_random_labels):
    X, _ = random_label_frame
    with pytest.raises(ValueError, match="unseen at fit time"):
        fitted_on_random_labels.predict(X.rename(columns={"age": "years"}))


def test_reordered_columns_are_matched_by_name(
    random_label_frame, fitted_on_random_labels
):
    X, _ = random_label_frame
    assert_array_equal(
        fitted_on_random_labels.predict(X[["visits", "city", "age"]]),
        fitted_on_random_labels.predict(X),
    )


def test_x_and_y_of_different_lengths(random_label_frame):
    X, Y = random_label_frame
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MMOEEstimator(**SMALL).fit(X, Y.iloc[:-1])


@pytest.mark.parametrize("as_frame", [True, False])
def test_empty_x(as_frame):
    X = np.empty((0, 3))
    X = pd.DataFrame(X, columns=list("abc")) if as_frame else X
    with pytest.raises(ValueError, match="0 sample"):
        MMOERegressor(**SMALL).fit(X, np.empty(0))


def test_x_without_columns():
    with pytest.raises(ValueError, match="0 feature"):
        MMOERegressor(**SMALL).fit(pd.DataFrame(index=range(5)), np.arange(5.0))


@pytest.mark.parametrize("as_frame", [True, False])
def test_a_single_sample(as_frame):
    X = np.ones((1, 2))
    X = pd.DataFrame(X, columns=["a", "b"]) if as_frame else X
    with pytest.raises(ValueError, match="1 sample"):
        MMOERegressor(**SMALL).fit(X, [1.0])


def test_inf_in_a_numeric_array_feature():
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        MMOERegressor(**SMALL).fit(X, np.arange(20.0))


def test_inf_in_a_numeric_dataframe_column_names_it(
    random_label_frame, fitted_on_random_labels
):
    X, Y = random_label_frame
    bad = X.copy()
    bad.loc[5, "age"] = -np.inf
    with pytest.raises(ValueError, match="'age' contains infinity"):
        MMOEEstimator(**SMALL).fit(bad, Y)
    with pytest.raises(ValueError, match="'age' contains infinity"):
        fitted_on_random_labels.predict(bad)


def test_nan_in_numeric_features_is_imputed(random_label_frame):
    X, Y = random_label_frame
    holes = X.copy()
    holes.loc[::7, "age"] = np.nan
    est = MMOEEstimator(**SMALL).fit(holes, Y)
    assert np.isfinite(est.predict(holes)[:, 1].astype(float)).all()


def test_complex_array():
    X = np.ones((10, 2), dtype=complex)
    with pytest.raises(ValueError, match="Complex data not supported"):
        MMOERegressor(**SMALL).fit(X, np.arange(10.0))


def test_complex_dataframe_column():
    X = pd.DataFrame({"z": np.ones(10, dtype=complex), "x": np.arange(10.0)})
    with pytest.raises(TypeError, match="'z' holds complex values"):
        MMOERegressor(**SMALL).fit(X, np.arange(10.0))


@pytest.mark.parametrize("value", [object(), {"a": 1}, [1, 2], 1 + 2j])
def test_arbitrary_objects_in_a_categorical_column(value):
    column = np.array(["a", "b"] * 5, dtype=object)
    column[4] = value
    X = pd.DataFrame({"c": column, "x": np.arange(10.0)})
    with pytest.raises(TypeError, match="'c'"):
        MMOERegressor(**SMALL).fit(X, np.arange(10.0))


def test_y_of_the_wrong_shape():
    X = np.ones((10, 2))
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        MMOERegressor(**SMALL).fit(X, np.ones((10, 2, 2)))


def test_y_none():
    with pytest.raises(ValueError, match="requires y to be passed"):
        MMOERegressor(**SMALL).fit(np.ones((10, 2)), None)


def test_task_types_of_the_wrong_length(random_label_frame):
    X, Y = random_label_frame
    with pytest.raises(ValueError, match="task_types has 1 entries but y has 2"):
        MMOEEstimator(**SMALL, task_types=("binary",)).fit(X, Y)


def test_task_names_of_the_wrong_length(random_label_frame):
    X, Y = random_label_frame
    with pytest.raises(ValueError, match="task_names has 3 entries but y has 2"):
        MMOEEstimator(**SMALL, task_names=("a", "b", "c")).fit(X, Y)


def test_unknown_task_type(random_label_frame):
    X, Y = random_label_frame
    with pytest.raises(ValueError, match="Unknown task type"):
        MMOEEstimator(**SMALL, task_types=("binary", "ranking")).fit(X, Y)


def test_binary_task_with_one_class(random_label_frame):
    X, Y = random_label_frame
    one = Y.assign(bought="yes")
    with pytest.raises(ValueError, match="'bought' has only one class"):
        MMOEEstimator(**SMALL).fit(X, one)


def test_binary_task_with_three_classes(random_label_frame):
    X, Y = random_label_frame
    three = Y.assign(bought=np.resize(["a", "b", "c"], len(Y)))
    with pytest.raises(ValueError, match="'bought' is binary but y holds 3 classes"):
        MMOEEstimator(**SMALL, task_types=("binary", "regression")).fit(X, three)


def test_strings_for_a_regression_task(random_label_frame):
    X, Y = random_label_frame
    with pytest.raises(
        ValueError, match="'bought' is a regression task .* not numeric"
    ):
        MMOEEstimator(**SMALL, task_types=("regression", "regression")).fit(X, Y)


def test_continuous_labels_for_a_classifier():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MMOEClassifier(**SMALL).fit(X, X[:, 0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_device_that_is_not_available(random_label_frame, device):
    X, Y = random_label_frame
    with pytest.raises(ValueError, match="CUDA is not available"):
        MMOEEstimator(**SMALL, device=device).fit(X, Y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpus_without_cuda(random_label_frame):
    X, Y = random_label_frame
    with pytest.raises(ValueError, match=r"gpus=\[0, 1\] needs CUDA"):
        MMOEEstimator(**SMALL, gpus=[0, 1]).fit(X, Y)


# (parameter, invalid value) for every constructor parameter that has invalid values
INVALID = [
    ("num_experts", 0),
    ("num_experts", 2.5),
    ("expert_dnn_hidden_units", ()),
    ("expert_dnn_hidden_units", (64, -1)),
    ("expert_dnn_hidden_units", (64.0,)),
    ("gate_dnn_hidden_units", (0,)),
    ("tower_dnn_hidden_units", ("a",)),
    ("l2_reg_linear", -1.0),
    ("l2_reg_embedding", -1e-5),
    ("l2_reg_dnn", "big"),
    ("init_std", -0.1),
    ("seed", -1),
    ("seed", 1.5),
    ("dnn_dropout", 1.0),
    ("dnn_dropout", -0.1),
    ("dnn_activation", "swishy"),
    ("dnn_use_bn", "yes"),
    ("task_types", "binaryy"),
    ("task_names", 3),
    ("device", 3),
    ("device", "tpu"),
    ("gpus", "0"),
    ("gpus", [-1]),
    ("categorical_features", "all"),
    ("categorical_features", 3),
    ("preprocessor", "scaler"),
    ("preprocessor", StandardScaler()),
    ("embedding_dim", 0),
    ("epochs", 0),
    ("epochs", "many"),
    ("batch_size", 0),
    ("optimizer", "lbfgs"),
    ("learning_rate", 0.0),
    ("learning_rate", -1e-3),
    ("loss_weights", 1.0),
    ("loss_weights", (1.0, -1.0)),
    ("loss_weights", (1.0,)),
    ("early_stopping", "yes"),
    ("validation_fraction", 0.0),
    ("validation_fraction", 1.0),
    ("n_iter_no_change", 0),
    ("clip_grad_norm", 0.0),
    ("verbose", "loud"),
]


@pytest.mark.parametrize("name, value", INVALID)
def test_invalid_parameter_raises_at_fit_naming_it(random_label_frame, name, value):
    X, Y = random_label_frame
    est = MMOEEstimator(**{name: value})  # __init__ does not validate
    est.set_params(**{name: value})  # nor does set_params
    with pytest.raises((ValueError, TypeError), match=name):
        est.fit(X, Y)
    assert not hasattr(est, "network_")


# ------------------------------------------------- issue 14: odd inputs, clearly
def test_a_value_whose_encoding_overflows_float32_is_named():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"small": rng.random(60), "other": rng.normal(size=60)})
    est = MMOEClassifier(**small(epochs=1)).fit(X, np.arange(60) % 2)
    huge = X.head(3).assign(small=np.float32(3e38))
    with pytest.raises(ValueError, match="'small' overflows float32"):
        est.predict(huge)


@pytest.mark.parametrize("n_rows", [5, 70])
def test_score_with_y_of_the_wrong_length(n_rows):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    Y = np.column_stack([np.arange(40) % 2, X[:, 0]])
    est = MMOEEstimator(**small(epochs=1)).fit(X, Y)
    wrong = np.column_stack([np.arange(n_rows) % 2, np.zeros(n_rows)])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.score(X, wrong)
    clf = MMOEClassifier(**small(epochs=1)).fit(X, Y[:, 0].astype(int))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.score(X, wrong[:, 0].astype(int))


def test_partial_fit_with_batch_norm_on_a_one_row_chunk():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.arange(40) % 2
    est = MMOEClassifier(**small(epochs=1, dnn_use_bn=True)).partial_fit(X, y)
    with pytest.raises(ValueError, match="at least 2 rows"):
        est.partial_fit(X[:1], y[:1])
    assert est.n_epochs_ == 1


def test_integer_column_names_are_matched_by_name():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=[10, 20, 30])
    y = (X[10] > 0).astype(int)
    est = MMOEClassifier(**small(epochs=2)).fit(X, y)
    reordered = X[[30, 10, 20]]
    np.testing.assert_array_equal(est.predict_proba(reordered), est.predict_proba(X))
