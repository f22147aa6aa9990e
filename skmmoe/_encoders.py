"""The transformers of skmmoe's built-in preprocessor, and the binning they share.

numpy, pandas and scikit-learn only, as scikit-learn keeps
``_hist_gradient_boosting/binning.py`` apart from its estimators:
:class:`CategoryEncoder` (any categorical values -> ordinal codes, compared as
strings), :func:`numbers_as_float` (numeric, datetime and timedelta columns ->
float64), :class:`CalendarEncoder` (datetime columns -> their seconds and calendar
parts), :func:`bin_edges` (a column's bins, as a gradient-boosted tree's
histogram cuts them), :class:`QuantileBinner` (numbers -> bin index) and
:class:`PiecewiseLinearEncoder` (numbers -> piecewise-linear encoding).
"""

from __future__ import annotations

import datetime
from numbers import Integral

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_complex_dtype,
    is_numeric_dtype,
)
from sklearn.base import BaseEstimator, TransformerMixin

from ._sklearn_compat import _check_feature_names_in

__all__ = [
    "CALENDAR_PARTS",
    "MAX_NUMERIC_MAGNITUDE",
    "CalendarEncoder",
    "CategoryEncoder",
    "PiecewiseLinearEncoder",
    "QuantileBinner",
    "bin_edges",
    "calendar_parts",
    "numbers_as_float",
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
    raise TypeError(
        f"Categorical column {column!r} holds a value of type "
        f"{type(value).__name__} ({value!r}); categorical values must be strings, "
        "numbers or booleans."
    )


def _column_as_strings(column: pd.Series, name) -> np.ndarray:
    """One categorical column as an object array of str, with np.nan for missing."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        out = np.full(len(column), np.nan, dtype=object)
        if len(column.dtype.categories):
            categories = _column_as_strings(pd.Series(column.dtype.categories), name)
            out[codes >= 0] = categories[codes[codes >= 0]]
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


class CategoryEncoder(TransformerMixin, BaseEstimator):
    """Categorical columns -> ordinal codes, for embeddings.

    Every value is compared as a string (see :func:`_column_as_strings`), so a
    column of mixed types (``["a", 1, True]``) works and an int column that arrives
    as float keeps its codes. ``categories_[j]`` holds the sorted categories seen in
    fit; unknown and missing values get code -1, which the feature encoder maps to
    the reserved id.
    Codes are found by hashing (``pandas.Index.get_indexer``), and for a
    ``category`` column from its category codes, without a per-row Python loop.
    """

    def fit(self, X, y=None):
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        categories = []
        for j in range(frame.shape[1]):
            column, name = frame.iloc[:, j], frame.columns[j]
            if isinstance(column.dtype, pd.CategoricalDtype):
                # The categories that occur, found from the codes: no per-row strings.
                codes = pd.unique(column.cat.codes.to_numpy())
                used = pd.Series(column.dtype.categories[np.sort(codes[codes >= 0])])
                distinct = _column_as_strings(used, name)
            else:
                strings = _column_as_strings(column, name)
                distinct = pd.unique(strings[~pd.isna(strings)])
            categories.append(np.unique(np.asarray(distinct, dtype=object).astype(str)))
        self.n_features_in_ = frame.shape[1]
        return self.set_categories(categories)

    def set_categories(self, categories) -> CategoryEncoder:
        """Set the fitted categories (and the lookup tables made of them)."""
        self.categories_ = [np.asarray(c, dtype=object) for c in categories]
        self._indexes = [pd.Index(c, dtype=object) for c in self.categories_]
        return self

    def __getstate__(self):
        # The lookup tables are made from categories_ again on unpickling: a
        # pickle or model file holds the categories once (skops stores no
        # pandas Index at all).
        state = dict(super().__getstate__())
        state.pop("_indexes", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "categories_" in state:
            self.set_categories(self.categories_)

    def transform(self, X):
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        # float32 holds every code exactly below 2**24 categories, at half the memory.
        exact = max((len(c) for c in self.categories_), default=0) < 2**24
        out = np.empty(frame.shape, dtype=np.float32 if exact else np.float64)
        for j in range(frame.shape[1]):
            column, name = frame.iloc[:, j], frame.columns[j]
            index = self._indexes[j]
            if isinstance(column.dtype, pd.CategoricalDtype):
                # Look up each category once, then take by the category codes.
                table = np.full(len(column.dtype.categories) + 1, -1, dtype=np.int64)
                if len(column.dtype.categories):
                    names = _column_as_strings(pd.Series(column.dtype.categories), name)
                    table[:-1] = index.get_indexer(names)
                codes = table[column.cat.codes.to_numpy()]  # code -1 -> table[-1]
            else:
                strings = _column_as_strings(column, name)
                codes = index.get_indexer(strings)
                codes[pd.isna(strings)] = -1
            out[:, j] = codes
        return out

    def get_feature_names_out(self, input_features=None):
        return _check_feature_names_in(self, input_features)


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
