"""Fit and predict from dask collections, in passes over their partitions.

For data larger than one machine's memory (or than one process should hold):
``X`` a dask DataFrame or dask Array, ``y`` a dask Series, DataFrame or Array with
the same partitions. Nothing here schedules work: dask computes each partition
where it lives (a local process, threads, or a ``dask.distributed`` cluster, if a
client is active) and the model trains in the calling process, one partition at a
time (the next one computed while the current one trains).

:func:`fit` works in passes:

1. **One pass over the data** draws a uniform sample of rows of X and y together
   (each row gets a seeded random key; the rows with the smallest keys over all
   partitions are kept, so every row is equally likely to be in it), keeps each
   task's 256 labelled rows of smallest key too, and counts the values of every
   categorical column and the elements of every list column (hashed columns
   aside), and collects the distinct labels of every task.
2. **From that**, the encoding is fitted (imputation, scaling and bin edges on the
   sample; the vocabularies of categorical and list columns from the counts over
   every row, so a category first seen in the last partition has its own
   embedding, and ``min_frequency``, ``max_categories`` and ``shared_embeddings``
   group and join values as ``fit`` on all the rows would), the tasks are fitted
   (kinds inferred as
   ``fit`` infers them, classes from the exact union so a rare class seen in one
   partition only is a class, and a regression target's mean and scale from the
   sample's labels), and the network takes one epoch on the sample. A task with
   fewer than 256 labels in the sample (labels rare, or in a few partitions only)
   has its kept labelled rows added to that epoch, and fitted on them.
3. **Passes over the partitions**, in a seeded random order, each partition's rows
   shuffled, each one ``partial_fit`` call (one epoch, Adam's state carried over).
   Empty partitions (of a filtered frame, say) are skipped; with batch norm,
   which cannot train on one row, a one-row partition joins the next call. A
   partition without a label of a task leaves that task's loss out of its call.

Grid and randomized searches on a cluster need nothing from this module: run
scikit-learn's ``GridSearchCV`` under ``joblib.parallel_backend("dask")`` (see the
README, "Scaling out").

List columns: dask turns object columns into strings by default (its
``dataframe.convert-string`` option), Python lists too; give list columns an
Arrow list dtype (``pd.ArrowDtype(pa.list_(pa.string()))``), which dask keeps, or
build the frame under ``dask.config.set({"dataframe.convert-string": False})``.
:func:`fit` warns of a string column whose every value reads as a list.

Requires the optional extra ``dask`` (``pip install skmmoe[dask]``).
"""

from __future__ import annotations

import concurrent.futures
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np
import pandas as pd
from pandas.api.types import is_object_dtype
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ._encoders import category_counts, is_list_column, sum_counts
from ._engine.callbacks import LRSchedule
from ._engine.training import batch_starts
from ._estimators import _BaseMMOE
from ._features import (
    ValueCounts,
    _per_column,
    fit_feature_encoder,
    resolve_categorical_mask,
)
from ._params import Specs, read_params
from ._tasks import TASK_KINDS, _infer_task_type, split_label_column

if TYPE_CHECKING:
    import dask.array as da

__all__ = ["MAX_LABELS", "default_sample_size", "fit", "predict", "predict_proba"]

_E = TypeVar("_E", bound=_BaseMMOE)

MAX_LABELS = 1024
"""A task with more distinct labels than this over the data is not collected as
classes: its kind is inferred from the sample (regression, for floats); if that
says classification, :func:`fit` refuses it."""

_MERGE_FAN_IN = 8


def _import_dask():
    """dask and dask.array, imported where used (the extra is optional), or an
    ImportError that says how to install them."""
    try:
        import dask
        import dask.array
    except ImportError as exc:
        raise ImportError(
            "skmmoe.dask needs the optional extra 'dask' (dask[dataframe], "
            "distributed): pip install 'skmmoe[dask]'."
        ) from exc
    return dask, dask.array


