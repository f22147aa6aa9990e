"""The transformers of skmmoe's built-in preprocessor, and the binning they share.

numpy, pandas and scikit-learn only (pyarrow only when an Arrow column arrives), as
scikit-learn keeps ``_hist_gradient_boosting/binning.py`` apart from its
estimators: :class:`CategoryEncoder` (any categorical values -> ordinal codes,
compared as strings), :class:`ListEncoder` (list-valued columns -> ragged ids of
their elements, compared by the same rule), :func:`select_categories` and
:func:`category_counts` (rare values grouped as scikit-learn's ``min_frequency``
and ``max_categories`` group them), :func:`hash_strings` (murmurhash3 buckets),
:func:`numbers_as_float` (numeric, datetime and timedelta columns ->
float64), :class:`CalendarEncoder` (datetime columns -> their seconds and calendar
parts), :func:`bin_edges` (a column's bins, as a gradient-boosted tree's
histogram cuts them), :class:`QuantileBinner` (numbers -> bin index) and
:class:`PiecewiseLinearEncoder` (numbers -> piecewise-linear encoding).
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from numbers import Integral, Real
from operator import attrgetter

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_complex_dtype,
    is_numeric_dtype,
    is_object_dtype,
)
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import Interval, _check_feature_names_in, _fit_context

__all__ = [
    "CALENDAR_PARTS",
    "MAX_NUMERIC_MAGNITUDE",
    "CalendarEncoder",
    "CategoryEncoder",
    "ListEncoder",
    "PiecewiseLinearEncoder",
    "QuantileBinner",
    "RaggedIds",
    "bin_edges",
    "calendar_parts",
    "category_counts",
    "hash_strings",
    "is_list_column",
    "numbers_as_float",
    "select_categories",
    "sum_counts",
]

SPLIT_BLOCK_ROWS = 32_768
"""Rows converted at a time when encoding large data: the float64 temporaries
stay small next to the output."""


def _format_numbers(values: np.ndarray) -> np.ndarray:
    """Numbers as category strings.

    Integers print exactly (no trip through float64, which would merge ids above
    2**53); integral floats print as ints, so that an int column read back as float
    (because of missing values) keeps its categories; other floats print in the
    shortest form of their own precision, so float32 0.1 and float64 0.1 agree.
    """
    if values.dtype.kind in "iu":
        return values.astype(str).astype(object)
    if values.dtype.kind != "f":
        if all(isinstance(v, (Integral, np.integer)) for v in values):
            return np.array([str(int(v)) for v in values], dtype=object)
        values = values.astype(np.float64)
    out = values.astype(str).astype(object)
    f = values.astype(np.float64)
    integral = np.isfinite(f) & (f == np.floor(f)) & (np.abs(f) < 2**53)
    out[integral] = f[integral].astype(np.int64).astype(str)
    return out


_SCALAR_CATEGORIES = (
    pd.Interval,
    pd.Timestamp,
    pd.Timedelta,
    pd.Period,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    np.datetime64,
    np.timedelta64,
)


_LIST_LIKE = (list, tuple, np.ndarray)
"""The Python types of a list-valued row (or element) in an object column."""


class _ListValueError(TypeError):
    """A list where a scalar categorical value belongs; ``example`` is the value."""

    def __init__(self, message: str, example):
        super().__init__(message)
        self.example = example


def _element_as_string(value, column) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (Integral, float, np.floating)):
        return str(_format_numbers(np.array([value]))[0])
    if isinstance(value, _SCALAR_CATEGORIES):
        # pd.cut's intervals, timestamps, periods: their text is exact and stable.
        return str(value)
    if isinstance(value, _LIST_LIKE):
        raise _ListValueError(
            f"Categorical column {column!r} holds lists ({_example(value)}); "
            "list-valued columns are encoded by ListEncoder.",
            value,
        )
    raise TypeError(
        f"Categorical column {column!r} holds a value of type "
        f"{type(value).__name__} ({value!r}); categorical values must be strings, "
        "numbers or booleans."
    )


def category_positions(column: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """A ``category`` column as (each row's position in the categories that occur
    in it, -1 where missing; those categories, in the dtype's order).

    Only the categories that occur: a dtype may declare millions (every user ID)
    of which a batch holds a few, and what is computed per category (its
    text, its lookup) then costs the rows, not the declared categories."""
    codes = column.cat.codes.to_numpy()
    used, positions = np.unique(codes, return_inverse=True)
    present = used >= 0
    # The missing code -1 sorts first: every other position moves down one.
    positions = positions.reshape(-1) - int((~present).sum())
    return positions, pd.Series(column.dtype.categories[used[present]])


def _column_as_strings(column: pd.Series, name) -> np.ndarray:
    """One categorical column as an object array of str, with np.nan for missing."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        positions, categories = category_positions(column)
        out = np.full(len(column), np.nan, dtype=object)
        if len(categories):
            strings = _column_as_strings(categories, name)
            out[positions >= 0] = strings[positions[positions >= 0]]
        return out
    missing = column.isna().to_numpy()
    out = np.full(len(column), np.nan, dtype=object)
    if is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype):
        numeric = column[~missing].to_numpy()
        if numeric.dtype.kind in "iuf":
            out[~missing] = _format_numbers(numeric)
            return out
    observed = column.to_numpy(dtype=object)[~missing]
    kind = infer_dtype(observed, skipna=False)
    if kind == "string":
        out[~missing] = observed
    elif kind == "boolean":
        out[~missing] = observed.astype(bool).astype(str)
    elif kind in ("integer", "floating", "mixed-integer-float"):
        out[~missing] = _format_numbers(observed)
    elif is_complex_dtype(column.dtype) or kind == "complex":
        raise TypeError(
            f"Column {name!r} holds complex values, which skmmoe does not support."
        )
    else:
        out[~missing] = [_element_as_string(v, name) for v in observed]
    return out


