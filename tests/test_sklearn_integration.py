"""skmmoe where any scikit-learn estimator goes: Pipeline,
GridSearchCV (default and per-task multi-metric scoring), cross_validate, clone."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from small_network import SMALL, small

from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor
from skmmoe.metrics import task_scorer


@pytest.fixture(scope="module")
def churn_spend_frame():
    """(X, Y): 300 rows of object, category and numeric columns; a 'yes'/'no'
    task 'churn' and a regression task 'spend'."""
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame(
        {
            "plan": rng.choice(["free", "pro", "team"], n).astype(object),
            "region": pd.Categorical(rng.choice(["eu", "us"], n)),
            "visits": rng.poisson(3, n).astype(float),
            "age": rng.normal(40, 10, n),
        }
    )
    Y = pd.DataFrame(
        {
            "churn": np.where(X.visits < 3, "yes", "no"),
            "spend": 2.0 * X.visits + (X.plan == "pro") * 4 + rng.normal(0, 0.5, n),
        }
    )
    return X, Y


def test_pipeline_after_users_column_transformer(churn_spend_frame):
    X, Y = churn_spend_frame
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(sparse_output=False), ["plan", "region"]),
            ("num", StandardScaler(), ["visits", "age"]),
        ]
    )
    pipe = Pipeline([("pre", pre), ("mmoe", MMOEEstimator(**SMALL))])
    pipe.fit(X, Y)
    pred = pipe.predict(X)
    assert pred.shape == (len(X), 2)
    assert set(pred[:, 0]) <= {"yes", "no"}
    assert pipe.score(X, Y) == pytest.approx(pipe[-1].score(pre.transform(X), Y))
    # The one-hot columns reach the last step as numbers: every sparse input is a
    # numeric column's bin embedding, none a category's.
    sparse = [c.name for c in pipe[-1].feature_columns_ if c.kind == "sparse"]
    assert len(sparse) == 7 and all(name.endswith("_bin") for name in sparse)


def test_pipeline_alone_on_a_raw_dataframe(churn_spend_frame):
    X, Y = churn_spend_frame
    pipe = Pipeline([("mmoe", MMOEEstimator(**SMALL))]).fit(X, Y)
    alone = MMOEEstimator(**SMALL).fit(X, Y)
    np.testing.assert_array_equal(pipe.predict(X), alone.predict(X))


def test_nested_set_params_and_clone(churn_spend_frame):
    pipe = Pipeline([("mmoe", MMOEEstimator())])
    pipe.set_params(mmoe__num_experts=5, mmoe__expert_dnn_hidden_units=(32,))
    assert pipe.get_params()["mmoe__num_experts"] == 5
    cloned = clone(pipe)
    assert cloned[-1].get_params() == pipe[-1].get_params()
    assert cloned[-1] is not pipe[-1]


def test_grid_search_default_scoring_in_two_processes(churn_spend_frame):
    X, Y = churn_spend_frame
    grid = {
        "num_experts": [1, 2],
        "expert_dnn_hidden_units": [(8,), (16,)],
        "learning_rate": [3e-3],
    }
    search = GridSearchCV(MMOEEstimator(**SMALL), grid, cv=2, n_jobs=2).fit(X, Y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all()
    # the default scoring is the estimator's own score
    best = search.best_estimator_
    assert search.score(X, Y) == pytest.approx(best.score(X, Y))


def test_grid_search_per_task_multi_metric_refit(churn_spend_frame):
    X, Y = churn_spend_frame
    scoring = {
        "churn_auc": task_scorer("churn", "roc_auc"),
        "churn_log_loss": task_scorer("churn", "log_loss"),
        "churn_accuracy": task_scorer("churn", "accuracy"),
        "spend_r2": task_scorer("spend", "r2"),
        "spend_mse": task_scorer("spend", "mse"),
    }
    pipe = Pipeline([("mmoe", MMOEEstimator(**SMALL))])
    search = GridSearchCV(
        pipe,
        {"mmoe__num_experts": [1, 2], "mmoe__learning_rate": [1e-3, 5e-3]},
        scoring=scoring,
        refit="spend_r2",
        cv=2,
        n_jobs=2,
    ).fit(X, Y)
    for key in scoring:
        assert np.isfinite(search.cv_results_[f"mean_test_{key}"]).all(), key
    r2 = search.cv_results_["mean_test_spend_r2"]
    assert search.best_index_ == int(np.argmax(r2))
    assert (search.cv_results_["mean_test_spend_mse"] <= 0).all()


def test_cross_validate(churn_spend_frame):
    X, Y = churn_spend_frame
    result = cross_validate(
        MMOEEstimator(**{**SMALL, "epochs": 20}),
        X,
        Y,
        cv=3,
        scoring={"churn_auc": task_scorer("churn", "roc_auc"), "mean": None},
    )
    assert result["test_churn_auc"].shape == (3,)
    assert (result["test_churn_auc"] > 0.7).all()
    assert np.isfinite(result["test_mean"]).all()


def test_single_task_classifier_and_regressor_in_sklearn_tools(churn_spend_frame):
    X, Y = churn_spend_frame
    clf_scores = cross_validate(
        MMOEClassifier(**{**SMALL, "epochs": 20}),
        X,
        Y["churn"],
        cv=2,
        scoring="roc_auc",
    )["test_score"]
    assert (clf_scores > 0.7).all()
    reg_scores = cross_validate(MMOERegressor(**SMALL), X, Y["spend"], cv=2)
    assert np.isfinite(reg_scores["test_score"]).all()


# ------------------------------------------------------- estimator type and tags
@pytest.mark.parametrize(
    "task_types, kind",
    [
        ("binary", "classifier"),
        (["binary", "multiclass"], "classifier"),
        ("regression", "regressor"),
        (["regression", "regression"], "regressor"),
        (["binary", "regression"], None),
        (None, None),
    ],
)
def test_mmoe_estimator_is_a_classifier_or_regressor_when_its_tasks_are(
    task_types, kind
):
    from sklearn.base import is_classifier, is_regressor
    from sklearn.utils import get_tags

    est = MMOEEstimator(task_types=task_types)
    assert is_classifier(est) == (kind == "classifier")
    assert is_regressor(est) == (kind == "regressor")
    assert get_tags(est).input_tags.string


def test_a_fitted_mmoe_estimator_takes_its_type_from_its_tasks():
    from sklearn.base import is_classifier, is_regressor

    X = np.random.default_rng(0).normal(size=(60, 2))
    binary = MMOEEstimator(**small(epochs=1)).fit(X, X[:, 0] > 0)
    assert is_classifier(binary) and not is_classifier(clone(binary))
    both = np.column_stack([X[:, 0] > 0, X[:, 1]])
    mixed = MMOEEstimator(**small(epochs=1), task_types=["binary", "regression"])
    assert not is_classifier(mixed.fit(X, both)) and not is_regressor(mixed)


def test_calibrated_classifier_cv_wraps_a_single_binary_task():
    """CalibratedClassifierCV reads the positive class's probability from a
    classifier; as an untyped estimator it got both columns (IndexError)."""
    from sklearn.calibration import CalibratedClassifierCV

    X = np.random.default_rng(0).normal(size=(150, 3))
    y = (X[:, 0] > 0).astype(int)
    calibrated = CalibratedClassifierCV(MMOEEstimator(**small(epochs=2)), cv=3)
    proba = calibrated.fit(X, y).predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ((proba[:, 1] > 0.5) == y).mean() > 0.8