def default_sample_size(n_bins: int = 32) -> int:
    """The number of rows :func:`fit` samples by default.

    Enough rows that every bin edge of the numeric encoding (the quantiles of
    ``n_bins`` bins) lies, with 95% probability and for all edges at once, within
    a quarter of a bin's share of the rows of the true quantile. By the
    Dvoretzky-Kiefer-Wolfowitz inequality, n >= ln(2 / 0.05) / (2 eps^2) with
    eps = 1 / (4 n_bins): 30,220 rows for the default 32 bins. The same rows give
    the scaling's mean and standard deviation and a regression target's to well
    under 1% of a standard deviation (1 / sqrt(n)).

    Parameters
    ----------
    n_bins : int, default=32
        The estimator's ``n_bins``.

    Returns
    -------
    n_rows : int

    Examples
    --------
    >>> from skmmoe.dask import default_sample_size
    >>> default_sample_size(32)
    30220
    """
    eps = 1.0 / (4 * n_bins)
    return math.ceil(math.log(2 / 0.05) / (2 * eps**2))


# ----------------------------------------------------------------- partitions
def _is_dask_frame(collection) -> bool:
    return hasattr(collection, "to_delayed") and hasattr(collection, "npartitions")


def _partitions(collection, name: str) -> list:
    """One Delayed per partition (row block) of a dask DataFrame, Series or
    Array."""
    _, da = _import_dask()
    if isinstance(collection, da.Array):
        if collection.ndim not in (1, 2):
            raise ValueError(
                f"{name} must be a 1-D or 2-D dask Array; got {collection.ndim}-D."
            )
        if collection.ndim == 2:
            collection = collection.rechunk({1: -1})  # blocks of whole rows
        return list(collection.to_delayed().ravel())
    if _is_dask_frame(collection):
        return list(collection.to_delayed())
    raise TypeError(
        f"{name} must be a dask DataFrame, Series or Array; got "
        f"{type(collection).__name__}. For data in memory, call the estimator's "
        "fit."
    )


def _meta(collection):
    """An empty example of a partition: its columns and dtypes."""
    return collection._meta


_TASK_ROWS = 256
"""Besides the uniform sample, the first pass keeps each task's labelled rows of
smallest key, this many at most: a task with fewer labels than this in the
sample (its labels rare, or in a few partitions only) is fitted on them, so its
regression mean and scale come from 256 labels at least (to about 6% of a
standard deviation) wherever the data has them."""


@dataclass
class _Summary:
    """What the first pass learns from one or more partitions."""

    sizes: np.ndarray
    """The rows of each partition, in order."""
    keys: np.ndarray
    """The random keys of the kept rows, ascending: the first ``k`` are the
    uniform sample, the others labelled rows of tasks (see :data:`_TASK_ROWS`)."""
    X: Any
    y: Any
    labelled: np.ndarray
    """Of shape (kept rows, tasks): whether the row has a label for the task."""
    counts: dict[int, tuple[np.ndarray, np.ndarray]]
    """Per counted column (:func:`_counted_columns`) that has values, by position
    in X: its distinct values as strings, sorted, and their counts."""
    labels: list[np.ndarray | None]
    """Per task, its distinct labels; None when more than MAX_LABELS."""


def _take(data, rows):
    return data.iloc[rows] if hasattr(data, "iloc") else data[rows]


def _y_frame(y) -> pd.DataFrame:
    if isinstance(y, pd.DataFrame):
        return y
    if isinstance(y, pd.Series):
        return y.to_frame()
    arr = np.asarray(y)
    return pd.DataFrame(arr if arr.ndim == 2 else arr[:, np.newaxis])


