"""skmmoe.metrics.task_scorer: one task's metric, for GridSearchCV and friends."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from small_network import small

from skmmoe import MMOEClassifier, MMOEEstimator
from skmmoe.metrics import task_scorer

SMALL = small(epochs=2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=3.0, scale=5.0, size=(200, 3))
    click = (X[:, 0] + rng.normal(scale=3.0, size=200) > 3.0).astype(np.int64)
    spend = 2.0 * X[:, 1] + rng.normal(size=200)
    return X, pd.DataFrame({"click": click, "spend": spend})


@pytest.fixture(scope="module")
def mixed(data):
    """MMOEEstimator with a binary (0/1) task and a regression task."""
    X, Y = data
    return MMOEEstimator(**SMALL).fit(X, Y)


@pytest.fixture(scope="module")
def classifier(data):
    """MMOEClassifier with a binary task and a three-class task, string labels."""
    X, _ = data
    Y = pd.DataFrame(
        {
            "buy": np.where(X[:, 0] > 3.0, "yes", "no"),
            "kind": np.array(["a", "b", "c"])[np.argmax(X, axis=1)],
        }
    )
    return MMOEClassifier(**SMALL).fit(X, Y), Y


# ---------------------------------------------------- equals sklearn's metric
@pytest.mark.parametrize("task", ["click", 0, -2])
def test_roc_auc_and_log_loss_of_a_binary_task(mixed, data, task):
    X, Y = data
    proba = mixed.predict_proba(X)[0]
    assert_allclose(
        task_scorer(task, "roc_auc")(mixed, X, Y),
        roc_auc_score(Y["click"], proba[:, 1]),
    )
    assert_allclose(
        task_scorer(task, "log_loss")(mixed, X, Y), -log_loss(Y["click"], proba)
    )
    assert_allclose(
        task_scorer(task, "neg_log_loss")(mixed, X, Y), -log_loss(Y["click"], proba)
    )


@pytest.mark.parametrize("task", ["spend", 1, -1])
def test_r2_and_mse_of_a_regression_task(mixed, data, task):
    X, Y = data
    pred = mixed.predict(X)[:, 1].astype(np.float64)
    assert_allclose(task_scorer(task, "r2")(mixed, X, Y), r2_score(Y["spend"], pred))
    mse = mean_squared_error(Y["spend"], pred)
    assert_allclose(task_scorer(task, "mse")(mixed, X, Y), -mse)
    assert_allclose(task_scorer(task, "neg_mean_squared_error")(mixed, X, Y), -mse)
    assert task_scorer(task, "mse")(mixed, X, Y) < 0


@pytest.mark.parametrize("task", ["click", 0])
def test_accuracy_of_an_int_labelled_task_beside_a_regression_task(mixed, data, task):
    X, Y = data
    expected = accuracy_score(Y["click"], mixed.predict(X)[:, 0].astype(np.int64))
    assert_allclose(task_scorer(task, "accuracy")(mixed, X, Y), expected)


def test_accuracy_of_a_string_labelled_task_beside_a_regression_task(data):
    X, Y = data
    Y = Y.assign(click=np.where(Y["click"] == 1, "yes", "no"))
    est = MMOEEstimator(**SMALL).fit(X, Y)
    expected = accuracy_score(Y["click"], est.predict(X)[:, 0])
    assert_allclose(task_scorer("click", "accuracy")(est, X, Y), expected)


@pytest.mark.parametrize("task", ["buy", 0, -2])
def test_binary_task_of_a_classifier(classifier, data, task):
    clf, Y = classifier
    X, _ = data
    proba = clf.predict_proba(X)[0]
    assert list(clf.classes_[0]) == ["no", "yes"]
    assert_allclose(
        task_scorer(task, "roc_auc")(clf, X, Y),
        roc_auc_score(Y["buy"] == "yes", proba[:, 1]),
    )
    assert_allclose(
        task_scorer(task, "log_loss")(clf, X, Y), -log_loss(Y["buy"], proba)
    )
    assert_allclose(
        task_scorer(task, "accuracy")(clf, X, Y),
        accuracy_score(Y["buy"], clf.predict(X)[:, 0]),
    )


@pytest.mark.parametrize("task", ["kind", 1, -1])
def test_multiclass_task_of_a_classifier(classifier, data, task):
    clf, Y = classifier
    X, _ = data
    proba = clf.predict_proba(X)[1]
    assert proba.shape == (len(X), 3)
    assert_allclose(
        task_scorer(task, "log_loss")(clf, X, Y),
        -log_loss(Y["kind"], proba, labels=clf.classes_[1]),
    )
    assert_allclose(
        task_scorer(task, "accuracy")(clf, X, Y),
        accuracy_score(Y["kind"], clf.predict(X)[:, 1]),
    )


def test_y_as_a_numpy_array(classifier, data):
    clf, Y = classifier
    X, _ = data
    assert_allclose(
        task_scorer("kind", "accuracy")(clf, X, Y.to_numpy()),
        task_scorer("kind", "accuracy")(clf, X, Y),
    )


def test_one_task_estimator_with_1d_y(data):
    X, Y = data
    clf = MMOEClassifier(**SMALL).fit(X, Y["click"].to_numpy())
    proba = clf.predict_proba(X)
    y = Y["click"].to_numpy()
    assert_allclose(task_scorer(0, "roc_auc")(clf, X, y), roc_auc_score(y, proba[:, 1]))
    assert_allclose(
        task_scorer("task_0", "accuracy")(clf, X, y),
        accuracy_score(y, clf.predict(X)),
    )
    assert_allclose(task_scorer(0, "log_loss")(clf, X, y), -log_loss(y, proba))


def test_sample_weight(mixed, data):
    X, Y = data
    w = np.random.default_rng(1).uniform(0.1, 2.0, len(X))
    proba = mixed.predict_proba(X)[0]
    pred = mixed.predict(X)[:, 1].astype(np.float64)
    assert_allclose(
        task_scorer("click", "roc_auc")(mixed, X, Y, sample_weight=w),
        roc_auc_score(Y["click"], proba[:, 1], sample_weight=w),
    )
    assert_allclose(
        task_scorer("spend", "r2")(mixed, X, Y, sample_weight=w),
        r2_score(Y["spend"], pred, sample_weight=w),
    )


# ------------------------------------------------------------ missing labels
def test_samples_with_a_missing_label_are_left_out(mixed, data):
    X, Y = data
    Y = Y.astype(np.float64)
    Y.iloc[:30, 0] = np.nan
    Y.iloc[50:90, 1] = np.nan
    click_rows = Y["click"].notna().to_numpy()
    spend_rows = Y["spend"].notna().to_numpy()
    proba = mixed.predict_proba(X)[0][click_rows]
    pred = mixed.predict(X)[:, 1].astype(np.float64)[spend_rows]
    click = Y["click"][click_rows].astype(np.int64)
    spend = Y["spend"][spend_rows]

    assert_allclose(
        task_scorer("click", "roc_auc")(mixed, X, Y),
        roc_auc_score(click, proba[:, 1]),
    )
    assert_allclose(
        task_scorer("click", "log_loss")(mixed, X, Y), -log_loss(click, proba)
    )
    assert_allclose(task_scorer("spend", "r2")(mixed, X, Y), r2_score(spend, pred))
    assert_allclose(
        task_scorer("spend", "mse")(mixed, X, Y), -mean_squared_error(spend, pred)
    )
    # and not the score on every row
    assert task_scorer("click", "roc_auc")(mixed, X, Y) != task_scorer(
        "click", "roc_auc"
    )(mixed, X, data[1])


@pytest.mark.parametrize("as_numpy", [False, True])
def test_missing_string_labels_are_left_out(classifier, data, as_numpy):
    clf, Y = classifier
    X, _ = data
    Y = Y.astype(object)
    Y.iloc[:25, 1] = None
    observed = Y["kind"].notna().to_numpy()
    expected = accuracy_score(Y["kind"][observed], clf.predict(X)[observed, 1])
    y = Y.to_numpy() if as_numpy else Y
    assert_allclose(task_scorer("kind", "accuracy")(clf, X, y), expected)
    proba = clf.predict_proba(X)[1][observed]
    assert_allclose(
        task_scorer("kind", "log_loss")(clf, X, y),
        -log_loss(Y["kind"][observed], proba, labels=clf.classes_[1]),
    )


# ------------------------------------------------------ pipelines and search
def test_pipeline_whose_last_step_is_the_estimator(data):
    X, Y = data
    pipe = Pipeline(
        [("scale", StandardScaler()), ("mmoe", MMOEEstimator(**SMALL))]
    ).fit(X, Y)
    proba = pipe.predict_proba(X)[0]
    pred = pipe.predict(X)[:, 1].astype(np.float64)
    assert_allclose(
        task_scorer("click", "roc_auc")(pipe, X, Y),
        roc_auc_score(Y["click"], proba[:, 1]),
    )
    assert_allclose(task_scorer(-1, "r2")(pipe, X, Y), r2_score(Y["spend"], pred))


def test_grid_search_with_a_scoring_dict_and_refit(data):
    X, Y = data
    scoring = {
        "click_auc": task_scorer("click", "roc_auc"),
        "spend_r2": task_scorer("spend", "r2"),
    }
    search = GridSearchCV(
        MMOEEstimator(**SMALL),
        {"num_experts": [1, 2]},
        scoring=scoring,
        refit="click_auc",
        cv=2,
        n_jobs=1,
    ).fit(X, Y)
    for name in scoring:
        scores = search.cv_results_[f"mean_test_{name}"]
        assert scores.shape == (2,)
        assert np.isfinite(scores).all()
    auc = search.cv_results_["mean_test_click_auc"]
    assert search.best_index_ == int(np.argmax(auc))
    assert_allclose(search.best_score_, auc.max())
    assert np.all((auc >= 0.0) & (auc <= 1.0))
    assert search.best_estimator_.num_experts == search.best_params_["num_experts"]
    assert_allclose(
        search.score(X, Y),
        task_scorer("click", "roc_auc")(search.best_estimator_, X, Y),
    )


# ------------------------------------------------------------------ errors
def test_unknown_metric():
    """Names outside scikit-learn's scorers are refused at once."""
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        task_scorer("click", "auc")


