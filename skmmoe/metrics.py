"""Per-task scorers for model selection (GridSearchCV, cross_validate,
permutation_importance), built on scikit-learn's scorers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import MetadataRequest

from ._sklearn_compat import _safe_indexing, scorer_response_methods
from ._targets import align_to_tasks

__all__ = ["TaskScorer", "task_scorer"]

# Short names skmmoe accepted before it took scikit-learn's: greater is better in
# both spellings (the scorer negates losses).
_ALIASES = {
    "mse": "neg_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "rmse": "neg_root_mean_squared_error",
    "log_loss": "neg_log_loss",
}


class _TaskView(BaseEstimator):
    """One task of a fitted model, as a single-output estimator for scikit-learn's
    scorers: ``predict`` and ``predict_proba`` run the whole ``estimator`` (a
    Pipeline runs its steps first) and keep task ``t``'s output."""

    def __init__(self, estimator=None, t: int = 0, classes=None):
        self.estimator = estimator
        self.t = t
        self.classes = classes

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, X):
        pred = np.asarray(self.estimator.predict(X))
        pred = pred if pred.ndim == 1 else pred[:, self.t]
        # A column of an object array (tasks of mixed dtypes) gets its own dtype.
        return pd.Series(pred).infer_objects().to_numpy()


class _TaskClassifierView(ClassifierMixin, _TaskView):
    @property
    def classes_(self):
        return self.classes

    def predict_proba(self, X):
        proba = self.estimator.predict_proba(X)
        return proba if isinstance(proba, np.ndarray) else proba[self.t]


class _TaskRegressorView(RegressorMixin, _TaskView):
    def predict(self, X):
        return super().predict(X).astype(np.float64)


class TaskScorer:
    """A scikit-learn scorer applied to one task of a fitted skmmoe model.

    Made by :func:`task_scorer`; see there. Calling it scores task ``task`` of
    ``estimator`` on the rows whose label for that task is present, with
    ``scorer``, a scikit-learn scorer.
    """

    def __init__(self, task: str | int, scorer: Callable, name: str | None):
        self.task = task
        self.scorer = scorer
        self._name = name
        self._sample_weight_request: bool | str | None = None

    # -- metadata routing (scikit-learn's set_score_request convention) --------
    def set_score_request(
        self, *, sample_weight: bool | str | None = None
    ) -> TaskScorer:
        """Request ``sample_weight`` when metadata routing is enabled
        (``sklearn.set_config(enable_metadata_routing=True)``), as scikit-learn's
        scorers do: True routes it, False refuses it, a string routes the
        metadata of that name.

        Returns
        -------
        self : TaskScorer
        """
        self._sample_weight_request = sample_weight
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """The metadata this scorer requests (scikit-learn's routing API)."""
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(
            param="sample_weight", alias=self._sample_weight_request
        )
        return request

    # -- scoring ---------------------------------------------------------------
    def _task_index(self, model) -> int:
        names = list(model.task_names_)
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

    def __call__(self, estimator, X, y, sample_weight=None, **kwargs) -> float:
        """Score task ``task`` of the fitted ``estimator`` (or Pipeline ending in
        one) on ``X``; ``y`` holds every task as in ``fit`` (its columns matched
        to the tasks by name when it has names); ``sample_weight`` is 1-D, or 2-D
        with one column per task."""
        model = _final_step(estimator)
        t = self._task_index(model)
        y_true, keep = _labelled(align_to_tasks(y, model.task_names_), t)
        name = model.task_names_[t]
        if not keep.any():
            raise ValueError(
                f"task_scorer: task {name!r} has no label in y (all {len(keep)} "
                "missing), so it cannot be scored."
            )
        task = model._fitted_state().tasks[t]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.ndim == 2:
                sample_weight = sample_weight[:, t]
            sample_weight = sample_weight[keep]
        if not keep.all():
            X = _safe_indexing(X, np.flatnonzero(keep))
        if not task.is_classification:
            if not _uses_predict(self.scorer):
                raise ValueError(
                    f"task_scorer: {self._label()} needs probabilities or decision "
                    f"values, but task {name!r} is a {task.task_type} task."
                )
            view = _TaskRegressorView(estimator, t)
            y_true = y_true.astype(np.float64)
        else:
            classes = task.classes_
            if self._name == "roc_auc" and len(classes) != 2:
                raise ValueError(
                    f"task_scorer: 'roc_auc' is for binary tasks; task {name!r} has "
                    f"{len(classes)} classes (use 'roc_auc_ovr' or 'roc_auc_ovo')."
                )
            view = _TaskClassifierView(estimator, t, np.asarray(classes))
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return float(self.scorer(view, X, y_true, **kwargs))

    def _label(self) -> str:
        return repr(self._name) if self._name is not None else repr(self.scorer)

    def __repr__(self) -> str:
        return f"task_scorer({self.task!r}, {self._label()})"