def _kept_rows(keys: np.ndarray, labelled: np.ndarray, k: int) -> np.ndarray:
    """The rows to keep, ascending by key: the ``k`` of smallest key, and each
    task's :data:`_TASK_ROWS` labelled rows of smallest key. A row kept over all
    partitions is kept in its own partition's summary, so merging summaries
    keeps exactly these rows."""
    order = np.argsort(keys, kind="stable")
    keep = np.zeros(len(keys), dtype=bool)
    keep[order[:k]] = True
    for t in range(labelled.shape[1]):
        keep[order[labelled[order, t]][:_TASK_ROWS]] = True
    return order[keep[order]]


class _Counted(NamedTuple):
    """A column whose values the first pass counts."""

    position: int
    label: Any
    lists_only: bool
    """Counted where it holds lists only (a column not categorical)."""
    max_length: int | None
    """Of a list column: the elements of each row counted."""


def _counted_columns(meta, features) -> list[_Counted]:
    """The columns the built-in encoding takes vocabularies of, hashed ones
    aside: the categorical ones, and those that may hold lists (object columns,
    whose values tell, and Arrow list columns)."""
    labels = list(meta.columns) if hasattr(meta, "columns") else None
    n_columns = meta.shape[1] if meta.ndim == 2 else 1
    labels = labels or list(range(n_columns))
    dtypes = list(meta.dtypes) if hasattr(meta, "dtypes") else [meta.dtype] * n_columns
    categorical = resolve_categorical_mask(meta, features.categorical_features)
    counted = []
    for p, (label, dtype) in enumerate(zip(labels, dtypes)):
        may_hold_lists = is_object_dtype(dtype) or isinstance(dtype, pd.ArrowDtype)
        if not (categorical[p] or may_hold_lists):
            continue
        if _per_column(features.hash_buckets, label, None) is not None:
            continue  # hashed: no vocabulary
        max_length = _per_column(features.max_list_length, label, None)
        counted.append(_Counted(p, label, not categorical[p], max_length))
    return counted


def _count_values(X, counted: list[_Counted]) -> dict:
    """The value counts of the counted columns of one partition."""
    if not counted:
        return {}
    frame = _take_columns(X, [c.position for c in counted])
    counts = {}
    for j, column in enumerate(counted):
        values = frame.iloc[:, j]
        if column.lists_only and not is_list_column(values, column.label):
            continue
        counts[column.position] = category_counts(
            values, column.label, max_length=column.max_length
        )
    return counts


def _summarise(X, y, seed, k: int, counted: list[_Counted]) -> _Summary:
    """The first pass over one partition."""
    if len(X) != len(y):
        raise ValueError(
            f"X and y differ in rows within a partition ({len(X)} and {len(y)}): "
            "give them the same partitions (the same divisions or chunks)."
        )
    keys = np.random.default_rng(seed).random(len(X))
    labels: list[np.ndarray | None] = []
    frame = _y_frame(y)
    labelled = np.empty((len(X), frame.shape[1]), dtype=bool)
    for j in range(frame.shape[1]):
        observed, missing = split_label_column(frame.iloc[:, j])
        labelled[:, j] = ~missing
        distinct = pd.unique(observed)
        labels.append(distinct if len(distinct) <= MAX_LABELS else None)
    rows = _kept_rows(keys, labelled, k)
    return _Summary(
        np.array([len(X)]),
        keys[rows],
        _take(X, rows),
        _take(y, rows),
        labelled[rows],
        _count_values(X, counted),
        labels,
    )


def _take_columns(X, positions):
    if isinstance(X, pd.DataFrame):
        return X.iloc[:, positions]
    return pd.DataFrame(np.asarray(X)[:, positions])


def _concat(parts: list):
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], (pd.DataFrame, pd.Series)):
        return pd.concat(parts)
    return np.concatenate([np.asarray(p) for p in parts])


