"""y and the sample weights -> the tasks, their labels and their weights.

:func:`make_targets` reads y (1-D, 2-D, DataFrame, with missing labels), checks the
sample and class weights, and fits one task per column (or takes the tasks of an
earlier fit); :func:`validation_split` sets rows aside for early stopping. numpy
and pandas only: the engine makes tensors of what :meth:`Targets.encoded` gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.validation import check_array, check_consistent_length

from ._params import TargetSpec
from ._sklearn_compat import _check_sample_weight
from ._tasks import Labels, Task, make_tasks, split_label_column

__all__ = [
    "Targets",
    "align_to_tasks",
    "make_targets",
    "read_labels",
    "validation_split",
]


@dataclass
class Targets:
    """The tasks of a fit and what training needs of them."""

    names: list[str]
    ndim: int
    """1 for a 1-D y (one task, predictions of shape (n,)), else 2."""
    labels: list[Labels]
    """One per task, over all rows."""
    weights: list[np.ndarray | None]
    """Per task and row; zero where the label is missing. None where every row
    counts equally."""
    tasks: list[Task]
    loss_weights: list[float]

    def encoded(self, rows=None) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """The training targets and the sample weights of ``rows`` (all rows when
        None), per task: as each task encodes its labels, and as float32 weights
        (None where every row counts equally)."""

        def pick(values):
            return values if rows is None else values[rows]

        targets = [
            pick(task.encode(*labels)) for task, labels in zip(self.tasks, self.labels)
        ]
        weights = [None if w is None else _as_float32(pick(w)) for w in self.weights]
        return targets, weights


def _as_float32(weights: np.ndarray) -> np.ndarray:
    """A task's sample weights relative to the largest, in float32: the losses are
    weighted means, which the scale does not change, and any finite float64
    weights (1e300 included) then fit float32."""
    largest = weights.max(initial=0.0)
    if largest > 0:
        weights = weights / largest
    return weights.astype(np.float32)


def make_targets(
    y, sample_weight, X, spec: TargetSpec, *, tasks=None, classes=None
) -> Targets:
    """Read y and the weights; fit one task per column of y, or check y against
    ``tasks`` fitted before (``partial_fit``).

    ``classes`` (first ``partial_fit`` call only) lists every class of a 1-D y, or
    for a 2-D y a list with the classes of each task (None where the labels at hand
    hold them all).
    """
    labels, names, ndim = read_labels(y, spec.task_names)
    check_consistent_length(X, labels[0].missing)
    weights = _sample_weights(sample_weight, X, labels)
    # Fitting a task needs labels of it; a later chunk (of a stream, a dask
    # partition) may lack a task's labels, or every label, and training leaves
    # those tasks' losses out of it.
    fitting = tasks is None
    if fitting:
        _check_some_weight(weights, names, "sample_weight")
        tasks = make_tasks(
            labels,
            names,
            spec.task_types,
            spec.kind,
            weights,
            _check_classes(classes, len(labels), ndim),
        )
    weights = _apply_class_weight(spec.class_weight, tasks, labels, weights)
    if fitting:
        _check_some_weight(weights, names, "class_weight")
    return Targets(
        names, ndim, labels, weights, tasks, _loss_weights(spec.loss_weights, names)
    )


def as_pandas(y):
    """y as pandas where it arrives in another container that numpy would read
    wrong: a polars Series or DataFrame, a pyarrow Array, ChunkedArray or Table
    (Arrow-backed dtypes keep nullable ints as ints, and column names), a pandas
    ExtensionArray (nullable Int64, boolean, string) or Index. numpy would turn
    integer labels with missing values into floats, or drop the names."""
    if type(y).__module__.partition(".")[0] == "polars":
        return y.to_pandas(use_pyarrow_extension_array=True)
    if type(y).__module__.partition(".")[0] == "pyarrow" and hasattr(y, "to_pandas"):
        return y.to_pandas(types_mapper=pd.ArrowDtype)
    if isinstance(y, (pd.api.extensions.ExtensionArray, pd.Index)):
        return pd.Series(y)
    return y


def read_labels(y, task_names=None) -> tuple[list[Labels], list[str], int]:
    """y -> (labels per task, task names, y.ndim)."""
    if y is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None."
        )
    y = as_pandas(y)
    if hasattr(y, "toarray") or hasattr(y, "tocsr"):
        raise TypeError("A sparse y is not supported; pass a dense array.")
    if isinstance(y, pd.DataFrame):
        frame, ndim = y, 2
        default_names = [str(c) for c in y.columns]
    elif isinstance(y, pd.Series):
        frame, ndim = y.to_frame(), 1
        default_names = ["task_0"]
    else:
        arr = np.asarray(y, dtype=object if isinstance(y, (list, tuple)) else None)
        if arr.ndim not in (1, 2):
            raise ValueError(
                f"y must be 1-D (one task) or 2-D (one task per column); got "
                f"shape {arr.shape}."
            )
        if arr.dtype.kind == "c":
            raise ValueError("Complex data not supported in y.")
        ndim = arr.ndim
        frame = pd.DataFrame(arr[:, None] if arr.ndim == 1 else arr)
        default_names = [f"task_{j}" for j in range(frame.shape[1])]
    if frame.shape[1] == 0:
        raise ValueError("y has no columns (tasks).")
    names = default_names
    if task_names is not None:
        names = (
            [task_names]
            if isinstance(task_names, str)
            else [str(n) for n in task_names]
        )
        if len(names) != frame.shape[1]:
            raise ValueError(
                f"task_names has {len(names)} entries but y has {frame.shape[1]} "
                "task(s) (columns)."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"Task names must be unique; got {names}.")
    labels = [split_label_column(frame.iloc[:, j]) for j in range(frame.shape[1])]
    return labels, names, ndim


def align_to_tasks(y, task_names: list[str]):
    """A y DataFrame whose columns are named (not numbered) with its columns in
    the order of the tasks, matched by name; any other y as it is (polars and
    pyarrow containers as pandas ones). Columns whose names are not the tasks'
    are refused."""
    y = as_pandas(y)
    if not isinstance(y, pd.DataFrame) or all(
        isinstance(c, (int, np.integer)) for c in y.columns
    ):
        return y
    names = [str(c) for c in y.columns]
    if names == list(task_names):
        return y
    if sorted(names) != sorted(task_names):
        raise ValueError(
            f"y's columns {names} are not the estimator's tasks {list(task_names)}; "
            "y's columns are matched to the tasks by name."
        )
    return y.iloc[:, [names.index(name) for name in task_names]]


def _loss_weights(loss_weights, names) -> list[float]:
    if loss_weights is None:
        return [1.0] * len(names)
    weights = np.asarray(loss_weights, dtype=np.float64).ravel()
    if weights.shape != (len(names),):
        raise ValueError(
            f"loss_weights has {weights.size} entries but y has {len(names)} task(s)."
        )
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() == 0:
        raise ValueError(
            "loss_weights must be finite, non-negative and not all zero; got "
            f"{loss_weights!r}."
        )
    return weights.tolist()


def _sample_weights(sample_weight, X, labels) -> list[np.ndarray | None]:
    """Per-task sample weights, zero where the task's label is missing; None where
    every sample counts equally."""
    n, n_tasks = len(labels[0].missing), len(labels)
    if sample_weight is None:
        per_task = [None] * n_tasks
    else:
        sw = np.asarray(sample_weight)
        if sw.ndim == 2:
            if sw.shape != (n, n_tasks):
                raise ValueError(
                    f"sample_weight of shape {sw.shape} must be (n_samples, "
                    f"n_tasks) = ({n}, {n_tasks}), or (n_samples,)."
                )
            sw = check_array(sw, dtype=np.float64)
        else:
            sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if (sw < 0).any():
            raise ValueError("Negative values in sample_weight are not allowed.")
        per_task = (
            [sw[:, t] for t in range(n_tasks)] if sw.ndim == 2 else [sw] * n_tasks
        )
    weights = []
    for t, (_, missing) in enumerate(labels):
        w = per_task[t]
        if missing.any():
            w = (np.ones(n) if w is None else w.copy()) * ~missing
        weights.append(w)
    return weights


def _check_some_weight(weights, names, source: str) -> None:
    for name, w in zip(names, weights):
        if w is not None and not (w > 0).any():
            raise ValueError(
                f"Task {name!r} has no sample with a label and a positive weight "
                f"(check {source} and the missing labels)."
            )


def _check_classes(classes, n_tasks, ndim):
    if classes is None:
        return None
    if ndim == 1:
        return [classes]
    if not isinstance(classes, (list, tuple)) or len(classes) != n_tasks:
        raise ValueError(
            f"classes must be a list with one entry per task ({n_tasks}) for a 2-D y."
        )
    return list(classes)


def _apply_class_weight(spec, tasks, labels, weights):
    """The per-task weights multiplied by the classes' weights of ``class_weight``."""
    if spec is None:
        return weights
    n_tasks = len(tasks)
    if isinstance(spec, list):
        if len(spec) != n_tasks:
            raise ValueError(
                f"class_weight as a list needs one entry per task ({n_tasks}); "
                f"got {len(spec)}."
            )
        specs = spec
    elif isinstance(spec, dict) and n_tasks > 1:
        raise ValueError(
            "class_weight as a dict is for a single task; with several tasks "
            "pass a list with one dict (or 'balanced', or None) per task."
        )
    else:
        specs = [spec] * n_tasks
    out = list(weights)
    for t, (task, task_spec) in enumerate(zip(tasks, specs)):
        if task_spec is None:
            continue
        if not task.is_classification:
            if isinstance(spec, list) or n_tasks == 1:
                raise ValueError(
                    f"class_weight is given for task {task.name!r}, which is a "
                    f"{task.task_type} task, not a classification."
                )
            continue
        observed, missing = labels[t]
        per_sample = np.zeros(len(missing))
        per_sample[~missing] = task.class_weights(observed, task_spec)
        base = out[t] if out[t] is not None else np.ones(len(missing))
        out[t] = base * per_sample
    return out


def validation_split(
    targets: Targets, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices (training, validation) for early stopping: a share
    ``fraction`` held out, stratified on the first classification task where its
    classes allow."""
    n = len(targets.labels[0].missing)
    n_valid = max(1, int(round(fraction * n)))
    if n - n_valid < 2:
        raise ValueError(
            f"early_stopping with validation_fraction={fraction} leaves fewer than "
            f"2 training samples out of {n}."
        )
    rows = np.arange(n)
    splitter = ShuffleSplit(n_splits=1, test_size=n_valid, random_state=seed)
    split = None
    for t, task in enumerate(targets.tasks):
        if task.is_classification:
            strata = task.encode(*targets.labels[t]).astype(np.int64)
            weight = targets.weights[t]
            if weight is not None:
                strata = np.where(weight > 0, strata, -1)
            try:
                split = next(
                    StratifiedShuffleSplit(
                        n_splits=1, test_size=n_valid, random_state=seed
                    ).split(rows, strata)
                )
            except ValueError:  # a class too small to stratify
                pass
            break
    if split is None:
        split = next(splitter.split(rows))
    return np.sort(split[0]), np.sort(split[1])