def test_unknown_task_name_lists_the_tasks(mixed, data):
    X, Y = data
    with pytest.raises(ValueError, match=r"no task named 'nope'.*\['click', 'spend'\]"):
        task_scorer("nope", "r2")(mixed, X, Y)


@pytest.mark.parametrize("index", [2, 7, -3])
def test_task_index_out_of_range(mixed, data, index):
    X, Y = data
    with pytest.raises(ValueError, match=f"task index {index} is out of range"):
        task_scorer(index, "r2")(mixed, X, Y)


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_probability_metric_on_a_regression_task(mixed, data, metric):
    X, Y = data
    with pytest.raises(ValueError, match="regression task"):
        task_scorer("spend", metric)(mixed, X, Y)


def test_roc_auc_on_a_multiclass_task(classifier, data):
    clf, Y = classifier
    X, _ = data
    with pytest.raises(ValueError, match="binary tasks.*3 classes"):
        task_scorer("kind", "roc_auc")(clf, X, Y)


@pytest.mark.parametrize("task", [1.0, None, True, ("click",), ["click"]])
def test_task_of_a_bad_type(task):
    with pytest.raises(TypeError, match="task must be a task name or index"):
        task_scorer(task, "r2")


def test_numpy_integer_task_index(mixed, data):
    X, Y = data
    assert_allclose(
        task_scorer(np.int64(1), "r2")(mixed, X, Y), task_scorer(1, "r2")(mixed, X, Y)
    )