def _example(value) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{type(value).__name__} {text}"


def select_categories(
    values, counts, *, min_frequency=None, max_categories=None, n_samples=None
) -> tuple[np.ndarray, np.ndarray]:
    """Split categories into the kept and the infrequent ones, with the meaning of
    scikit-learn's ``OneHotEncoder`` / ``OrdinalEncoder`` parameters.

    Parameters
    ----------
    values : array-like of str of shape (n_categories,)
        Distinct categories, in any order.
    counts : array-like of int of shape (n_categories,)
        How many times each occurs (summed over the columns that share a
        vocabulary, see :func:`sum_counts`).
    min_frequency : int or float, default=None
        An int: categories seen fewer times are infrequent. A float in (0, 1):
        categories seen fewer than ``min_frequency * n_samples`` times are.
    max_categories : int, default=None
        At most this many codes, the one of the infrequent group included: the
        most frequent ``max_categories - 1`` are kept when more would be. Ties are
        broken as scikit-learn breaks them (a stable sort of the counts of the
        sorted categories): of equal counts, the categories that sort last are kept.
    n_samples : int, default=None
        What a float ``min_frequency`` is a share of: the number of rows, missing
        ones included, as in scikit-learn. Required with a float
        ``min_frequency``.

    Returns
    -------
    kept : ndarray of str
        The kept categories, sorted.
    infrequent : ndarray of str
        The infrequent ones, sorted (empty when none is).
    """
    values = np.asarray(values, dtype=object)
    counts = np.asarray(counts, dtype=np.int64)
    order = _string_order(values)
    values, counts = values[order], counts[order]
    if isinstance(min_frequency, Integral):
        infrequent = counts < min_frequency
    elif isinstance(min_frequency, Real):
        if n_samples is None:
            raise ValueError("A float min_frequency needs n_samples.")
        infrequent = counts < min_frequency * n_samples
    else:
        infrequent = np.zeros(len(counts), dtype=bool)
    if (
        max_categories is not None
        and max_categories < len(counts) - infrequent.sum() + 1
    ):
        n_kept = max_categories - 1  # the infrequent group is one output
        if n_kept == 0:
            infrequent[:] = True
        else:
            infrequent[np.argsort(counts, kind="mergesort")[:-n_kept]] = True
    return values[~infrequent], values[infrequent]


def _string_order(strings: np.ndarray) -> np.ndarray:
    """The sorting permutation of an object array of str, sorted as numpy's
    fixed-width strings (code point order, as ``CategoryEncoder.fit`` sorts)."""
    return np.argsort(strings.astype(str), kind="stable")


def sum_counts(pairs) -> tuple[np.ndarray, np.ndarray]:
    """Sum :func:`category_counts` of several columns: ``pairs`` is an iterable of
    ``(values, counts)``; returns the distinct values, sorted, and their total
    counts."""
    pairs = list(pairs)
    if not pairs:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    values = np.concatenate([np.asarray(v, dtype=object) for v, _ in pairs])
    counts = np.concatenate([np.asarray(c, dtype=np.int64) for _, c in pairs])
    return _aggregate(values, counts)


def _aggregate(values: np.ndarray, counts: np.ndarray):
    """Equal strings merged, their counts summed; sorted by string."""
    codes, distinct = pd.factorize(values)
    totals = np.bincount(codes, weights=counts, minlength=len(distinct))
    distinct = np.asarray(distinct, dtype=object)
    order = _string_order(distinct)
    return distinct[order], totals[order].astype(np.int64)


def category_counts(column: pd.Series, name=None, *, max_length=None):
    """The distinct values of one column as strings (sorted) and how many times
    each occurs, missing values aside.

    A scalar column's values are compared as :class:`CategoryEncoder` compares
    them; a list column's (:func:`is_list_column`) elements as
    :class:`ListEncoder` does, each occurrence counted, the first ``max_length``
    of each row only. Sum several columns' counts with :func:`sum_counts` and
    split them with :func:`select_categories`.
    """
    name = column.name if name is None else name
    if is_list_column(column, name):
        elements, _ = _ragged_elements(column, name, max_length=max_length)
        codes, strings = _element_codes(elements, name)
        return _aggregate(strings, np.bincount(codes, minlength=len(strings)))
    if isinstance(column.dtype, pd.CategoricalDtype):
        positions, categories = category_positions(column)
        counts = np.bincount(positions[positions >= 0], minlength=len(categories))
        strings = _column_as_strings(categories, name)
        return _aggregate(strings, counts)
    strings = _column_as_strings(column, name)
    codes, distinct = pd.factorize(strings)
    counts = np.bincount(codes[codes >= 0], minlength=len(distinct))
    return _aggregate(np.asarray(distinct, dtype=object), counts)


def hash_strings(strings, hash_buckets: int) -> np.ndarray:
    """``murmurhash3_32(s, seed=0, positive=True) % hash_buckets`` of each string
    (its UTF-8 bytes), as int64.

    Seeded, so the same in every process and after pickling (unlike Python's
    ``hash``). onnxruntime's ``com.microsoft.MurmurHash3`` operator with
    ``seed=0, positive=1`` on a string tensor gives the same uint32 for the same
    strings, ASCII or not (checked against onnxruntime 1.32 in
    ``tests/test_encoders.py``), so an ONNX graph can repeat the bucketing with
    that operator and a ``Mod``.
    """
    hashed = np.fromiter(
        (murmurhash3_32(s, seed=0, positive=True) for s in strings),
        dtype=np.int64,
        count=len(strings),
    )
    return hashed % hash_buckets


