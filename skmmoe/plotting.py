"""Training curves; matplotlib is an optional dependency (extra ``examples``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["plot_history"]


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
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_history needs matplotlib: pip install matplotlib"
        ) from exc
    history = getattr(estimator_or_history, "history_", estimator_or_history)
    if not history:
        raise ValueError("The history is empty: fit the estimator first.")
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
        if "valid" in history[0]:
            for metric in history[0]["valid"][task]:
                ax.plot(
                    epochs,
                    [h["valid"][task][metric] for h in history],
                    linestyle="--",
                    label=f"{prefix}valid {metric}",
                )
        ax.set_title(task)
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
    return list(axes)