def test_repr():
    assert repr(task_scorer("income", "roc_auc")) == "task_scorer('income', 'roc_auc')"
    assert repr(task_scorer(-1, "mse")) == "task_scorer(-1, 'mse')"


def test_score_and_task_scorer_match_y_columns_by_name():
    """Y's columns reordered score each task against its own labels; other
    names are refused."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    Y = pd.DataFrame({"flag": (X.a > 0).astype(int), "amount": 3.0 * X.b + X.a})
    est = MMOEEstimator(expert_dnn_hidden_units=(16,), epochs=5).fit(X, Y)
    swapped = Y[["amount", "flag"]]
    assert est.score(X, swapped) == pytest.approx(est.score(X, Y))
    scorer = task_scorer("amount", "r2")
    assert scorer(est, X, swapped) == pytest.approx(scorer(est, X, Y))
    with pytest.raises(ValueError, match="matched to the tasks by name"):
        est.score(X, Y.rename(columns={"amount": "spend"}))
    with pytest.raises(ValueError, match="matched to the tasks by name"):
        scorer(est, X, Y.rename(columns={"amount": "spend"}))


# --------------------------------------------- scikit-learn's scorers, routing
def test_any_scikit_learn_scorer_name_scores_one_task(mixed, data):
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        f1_score,
        mean_absolute_error,
    )

    X, Y = data
    proba = mixed.predict_proba(X)[0]
    labels = mixed.predict(X)[:, 0].astype(np.int64)
    pred = mixed.predict(X)[:, 1].astype(np.float64)
    expected = {
        ("click", "f1"): f1_score(Y["click"], labels),
        ("click", "balanced_accuracy"): balanced_accuracy_score(Y["click"], labels),
        ("click", "average_precision"): average_precision_score(
            Y["click"], proba[:, 1]
        ),
        ("spend", "neg_mean_absolute_error"): -mean_absolute_error(Y["spend"], pred),
        ("spend", "mae"): -mean_absolute_error(Y["spend"], pred),
    }
    for (task, name), value in expected.items():
        assert_allclose(task_scorer(task, name)(mixed, X, Y), value, err_msg=name)


def test_a_make_scorer_object_scores_one_task(classifier, data):
    from sklearn.metrics import fbeta_score, make_scorer

    clf, Y = classifier
    X, _ = data
    # pos_label=None: scikit-learn 1.6 checks the default pos_label=1 against the
    # classes even for a macro average.
    f2 = make_scorer(fbeta_score, beta=2, average="macro", pos_label=None)
    scorer = task_scorer("kind", f2)
    expected = fbeta_score(Y["kind"], clf.predict(X)[:, 1], beta=2, average="macro")
    assert_allclose(scorer(clf, X, Y), expected)
    assert repr(scorer).startswith("task_scorer('kind', make_scorer(fbeta_score")


def test_per_task_sample_weight_uses_the_task_column(mixed, data):
    X, Y = data
    rng = np.random.default_rng(2)
    w = rng.uniform(0.1, 2.0, size=(len(X), 2))
    proba = mixed.predict_proba(X)[0]
    pred = mixed.predict(X)[:, 1].astype(np.float64)
    assert_allclose(
        task_scorer("click", "roc_auc")(mixed, X, Y, sample_weight=w),
        roc_auc_score(Y["click"], proba[:, 1], sample_weight=w[:, 0]),
    )
    assert_allclose(
        task_scorer("spend", "r2")(mixed, X, Y, sample_weight=w),
        r2_score(Y["spend"], pred, sample_weight=w[:, 1]),
    )


def test_sample_weight_is_routed_to_the_scorer_when_requested(data):
    """With metadata routing on, cross_validate routes sample_weight to the fit
    and to each task scorer that requests it: fold scores equal the weighted
    metric of each fold's model (an unrequested weight is refused)."""
    import sklearn
    from sklearn.base import clone
    from sklearn.model_selection import KFold, cross_validate

    X, Y = data
    w = np.random.default_rng(3).uniform(0.1, 2.0, len(X))
    cv = KFold(2)
    with sklearn.config_context(enable_metadata_routing=True):
        est = MMOEEstimator(**SMALL).set_fit_request(sample_weight=True)
        scorer = task_scorer("spend", "r2").set_score_request(sample_weight=True)
        scores = cross_validate(
            est, X, Y, cv=cv, scoring={"r2": scorer}, params={"sample_weight": w}
        )["test_r2"]
        with pytest.raises(ValueError, match="sample_weight"):
            cross_validate(
                est,
                X,
                Y,
                cv=cv,
                scoring={"r2": task_scorer("spend", "r2")},
                params={"sample_weight": w},
            )
        for score, (train, test) in zip(scores, cv.split(X)):
            model = clone(est).fit(X[train], Y.iloc[train], sample_weight=w[train])
            pred = model.predict(X[test])[:, 1].astype(np.float64)
            expected = r2_score(Y["spend"].iloc[test], pred, sample_weight=w[test])
            assert_allclose(score, expected)