class _VocabularyEncoder(TransformerMixin, BaseEstimator):
    """What :class:`CategoryEncoder` and :class:`ListEncoder` share: the rare-value
    and hashing parameters, the vocabulary and its lookup tables.

    A value's code: its index in ``categories_[j]``; ``len(categories_[j])`` for
    the infrequent ones (``infrequent_categories_[j]``); with ``hash_buckets`` its
    :func:`hash_strings` bucket, and ``categories_[j]`` empty; -1 for a value not
    seen in fit.
    """

    _parameter_constraints: dict = {
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
            None,
        ],
        "max_categories": [Interval(Integral, 1, None, closed="left"), None],
        "hash_buckets": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, *, min_frequency=None, max_categories=None, hash_buckets=None):
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.hash_buckets = hash_buckets

    def _check_params(self) -> None:
        if self.hash_buckets is not None and (
            self.min_frequency is not None or self.max_categories is not None
        ):
            raise ValueError(
                "hash_buckets cannot be combined with min_frequency or "
                "max_categories: hashing keeps no vocabulary to group rare values in."
            )

    @property
    def _groups_rare(self) -> bool:
        return self.min_frequency is not None or self.max_categories is not None

    def _fit_vocabulary(self, columns, counts_of) -> None:
        """Set the vocabulary of each (name, column); ``counts_of(column, name)``
        -> (values, counts, n_samples)."""
        if self.hash_buckets is not None:
            empty = [np.empty(0, dtype=object) for _ in columns]
            self.set_categories(empty)
            return
        kept, infrequent = [], []
        for name, column in columns:
            values, counts, n_samples = counts_of(column, name)
            k, i = select_categories(
                values,
                counts,
                min_frequency=self.min_frequency,
                max_categories=self.max_categories,
                n_samples=n_samples,
            )
            kept.append(k)
            infrequent.append(i)
        self.set_categories(kept, infrequent)

    def set_categories(self, categories, infrequent=None):
        """Set the fitted categories, and the infrequent ones grouped into one code
        (none when ``infrequent`` is None), and the lookup tables made of them."""
        self.categories_ = [np.asarray(c, dtype=object) for c in categories]
        if infrequent is None:
            infrequent = [() for _ in self.categories_]
        self.infrequent_categories_ = [np.asarray(c, dtype=object) for c in infrequent]
        # Kept then infrequent: a position past the kept ones is the infrequent code.
        self._indexes = [
            pd.Index(np.concatenate([c, i]), dtype=object)
            for c, i in zip(self.categories_, self.infrequent_categories_)
        ]
        return self

    def __getstate__(self):
        # The lookup tables are made from categories_ again on unpickling: a
        # pickle or model file holds the categories once (skops stores no
        # pandas Index at all).
        state = dict(super().__getstate__())
        state.pop("_indexes", None)
        return state

    def __setstate__(self, state):
        # Pickles of skmmoe before these parameters existed get their defaults.
        defaults = {"min_frequency": None, "max_categories": None, "hash_buckets": None}
        super().__setstate__({**defaults, **state})
        if "categories_" in state:
            self.set_categories(self.categories_, state.get("infrequent_categories_"))

    @property
    def _n_codes(self) -> list[int]:
        """Each column's number of codes, -1 aside."""
        if self.hash_buckets is not None:
            return [int(self.hash_buckets)] * len(self.categories_)
        return [
            len(c) + (len(i) > 0)
            for c, i in zip(self.categories_, self.infrequent_categories_)
        ]

    @property
    def vocabulary_sizes_(self) -> list[int]:
        """The rows each column's embedding table needs: one per code, and the
        reserved row for unknown and missing values."""
        check_is_fitted(self, "categories_")
        return [n + 1 for n in self._n_codes]

    def _codes(self, j: int, strings: np.ndarray) -> np.ndarray:
        """Codes (int64) of distinct strings of column j; NaN in ``strings`` -> -1."""
        if self.hash_buckets is not None:
            codes = np.full(len(strings), -1, dtype=np.int64)
            present = ~pd.isna(strings)
            codes[present] = hash_strings(strings[present], self.hash_buckets)
            return codes
        codes = self._indexes[j].get_indexer(strings).astype(np.int64)
        return np.minimum(codes, len(self.categories_[j]))

    def get_feature_names_out(self, input_features=None):
        return _check_feature_names_in(self, input_features)


