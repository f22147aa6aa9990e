"""The poisson task kind end to end, beside a binary task: fit, partial_fit, predict,
predict_proba, score, task_scorer, save/load, to_onnx, skmmoe.dask, plot_tasks, and
the estimators that accept it. Its own behaviour (loss, offset, labels, JSON) is
tested in test_tasks.py.

The counts are Poisson(exp(0.5 x0 - 0.3 x1 + 1)); the model that knows that rate
explains D^2 = 0.525 of the held-out deviance, scikit-learn's PoissonRegressor 0.524.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import is_regressor
from sklearn.metrics import (
    d2_tweedie_score,
    mean_absolute_error,
    mean_poisson_deviance,
    r2_score,
    roc_auc_score,
)
from small_network import assert_close_across_row_sets, small

import skmmoe
from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor
from skmmoe.metrics import task_scorer

TYPES = ("binary", "poisson")

# Held-out D^2 of the counts after the module's fit (10 epochs, 600 rows): 0.505
# measured (the true rate's is 0.525); the floor leaves room for other CPUs'
# rounding and torch versions.
D2_FLOOR = 0.40


def _data(n, seed):
    """X of 4 standard normal columns; Y a binary task 'click' (0/1) and counts
    'visits'."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x0", "x1", "x2", "x3"])
    rate = np.exp(0.5 * X["x0"] - 0.3 * X["x1"] + 1.0)
    click = (X["x0"] + X["x2"] > 0).astype(np.int64)
    return X, pd.DataFrame({"click": click, "visits": rng.poisson(rate)})


@pytest.fixture(scope="module")
def counts():
    """(X, Y, X_test, Y_test): 600 training rows, 2000 held out."""
    return (*_data(600, 0), *_data(2000, 1))


@pytest.fixture(scope="module")
def fitted(counts):
    X, Y = counts[:2]
    return MMOEEstimator(**small(epochs=10), task_types=TYPES, seed=0).fit(X, Y)


def _visits(est, X) -> np.ndarray:
    return np.asarray(est.predict(X))[:, 1].astype(np.float64)


def test_fit_learns_the_counts(fitted, counts):
    _, Y, X_test, Y_test = counts
    assert fitted.task_types_ == ["binary", "poisson"]
    assert fitted.classes_[1] is None
    task = fitted._tasks[1]
    assert_allclose(task.mean_, Y["visits"].mean(), rtol=1e-12)
    pred = fitted.predict(X_test)
    assert pred.shape == (2000, 2)
    visits = pred[:, 1].astype(np.float64)
    assert (visits > 0).all()
    d2 = d2_tweedie_score(Y_test["visits"], visits, power=1)
    assert d2 > D2_FLOOR
    history = fitted.history_
    assert set(history[-1]["train_loss"]) == {"click", "visits"}
    assert history[-1]["train_loss"]["visits"] < history[0]["train_loss"]["visits"]


def test_predict_proba_has_none_for_the_counts(fitted, counts):
    X_test = counts[2]
    proba = fitted.predict_proba(X_test)
    assert len(proba) == 2
    assert proba[0].shape == (2000, 2)
    assert proba[1] is None


def test_score_is_the_mean_of_auc_and_d2(fitted, counts):
    X_test, Y_test = counts[2:]
    proba = fitted.predict_proba(X_test)[0][:, 1]
    auc = roc_auc_score(Y_test["click"], proba)
    d2 = d2_tweedie_score(Y_test["visits"], _visits(fitted, X_test), power=1)
    assert_allclose(fitted.score(X_test, Y_test), (auc + d2) / 2, rtol=1e-12)
    weight = np.linspace(0.5, 2.0, len(X_test))
    d2_weighted = d2_tweedie_score(
        Y_test["visits"], _visits(fitted, X_test), sample_weight=weight, power=1
    )
    auc_weighted = roc_auc_score(Y_test["click"], proba, sample_weight=weight)
    assert_allclose(
        fitted.score(X_test, Y_test, sample_weight=weight),
        (auc_weighted + d2_weighted) / 2,
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "name, metric",
    [
        ("r2", r2_score),
        ("neg_mean_poisson_deviance", mean_poisson_deviance),
        ("neg_mean_absolute_error", mean_absolute_error),
        ("mae", mean_absolute_error),
    ],
)
def test_task_scorer(fitted, counts, name, metric):
    X_test, Y_test = counts[2:]
    expected = metric(Y_test["visits"], _visits(fitted, X_test))
    sign = -1.0 if name != "r2" else 1.0
    assert_allclose(
        task_scorer("visits", name)(fitted, X_test, Y_test), sign * expected
    )


def test_task_scorer_refuses_probability_scorers_naming_the_kind(fitted, counts):
    X_test, Y_test = counts[2:]
    with pytest.raises(ValueError, match="'visits' is a poisson task"):
        task_scorer("visits", "neg_log_loss")(fitted, X_test, Y_test)


