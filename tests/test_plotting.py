"""skmmoe.plotting: history_ per task, per-task evaluation displays, gates."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from skmmoe import MMOEEstimator
from skmmoe.plotting import plot_history

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fitted_with_early_stopping():
    """An MMOEEstimator of a binary and a regression task, fitted with early
    stopping: its history_ holds validation metrics."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = np.column_stack([X[:, 0] > 0, X @ [1.0, 2.0, 0.5]])
    params = dict(expert_dnn_hidden_units=(8,), epochs=6, batch_size=64)
    return MMOEEstimator(**params, early_stopping=True, n_iter_no_change=10).fit(X, Y)


def test_one_panel_per_task_with_train_and_valid_curves(fitted_with_early_stopping):
    axes = plot_history(fitted_with_early_stopping)
    assert [ax.get_title() for ax in axes] == ["task_0", "task_1"]
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == ["train loss", "valid log_loss", "valid roc_auc"]
    assert [line.get_label() for line in axes[1].get_lines()] == [
        "train loss",
        "valid mse",
    ]
    train = axes[0].get_lines()[0]
    np.testing.assert_allclose(
        train.get_ydata(),
        [h["train_loss"]["task_0"] for h in fitted_with_early_stopping.history_],
    )


def test_given_axes_and_label(fitted_with_early_stopping):
    import matplotlib.pyplot as plt

    _, axes = plt.subplots(1, 2)
    out = plot_history(fitted_with_early_stopping.history_, axes=axes, label="mmoe")
    assert out[0] is axes[0]
    assert out[0].get_lines()[0].get_label() == "mmoe train loss"


def test_empty_history_raises():
    with pytest.raises(ValueError, match="empty"):
        plot_history([])


# ------------------------------------------------- per-task evaluation, gates
def test_plot_tasks_draws_scikit_learn_displays_per_task():
    """One call evaluates every task of a multi-task model with scikit-learn's
    Display classes (whose from_estimator fails on it), on the rows labelled for
    each task; the displays hold the task's own metric."""
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        PredictionErrorDisplay,
        RocCurveDisplay,
        roc_auc_score,
    )

    from skmmoe.plotting import plot_tasks

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    Y = pd.DataFrame(
        {
            "buy": np.where(X.a > 0, "yes", "no").astype(object),
            "kind": np.array(["p", "q", "r"])[np.argmax(X.to_numpy(), axis=1)],
            "spend": X.a + 2 * X.b,
        }
    )
    Y.loc[:49, "buy"] = None  # missing labels: left out of that task
    est = MMOEEstimator(expert_dnn_hidden_units=(8,), epochs=5).fit(X, Y)
    displays = plot_tasks(est, X, Y)
    assert [type(d) for d in displays["buy"]] == [
        RocCurveDisplay,
        PrecisionRecallDisplay,
    ]
    assert [type(d) for d in displays["kind"]] == [ConfusionMatrixDisplay]
    assert [type(d) for d in displays["spend"]] == [PredictionErrorDisplay]
    proba = est.predict_proba(X)[0][50:, 1]
    expected = roc_auc_score(Y["buy"][50:] == "yes", proba)
    np.testing.assert_allclose(displays["buy"][0].roc_auc, expected)
    assert displays["kind"][0].confusion_matrix.sum() == 300
    assert [d.ax_.get_title() for d in displays["buy"]] == ["buy", "buy"]


def test_plot_tasks_on_given_axes_and_too_few():
    import matplotlib.pyplot as plt

    from skmmoe.plotting import plot_tasks

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 2))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1]])
    est = MMOEEstimator(expert_dnn_hidden_units=(8,), epochs=3).fit(X, Y)
    _, axes = plt.subplots(1, 3)
    displays = plot_tasks(est, X, Y, axes=axes)
    assert [d.ax_ for ds in displays.values() for d in ds] == list(axes)
    with pytest.raises(ValueError, match="needs 3 Axes"):
        plot_tasks(est, X, Y, axes=axes[:2])


def test_plot_gates_on_a_given_ax():
    import matplotlib.pyplot as plt

    from skmmoe.plotting import plot_gates

    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3))
    est = MMOEEstimator(expert_dnn_hidden_units=(8,), epochs=2, num_experts=4).fit(
        X, np.column_stack([X[:, 0], X[:, 1]])
    )
    _, ax = plt.subplots()
    assert plot_gates(est, X, ax=ax) is ax
    (image,) = ax.get_images()
    means = est.gate_weights(X).mean(axis=0)
    np.testing.assert_allclose(image.get_array(), means)
    assert image.get_array().shape == (2, 4)


@pytest.mark.parametrize("calls", [["fit"], ["partial_fit", "partial_fit"]])
def test_history_after_partial_fit_calls_with_and_without_validation(calls):
    """A first call with early stopping, then partial_fit calls without it: the
    validation curves have gaps where nothing was validated (a KeyError before)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    Y = np.column_stack([X[:, 0] > 0, X @ [1.0, 2.0, 0.5]])
    est = MMOEEstimator(
        expert_dnn_hidden_units=(8,), epochs=3, early_stopping=True, n_iter_no_change=5
    )
    getattr(est, calls[0])(X, Y)
    first = len(est.history_)
    for call in calls[1:] + ["partial_fit"]:
        getattr(est, call)(X, Y)
    assert "valid" in est.history_[0] and "valid" not in est.history_[-1]
    axes = plot_history(est)
    valid = axes[0].get_lines()[1]
    assert valid.get_label() == "valid log_loss"
    values = np.asarray(valid.get_ydata(), dtype=float)
    assert np.isfinite(values[:first]).all() and np.isnan(values[first:]).all()
    assert len(axes[0].get_lines()[0].get_ydata()) == len(est.history_)


@pytest.mark.parametrize("plot", ["plot_history", "plot_tasks", "plot_gates"])
@pytest.mark.parametrize("wrap", [False, True], ids=["estimator", "pipeline"])
def test_plots_of_an_unfitted_model_raise_not_fitted_error(plot, wrap):
    """As scikit-learn's displays do, not a TypeError or AttributeError."""
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmmoe import plotting

    est = MMOEEstimator()
    if wrap:
        est = make_pipeline(StandardScaler(), est)
    X, y = np.zeros((4, 2)), np.zeros(4)
    args = (
        (est,)
        if plot == "plot_history"
        else (est, X, y)[: 3 if plot == "plot_tasks" else 2]
    )
    with pytest.raises(NotFittedError):
        getattr(plotting, plot)(*args)