def _merge(k: int, *summaries: _Summary) -> _Summary:
    """Summaries of several partitions -> one: the rows :func:`_kept_rows`
    keeps, the value counts summed, the union of labels."""
    keys = np.concatenate([s.keys for s in summaries])
    labelled = np.concatenate([s.labelled for s in summaries])
    rows = _kept_rows(keys, labelled, k)
    counts = {
        p: sum_counts(s.counts[p] for s in summaries if p in s.counts)
        for p in sorted(set().union(*(s.counts for s in summaries)))
    }
    labels: list[np.ndarray | None] = []
    for j in range(len(summaries[0].labels)):
        given = [s.labels[j] for s in summaries]
        parts = [p for p in given if p is not None]
        if len(parts) < len(given):
            labels.append(None)
            continue
        # Partitions without a label of the task (an empty one, or all missing)
        # left out: the dtype of their empty arrays (object, float) would
        # otherwise become the labels', and so the classes'.
        distinct = pd.unique(np.concatenate([p for p in parts if len(p)] or parts[:1]))
        labels.append(distinct if len(distinct) <= MAX_LABELS else None)
    return _Summary(
        np.concatenate([s.sizes for s in summaries]),
        keys[rows],
        _take(_concat([s.X for s in summaries]), rows),
        _take(_concat([s.y for s in summaries]), rows),
        labelled[rows],
        counts,
        labels,
    )


def _first_pass(
    X_parts, y_parts, k: int, seed: int, counted: list[_Counted]
) -> _Summary:
    """The sample, value counts and labels of all partitions, in one computation
    (a tree of merges, so no process holds more than a few samples at once)."""
    dask, _ = _import_dask()
    summarise = dask.delayed(_summarise, pure=True)
    merge = dask.delayed(_merge, pure=True)
    level = [
        summarise(x, y, (seed, i), k, counted)
        for i, (x, y) in enumerate(zip(X_parts, y_parts))
    ]
    while len(level) > 1:
        level = [
            merge(k, *level[i : i + _MERGE_FAN_IN])
            for i in range(0, len(level), _MERGE_FAN_IN)
        ]
    (summary,) = dask.compute(level[0])
    return summary