def test_missing_labels_and_zero_weights_leave_their_rows_out(counts):
    X, Y, X_test, Y_test = counts
    rng = np.random.default_rng(7)
    Y = Y.astype({"visits": np.float64})
    missing = rng.random(len(Y)) < 0.2
    Y.loc[missing, "visits"] = np.nan
    # Absurd counts on rows of weight 0 for that task: they must play no part.
    ignored = ~missing & (rng.random(len(Y)) < 0.1)
    Y.loc[ignored, "visits"] = 1e6
    weight = np.ones((len(Y), 2))
    weight[ignored, 1] = 0.0
    est = MMOEEstimator(**small(epochs=10), task_types=TYPES, seed=0)
    est.fit(X, Y, sample_weight=weight)
    kept = ~missing & ~ignored
    assert_allclose(est._tasks[1].mean_, Y.loc[kept, "visits"].mean(), rtol=1e-12)
    d2 = d2_tweedie_score(Y_test["visits"], _visits(est, X_test), power=1)
    assert d2 > D2_FLOOR
    # score leaves the rows without a count out of the task's D^2.
    labelled = ~Y["visits"].isna().to_numpy()
    d2_train = d2_tweedie_score(
        Y.loc[labelled, "visits"], _visits(est, X)[labelled], power=1
    )
    auc = roc_auc_score(Y["click"], est.predict_proba(X)[0][:, 1])
    assert_allclose(est.score(X, Y), (auc + d2_train) / 2, rtol=1e-12)


def test_training_does_not_depend_on_the_counts_unit(counts):
    """As a standardised regression target: the loss is on y / mean_, so counts in
    another unit (per thousand) train the same network."""
    X, Y, X_test, _ = counts
    est = MMOEEstimator(**small(epochs=3), task_types=TYPES, seed=0).fit(X, Y)
    scaled = Y.assign(visits=Y["visits"] * 1000.0)
    est_scaled = MMOEEstimator(**small(epochs=3), task_types=TYPES, seed=0)
    est_scaled.fit(X, scaled)
    assert_allclose(
        _visits(est_scaled, X_test) / 1000.0, _visits(est, X_test), rtol=1e-5
    )


def test_early_stopping_mixes_the_half_deviance_over_the_mean(counts):
    X, Y = counts[:2]
    est = MMOEEstimator(
        **small(epochs=30), task_types=TYPES, seed=0, early_stopping=True
    ).fit(X, Y)
    assert est.best_epoch_ is not None
    mean = est._tasks[1].mean_
    for record in est.history_:
        valid = record["valid"]
        assert set(valid["visits"]) == {"poisson_deviance"}
        # Each task's validation loss has its minimum at 0; the objective is
        # their mean (equal loss weights).
        objective = (
            valid["click"]["log_loss"]
            + valid["visits"]["poisson_deviance"] / (2 * mean)
        ) / 2
        assert_allclose(record["valid_objective"], objective, rtol=1e-5)
    # The counts learned too: the kept epoch's deviance is well under the first
    # epoch's, whose model is still near the mean (measured: 1.52 against 2.65
    # on the 60 validation rows).
    deviances = [r["valid"]["visits"]["poisson_deviance"] for r in est.history_]
    assert deviances[est.best_epoch_ - 1] < 0.8 * deviances[0]


def test_class_weight_is_refused_for_the_counts(counts):
    X, Y = counts[:2]
    est = MMOEEstimator(**small(epochs=1), task_types=TYPES)
    with pytest.raises(ValueError, match="class_weight is given for task 'visits'"):
        est.set_params(class_weight=[None, "balanced"]).fit(X, Y)
    # 'balanced' for every task weighs the classification and leaves the counts.
    est.set_params(class_weight="balanced").fit(X, Y)


def test_class_weight_refusal_names_the_kind(counts):
    X, Y = counts[:2]
    est = MMOEEstimator(**small(epochs=1), task_types=TYPES)
    with pytest.raises(ValueError, match="'visits', which is a poisson task"):
        est.set_params(class_weight=[None, "balanced"]).fit(X, Y)


def test_regressor_accepts_it_and_classifier_refuses_it(counts):
    X, Y, X_test, Y_test = counts
    reg = MMOERegressor(**small(epochs=10), task_types="poisson", seed=0)
    reg.fit(X, Y["visits"])
    assert reg.task_types_ == ["poisson"]
    pred = reg.predict(X_test)
    assert pred.shape == (2000,) and pred.dtype == np.float64
    d2 = d2_tweedie_score(Y_test["visits"], pred, power=1)
    assert d2 > D2_FLOOR
    # Its score is the task's own, D^2, as scikit-learn's PoissonRegressor's is.
    assert_allclose(reg.score(X_test, Y_test["visits"]), d2, rtol=1e-12)
    # Never inferred: the same counts without task_types are a regression.
    inferred = MMOERegressor(**small(epochs=1)).fit(X, Y["visits"])
    assert inferred.task_types_ == ["regression"]
    assert is_regressor(MMOEEstimator(task_types="poisson"))
    with pytest.raises(ValueError, match=r"task_types \['poisson'\] are not allowed"):
        MMOEClassifier(**small(epochs=1), task_types=TYPES).fit(X, Y)