def test_permutation_importance_of_one_task(data):
    from sklearn.inspection import permutation_importance

    X, Y = data
    est = MMOEEstimator(**small(epochs=8)).fit(X, Y)
    result = permutation_importance(
        est, X, Y, scoring=task_scorer("spend", "r2"), n_repeats=3, random_state=0
    )
    assert result.importances_mean.shape == (3,)
    # spend is 2 * column 1 plus noise: that column matters most.
    assert int(np.argmax(result.importances_mean)) == 1


def test_a_users_own_scorer_scores_a_mixed_task_model(mixed, data):
    """A make_scorer of the user's own over the whole multi-task prediction is
    called with predict's output, never refused (a refusal became silent NaN
    scores in cross_validate)."""
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import cross_validate

    def spend_r2(Y, pred):
        return r2_score(np.asarray(Y)[:, 1], pred[:, 1].astype(float))

    X, Y = data
    scores = cross_validate(
        mixed, X, Y, scoring=make_scorer(spend_r2), cv=2, error_score="raise"
    )["test_score"]
    assert np.isfinite(scores).all()
    assert_allclose(make_scorer(spend_r2)(mixed, X, Y), spend_r2(Y, mixed.predict(X)))


@pytest.mark.parametrize("scoring", ["r2", "roc_auc", "accuracy"])
def test_a_built_in_single_output_scorer_on_mixed_tasks_raises(mixed, data, scoring):
    """scikit-learn's scorers compare one kind of output; on string and float
    columns together they raise scikit-learn's own error (task_scorer scores
    one task). skmmoe no longer inspects its caller to find out."""
    from sklearn.model_selection import cross_validate

    X, Y = data
    Y = Y.assign(click=np.where(Y["click"] == 1, "yes", "no"))
    est = clone(mixed).fit(X, Y)
    with pytest.raises((ValueError, TypeError)):
        cross_validate(est, X, Y, scoring=scoring, cv=2, error_score="raise")


def test_predict_from_a_thread_with_no_python_caller(mixed, data, monkeypatch):
    """A host that calls predict from a thread of its own (no Python frame above
    the call, as from C or C++) gets predictions: nothing in predict looks up
    its callers. The thread runs C callables only (list.extend over map), so
    predict's frame is the bottom of its Python stack."""
    import _thread
    import itertools
    import sys
    import time

    X, _ = data
    results: list = []
    errors: list = []
    monkeypatch.setattr(sys, "unraisablehook", errors.append)
    calls = itertools.chain(map(mixed.predict, [X]), map(mixed.predict_proba, [X]))
    _thread.start_new_thread(results.extend, (calls,))
    deadline = time.monotonic() + 60
    while len(results) < 2 and not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not errors, errors[0].exc_value
    assert_array_equal(results[0], mixed.predict(X))
    assert_array_equal(results[1][0], mixed.predict_proba(X)[0])