# ------------------------------------------------------------------------ fit
def fit(
    estimator: _E,
    X,
    y,
    *,
    passes: int | str = "auto",
    sample_size: int | None = None,
    random_state: int = 0,
) -> _E:
    """Fit an skmmoe estimator on dask collections, a partition at a time.

    One pass over the data draws a uniform sample of rows and the exact
    categories and labels; the encoding and the tasks are fitted from them and
    the network takes one epoch on the sample; then ``passes`` passes over the
    partitions, in a seeded random order, each partition shuffled and given to
    ``partial_fit``. Only the sample and two partitions (the one training, the
    next one being computed) are in this process's memory at a time.

    Parameters
    ----------
    estimator : MMOEEstimator, MMOEClassifier or MMOERegressor
        Fitted in place (its parameters unchanged), like ``estimator.fit``. Its
        ``preprocessor`` may be None (the built-in encoding, fitted as described
        above, list columns, rare values, hashing and shared tables included),
        a ColumnTransformer (fitted on the sample, so categories absent
        from it are unknown) or a ``FrozenEstimator`` of a fitted one (used as
        it is). ``epochs`` gives the number of passes when ``passes="auto"``.
    X : dask DataFrame or dask Array of shape (n_samples, n_features)
    y : dask Series, DataFrame or Array of shape (n_samples,) or \
(n_samples, n_tasks)
        With the same partitions as X (as ``X[...]`` columns of one dask
        DataFrame have).
    passes : int or "auto", default="auto"
        Passes over the partitions after the sample's epoch. "auto": the
        estimator's ``epochs``, with "auto" resolved for the total number of
        rows as ``fit`` resolves it.
    sample_size : int or None, default=None
        Rows of the uniform sample; None: :func:`default_sample_size` for the
        estimator's ``n_bins`` (30,220 rows for 32 bins), or every row of
        smaller data.
    random_state : int, default=0
        Seeds the sample, the order of the partitions and the shuffles. The
        network's initialisation follows the estimator's ``seed``.

    Returns
    -------
    estimator : the estimator, fitted

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import dask.dataframe as dd
    >>> import skmmoe.dask
    >>> from skmmoe import MMOEEstimator
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"city": rng.choice(["a", "b", "c"], 400),
    ...                       "age": rng.normal(40, 10, 400)})
    >>> frame["bought"] = np.where(frame.city == "a", "yes", "no")
    >>> frame["spend"] = frame.age * 2.0
    >>> data = dd.from_pandas(frame, npartitions=4)
    >>> est = MMOEEstimator(epochs=2, expert_dnn_hidden_units=(16,))
    >>> est = skmmoe.dask.fit(est, data[["city", "age"]], data[["bought", "spend"]])
    >>> est.task_types_
    ['binary', 'regression']
    """
    if not isinstance(estimator, _BaseMMOE):
        raise TypeError(
            "estimator must be an MMOEEstimator, MMOEClassifier or MMOERegressor; "
            f"got {type(estimator).__name__}."
        )
    X_parts, y_parts = _partitions(X, "X"), _partitions(y, "y")
    if len(X_parts) != len(y_parts):
        raise ValueError(
            f"X and y must have the same partitions; X has {len(X_parts)} and y "
            f"{len(y_parts)}."
        )
    if not isinstance(passes, str) and (
        not isinstance(passes, (int, np.integer)) or isinstance(passes, bool)
    ):
        raise TypeError(f"passes must be an int >= 1 or 'auto'; got {passes!r}.")
    if isinstance(passes, str) and passes != "auto":
        raise ValueError(f"passes must be an int >= 1 or 'auto'; got {passes!r}.")
    if not isinstance(passes, str) and passes < 1:
        raise ValueError(f"passes must be an int >= 1 or 'auto'; got {passes}.")
    if sample_size is not None and (
        not isinstance(sample_size, (int, np.integer)) or sample_size < 2
    ):
        raise ValueError(
            f"sample_size must be an int >= 2 or None; got {sample_size!r}."
        )

    work = clone(estimator)
    work._validate_params()  # before the pass over the data
    specs = read_params(work)
    features = specs.features
    built_in = features.preprocessor is None
    counted = _counted_columns(_meta(X), features) if built_in else []
    k = sample_size or default_sample_size(features.n_bins)
    summary = _first_pass(X_parts, y_parts, k, random_state, counted)
    n_rows = int(summary.sizes.sum())
    if built_in:
        _warn_of_lists_read_as_strings(summary.X)
    # The encoding fitted on the uniform sample, its vocabularies from the
    # counts over every row.
    encoder, _ = fit_feature_encoder(
        _take(summary.X, slice(0, k)),
        features,
        counts=ValueCounts(summary.counts, n_rows) if built_in else None,
    )

    task_types, classes = _tasks(summary, specs.targets)
    # The first call fits the tasks and takes one epoch on the sample at the
    # estimator's learning rate; later calls take one epoch each whatever
    # `epochs` says, along one learning-rate schedule (_train_passes).
    work.set_params(task_types=task_types, epochs=1, lr_schedule="constant")
    one_task = _sample_y_ndim(summary.y) == 1
    first = _first_fit_rows(summary, k)
    work._fit(
        _take(summary.X, first),
        _take(summary.y, first),
        None,
        classes[0] if one_task else classes,
        streaming=True,
        encoder=encoder,
    )
    n_passes = specs.training.epochs_for(n_rows) if passes == "auto" else int(passes)
    _train_passes(work, X_parts, y_parts, summary.sizes, n_passes, random_state, specs)
    estimator._set_fitted(work._fitted_state())
    return estimator


