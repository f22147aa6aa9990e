"""Training curves, per-task evaluation on scikit-learn's Display classes, and
the gates' mixing of the experts; matplotlib is an optional dependency (extra
``examples``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .metrics import _final_step

__all__ = ["plot_gates", "plot_history", "plot_tasks"]


def plot_history(
    estimator_or_history: Any,
    *,
    axes: Sequence[Any] | None = None,
    label: str | None = None,
) -> list[Any]:
    """Draw each task's training loss (and validation metrics, when recorded) per
    epoch.

    Parameters
    ----------
    estimator_or_history : fitted estimator or list of dict
        An estimator with ``history_``, or such a history.
    axes : sequence of matplotlib Axes or None, default=None
        One Axes per task; None makes a new figure with one row of panels.
    label : str or None, default=None
        Legend label of the curves (useful to compare several models on the same
        axes).

    Returns
    -------
    axes : list of matplotlib Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmmoe import MMOERegressor
    >>> from skmmoe.plotting import plot_history
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> reg = MMOERegressor(epochs=4).fit(X, X @ [1.0, 2.0, 3.0])
    >>> len(plot_history(reg))
    1
    """
    plt = _pyplot("plot_history")
    history = _history(estimator_or_history)
    tasks = list(history[0]["train_loss"])
    if axes is None:
        _, grid = plt.subplots(
            1, len(tasks), figsize=(4.5 * len(tasks), 3.5), squeeze=False
        )
        axes = list(grid[0])
    epochs = [h["epoch"] for h in history]
    prefix = f"{label} " if label else ""
    for ax, task in zip(axes, tasks):
        ax.plot(
            epochs,
            [h["train_loss"][task] for h in history],
            marker="o",
            label=f"{prefix}train loss",
        )
        # Epochs without validation (partial_fit after an early-stopped first
        # call) are gaps in the curves.
        metrics = dict.fromkeys(
            m for h in history if "valid" in h for m in h["valid"][task]
        )
        for metric in metrics:
            ax.plot(
                epochs,
                [h.get("valid", {}).get(task, {}).get(metric, np.nan) for h in history],
                linestyle="--",
                marker=".",
                label=f"{prefix}valid {metric}",
            )
        ax.set_title(task)
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
    return list(axes)


def _history(estimator_or_history: Any) -> list[dict]:
    """The history of a fitted estimator (NotFittedError before fit, as
    scikit-learn's displays raise), or a history given as it is."""
    if isinstance(estimator_or_history, BaseEstimator):
        check_is_fitted(_final_step(estimator_or_history))
        history = _final_step(estimator_or_history).history_
    else:
        history = estimator_or_history
    if not history:
        raise ValueError("The history is empty: fit the estimator first.")
    return list(history)


def _fitted_model(estimator: Any) -> Any:
    """The skmmoe estimator of ``estimator`` or of a Pipeline ending in one,
    checked to be fitted."""
    model = _final_step(estimator)
    check_is_fitted(model)
    return model


def _pyplot(caller: str):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{caller} needs matplotlib: pip install matplotlib") from exc
    return plt


def plot_tasks(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    axes: Sequence[Any] | None = None,
) -> dict[str, list[Any]]:
    """Evaluate every task in one call, with scikit-learn's Display classes.

    A binary task gets its ROC curve (``RocCurveDisplay``) and its precision-
    recall curve (``PrecisionRecallDisplay``), a multiclass task its confusion
    matrix (``ConfusionMatrixDisplay``), a regression or poisson task predicted against
    actual values (``PredictionErrorDisplay``). Rows whose label for a task is
    missing are left out of that task. scikit-learn's ``from_estimator`` methods
    expect one output and fail on a multi-task model; this feeds each display the
    task's own predictions.

    Parameters
    ----------
    estimator : fitted MMOEEstimator, MMOEClassifier, MMOERegressor or Pipeline
    X : {DataFrame, array-like} of shape (n_samples, n_features)
    y : array-like or DataFrame of shape (n_samples,) or (n_samples, n_tasks)
        The labels of every task, as in ``fit`` (columns matched by name).
    axes : sequence of matplotlib Axes or None, default=None
        One Axes per display (two for a binary task, one for the others), in task
        order; None makes a new figure with one row of panels.

    Returns
    -------
    displays : dict
        Task name -> the list of its scikit-learn Display objects.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmmoe import MMOEEstimator
    >>> from skmmoe.plotting import plot_tasks
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> Y = np.column_stack([X[:, 0] > 0, X @ [1.0, 2.0, 3.0]])
    >>> est = MMOEEstimator(epochs=4).fit(X, Y)
    >>> displays = plot_tasks(est, X, Y)
    >>> [type(d).__name__ for d in displays["task_0"]]
    ['RocCurveDisplay', 'PrecisionRecallDisplay']
    >>> [type(d).__name__ for d in displays["task_1"]]
    ['PredictionErrorDisplay']
    """
    import pandas as pd

    from ._targets import align_to_tasks
    from .metrics import _labelled

    plt = _pyplot("plot_tasks")
    model = _fitted_model(estimator)
    tasks = model._fitted_state().tasks
    names = [task.name for task in tasks]
    n_panels = sum(task.plot_panels for task in tasks)
    if axes is None:
        _, grid = plt.subplots(
            1, n_panels, figsize=(4.2 * n_panels, 3.8), squeeze=False
        )
        axes = list(grid[0])
    if len(axes) < n_panels:
        raise ValueError(
            f"plot_tasks needs {n_panels} Axes for tasks {names} ("
            + ", ".join(f"{t.plot_panels} for a {t.task_type} task" for t in tasks)
            + f"); got {len(axes)}."
        )
    y = align_to_tasks(y, names)
    pred = np.asarray(estimator.predict(X)).reshape(len(X), -1)
    probas: list[Any] = [None] * len(tasks)
    if any(task.is_classification for task in tasks):
        proba = estimator.predict_proba(X)
        probas = [proba] if isinstance(proba, np.ndarray) else list(proba)
    panels = iter(axes)
    displays: dict[str, list[Any]] = {}
    for t, (name, task) in enumerate(zip(names, tasks)):
        y_true, keep = _labelled(y, t)
        y_pred = pd.Series(pred[keep, t]).infer_objects().to_numpy()
        proba = None if probas[t] is None else probas[t][keep]
        shown = task.plot(y_true, y_pred, proba, panels)
        for display in shown:
            display.ax_.set_title(name)
        displays[name] = shown
    return displays


def plot_gates(estimator: Any, X: Any, *, ax: Any = None) -> Any:
    """How each task's gate mixes the experts: the mean gate weight of every
    (task, expert) pair over the rows of X, as a heat map.

    Parameters
    ----------
    estimator : fitted MMOEEstimator, MMOEClassifier, MMOERegressor or Pipeline
    X : {DataFrame, array-like} of shape (n_samples, n_features)
    ax : matplotlib Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmmoe import MMOERegressor
    >>> from skmmoe.plotting import plot_gates
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> reg = MMOERegressor(epochs=2).fit(X, np.column_stack([X[:, 0], X[:, 1]]))
    >>> plot_gates(reg, X).get_title()
    'Mean gate weight per task and expert'
    """
    plt = _pyplot("plot_gates")
    model = _fitted_model(estimator)
    if model is not estimator:  # a Pipeline: its steps first
        X = estimator[:-1].transform(X)
    weights = model.gate_weights(X).mean(axis=0)  # (n_tasks, num_experts)
    if ax is None:
        _, ax = plt.subplots(
            figsize=(1.2 * weights.shape[1] + 2.5, 0.6 * len(weights) + 1.8)
        )
    image = ax.imshow(weights, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(
        range(weights.shape[1]), [f"expert {e}" for e in range(weights.shape[1])]
    )
    ax.set_yticks(range(len(weights)), list(model.task_names_))
    for (t, e), value in np.ndenumerate(weights):
        ax.text(
            e,
            t,
            f"{value:.2f}",
            ha="center",
            va="center",
            color="w" if value < 0.6 else "k",
        )
    ax.figure.colorbar(image, ax=ax)
    ax.set_title("Mean gate weight per task and expert")
    return ax
