"""The registry of task kinds: binary, multiclass, regression, poisson.

A task kind is one class, a subclass of :class:`Task` with a ``task_type`` name,
registered in :data:`TASK_KINDS` by being defined. It owns everything that
differs between kinds: its loss and link, how its labels are encoded for
training and decoded back as the user gave them, its score and validation
metrics, its JSON, whether it is a classification, its predictions' dtype, its
ONNX outputs and its plot. No other module compares kind names: they ask the
task. A new kind touches its own class, its docs and its tests.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import ClassVar, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from scipy.special import expit, softmax
from sklearn.metrics import accuracy_score, d2_tweedie_score, r2_score, roc_auc_score

__all__ = [
    "TASK_KINDS",
    "BinaryTask",
    "Labels",
    "MulticlassTask",
    "PoissonTask",
    "RegressionTask",
    "Task",
    "kinds_accepted",
    "make_tasks",
    "split_label_column",
    "task_from_json",
]

TASK_KINDS: dict[str, type[Task]] = {}
"""Every task kind by its name (``task_types``' values), in the order defined."""


class Labels(NamedTuple):
    """One task's labels (one column of y)."""

    observed: np.ndarray
    """The labels that are not missing, in an inferred dtype."""
    missing: np.ndarray
    """Boolean mask over all rows: True where the label is missing."""


def split_label_column(column) -> Labels:
    """One column of y -> its :class:`Labels`.

    A label is missing when it is NaN, None or pandas' NA.
    """
    series = column if isinstance(column, pd.Series) else pd.Series(np.asarray(column))
    missing = series.isna().to_numpy()
    observed = series[~missing]
    if isinstance(observed.dtype, pd.CategoricalDtype):
        observed = observed.astype(observed.dtype.categories.dtype)
    if observed.dtype == object:
        observed = observed.infer_objects()
    if isinstance(observed.dtype, pd.api.extensions.ExtensionDtype):
        # Nullable ints/floats/bools and pandas' str dtype, now free of missing values.
        numpy_dtype = getattr(observed.dtype, "numpy_dtype", None)
        observed = observed.astype(numpy_dtype if numpy_dtype is not None else object)
    return Labels(observed.to_numpy(), missing)


class Task:
    """A prediction target of the network: the base of every task kind.

    Parameters
    ----------
    name : str
        Task name, used in messages, ``history_`` and scorers.
    """

    task_type: ClassVar[str] = ""
    """The kind's name in ``task_types``; a subclass that sets it is registered."""
    is_classification: ClassVar[bool] = False
    """Whether the task predicts classes (``classes_``, ``predict_proba``): a
    classifier's task, to scikit-learn's scorers too."""
    onnx_outputs: ClassVar[tuple[str, ...]] = ("value",)
    """The ONNX graph's outputs of task ``t``: ``t_<output>``, from
    :meth:`serving_outputs` (a classification's "label" from its class index)."""
    plot_panels: ClassVar[int] = 1
    """How many Axes :meth:`plot` draws on."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.task_type:
            TASK_KINDS[cls.task_type] = cls

    def __init__(self, name: str):
        self.name = name

    @property
    def output_dim(self) -> int:
        return 1

    @property
    def prediction_dtype(self) -> np.dtype:
        """The dtype of :meth:`decode`'s predictions."""
        return np.dtype(np.float64)

    def fit(self, observed: np.ndarray, sample_weight=None, classes=None) -> Task:
        """Learn the label encoding from the observed (non-missing) labels.

        ``sample_weight``, of the observed labels, weighs what a kind learns from
        the labels' values (a regression's mean and scale); ``classes``, the
        classes to expect, is for classification only."""
        raise NotImplementedError

    def _set_fitted_json(self, spec: dict) -> None:
        """Restore the fitted state from :meth:`to_json`'s output."""
        raise NotImplementedError

    def encode(self, observed: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Labels -> training targets of shape (n_samples,); missing rows hold 0."""
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample loss of shape (batch,) from logits of shape (batch,
        output_dim)."""
        raise NotImplementedError

    def predict_proba(self, logits: np.ndarray) -> np.ndarray | None:
        """Class probabilities of shape (n_samples, n_classes); None for a kind
        that predicts values."""
        return None

    def serving_outputs(self, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The ONNX graph's outputs (:attr:`onnx_outputs`) from the logits, in
        torch (a classification's label as its class index): what
        :meth:`decode` and :meth:`predict_proba` compute."""
        raise NotImplementedError

    def plot(self, y_true, y_pred, proba, axes) -> list:
        """scikit-learn Display objects of the task's predictions on its labelled
        rows, drawn on the next :attr:`plot_panels` Axes of the iterator
        ``axes``."""
        from sklearn.metrics import PredictionErrorDisplay

        return [
            PredictionErrorDisplay.from_predictions(
                np.asarray(y_true, dtype=np.float64),
                np.asarray(y_pred, dtype=np.float64),
                kind="actual_vs_predicted",
                ax=next(axes),
            )
        ]

    def decode(self, logits: np.ndarray) -> np.ndarray:
        """Network output -> predictions of shape (n_samples,), as labels were given."""
        raise NotImplementedError

    def score(self, y_true, logits: np.ndarray, sample_weight=None) -> float:
        """The task's score used by ``MMOEEstimator.score``."""
        raise NotImplementedError

    def validation_metrics(
        self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None
    ) -> tuple[dict[str, float], float]:
        """Metrics on held-out data, and the mean loss that early stopping watches.

        Parameters
        ----------
        logits : tensor of shape (n, output_dim)
        target : tensor of shape (n,), as :meth:`encode` returns it
        weight : tensor of shape (n,) or None
            Sample weights, zero where the label is missing. Where no row has a
            label, the loss and metrics are NaN: nothing was measured.
        """
        losses = self.loss(logits.float(), target)
        if weight is None:
            loss = float(losses.mean())
            keep = np.ones(len(target), dtype=bool)
            sw = None
        else:
            w = weight.cpu().numpy()
            keep = w > 0
            sw = w[keep]
            # No labelled row, nothing measured: NaN, never a perfect 0.
            loss = (
                float((losses * weight).sum() / weight.sum())
                if keep.any()
                else math.nan
            )
        z = logits.double().cpu().numpy()[keep]
        t = target.cpu().numpy()[keep]
        return self._metrics(z, t, loss, sw), loss

    def _metrics(self, z, t, loss, sw) -> dict[str, float]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def to_json(self) -> dict:
        """The fitted task as JSON values (:func:`task_from_json` reads them)."""
        return {"name": self.name, "type": self.task_type, **self._fitted_json()}

    def _fitted_json(self) -> dict:
        raise NotImplementedError


class _ClassificationTask(Task):
    classes_: np.ndarray
    is_classification = True
    onnx_outputs = ("label", "proba")

    @property
    def prediction_dtype(self) -> np.dtype:
        return np.asarray(self.classes_).dtype

    def fit(self, observed, sample_weight=None, classes=None):
        labels = observed if classes is None else np.asarray(classes)
        try:
            self.classes_ = np.unique(labels)
        except TypeError as exc:
            raise ValueError(
                f"Task {self.name!r} mixes label types that cannot be ordered "
                f"({sorted({type(v).__name__ for v in labels})}); use one type."
            ) from exc
        self._check_n_classes()
        if classes is not None:
            self._indices(observed)  # every label must be one of `classes`
        return self

    def class_weights(self, observed, spec) -> np.ndarray:
        """Per-sample weights of the observed labels from a ``class_weight`` spec:
        'balanced' (n_samples / (n_classes * count)) or a dict label -> weight
        (absent labels weigh 1)."""
        idx = self._indices(observed)
        if isinstance(spec, str):
            if spec != "balanced":
                raise ValueError(f"Unknown class_weight {spec!r}; use 'balanced'.")
            counts = np.bincount(idx, minlength=len(self.classes_)).astype(float)
            per_class = len(idx) / (len(self.classes_) * np.maximum(counts, 1.0))
        elif isinstance(spec, dict):
            unknown = [k for k in spec if k not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(
                    f"class_weight for task {self.name!r} names labels not in y: "
                    f"{unknown}; the classes are {self.classes_.tolist()}."
                )
            values = [spec.get(c, 1.0) for c in self.classes_]
            if not all(
                isinstance(v, (Real, np.number)) and not isinstance(v, bool)
                for v in values
            ):
                raise ValueError(
                    f"class_weight for task {self.name!r} must map labels to "
                    f"numbers; got {spec!r}."
                )
            per_class = np.asarray(values, dtype=np.float64)
            if not np.isfinite(per_class).all() or (per_class < 0).any():
                raise ValueError(
                    f"class_weight values must be finite and >= 0; got {spec!r} for "
                    f"task {self.name!r}."
                )
        else:
            raise TypeError(
                "class_weight entries must be 'balanced', a dict or None; got "
                f"{type(spec).__name__}."
            )
        return per_class[idx]

    def _check_n_classes(self):
        if len(self.classes_) < 2:
            raise ValueError(
                f"Task {self.name!r} has only one class ({self.classes_.tolist()}) in "
                "y; a classification task needs at least two classes."
            )

    def _indices(self, observed: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.classes_, observed)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if not np.array_equal(self.classes_[idx], observed):
            raise ValueError(f"Task {self.name!r} got labels not seen in fit.")
        return idx

    def _fitted_json(self) -> dict:
        return {"classes": _labels_to_json(self.classes_)}

    def _set_fitted_json(self, spec: dict) -> None:
        self.classes_ = _labels_from_json(spec["classes"])

    def decode(self, logits):
        return self.classes_[np.argmax(self.predict_proba(logits), axis=1)]

    def score(self, y_true, logits, sample_weight=None):
        return accuracy_score(y_true, self.decode(logits), sample_weight=sample_weight)

    def plot(self, y_true, y_pred, proba, axes) -> list:
        from sklearn.metrics import ConfusionMatrixDisplay

        return [
            ConfusionMatrixDisplay.from_predictions(
                y_true, y_pred, ax=next(axes), colorbar=False
            )
        ]


class BinaryTask(_ClassificationTask):
    """Two classes; one logit; sigmoid link; binary cross-entropy loss.

    The positive class is ``classes_[1]`` (the larger label in sorted order).
    """

    task_type = "binary"

    def _check_n_classes(self):
        super()._check_n_classes()
        if len(self.classes_) > 2:
            raise ValueError(
                f"Task {self.name!r} is binary but y holds {len(self.classes_)} "
                f"classes ({self.classes_[:10].tolist()}); use 'multiclass'."
            )

    def encode(self, observed, missing):
        target = np.zeros(len(missing), dtype=np.float32)
        target[~missing] = self._indices(observed)
        return target

    def loss(self, logits, target):
        return F.binary_cross_entropy_with_logits(
            logits[:, 0], target, reduction="none"
        )

    plot_panels = 2

    def predict_proba(self, logits):
        z = np.asarray(logits, dtype=np.float64)[:, 0]
        return np.column_stack([expit(-z), expit(z)])

    def serving_outputs(self, logits):
        # As predict: the positive class where its probability beats 1/2.
        label = (logits[:, 0] > 0).long()
        return label, torch.cat([torch.sigmoid(-logits), torch.sigmoid(logits)], 1)

    def plot(self, y_true, y_pred, proba, axes) -> list:
        from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

        scores, positive = proba[:, 1], self.classes_[1]
        return [
            display.from_predictions(
                y_true, scores, pos_label=positive, name=self.name, ax=next(axes)
            )
            for display in (RocCurveDisplay, PrecisionRecallDisplay)
        ]

    def _metrics(self, z, t, loss, sw):
        metrics = {"log_loss": loss, "roc_auc": math.nan}
        if len(np.unique(t)) == 2:
            metrics["roc_auc"] = float(roc_auc_score(t, z[:, 0], sample_weight=sw))
        return metrics

    def score(self, y_true, logits, sample_weight=None):
        """ROC AUC of the positive class."""
        positive = np.asarray(y_true) == self.classes_[1]
        return roc_auc_score(
            positive, self.predict_proba(logits)[:, 1], sample_weight=sample_weight
        )


class MulticlassTask(_ClassificationTask):
    """Three or more classes; one logit per class; softmax link; cross-entropy."""

    task_type = "multiclass"

    @property
    def output_dim(self):
        return len(self.classes_)

    def encode(self, observed, missing):
        target = np.zeros(len(missing), dtype=np.int64)
        target[~missing] = self._indices(observed)
        return target

    def loss(self, logits, target):
        return F.cross_entropy(logits, target, reduction="none")

    def _metrics(self, z, t, loss, sw):
        accuracy = (
            accuracy_score(t, np.argmax(z, axis=1), sample_weight=sw)
            if len(t)
            else math.nan
        )
        return {"log_loss": loss, "accuracy": float(accuracy)}

    def predict_proba(self, logits):
        return softmax(np.asarray(logits, dtype=np.float64), axis=1)

    def serving_outputs(self, logits):
        return logits.argmax(dim=1), torch.softmax(logits, dim=1)


class RegressionTask(Task):
    """A real-valued target; one output; squared-error loss.

    The network is trained on the standardised target (``(y - mean_) / scale_``) so
    that default learning rates work whatever the target's scale; predictions are
    mapped back.
    """

    task_type = "regression"

    def fit(self, observed, sample_weight=None, classes=None):
        """Learn the target's mean and scale, weighted by ``sample_weight`` (of the
        observed labels) when given, so that zero-weight labels play no part."""
        values = self._as_float(observed)
        if sample_weight is not None:
            keep = sample_weight > 0
            values, sample_weight = values[keep], sample_weight[keep]
        # Computed on values divided by their largest magnitude, so that targets
        # near the float64 limit (1e200) neither overflow the squares nor the sum.
        magnitude = float(np.abs(values).max()) or 1.0
        unit = values / magnitude
        mean = np.average(unit, weights=sample_weight)
        std = float(np.sqrt(np.average((unit - mean) ** 2, weights=sample_weight)))
        self.mean_ = float(mean) * magnitude
        self.scale_ = std * magnitude if std > 0 else 1.0
        return self

    def _fitted_json(self) -> dict:
        return {"mean": self.mean_, "scale": self.scale_}

    def _set_fitted_json(self, spec: dict) -> None:
        self.mean_, self.scale_ = float(spec["mean"]), float(spec["scale"])

    def _as_float(self, observed):
        return _numeric_labels(self, observed)

    def encode(self, observed, missing):
        target = np.zeros(len(missing), dtype=np.float32)
        target[~missing] = (self._as_float(observed) - self.mean_) / self.scale_
        return target

    def loss(self, logits, target):
        return F.mse_loss(logits[:, 0], target, reduction="none")

    def _metrics(self, z, t, loss, sw):
        # The loss is on the standardised target; the MSE is in the target's units.
        return {"mse": loss * self.scale_**2}

    def decode(self, logits):
        return np.asarray(logits, dtype=np.float64)[:, 0] * self.scale_ + self.mean_

    def serving_outputs(self, logits):
        return (logits[:, 0].double() * self.scale_ + self.mean_,)

    def score(self, y_true, logits, sample_weight=None):
        """R^2."""
        return r2_score(
            np.asarray(y_true, dtype=np.float64),
            self.decode(logits),
            sample_weight=sample_weight,
        )


class PoissonTask(Task):
    """Counts, or any non-negative values; one output; log link; Poisson deviance.

    Never inferred: chosen by ``task_types`` only. The prediction is
    ``exp(z + offset_)``, with ``offset_ = log(mean_)`` and ``mean_`` the weighted
    mean of the labels, so that the network, whose outputs start near 0, starts
    at the mean. The network is trained on ``y / mean_`` with the half Poisson
    deviance, which is the Poisson negative log-likelihood ``mu - y log(mu)``
    plus its value at the saturated model, ``y log(y) - y``: it has the same
    gradient but its minimum is 0, as the other kinds' losses have, so that the
    losses of the tasks add up and early stopping's objective mixes them fairly.
    On ``y / mean_`` that loss is the half deviance of the labels divided by
    ``mean_``: a change of the labels' unit (counts per day or per year) changes
    neither the loss nor training, as for a standardised regression target.
    """

    task_type = "poisson"

    mean_: float

    @property
    def offset_(self) -> float:
        """The log of the labels' mean, added to the network's output."""
        return math.log(self.mean_)

    def fit(self, observed, sample_weight=None, classes=None):
        """Learn the labels' mean, weighted by ``sample_weight`` (of the observed
        labels) when given, so that zero-weight labels play no part."""
        values = self._as_counts(observed)
        if sample_weight is not None:
            keep = sample_weight > 0
            values, sample_weight = values[keep], sample_weight[keep]
        # Averaged relative to the largest label, so that counts near the float64
        # limit do not overflow the sum.
        largest = float(values.max(initial=0.0))
        mean = 0.0
        if largest > 0:
            mean = largest * float(np.average(values / largest, weights=sample_weight))
        if not mean > 0:
            raise ValueError(
                f"Task {self.name!r} is a poisson task but all its labels (of "
                "positive weight) are 0; the log link needs a positive mean."
            )
        self.mean_ = mean
        return self

    def _fitted_json(self) -> dict:
        return {"mean": self.mean_}

    def _set_fitted_json(self, spec: dict) -> None:
        self.mean_ = float(spec["mean"])

    def _as_counts(self, observed):
        values = _numeric_labels(self, observed)
        if (values < 0).any():
            raise ValueError(
                f"Task {self.name!r} is a poisson task but has negative labels "
                f"(e.g. {values[values < 0][:3].tolist()}); counts are >= 0."
            )
        return values

    def encode(self, observed, missing):
        target = np.zeros(len(missing), dtype=np.float32)
        target[~missing] = self._as_counts(observed) / self.mean_
        return target

    def loss(self, logits, target):
        # In float32 whatever autocast computed the logits in: exp overflows
        # float16 at 11.
        z, target = logits[:, 0].float(), target.float()
        return torch.exp(z) - target * z + torch.xlogy(target, target) - target

    def _metrics(self, z, t, loss, sw):
        # The loss is half the deviance of y / mean_; the deviance is in y's units.
        return {"poisson_deviance": 2.0 * loss * self.mean_}

    def decode(self, logits):
        return np.exp(np.asarray(logits, dtype=np.float64)[:, 0] + self.offset_)

    def serving_outputs(self, logits):
        return (torch.exp(logits[:, 0].double() + self.offset_),)

    def score(self, y_true, logits, sample_weight=None):
        """D^2, the share of the Poisson deviance explained
        (``d2_tweedie_score(power=1)``)."""
        return d2_tweedie_score(
            np.asarray(y_true, dtype=np.float64),
            self.decode(logits),
            sample_weight=sample_weight,
            power=1,
        )


def _numeric_labels(task: Task, observed: np.ndarray) -> np.ndarray:
    """A task's observed labels as finite float64 numbers (bools as 0 and 1); a
    ValueError naming the task and its kind otherwise."""
    numeric = is_numeric_dtype(observed.dtype) or is_bool_dtype(observed.dtype)
    # No label (a partial_fit chunk without one of this task): nothing to check,
    # whatever dtype the empty column has (object, if all None).
    if len(observed) and not numeric:
        raise ValueError(
            f"Task {task.name!r} is a {task.task_type} task but its labels are not "
            f"numeric (dtype {observed.dtype}, e.g. {observed[:3].tolist()})."
        )
    values = observed.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"Task {task.name!r} has infinite labels.")
    return values


def task_from_json(spec: dict) -> Task:
    """A fitted task from :meth:`Task.to_json`'s output."""
    task = TASK_KINDS[spec["type"]](spec["name"])
    task._set_fitted_json(spec)
    return task


def _labels_to_json(classes: np.ndarray) -> dict:
    kind = classes.dtype.kind
    if kind not in "biufOU":
        raise TypeError(f"Class labels of dtype {classes.dtype} cannot be saved.")
    if kind == "O" and not all(isinstance(c, str) for c in classes):
        raise TypeError("Object class labels must all be strings to be saved.")
    return {"dtype": classes.dtype.str, "values": classes.tolist()}


def _labels_from_json(spec: dict) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    if dtype.kind == "O":
        out = np.empty(len(spec["values"]), dtype=object)
        out[:] = spec["values"]
        return out
    return np.asarray(spec["values"], dtype=dtype)


def _is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "iuf"


def _infer_task_type(observed: np.ndarray, name: str, kind: str) -> str:
    """A task's type from its observed labels.

    - ``kind='regressor'``: always regression.
    - ``kind='classifier'``: binary for at most two classes, else multiclass;
      non-integral floats are an error ("Unknown label type: continuous").
    - ``kind='any'``: strings, booleans and other non-numbers are classes (binary for
      two, multiclass for more); integers are binary for at most two distinct values,
      else multiclass; floats are binary for at most two distinct values, else
      regression. Pass ``task_types`` to override.
    """
    if kind == "regressor":
        return RegressionTask.task_type
    n_unique = len(pd.unique(observed))
    if _is_numeric(observed) and observed.dtype.kind == "f":
        integral = np.all(np.isfinite(observed)) and np.all(
            observed == np.floor(observed)
        )
        if kind == "classifier" and not integral:
            raise ValueError(
                f"Unknown label type: continuous. Task {name!r} has continuous "
                "labels; a classifier needs class labels. Use MMOERegressor or "
                "MMOEEstimator with task_types=('regression', ...)."
            )
        if kind == "any" and n_unique > 2:
            return RegressionTask.task_type
    return (BinaryTask if n_unique <= 2 else MulticlassTask).task_type


def kinds_accepted(kind: str) -> list[str]:
    """The task kinds an estimator accepts: "classifier" the classifications,
    "regressor" the others, "any" every kind."""
    return [
        name
        for name, cls in TASK_KINDS.items()
        if kind == "any" or cls.is_classification == (kind == "classifier")
    ]


def make_tasks(
    labels: list[Labels],
    task_names: list[str],
    task_types,
    kind: str,
    weights=None,
    classes=None,
) -> list[Task]:
    """Build and fit one task per label column.

    Parameters
    ----------
    labels : list of Labels
        One per task, from :func:`split_label_column`.
    task_names : list of str
    task_types : None or sequence of str
        None infers each task's type (see :func:`_infer_task_type`); else one of
        :data:`TASK_KINDS` per task, validated against the labels.
    kind : {"any", "classifier", "regressor"}
        What the estimator accepts.
    weights : list of (ndarray of shape (n_samples,) or None), default=None
        Per-task sample weights over all rows, as training uses them.
    classes : list of (array-like or None), default=None
        Every class of each classification task, when the labels at hand may lack
        some (partial_fit).
    """
    n_tasks = len(labels)
    if task_types is not None:
        task_types = [task_types] if isinstance(task_types, str) else list(task_types)
        if len(task_types) != n_tasks:
            raise ValueError(
                f"task_types has {len(task_types)} entries but y has {n_tasks} "
                f"task(s) (columns)."
            )
        unknown = [t for t in task_types if t not in TASK_KINDS]
        if unknown:
            raise ValueError(
                f"Unknown task type(s) {unknown} in task_types; use "
                f"{', '.join(repr(t) for t in TASK_KINDS)}."
            )
        allowed = kinds_accepted(kind)
        wrong = [t for t in task_types if t not in allowed]
        if wrong:
            raise ValueError(
                f"task_types {wrong} are not allowed for this estimator, which "
                f"accepts {list(allowed)}; use MMOEEstimator for mixed tasks."
            )

    tasks: list[Task] = []
    for j, (observed, missing) in enumerate(labels):
        name = task_names[j]
        if len(observed) == 0:
            raise ValueError(f"Task {name!r} has no observed (non-missing) labels.")
        task_classes = None if classes is None else classes[j]
        if task_types is None:
            seen = observed if task_classes is None else np.asarray(task_classes)
            task_type = _infer_task_type(seen, name, kind)
        else:
            task_type = task_types[j]
        weight = None
        if weights is not None and weights[j] is not None:
            weight = np.asarray(weights[j])[~missing]
        kind_class = TASK_KINDS[task_type]
        if task_classes is not None and not kind_class.is_classification:
            raise ValueError(
                f"classes are given for task {name!r}, a {task_type} task."
            )
        tasks.append(kind_class(name).fit(observed, weight, task_classes))
    return tasks