def _warn_of_lists_read_as_strings(sample) -> None:
    """Warn of a string column whose every value reads as a list: dask turns
    object columns into strings by default, Python lists too."""
    if not isinstance(sample, pd.DataFrame):
        return
    for label, column in sample.items():
        if not isinstance(column.dtype, pd.StringDtype):
            continue
        text = column.dropna()
        if len(text) and text.str.match(r"^\[.*\]$").all():
            warnings.warn(
                f"Column {label!r} holds strings that read as lists "
                f"({text.iloc[0][:40]!r}); it is encoded as one category per "
                "string. If it held lists of Python objects, dask turned them into "
                "strings (its 'dataframe.convert-string' option): give it an Arrow "
                "list dtype (pd.ArrowDtype(pa.list_(pa.string()))), which dask "
                "keeps, or build the dask frame under "
                "dask.config.set({'dataframe.convert-string': False}).",
                UserWarning,
                stacklevel=3,
            )


def _first_fit_rows(summary: _Summary, k: int) -> np.ndarray:
    """The kept rows the first partial_fit call fits the tasks and takes its
    epoch on: the uniform sample, and for each task with fewer than
    :data:`_TASK_ROWS` labels in it, its labelled rows of smallest key (a
    uniform sample of the rows labelled for it)."""
    keep = np.arange(len(summary.keys)) < k
    for t in range(summary.labelled.shape[1]):
        labelled = np.flatnonzero(summary.labelled[:, t])
        if np.count_nonzero(labelled < k) < _TASK_ROWS:
            keep[labelled[:_TASK_ROWS]] = True
    return np.flatnonzero(keep)


def _sample_y_ndim(y) -> int:
    if isinstance(y, pd.Series):
        return 1
    if isinstance(y, pd.DataFrame):
        return 2
    return np.asarray(y).ndim


def _tasks(summary: _Summary, spec) -> tuple[tuple, list]:
    """Each task's type and classes: types inferred (as fit infers them) from the
    exact distinct labels, classes the exact union."""
    frame = _y_frame(summary.y)
    names = [str(c) for c in frame.columns]
    given = spec.task_types
    if given is not None:
        given = [given] if isinstance(given, str) else list(given)
    types: list[str] = []
    classes: list[np.ndarray | None] = []
    for j, distinct in enumerate(summary.labels):
        name = names[j]
        if distinct is None:
            observed = split_label_column(frame.iloc[:, j]).observed
            kind = (
                given[j]
                if given is not None
                else _infer_task_type(observed, name, spec.kind)
            )
            if TASK_KINDS[kind].is_classification:
                raise ValueError(
                    f"Task {name!r} has more than {MAX_LABELS} distinct labels over "
                    "the data but is a classification task; skmmoe.dask.fit "
                    "collects at most that many classes. Pass task_types with "
                    "'regression' for it if it is one."
                )
            types.append(kind)
            classes.append(None)
            continue
        distinct = np.asarray(distinct)
        kind = (
            given[j]
            if given is not None
            else _infer_task_type(distinct, name, spec.kind)
        )
        types.append(kind)
        classes.append(distinct if TASK_KINDS[kind].is_classification else None)
    return tuple(types), classes


def _steps(order: list[int], sizes: np.ndarray, smallest: int) -> list[list[int]]:
    """The partial_fit calls of the passes, each a list of partitions in
    ``order``: empty partitions left out, and partitions of fewer than
    ``smallest`` rows (2 with batch norm, which cannot train on one row) trained
    with the next ones, the last with the call before, as fit folds a last batch
    of one row into the one before."""
    steps: list[list[int]] = []
    group: list[int] = []
    for i in order:
        if sizes[i] == 0:
            continue
        group.append(i)
        if sizes[group].sum() >= smallest:
            steps.append(group)
            group = []
    if group and steps:
        steps[-1].extend(group)
    elif group:
        steps.append(group)
    return steps