def _uses_predict(scorer) -> bool:
    """Whether a scorer can score from ``predict`` alone (a plain callable may
    call anything)."""
    return "predict" in scorer_response_methods(scorer)


def _final_step(estimator):
    """The skmmoe estimator of ``estimator``, or of a Pipeline ending in one."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def _labelled(y, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Task ``t``'s labels from ``y`` (already aligned to the tasks): the present
    ones, each column with its own dtype, and the mask of the rows that hold
    them."""
    if isinstance(y, pd.DataFrame):
        column = y.iloc[:, t]
    elif isinstance(y, pd.Series):
        column = y
    else:
        arr = np.asarray(y, dtype=object if isinstance(y, list) else None)
        column = arr if arr.ndim == 1 else arr[:, t]
    labels = pd.Series(np.asarray(column))
    keep = ~labels.isna().to_numpy()
    return labels[keep].infer_objects().to_numpy(), keep


def task_scorer(task: str | int, scoring: str | Callable[..., Any]) -> TaskScorer:
    """A scorer of one task, for ``scoring=`` and ``refit=`` of GridSearchCV,
    ``cross_validate`` and ``permutation_importance``.

    Parameters
    ----------
    task : str or int
        Task name (an entry of ``task_names_``) or index.
    scoring : str or callable
        Any scorer name of scikit-learn (``sklearn.metrics.get_scorer_names()``:
        "roc_auc", "neg_log_loss", "accuracy", "balanced_accuracy", "f1",
        "average_precision", "r2", "neg_mean_absolute_error", ...), or a scorer
        made with ``sklearn.metrics.make_scorer``. The short names "mse", "mae",
        "rmse" and "log_loss" mean the ``neg_`` scorers: greater is better. The
        scorer sees the task as a single-output classifier (with ``classes_``
        and ``predict_proba``) or regressor.

    Returns
    -------
    scorer : TaskScorer
        ``scorer(estimator, X, y, sample_weight=None) -> float``, where y holds
        every task as in ``fit``. Samples whose label for the task is missing are
        left out. ``sample_weight`` may be 1-D or hold one column per task; with
        metadata routing enabled, request it with
        ``scorer.set_score_request(sample_weight=True)``.

    Examples
    --------
    >>> from sklearn.metrics import make_scorer, fbeta_score
    >>> from skmmoe.metrics import task_scorer
    >>> scoring = {"income_auc": task_scorer("income", "roc_auc"),
    ...            "marital_f2": task_scorer("marital",
    ...                                      make_scorer(fbeta_score, beta=2))}
    >>> scoring["income_auc"]
    task_scorer('income', 'roc_auc')
    """
    if not isinstance(task, (str, int, np.integer)) or isinstance(task, bool):
        raise TypeError(f"task must be a task name or index; got {task!r}.")
    if isinstance(scoring, str):
        name = _ALIASES.get(scoring, scoring)
        if name not in get_scorer_names():
            raise ValueError(
                f"Unknown metric {scoring!r}; use a scorer name of scikit-learn "
                "(sklearn.metrics.get_scorer_names()), one of "
                f"{sorted(_ALIASES)}, or a scorer from sklearn.metrics.make_scorer."
            )
        return TaskScorer(task, get_scorer(name), scoring)
    if callable(scoring):
        return TaskScorer(task, scoring, None)
    raise TypeError(
        f"scoring must be a scorer name or a scorer; got {type(scoring).__name__}."
    )