class CategoryEncoder(_VocabularyEncoder):
    """Categorical columns -> ordinal codes, for embeddings.

    Every value is compared as a string (see :func:`_column_as_strings`), so a
    column of mixed types (``["a", 1, True]``) works and an int column that arrives
    as float keeps its codes. ``categories_[j]`` holds the sorted categories seen in
    fit; unknown and missing values get code -1, which the feature encoder maps to
    the reserved id.
    Codes are found by hashing (``pandas.Index.get_indexer``), and for a
    ``category`` column from its category codes, without a per-row Python loop.

    Parameters
    ----------
    min_frequency : int or float, default=None
        Categories seen fewer times in fit (an int), or fewer than
        ``min_frequency * n_samples`` times (a float in (0, 1)), are infrequent:
        they share the code ``len(categories_[j])`` and are listed, sorted, in
        ``infrequent_categories_[j]``. scikit-learn's ``OrdinalEncoder`` meaning;
        missing values count among the samples but are no category.
    max_categories : int, default=None
        At most this many codes per column, the infrequent group's included: the
        most frequent are kept (see :func:`select_categories`).
    hash_buckets : int, default=None
        Instead of a vocabulary, a value's code is its :func:`hash_strings`
        bucket in ``[0, hash_buckets)``, so that values first seen in later
        ``partial_fit`` chunks get codes too; ``categories_[j]`` is then empty.
        Not with ``min_frequency`` or ``max_categories``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        self._check_params()
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        self.n_features_in_ = frame.shape[1]
        columns = [(frame.columns[j], frame.iloc[:, j]) for j in range(frame.shape[1])]
        if self.hash_buckets is not None or self._groups_rare:
            self._fit_vocabulary(
                columns, lambda c, name: (*category_counts(c, name), len(c))
            )
            return self
        categories = []
        for name, column in columns:
            if isinstance(column.dtype, pd.CategoricalDtype):
                # The categories that occur, found from the codes: no per-row strings.
                codes = pd.unique(column.cat.codes.to_numpy())
                used = pd.Series(column.dtype.categories[np.sort(codes[codes >= 0])])
                distinct = _column_as_strings(used, name)
            else:
                strings = _column_as_strings(column, name)
                distinct = pd.unique(strings[~pd.isna(strings)])
            categories.append(np.unique(np.asarray(distinct, dtype=object).astype(str)))
        return self.set_categories(categories)

    def transform(self, X):
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        # float32 holds every code exactly below 2**24 categories, at half the memory.
        exact = max(self._n_codes, default=0) < 2**24
        out = np.empty(frame.shape, dtype=np.float32 if exact else np.float64)
        for j in range(frame.shape[1]):
            column, name = frame.iloc[:, j], frame.columns[j]
            if isinstance(column.dtype, pd.CategoricalDtype):
                # Look up each category that occurs once, then take by position.
                positions, categories = category_positions(column)
                table = np.full(len(categories) + 1, -1, dtype=np.int64)
                if len(categories):
                    table[:-1] = self._codes(j, _column_as_strings(categories, name))
                codes = table[positions]  # position -1 -> table[-1]
            else:
                try:
                    strings = _column_as_strings(column, name)
                except _ListValueError as exc:
                    raise TypeError(
                        f"Column {name!r} was fitted as a scalar categorical column "
                        f"but holds lists ({_example(exc.example)})."
                    ) from None
                # Each distinct string looked up once.
                positions, distinct = pd.factorize(strings)  # missing: -1
                table = self._codes(j, np.asarray(distinct, dtype=object))
                codes = np.append(table, -1)[positions]
            out[:, j] = codes
        return out


def is_list_column(column: pd.Series, name) -> bool:
    """Whether a column holds lists: an Arrow list, large_list or fixed_size_list
    column, or an object column whose values (missing ones aside) are lists,
    tuples or 1-D numpy arrays (as a polars List column arrives through
    ``to_pandas()``). A column of missing values only is no list column.

    Raises TypeError for an object column of both lists and scalar values.
    """
    if isinstance(column.dtype, pd.ArrowDtype):
        return _is_arrow_list(column.dtype.pyarrow_dtype)
    if not is_object_dtype(column.dtype):
        return False
    values = column.to_numpy(dtype=object)
    types = set(map(type, values[~pd.isna(values)]))
    lists = {t for t in types if issubclass(t, _LIST_LIKE)}
    if lists and lists != types:
        scalar = sorted(t.__name__ for t in types - lists)
        raise TypeError(
            f"Column {name!r} holds both lists and scalar values (of type "
            f"{', '.join(scalar)}); a column must be all lists (missing rows aside) "
            "or all scalars."
        )
    return bool(lists)


def _is_arrow_list(arrow_type) -> bool:
    import pyarrow as pa  # an Arrow column: pyarrow is there

    return (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    )


@dataclass(frozen=True)
class RaggedIds:
    """One list column's ids: row i's are ``values[offsets[i]:offsets[i + 1]]``.

    Attributes
    ----------
    values : ndarray of int32 of shape (n_ids,)
    offsets : ndarray of int64 of shape (n_rows + 1,)
        Starts at 0 and ends at ``n_ids``.
    """

    values: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1


def _ragged_elements(column: pd.Series, name, *, max_length=None, fitted=False):
    """A list column's elements, missing ones dropped, and then the first
    ``max_length`` of each row: (elements as a 1-D array, int64 length per row).
    Each reader returns the elements without the missing ones, each row's length
    with them, and which of all the elements are missing.

    A missing row (None, NaN, pd.NA) and an empty list both have length 0.
    """
    if isinstance(column.dtype, pd.ArrowDtype):
        elements, lengths, missing = _arrow_elements(column, name, fitted)
    elif is_object_dtype(column.dtype):
        elements, lengths, missing = _object_elements(column, name, fitted)
    elif column.isna().all():  # a list column whose rows are all missing
        elements, lengths = np.empty(0, dtype=object), np.zeros(len(column), np.int64)
        missing = np.zeros(0, dtype=bool)
    else:
        raise TypeError(_scalar_message(name, column.dtype.name, fitted))
    if missing.any():  # each row's length without its missing elements
        rows = np.repeat(np.arange(len(lengths)), lengths)
        lengths = np.bincount(rows[~missing], minlength=len(lengths)).astype(np.int64)
    if max_length is not None and lengths.max(initial=0) > max_length:
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        elements = elements[np.arange(len(elements)) - starts < max_length]
        lengths = np.minimum(lengths, max_length)
    return elements, lengths


def _scalar_message(name, kind, fitted: bool) -> str:
    if fitted:
        return (
            f"Column {name!r} was fitted as a list column but holds scalar values "
            f"(of type {kind})."
        )
    return f"Column {name!r} holds scalar values (of type {kind}), not lists."


def _arrow_elements(column: pd.Series, name, fitted: bool):
    import pyarrow.compute as pc  # an Arrow column: pyarrow is there

    arrow_type = column.dtype.pyarrow_dtype
    if not _is_arrow_list(arrow_type):
        raise TypeError(_scalar_message(name, str(arrow_type), fitted))
    if _is_arrow_list(arrow_type.value_type):
        raise TypeError(
            f"List column {name!r} holds nested lists ({arrow_type}); its elements "
            "must be scalars."
        )
    arrow = column.array.__arrow_array__()
    lengths = pc.list_value_length(arrow).fill_null(0).to_numpy()
    flat = pc.list_flatten(arrow)  # a missing row emits nothing
    missing = flat.is_null().to_numpy()
    # Nulls dropped in Arrow, so that int64 elements stay int64 (no NaN in float).
    elements = pc.drop_null(flat).to_pandas().to_numpy()
    return elements, lengths.astype(np.int64), missing


def _object_elements(column: pd.Series, name, fitted: bool):
    values = column.to_numpy(dtype=object)
    present = ~pd.isna(values)
    rows = values[present]
    types = set(map(type, rows))
    scalars = sorted(t.__name__ for t in types if not issubclass(t, _LIST_LIKE))
    if scalars:
        raise TypeError(_scalar_message(name, ", ".join(scalars), fitted))
    if any(issubclass(t, np.ndarray) for t in types):
        if any(r.ndim != 1 for r in rows if isinstance(r, np.ndarray)):
            raise TypeError(
                f"List column {name!r} holds numpy arrays that are not 1-D; each "
                "row must be a flat list of scalars."
            )
    lengths = np.zeros(len(values), dtype=np.int64)
    lengths[present] = np.fromiter(map(len, rows), np.int64, len(rows))
    dtypes = set(map(attrgetter("dtype"), rows)) if types == {np.ndarray} else set()
    if len(dtypes) == 1 and next(iter(dtypes)).kind != "O":
        # polars' lists: one typed array per row, joined without boxing.
        elements = np.concatenate(list(rows)) if len(rows) else np.empty(0)
        missing = np.asarray(pd.isna(elements))
        return elements[~missing], lengths, missing
    elements = np.fromiter(
        itertools.chain.from_iterable(rows), dtype=object, count=int(lengths.sum())
    )
    missing = pd.isna(elements)
    elements = elements[~missing]
    return _typed_elements(elements, name), lengths, missing


def _typed_elements(elements: np.ndarray, name) -> np.ndarray:
    """An object array of elements checked (no nested list, not strings and
    numbers mixed) and, when all are ints, floats or bools, converted to that
    numpy type, whose distinct values are found without boxing."""
    types = set(map(type, elements))
    if any(issubclass(t, _LIST_LIKE) for t in types):
        raise TypeError(
            f"List column {name!r} holds nested lists; its elements must be scalars."
        )
    strings = {t for t in types if issubclass(t, str)}
    if strings and strings != types:
        others = sorted(t.__name__ for t in types - strings)
        raise TypeError(
            f"List column {name!r} mixes strings and numbers (elements of type str "
            f"and {', '.join(others)}); give its elements one type."
        )
    if not types or strings:
        return elements
    if all(issubclass(t, (bool, np.bool_)) for t in types):
        return elements.astype(bool)
    if all(issubclass(t, (float, np.float64)) for t in types):
        return elements.astype(np.float64)
    if all(
        issubclass(t, (Integral, np.integer)) and not issubclass(t, (bool, np.bool_))
        for t in types
    ):
        try:
            return elements.astype(np.int64)
        except OverflowError:  # beyond int64: formatted one by one
            return elements
    return elements


def _element_codes(elements: np.ndarray, name) -> tuple[np.ndarray, np.ndarray]:
    """Elements (no missing one) -> (int64 code per element, its distinct
    strings): each element's string as :func:`_column_as_strings` makes it, found
    for each distinct value once."""
    if elements.dtype.kind in "iufb":
        # Equal numbers have equal strings: format the distinct ones only.
        codes, distinct = pd.factorize(elements)
        strings = _column_as_strings(pd.Series(distinct), name)
    elif infer_dtype(elements, skipna=False) == "string":
        codes, strings = pd.factorize(elements)
    else:
        codes, strings = pd.factorize(_column_as_strings(pd.Series(elements), name))
    # Distinct values with one string (1 and 1.0 in an object list) merged.
    merged, strings = pd.factorize(np.asarray(strings, dtype=object))
    return merged[codes].astype(np.int64), np.asarray(strings, dtype=object)


# auto_wrap_output_keys=None: transform returns RaggedIds, which set_output must
# not wrap (scikit-learn's __init_subclass__ keyword, which mypy does not know).
class ListEncoder(_VocabularyEncoder, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """List-valued columns -> the ids of their elements, for pooled embeddings.

    Each row of a column is a list of values (a user's recent items, a film's
    genres): Python lists, tuples or 1-D numpy arrays in an object column (a
    polars List column's ``to_pandas()``), or an Arrow list column. Elements are
    compared as strings by :class:`CategoryEncoder`'s rule, so that the element 7
    and the scalar category 7 are the same string "7" and columns can share an
    embedding table. A column's elements are all strings or all non-strings
    (numbers, booleans); missing elements (None, NaN) are dropped.

    :meth:`transform` returns one :class:`RaggedIds` per column: id 0 for an
    element not seen in fit, ``k + 1`` for ``categories_[j][k]``,
    ``len(categories_[j]) + 1`` for an infrequent one, and with ``hash_buckets``
    its bucket + 1. A missing row (None, NaN, pd.NA) and an empty list are rows
    of no ids.

    Parameters
    ----------
    max_length : int, default=None
        Keep the first ``max_length`` elements of each row (missing elements
        dropped first), in fit too; None keeps them all.
    min_frequency : int or float, default=None
        Elements occurring fewer times in fit (an int; each occurrence counts,
        duplicates within a row too), or fewer than ``min_frequency * n_rows``
        times (a float in (0, 1): a share of the rows, as ``CountVectorizer``'s
        ``min_df`` is a share of the documents), are infrequent and share one id.
    max_categories : int, default=None
        At most this many ids per column besides the unknown one, the infrequent
        group's included: the most frequent elements are kept
        (:func:`select_categories`).
    hash_buckets : int, default=None
        Instead of a vocabulary, an element's id is its :func:`hash_strings`
        bucket + 1; ``categories_[j]`` is then empty. Not with ``min_frequency``
        or ``max_categories``.

    Attributes
    ----------
    categories_ : list of ndarray of str
        Each column's kept elements, sorted.
    infrequent_categories_ : list of ndarray of str
        Each column's infrequent elements, sorted (empty when none is).
    vocabulary_sizes_ : list of int
        The rows each column's embedding table needs, the reserved row 0 included.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmmoe._encoders import ListEncoder
    >>> X = pd.DataFrame({"genres": [["drama", "war"], None, ["comedy"]]})
    >>> encoder = ListEncoder().fit(X)
    >>> encoder.categories_[0].tolist()
    ['comedy', 'drama', 'war']
    >>> ids = encoder.transform(pd.DataFrame({"genres": [["war", "noir"], []]}))[0]
    >>> ids.values.tolist(), ids.offsets.tolist()
    ([3, 0], [0, 2, 2])
    """

    _parameter_constraints: dict = {
        **_VocabularyEncoder._parameter_constraints,
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        max_length=None,
        min_frequency=None,
        max_categories=None,
        hash_buckets=None,
    ):
        super().__init__(
            min_frequency=min_frequency,
            max_categories=max_categories,
            hash_buckets=hash_buckets,
        )
        self.max_length = max_length

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        self._check_params()
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], object)
        columns = [(frame.columns[j], frame.iloc[:, j]) for j in range(frame.shape[1])]
        self._fit_vocabulary(columns, self._counts)
        return self

    def _counts(self, column: pd.Series, name):
        elements, _ = _ragged_elements(column, name, max_length=self.max_length)
        codes, strings = _element_codes(elements, name)
        return strings, np.bincount(codes, minlength=len(strings)), len(column)

    def transform(self, X) -> list[RaggedIds]:
        check_is_fitted(self, "categories_")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        if frame.shape[1] != len(self.categories_):
            raise ValueError(
                f"X has {frame.shape[1]} columns, but ListEncoder was fitted with "
                f"{len(self.categories_)}."
            )
        out = []
        for j in range(frame.shape[1]):
            column, name = frame.iloc[:, j], frame.columns[j]
            elements, lengths = _ragged_elements(
                column, name, max_length=self.max_length, fitted=True
            )
            codes, strings = _element_codes(elements, name)
            ids = (self._codes(j, strings) + 1).astype(np.int32)[codes]
            offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            out.append(RaggedIds(ids, offsets))
        return out


MAX_NUMERIC_MAGNITUDE = 1e150
"""The largest magnitude of a numeric value: the standardisation's variance sums
squares of the values in float64, which stay finite for up to 1e8 rows below it."""

_TICKS_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _is_time_dtype(dtype) -> bool:
    """Datetime (kind "M") or timedelta (kind "m"): numpy's, pandas' tz-aware, and
    Arrow's timestamp and duration dtypes."""
    return getattr(dtype, "kind", None) in ("m", "M")


def _seconds(column: pd.Series) -> np.ndarray:
    """A datetime column as seconds since 1970-01-01 UTC (tz-aware ones converted
    to UTC, naive ones read as UTC), a timedelta column as seconds; NaT as NaN.
    Computed from the integer ticks of the column's own unit, so the same instants
    give the same numbers whatever the resolution (s, ms, us or ns) they arrive
    in."""
    if isinstance(column.dtype, pd.ArrowDtype):
        return _arrow_seconds(column)
    if column.dtype.kind == "M" and column.dt.tz is not None:
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    values = column.to_numpy()
    unit = np.datetime_data(values.dtype)[0]
    if unit not in _TICKS_PER_SECOND:  # coarser units (days, ...) are exact in us
        values = values.astype(values.dtype.str[:3] + "8[us]")
        unit = "us"
    missing = np.isnat(values)
    seconds = values.view(np.int64).astype(np.float64) / _TICKS_PER_SECOND[unit]
    seconds[missing] = np.nan
    return seconds


def _arrow_seconds(column: pd.Series) -> np.ndarray:
    """:func:`_seconds` of an Arrow timestamp or duration column, read from its
    integer ticks (Arrow keeps a tz-aware timestamp's UTC instant) through the
    Arrow array protocol, which pandas 2.0 already offers."""
    import pyarrow as pa  # an Arrow column: pyarrow is there

    arrow = column.array.__arrow_array__()
    if pa.types.is_date(arrow.type):  # days (date32) or ms (date64): no unit
        arrow = arrow.cast(pa.timestamp("ms"))
    ticks = arrow.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return ticks.astype(np.float64) / _TICKS_PER_SECOND[arrow.type.unit]  # null: NaN


def numbers_as_float(X) -> np.ndarray:
    """Numeric columns as float64 with np.nan for missing; datetime and timedelta
    columns as seconds (:func:`_seconds`); inf and complex rejected.

    float64, not the network's float32: the imputation, scaling and binning that
    follow need the full precision of columns with a large offset (timestamps,
    amounts in cents, large ids), whose steps float32 would round away (at 1e9
    its step is 128); the encoded values are cast to float32 once scaled."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    columns = []
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        name = frame.columns[j]
        if is_complex_dtype(column.dtype):
            raise TypeError(
                f"Column {name!r} holds complex values, which skmmoe does not support."
            )
        if _is_time_dtype(column.dtype):
            columns.append(_seconds(column))
            continue
        try:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Numeric column {name!r} holds values that are not numbers "
                f"(dtype {column.dtype}); mark it as categorical or convert it."
            ) from exc
        if np.isinf(values).any():
            raise ValueError(
                f"Column {name!r} contains infinity; skmmoe imputes missing values "
                "(NaN) but cannot use infinite ones. Replace them first."
            )
        if (np.abs(values) > MAX_NUMERIC_MAGNITUDE).any():
            raise ValueError(
                f"Column {name!r} holds values beyond +-{MAX_NUMERIC_MAGNITUDE:g} "
                f"(up to {np.nanmax(np.abs(values)):.3g}), whose squares overflow "
                "float64 when the column is scaled; rescale it."
            )
        columns.append(values)
    if not columns:
        return np.empty((frame.shape[0], 0), dtype=np.float64)
    return np.column_stack(columns)


class _QuantileBins(TransformerMixin, BaseEstimator):
    """Learns each column's bin edges (:func:`bin_edges`) in fit.

    Parameters
    ----------
    n_bins : int
        The estimator's ``n_bins``.
    """

    _edges_at_values = False

    def __init__(self, *, n_bins):
        self.n_bins = n_bins

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        return self.set_bin_edges(
            [
                bin_edges(X[:, j], self.n_bins, at_values=self._edges_at_values)
                for j in range(X.shape[1])
            ]
        )

    def set_bin_edges(self, bin_edges) -> _QuantileBins:
        """Set the fitted bin edges (``skmmoe.load`` rebuilds encoders this way)."""
        self.bin_edges_ = [np.asarray(e, dtype=np.float64) for e in bin_edges]
        return self


class QuantileBinner(_QuantileBins):
    """Numbers -> the index of their bin (:func:`bin_edges`), for embeddings.

    Missing values stay NaN, which the feature encoder maps to the reserved id.

    Parameters
    ----------
    n_bins : int
    """

    def set_bin_edges(self, bin_edges) -> QuantileBinner:
        super().set_bin_edges(bin_edges)
        self.categories_ = [np.arange(max(len(e) - 1, 1)) for e in self.bin_edges_]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        out = np.empty(X.shape, dtype=np.float32)
        for j, edges in enumerate(self.bin_edges_):
            codes = np.searchsorted(edges[1:-1], X[:, j], side="right").astype(float)
            codes[np.isnan(X[:, j])] = np.nan
            out[:, j] = codes
        return out

    def get_feature_names_out(self, input_features=None):
        names = _check_feature_names_in(self, input_features)
        return np.asarray([f"{name}_bin" for name in names], dtype=object)


class PiecewiseLinearEncoder(_QuantileBins):
    """Piecewise-linear encoding of numbers (Gorishniy et al., NeurIPS 2022).

    With bin edges b_0 < ... < b_T of the training data (:func:`bin_edges`:
    quantiles, with point masses and few-valued columns binned value by value;
    Gorishniy et al.'s quantile variant, PLE-Q), a value x becomes
    T numbers: component t is 0 below bin t, 1 above it, and the position of x
    within it in between; the first component may go below 0 and the last above 1,
    so values outside the training range stay distinguishable. Input must have no
    missing values (impute first).

    Parameters
    ----------
    n_bins : int
    """

    _edges_at_values = True

    def transform(self, X):
        X = np.asarray(X)
        widths = [max(len(edges) - 1, 1) for edges in self.bin_edges_]
        # Written into one float32 array, a column and a block of rows at a time:
        # the float64 temporaries stay small next to the output.
        out = np.zeros((X.shape[0], sum(widths)), dtype=np.float32)
        offsets = np.cumsum([0] + widths)
        for j, edges in enumerate(self.bin_edges_):
            if len(edges) < 2:  # a constant column carries no information
                continue
            lo, hi = edges[:-1], edges[1:]
            for start in range(0, X.shape[0], SPLIT_BLOCK_ROWS):
                rows = slice(start, start + SPLIT_BLOCK_ROWS)
                x = X[rows, j : j + 1].astype(np.float64)
                block = (x - lo) / (hi - lo)
                block[:, 1:] = np.maximum(block[:, 1:], 0.0)
                block[:, :-1] = np.minimum(block[:, :-1], 1.0)
                out[rows, offsets[j] : offsets[j + 1]] = block
        return out

    def get_feature_names_out(self, input_features=None):
        names = []
        names_in = _check_feature_names_in(self, input_features)
        for name, edges in zip(names_in, self.bin_edges_):
            names += [f"{name}_ple{t}" for t in range(max(len(edges) - 1, 1))]
        return np.asarray(names, dtype=object)


def bin_edges(
    column: np.ndarray, n_bins: int, *, at_values: bool = False
) -> np.ndarray:
    """Bin edges of one numeric column that keep its information whatever its
    distribution.

    - Few distinct values: one bin per value, the edges halfway between
      consecutive values (as HistGradientBoosting bins such columns), so a
      small-integer column is told apart value by value. With ``at_values=True``
      (for the piecewise-linear encoding) the edges are the values themselves, so
      that the encoding of each value is the thermometer code of its rank and a 0/1
      column stays one 0/1 input; "few" is then at most ``n_bins + 1`` values,
      else at most ``n_bins``.
    - Otherwise quantile bins, except that a value holding more than one bin's
      share of the rows (a point mass, such as the 0 of an amount that is zero for
      most rows) gets a bin of its own, edges halfway to its neighbours; the other
      bins are quantiles of the remaining values. Plain quantiles would spend most
      edges on the point mass, where they collapse into one, and leave one or two
      bins for the rest of the column.

    Missing values (NaN) are ignored. Returns the sorted edges b_0 < ... < b_T:
    T <= n_bins bins unless many point masses need more, a single edge for a
    constant column, and ``[0.0]`` for a column with no observed value.
    """
    observed = column[~np.isnan(column)].astype(np.float64)
    if observed.size == 0:
        return np.zeros(1)
    values, counts = np.unique(observed, return_counts=True)
    if at_values and len(values) <= n_bins + 1:
        return values
    if len(values) <= n_bins:
        middles = (values[:-1] + values[1:]) / 2.0
        return np.unique(np.concatenate([values[:1], middles, values[-1:]]))
    atoms = _point_masses(counts, n_bins)
    halfway = []  # edges halfway from each point mass to its neighbours
    for i in np.flatnonzero(atoms):
        if i > 0:
            halfway.append((values[i - 1] + values[i]) / 2.0)
        if i < len(values) - 1:
            halfway.append((values[i] + values[i + 1]) / 2.0)
    around = np.unique(np.asarray(halfway, dtype=np.float64))
    rest = np.repeat(values[~atoms], counts[~atoms])
    n_rest_bins = max(n_bins - len(around), 1)
    # Observed values as quantiles, so that no edge falls into a point mass's bin.
    quantiles = np.quantile(
        rest, np.linspace(0.0, 1.0, n_rest_bins + 1), method="inverted_cdf"
    )
    return np.unique(np.concatenate([values[:1], around, quantiles[1:-1], values[-1:]]))


def _point_masses(counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Which distinct values hold more than one bin's share of the rows left once
    the heavier point masses have their own bins."""
    atoms = np.zeros(len(counts), dtype=bool)
    while True:
        bins_left = n_bins - int(atoms.sum())
        rows_left = int(counts[~atoms].sum())
        heavy = ~atoms & (counts * bins_left > rows_left)
        if bins_left <= 1 or not heavy.any():
            return atoms
        atoms |= heavy


CALENDAR_PARTS = ("hour", "weekday", "day", "month")
"""The calendar parts :class:`CalendarEncoder` adds to a datetime column's
seconds: the hour of the day (0-23), the day of the week (Monday 0), the day of
the month (1-31) and the month (1-12), all of the UTC clock."""


def calendar_parts(seconds: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`CALENDAR_PARTS` of instants given as seconds since 1970-01-01
    UTC (float64, NaN for missing), as float64 (NaN where missing).

    Computed with floor divisions only (the month and the day of the month by
    Howard Hinnant's ``civil_from_days``), which the ONNX graph repeats operation
    for operation, so both give the same numbers."""
    days = np.floor(seconds / 86400.0)
    hour = np.clip(np.floor((seconds - days * 86400.0) / 3600.0), 0.0, 23.0)
    shifted = days + 3.0  # 1970-01-01 was a Thursday: Monday is 0
    weekday = shifted - 7.0 * np.floor(shifted / 7.0)
    z = days + 719468.0
    era = np.floor(z / 146097.0)
    doe = z - era * 146097.0
    yoe = np.floor(
        (
            doe
            - np.floor(doe / 1460.0)
            + np.floor(doe / 36524.0)
            - np.floor(doe / 146096.0)
        )
        / 365.0
    )
    doy = doe - (365.0 * yoe + np.floor(yoe / 4.0) - np.floor(yoe / 100.0))
    mp = np.floor((5.0 * doy + 2.0) / 153.0)
    day = doy - np.floor((153.0 * mp + 2.0) / 5.0) + 1.0
    month = np.where(mp >= 10.0, mp - 9.0, mp + 3.0)
    return {"hour": hour, "weekday": weekday, "day": day, "month": month}


class CalendarEncoder(TransformerMixin, BaseEstimator):
    """Datetime columns -> their seconds and the calendar parts that vary.

    Each column becomes its seconds since 1970-01-01 UTC (as
    :func:`numbers_as_float` reads it: at full precision, NaT missing) followed by
    those of its :data:`CALENDAR_PARTS` (hour, day of the week, day of the month,
    month) that take more than one value in fit, so that periodic effects (a
    daily or weekly rhythm, a season), which the seconds alone spread over many
    bins, are inputs of their own; a column of dates gets no hour. The parts are
    those of the UTC clock: for a tz-aware column, give local wall-clock times
    (``column.dt.tz_localize(None)``) to learn a local rhythm.
    """

    def fit(self, X, y=None):
        seconds = numbers_as_float(X)
        self.n_features_in_ = seconds.shape[1]
        self.parts_ = []
        for j in range(seconds.shape[1]):
            parts = calendar_parts(seconds[:, j])
            self.parts_.append(
                [p for p in CALENDAR_PARTS if len(np.unique(_observed(parts[p]))) > 1]
            )
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], object)
        return self

    def transform(self, X):
        seconds = numbers_as_float(X)
        columns = []
        for j, parts in enumerate(self.parts_):
            values = calendar_parts(seconds[:, j])
            columns += [seconds[:, j], *(values[p] for p in parts)]
        return np.column_stack(columns) if columns else seconds

    def get_feature_names_out(self, input_features=None):
        names = _check_feature_names_in(self, input_features)
        out = []
        for name, parts in zip(names, self.parts_):
            out += [str(name), *(f"{name}_{p}" for p in parts)]
        return np.asarray(out, dtype=object)


def _observed(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]