def _train_passes(
    work, X_parts, y_parts, sizes: np.ndarray, n_passes: int, seed: int, specs: Specs
) -> None:
    """``n_passes`` passes of partial_fit over the partitions (``sizes`` rows
    each), each pass in a seeded random order, each call's rows shuffled; the
    next call's partitions are computed while the current one trains (see
    :func:`_steps`). One :class:`~skmmoe._engine.callbacks.LRSchedule`, the
    callback ``fit`` uses, spans the optimizer steps of every call ("plateau",
    which needs a validation loss: constant), so the last partitions, whatever
    they hold, move the model least, as the last steps of ``fit`` do."""
    training = specs.training
    rng = np.random.default_rng([seed, 1])
    order = [int(i) for _ in range(n_passes) for i in rng.permutation(len(X_parts))]
    batch_norm = specs.network.dnn_use_bn
    steps = _steps(order, sizes, 2 if batch_norm else 1)
    if not steps:
        return
    planned = sum(
        len(
            batch_starts(
                int(sizes[s].sum()), training.batch_size, batch_norm=batch_norm
            )
        )
        for s in steps
    )
    schedule = LRSchedule(
        "constant" if training.lr_schedule == "plateau" else training.lr_schedule,
        total_steps=planned,
        learning_rate=training.learning_rate,
    )

    dask, _ = _import_dask()

    def load(step):
        parts = dask.compute(*(X_parts[i] for i in step), *(y_parts[i] for i in step))
        return _concat(parts[: len(step)]), _concat(parts[len(step) :])

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, steps[0])
        for position in range(len(steps)):
            X_part, y_part = pending.result()
            if position + 1 < len(steps):
                pending = pool.submit(load, steps[position + 1])
            rows = rng.permutation(len(X_part))
            work._partial_fit(
                _take(X_part, rows), _take(y_part, rows), None, callbacks=[schedule]
            )
            del X_part, y_part


# -------------------------------------------------------------------- predict
def _blocks(estimator, X, method: str, dtype, columns: list | None, task=None):
    """The estimator's ``method`` (for one task of predict_proba's list when
    ``task`` is given) on each partition of X, one block per partition: for a
    dask Array X a dask Array (1-D when ``columns`` is None, else one column per
    entry); for a dask DataFrame X a dask Series or DataFrame with X's index and
    ``columns`` as its columns. An empty partition (of a filtered frame, say)
    gives an empty block of that dtype and those columns."""
    check_is_fitted(estimator, "network_")
    _, da = _import_dask()
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D dask Array; got {X.ndim}-D.")
        X = X.rechunk({1: -1})  # blocks of whole rows
        empty = np.empty((0,) if columns is None else (0, len(columns)), dtype=dtype)
        if columns is None:
            return X.map_blocks(
                _call, estimator, method, task, empty, meta=empty, drop_axis=1
            )
        return X.map_blocks(
            _call,
            estimator,
            method,
            task,
            empty,
            meta=empty,
            chunks=(X.chunks[0], (len(columns),)),
        )
    if not _is_dask_frame(X) or X.ndim != 2:
        raise TypeError(
            f"X must be a dask DataFrame or a 2-D dask Array; got {type(X).__name__}."
        )
    # Built from a numpy array as every block is, so that pandas gives the empty
    # blocks and the others one dtype (str for numpy strings, object for objects).
    meta: pd.Series | pd.DataFrame = (
        pd.Series(np.empty(0, dtype=dtype))
        if columns is None
        else pd.DataFrame(np.empty((0, len(columns)), dtype=dtype), columns=columns)
    )
    return X.map_partitions(_call_pandas, estimator, method, task, meta, meta=meta)


def _predict_part(part, model, method: str, task):
    out = getattr(model, method)(part)
    return out if task is None else out[task]


def _call(part, model, method: str, task, empty: np.ndarray) -> np.ndarray:
    # The estimator refuses 0 rows, as scikit-learn's do; an empty partition has
    # nothing to predict.
    return empty if len(part) == 0 else _predict_part(part, model, method, task)


def _call_pandas(part, model, method: str, task, meta):
    """A block of ``method`` as a Series or DataFrame like ``meta``, with the
    partition's index."""
    if len(part) == 0:
        return meta.set_axis(part.index)
    out = _predict_part(part, model, method, task)
    if meta.ndim == 1:
        return pd.Series(out, index=part.index, dtype=meta.dtype)
    return pd.DataFrame(
        out, index=part.index, columns=meta.columns, dtype=meta.dtypes.iloc[0]
    )


