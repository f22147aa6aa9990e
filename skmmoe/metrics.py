"""Per-task scorers for model selection (GridSearchCV, cross_validate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from ._targets import align_to_tasks

__all__ = ["task_scorer"]

# metric -> (function(y_true, prediction), what it needs, sign so greater is better)
_METRICS = {
    "roc_auc": (roc_auc_score, "positive_proba", 1.0),
    "log_loss": (log_loss, "proba", -1.0),
    "neg_log_loss": (log_loss, "proba", -1.0),
    "accuracy": (accuracy_score, "predict", 1.0),
    "r2": (r2_score, "predict", 1.0),
    "mse": (mean_squared_error, "predict", -1.0),
    "neg_mean_squared_error": (mean_squared_error, "predict", -1.0),
}


class _TaskScorer:
    """A scorer ``(estimator, X, y) -> float`` of one task of a fitted MMOE model."""

    def __init__(self, task, metric: str):
        self.task = task
        self.metric = metric

    def _task_index(self, estimator) -> int:
        names = list(estimator.task_names_)
        if isinstance(self.task, str):
            if self.task not in names:
                raise ValueError(
                    f"task_scorer: no task named {self.task!r}; the estimator's tasks "
                    f"are {names}."
                )
            return names.index(self.task)
        index = int(self.task)
        if not -len(names) <= index < len(names):
            raise ValueError(
                f"task_scorer: task index {index} is out of range for {len(names)} "
                "task(s)."
            )
        return index % len(names)

    def __call__(self, estimator, X, y, sample_weight=None) -> float:
        # Predictions come from `estimator` (a Pipeline runs its steps first); the
        # task metadata from its final step.
        model = estimator[-1] if isinstance(estimator, Pipeline) else estimator
        t = self._task_index(model)
        y = align_to_tasks(y, model.task_names_)
        if isinstance(y, pd.DataFrame):
            column = y.iloc[:, t]
        elif isinstance(y, pd.Series):
            column = y
        else:
            arr = np.asarray(y, dtype=object if isinstance(y, list) else None)
            column = arr if arr.ndim == 1 else arr[:, t]
        column = pd.Series(np.asarray(column))
        keep = ~column.isna().to_numpy()
        y_true = column[keep].infer_objects().to_numpy()
        sw = None if sample_weight is None else np.asarray(sample_weight)[keep]

        func, needs, sign = _METRICS[self.metric]
        task_type = model.task_types_[t]
        if needs != "predict" and task_type == "regression":
            raise ValueError(
                f"task_scorer: metric {self.metric!r} needs probabilities, but task "
                f"{model.task_names_[t]!r} is a regression task."
            )
        if needs == "predict":
            pred = estimator.predict(X)
            pred = pred if pred.ndim == 1 else pred[:, t]
            # A column of an object array (tasks of mixed dtypes) gets its own dtype.
            pred = pd.Series(pred[keep]).infer_objects().to_numpy()
            if task_type == "regression":
                y_true, pred = y_true.astype(np.float64), pred.astype(np.float64)
            return sign * float(func(y_true, pred, sample_weight=sw))
        proba = estimator.predict_proba(X)
        proba = proba if isinstance(proba, np.ndarray) else proba[t]
        proba = proba[keep]
        classes = model.classes_
        classes = classes if getattr(model, "_y_ndim", 2) == 1 else classes[t]
        if needs == "positive_proba":
            if len(classes) != 2:
                raise ValueError(
                    "task_scorer: 'roc_auc' is for binary tasks; task "
                    f"{model.task_names_[t]!r} has {len(classes)} classes."
                )
            return float(func(y_true == classes[1], proba[:, 1], sample_weight=sw))
        return sign * float(func(y_true, proba, labels=classes, sample_weight=sw))

    def __repr__(self) -> str:
        return f"task_scorer({self.task!r}, {self.metric!r})"


def task_scorer(task, metric):
    """A scorer of one task, for ``scoring=`` and ``refit=`` of GridSearchCV.

    Parameters
    ----------
    task : str or int
        Task name (an entry of ``task_names_``) or index.
    metric : {"roc_auc", "log_loss", "accuracy", "r2", "mse"}
        "roc_auc" for binary tasks and "log_loss" for classification tasks use
        ``predict_proba``; "accuracy" (classification), "r2" and "mse" (regression)
        use ``predict``. Greater is better: "log_loss" and "mse" return the negated
        loss, like scikit-learn's "neg_log_loss" and "neg_mean_squared_error" (both
        names are accepted too). Samples whose label for the task is missing are
        left out.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=None) -> float``, where y holds every
        task as in ``fit``.

    Examples
    --------
    >>> from skmmoe.metrics import task_scorer
    >>> scoring = {"income_auc": task_scorer("income", "roc_auc"),
    ...            "marital_auc": task_scorer("marital", "roc_auc")}
    >>> scoring["income_auc"]
    task_scorer('income', 'roc_auc')
    """
    if metric not in _METRICS:
        raise ValueError(f"Unknown metric {metric!r}; use one of {sorted(_METRICS)}.")
    if not isinstance(task, (str, int, np.integer)) or isinstance(task, bool):
        raise TypeError(f"task must be a task name or index; got {task!r}.")
    return _TaskScorer(task, metric)