def _chunks(X, Y):
    """Three chunks; the second without a count (a task absent from a chunk)."""
    parts = [slice(0, 200), slice(200, 400), slice(400, 600)]
    chunks = [(X.iloc[s], Y.iloc[s].astype({"visits": np.float64})) for s in parts]
    chunks[1][1].loc[:, "visits"] = np.nan
    return chunks


def test_partial_fit_continues_after_save_and_load(counts, tmp_path):
    X, Y, X_test, Y_test = counts
    chunks = _chunks(X, Y)
    est = MMOEEstimator(**small(epochs=1), task_types=TYPES, seed=0)
    for _ in range(2):
        for X_chunk, Y_chunk in chunks[:2]:
            est.partial_fit(X_chunk, Y_chunk)
    path = tmp_path / "counts.skmmoe"
    skmmoe.save(est, path)
    loaded = skmmoe.load(path)
    assert loaded.task_types_ == ["binary", "poisson"]
    assert loaded._tasks[1].mean_ == est._tasks[1].mean_
    assert_array_equal(_visits(loaded, X_test), _visits(est, X_test))
    for model in (est, loaded):
        for _ in range(4):
            for X_chunk, Y_chunk in chunks:
                model.partial_fit(X_chunk, Y_chunk)
    assert_close_across_row_sets(_visits(loaded, X_test), _visits(est, X_test))
    d2 = d2_tweedie_score(Y_test["visits"], _visits(loaded, X_test), power=1)
    assert d2 > D2_FLOOR


def test_onnx_value_equals_predict(fitted, counts):
    ort = pytest.importorskip("onnxruntime")
    X_test = counts[2]
    proto = skmmoe.to_onnx(fitted)
    session = ort.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    assert names == ["click_label", "click_proba", "visits_value"]
    for rows in (X_test, X_test.iloc[[3]]):
        out = dict(zip(names, session.run(None, skmmoe.onnx_inputs(fitted, rows))))
        value = out["visits_value"]
        assert value.dtype == np.float64 and value.shape == (len(rows),)
        assert_allclose(value, _visits(fitted, rows), rtol=1e-5, atol=0)
        assert_allclose(out["click_proba"], fitted.predict_proba(rows)[0], atol=1e-5)


def test_dask_fit_and_predict(counts):
    dd = pytest.importorskip("dask.dataframe")
    import skmmoe.dask

    X, Y, X_test, Y_test = counts
    frame = dd.from_pandas(pd.concat([X, Y], axis=1), npartitions=3)
    est = MMOEEstimator(**small(epochs=6), task_types=TYPES, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skmmoe.dask.fit(est, frame[list(X.columns)], frame[list(Y.columns)])
    assert est.task_types_ == ["binary", "poisson"]
    assert_allclose(est._tasks[1].mean_, Y["visits"].mean(), rtol=1e-12)
    d2 = d2_tweedie_score(Y_test["visits"], _visits(est, X_test), power=1)
    assert d2 > D2_FLOOR
    test_frame = dd.from_pandas(X_test, npartitions=4)
    pred = skmmoe.dask.predict(est, test_frame).compute()
    assert list(pred.columns) == ["click", "visits"]
    assert_close_across_row_sets(pred["visits"].to_numpy(float), _visits(est, X_test))
    proba = skmmoe.dask.predict_proba(est, test_frame)
    assert proba[1] is None
    # What a worker process gets: the estimator, its poisson task, pickled.
    shipped = pickle.loads(pickle.dumps(est))
    assert_array_equal(_visits(shipped, X_test), _visits(est, X_test))


def test_plot_tasks(fitted, counts):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import PredictionErrorDisplay

    from skmmoe.plotting import plot_tasks

    # Fewer rows than the 1000 that PredictionErrorDisplay draws at most.
    X_test, Y_test = counts[2][:300], counts[3][:300]
    displays = plot_tasks(fitted, X_test, Y_test)
    (display,) = displays["visits"]
    assert isinstance(display, PredictionErrorDisplay)
    assert display.ax_.get_title() == "visits"
    assert_allclose(display.y_pred, _visits(fitted, X_test))
    assert len(displays["click"]) == 2
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="1 for a poisson task"):
        plot_tasks(fitted, X_test, Y_test, axes=list(axes))
    plt.close("all")