def _prediction_dtype(estimator) -> np.dtype:
    dtypes = {t.prediction_dtype for t in estimator._fitted_state().tasks}
    return dtypes.pop() if len(dtypes) == 1 else np.dtype(object)


def predict(estimator: _BaseMMOE, X) -> da.Array:
    """Predict every task of a fitted skmmoe estimator on a dask collection, a
    partition at a time, where dask computes it.

    Parameters
    ----------
    estimator : MMOEEstimator, MMOEClassifier or MMOERegressor
        Fitted (by :func:`fit` or any other way).
    X : dask DataFrame or dask Array of shape (n_samples, n_features)

    Returns
    -------
    y_pred : dask Series or DataFrame, or dask Array
        One block per partition of X, as ``estimator.predict`` returns for that
        partition (empty, of the same dtype, for an empty partition). For a dask
        DataFrame X, a dask Series (1-D y) or a dask DataFrame with one column
        per task, named after the tasks, both with X's index; for a dask Array
        X, a dask Array of shape (n_samples,) or (n_samples, n_tasks).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import dask.dataframe as dd
    >>> import skmmoe.dask
    >>> from skmmoe import MMOERegressor
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    >>> y = X.a - X.b
    >>> reg = MMOERegressor(epochs=2, expert_dnn_hidden_units=(16,)).fit(X, y)
    >>> pred = skmmoe.dask.predict(reg, dd.from_pandas(X, npartitions=3))
    >>> np.allclose(pred.compute(), reg.predict(X))
    True
    """
    check_is_fitted(estimator, "network_")
    one_task = estimator._fitted_state().y_ndim == 1
    columns = None if one_task else list(estimator.task_names_)
    return _blocks(estimator, X, "predict", _prediction_dtype(estimator), columns)


def predict_proba(estimator: _BaseMMOE, X) -> da.Array | list[da.Array | None]:
    """Class probabilities of a fitted skmmoe estimator on a dask collection, a
    partition at a time.

    Parameters
    ----------
    estimator : MMOEEstimator or MMOEClassifier
        Fitted, with at least one classification task.
    X : dask DataFrame or dask Array of shape (n_samples, n_features)

    Returns
    -------
    proba : dask DataFrame or dask Array of shape (n_samples, n_classes), or list
        As ``estimator.predict_proba``: for a 1-D y one table, whose columns
        follow ``classes_``; for a 2-D y a list with one entry per task, a table
        for a classification task and None for a task that predicts values. One
        block per partition of X (with no row for an empty one): for a dask
        DataFrame X a dask DataFrame with X's index and the classes as columns,
        for a dask Array X a dask Array.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import dask.dataframe as dd
    >>> import skmmoe.dask
    >>> from skmmoe import MMOEClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    >>> Y = pd.DataFrame({"pos": X.a > 0, "big": X.b > 1})
    >>> clf = MMOEClassifier(epochs=2, expert_dnn_hidden_units=(16,)).fit(X, Y)
    >>> proba = skmmoe.dask.predict_proba(clf, dd.from_pandas(X, npartitions=3))
    >>> [p.compute().shape for p in proba]
    [(300, 2), (300, 2)]
    """
    if not hasattr(estimator, "predict_proba"):
        raise AttributeError(
            f"{type(estimator).__name__} has no classification task, so no "
            "predict_proba."
        )
    check_is_fitted(estimator, "network_")
    state = estimator._fitted_state()
    tasks: list[Any] = state.tasks
    if state.y_ndim == 1:
        return _blocks(
            estimator, X, "predict_proba", np.float64, list(tasks[0].classes_)
        )
    return [
        _blocks(estimator, X, "predict_proba", np.float64, list(task.classes_), t)
        if task.is_classification
        else None
        for t, task in enumerate(tasks)
    ]
