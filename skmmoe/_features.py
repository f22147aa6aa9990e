"""Raw X -> ColumnTransformer -> the feature columns the network receives.

Categorical columns become ordinal codes shifted by one, so that index 0 is reserved for
unknown and missing categories; each feeds an embedding. Numeric columns are imputed
(with a missing-value indicator where the training data had gaps) and standardised; they
form the dense input.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_object_dtype,
    is_string_dtype,
)
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ._encoders import (
    SPLIT_BLOCK_ROWS,
    CalendarEncoder,
    CategoryEncoder,
    ListEncoder,
    PiecewiseLinearEncoder,
    QuantileBinner,
    _column_as_strings,
    category_counts,
    is_list_column,
    numbers_as_float,
    select_categories,
    sum_counts,
)
from ._sklearn_compat import _safe_indexing

if TYPE_CHECKING:
    from ._params import FeatureSpec

__all__ = [
    "NUMERIC_ENCODINGS",
    "Encoded",
    "FeatureColumn",
    "FeatureEncoder",
    "ValueCounts",
    "fit_feature_encoder",
]

# The names of the built-in preprocessor's transformers and pipeline steps, which
# skmmoe.dask and the reader of format-2 model files (_legacy_format2.py) find
# them by.
CATEGORICAL, NUMERIC, NUMERIC_BINS = "categorical", "numeric", "numeric_bins"
DATETIME, DATETIME_BINS = "datetime", "datetime_bins"
AS_FLOAT, IMPUTE, SCALE, BINS, PLE = "as_float", "impute", "scale", "bins", "ple"
CALENDAR = "calendar"
HASHED = "categorical_hashed"
"""The name of the transformer of the categorical columns hashed into n buckets
is ``f"{HASHED}_{n}"``."""


@dataclass(frozen=True)
class FeatureColumn:
    """One input of the network.

    Attributes
    ----------
    name : str
        Output feature name of the preprocessor.
    kind : {"sparse", "list", "dense"}
        ``"sparse"``: integer ids looked up in an embedding table; ``"list"``: a
        list of ids per row, their embeddings pooled by ``combiner``;
        ``"dense"``: one float passed to the experts and gates as it is.
    vocabulary_size : int or None
        Rows of the embedding table, including index 0 reserved for unknown and
        missing categories. None for dense columns.
    embedding_dim : int or None
        Width of the embedding. None for dense columns.
    table : int or None
        The embedding table's number; columns that share a table
        (``shared_embeddings``) have the same. None for dense columns (and in
        model files written before tables could be shared: one table each).
    combiner : {"mean", "sum", "max"} or None
        How a list column's embeddings are pooled; None for other columns.
    """

    name: str
    kind: str
    vocabulary_size: int | None = None
    embedding_dim: int | None = None
    table: int | None = None
    combiner: str | None = None


def is_categorical_dtype_auto(dtype) -> bool:
    """Whether ``categorical_features='auto'`` treats a column of this dtype as
    categorical: object, string, category and bool columns."""
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or is_bool_dtype(dtype)
        or is_object_dtype(dtype)
        or is_string_dtype(dtype)
    )


def resolve_categorical_mask(X, categorical_features) -> np.ndarray:
    """Boolean mask over the columns of X telling which are categorical.

    Parameters
    ----------
    X : DataFrame or ndarray of shape (n_samples, n_features)
    categorical_features : "auto", None, array-like of str, int or bool
        "auto" picks object, string, category and bool columns of a DataFrame (none of
        an array); None means no categorical columns.
    """
    n_features = X.shape[1]
    if categorical_features is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(categorical_features, str):
        if categorical_features != "auto":
            raise ValueError(
                "categorical_features must be 'auto', None, or an array-like of "
                f"column names, indices or booleans; got {categorical_features!r} "
                "(to name one column, pass a list)."
            )
        if not hasattr(X, "dtypes"):
            return np.zeros(n_features, dtype=bool)
        return np.array([is_categorical_dtype_auto(dt) for dt in X.dtypes], dtype=bool)

    spec = np.asarray(categorical_features)
    if spec.size == 0:
        return np.zeros(n_features, dtype=bool)
    if spec.dtype.kind == "b":
        if spec.shape != (n_features,):
            raise ValueError(
                "categorical_features as a boolean mask must have one entry per "
                f"feature ({n_features}), got shape {spec.shape}."
            )
        return spec.astype(bool)
    mask = np.zeros(n_features, dtype=bool)
    if spec.dtype.kind in "iu":
        if spec.min() < -n_features or spec.max() >= n_features:
            raise ValueError(
                f"categorical_features holds indices out of range for {n_features} "
                f"features: {spec.tolist()}."
            )
        mask[spec] = True
        return mask
    if spec.dtype.kind in "OU":
        if not hasattr(X, "columns"):
            raise ValueError(
                "categorical_features given as column names needs X to be a "
                "DataFrame; pass indices or a boolean mask for an array."
            )
        names = [str(c) for c in X.columns]
        unknown = [str(s) for s in spec if str(s) not in names]
        if unknown:
            raise ValueError(
                f"categorical_features names columns not in X: {unknown}. "
                f"X has columns {names}."
            )
        wanted = {str(s) for s in spec}
        return np.array([n in wanted for n in names], dtype=bool)
    raise TypeError(
        "categorical_features must be 'auto', None, or an array-like of column "
        f"names, indices or booleans; got dtype {spec.dtype}."
    )


def _reserved_index_codes(codes: np.ndarray, vocabulary_size) -> np.ndarray:
    """Ordinal codes -> ids: code + 1, with anything unknown or missing (NaN,
    negative, or past the vocabulary) at the reserved index 0.

    ``codes`` of shape (n,) or (n, k), with one vocabulary size per column."""
    ids = np.where(np.isfinite(codes), codes, -1.0) + 1.0
    ids[(ids < 0) | (ids >= vocabulary_size)] = 0
    return ids.astype(np.int32)


def _final_step(transformer):
    while isinstance(transformer, Pipeline):
        transformer = transformer.steps[-1][1]
    return transformer


def _n_known_categories(categories) -> int:
    return int(sum(1 for c in categories if not pd.isna(c)))


NUMERIC_ENCODINGS = (
    "scaled",
    "quantile_embedding",
    "piecewise_linear",
    "scaled+embedding",
    "piecewise_linear+embedding",
)
"""The choices of ``numeric_encoding``: a dense encoding, a bin embedding, or both
(``"+embedding"``)."""

_FLOAT32_MAX = float(np.finfo(np.float32).max)

TRANSFORM_BLOCK_ROWS = 262_144
"""Rows the preprocessor transforms at a time when encoding large data."""


def _numeric_steps(dense_encoding: str, n_bins: int, *, dates: bool = False) -> list:
    """The steps of a numeric pipeline: the numbers (``dates``: datetimes with
    their calendar parts), then ``dense_encoding``'s."""
    as_float = (
        (CALENDAR, CalendarEncoder())
        if dates
        else (
            AS_FLOAT,
            FunctionTransformer(numbers_as_float, feature_names_out="one-to-one"),
        )
    )
    impute = (
        IMPUTE,
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
    )
    steps = {
        "scaled": [as_float, impute, (SCALE, StandardScaler())],
        "quantile_embedding": [as_float, (BINS, QuantileBinner(n_bins=n_bins))],
        "piecewise_linear": [
            as_float,
            impute,
            (PLE, PiecewiseLinearEncoder(n_bins=n_bins)),
        ],
    }
    return steps[dense_encoding]


def make_default_preprocessor(
    cat_mask: np.ndarray,
    columns,
    numeric_encoding: str,
    n_bins: int,
    date_mask: np.ndarray | None = None,
    *,
    min_frequency=None,
    max_categories=None,
    hash_buckets=None,
) -> ColumnTransformer:
    """The ColumnTransformer skmmoe builds when the user gives none.

    Categorical columns: :class:`CategoryEncoder` (unknown and missing -> -1, then
    the reserved id). Numeric columns by ``numeric_encoding``: "scaled" (median
    imputation with missing indicators, standardisation: dense inputs),
    "quantile_embedding" (bins from :func:`bin_edges` as categories: embeddings,
    missing values at the reserved id), "piecewise_linear" (imputation, then a
    piecewise-linear encoding over those bins: dense inputs); with "+embedding"
    the dense encoding and, as a second transformer ``numeric_bins``, the bin
    embedding of every numeric column. Datetime columns (``date_mask``) are
    numeric columns of their own, ``datetime`` and ``datetime_bins``, whose
    pipelines start with their calendar parts (:class:`CalendarEncoder`).
    Categorical columns group rare values by ``min_frequency`` and
    ``max_categories``; those with a number of ``hash_buckets`` (a list, None
    or an int per column) are hashed, by a transformer ``f"{HASHED}_{n}"`` per
    number n.
    """
    dense_encoding, plus, _ = numeric_encoding.partition("+embedding")
    dates = np.zeros(len(cat_mask), bool) if date_mask is None else date_mask
    buckets = [None] * len(cat_mask) if hash_buckets is None else hash_buckets
    cat_cols = [c for c, m, b in zip(columns, cat_mask, buckets) if m and b is None]
    transformers = []
    if cat_cols:
        rare = dict(min_frequency=min_frequency, max_categories=max_categories)
        transformers.append((CATEGORICAL, CategoryEncoder(**rare), cat_cols))
    for n in sorted({b for b, m in zip(buckets, cat_mask) if m and b is not None}):
        hashed = [c for c, m, b in zip(columns, cat_mask, buckets) if m and b == n]
        transformers.append((f"{HASHED}_{n}", CategoryEncoder(hash_buckets=n), hashed))
    for name, bins_name, is_date in (
        (NUMERIC, NUMERIC_BINS, False),
        (DATETIME, DATETIME_BINS, True),
    ):
        cols = [
            c for c, m, d in zip(columns, cat_mask, dates) if not m and d == is_date
        ]
        if not cols:
            continue
        steps = _numeric_steps(dense_encoding, n_bins, dates=is_date)
        transformers.append((name, Pipeline(steps), cols))
        if plus:
            bins = _numeric_steps("quantile_embedding", n_bins, dates=is_date)
            transformers.append((bins_name, Pipeline(bins), cols))
    return ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


@dataclass(frozen=True)
class ValueCounts:
    """Value counts of categorical and list columns over some rows, as
    :func:`~skmmoe._encoders.category_counts` gives them (a list column's first
    ``max_list_length`` elements of each row counted)."""

    columns: dict
    """{position in X: (sorted distinct strings, counts)}; a column not in it
    has no value."""
    n_samples: int
    """The number of rows counted, missing values included."""

    def of(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.empty(0, dtype=object), np.empty(0, dtype=np.int64))
        return self.columns.get(int(position), empty)


class Encoded(NamedTuple):
    """X as the network takes it."""

    sparse: np.ndarray
    """(n_samples, n_sparse) int32 ids."""
    dense: np.ndarray
    """(n_samples, n_dense) float32 values."""
    lists: list
    """One (values, offsets) pair of arrays per list column: row i's ids (int32)
    are ``values[offsets[i]:offsets[i + 1]]``."""


@dataclass
class FeatureEncoder:
    """A fitted preprocessor and the map from its output columns to network inputs.

    Attributes
    ----------
    preprocessor : ColumnTransformer
        Fitted.
    sparse_positions, dense_positions : ndarray of int
        Output columns of ``preprocessor`` that feed embeddings / the dense input.
    feature_columns : list of FeatureColumn
        Sparse columns first, then dense, in the order the network receives them.
    numeric_input : bool
        Whether X, when an array, must be numeric (:attr:`FeatureSpec.numeric_only
        <skmmoe._params.FeatureSpec.numeric_only>` at fit).
    list_columns : list of int
        Positions in X of the list-valued columns, which the preprocessor drops.
    list_encoders : list of ListEncoder
        Fitted, one per list column.
    """

    preprocessor: ColumnTransformer
    sparse_positions: np.ndarray
    dense_positions: np.ndarray
    feature_columns: list[FeatureColumn]
    numeric_input: bool
    list_columns: list[int] = field(default_factory=list)
    list_encoders: list[ListEncoder] = field(default_factory=list)

    @property
    def vocabulary_sizes(self) -> list[int]:
        return [
            int(c.vocabulary_size)
            for c in self.feature_columns
            if c.kind == "sparse" and c.vocabulary_size is not None
        ]

    def embedding_layout(self) -> dict:
        """The network's embedding arguments: the distinct tables [(rows,
        width)] in the order of their first column, the table of each scalar
        and each list column, and the lists' combiners (see
        :class:`~skmmoe._engine.network.EmbeddingLayout`)."""
        tables: list[list[int]] = []
        numbers: dict = {}

        def table_of(i: int, column: FeatureColumn) -> int:
            key = ("own", i) if column.table is None else column.table
            if key not in numbers:
                numbers[key] = len(tables)
                rows, width = column.vocabulary_size, column.embedding_dim
                assert rows is not None and width is not None  # embedding inputs
                tables.append([int(rows), int(width)])
            return numbers[key]

        sparse = [c for c in self.feature_columns if c.kind == "sparse"]
        lists = [c for c in self.feature_columns if c.kind == "list"]
        return {
            "tables": tables,
            "sparse_tables": [table_of(i, c) for i, c in enumerate(sparse)],
            "list_tables": [table_of(len(sparse) + i, c) for i, c in enumerate(lists)],
            "list_combiners": [str(c.combiner) for c in lists],
        }

    def transform(self, X) -> Encoded:
        """Encode X, a block of rows at a time (so the preprocessor's float output
        never exists for all rows at once)."""
        n = X.shape[0]
        lists = self._lists(X)
        if n <= TRANSFORM_BLOCK_ROWS:
            return Encoded(*self._split(self._transform(X)), lists)
        sparse, dense = self._empty(n)
        for start in range(0, n, TRANSFORM_BLOCK_ROWS):
            rows = slice(start, start + TRANSFORM_BLOCK_ROWS)
            block = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
            self._split(self._transform(block), sparse[rows], dense[rows])
        return Encoded(sparse, dense, lists)

    def _lists(self, X) -> list:
        """Each list column's ids, as (values, offsets)."""
        out = []
        for position, encoder in zip(self.list_columns, self.list_encoders):
            ragged = encoder.transform(_column_frame(X, position))[0]
            out.append((ragged.values, ragged.offsets))
        return out

    def unknown_category_shares(self, X) -> dict[str, float]:
        """The share of each categorical column's values in X that are categories
        the encoder did not see in fit (missing values aside): those rows get the
        reserved index, as missing values do.

        Columns of the built-in ``CategoryEncoder`` and of ``OrdinalEncoder``
        transformers (alone or ending a Pipeline, whose earlier steps are
        applied first) are checked; keys are the input column names.
        """
        shares: dict[str, float] = {}
        n = X.shape[0]
        if n == 0:
            return shares
        for _, fitted, columns in self.preprocessor.transformers_:
            final = _final_step(fitted)
            if not isinstance(final, (CategoryEncoder, OrdinalEncoder)):
                continue
            if getattr(final, "hash_buckets", None) is not None:
                continue  # hashed: every value has a row, none is unknown
            if isinstance(columns, str) and columns in ("drop", "passthrough"):
                continue
            values = _safe_indexing(X, columns, axis=1)
            if isinstance(fitted, Pipeline) and len(fitted.steps) > 1:
                values = fitted[:-1].transform(values)
            frame = values if isinstance(values, pd.DataFrame) else pd.DataFrame(values)
            for j in range(frame.shape[1]):
                column = frame.iloc[:, j]
                name = str(frame.columns[j])
                if isinstance(final, CategoryEncoder):
                    strings = _column_as_strings(column, name)
                    missing = pd.isna(strings)
                    known = final._indexes[j].get_indexer(strings) >= 0
                else:
                    raw = column.to_numpy(dtype=object)
                    missing = pd.isna(raw)
                    try:
                        index = pd.Index(final.categories_[j], dtype=object)
                        known = index.get_indexer(raw) >= 0
                    except TypeError:  # unorderable, unhashable: not checked
                        continue
                shares[name] = float(np.sum(~known & ~missing)) / n
        return shares

    def to_json(self) -> dict:
        """The map from the preprocessor's outputs to the network's inputs, as JSON
        values: self-contained, with every position and column :meth:`from_json`
        needs. The fitted preprocessor itself is saved beside it (the model file
        keeps it through skops)."""
        return {
            "n_features": int(self.preprocessor.n_features_in_),
            "sparse_positions": [int(p) for p in self.sparse_positions],
            "dense_positions": [int(p) for p in self.dense_positions],
            "feature_columns": [asdict(c) for c in self.feature_columns],
            "numeric_input": bool(self.numeric_input),
            "list_columns": [int(p) for p in self.list_columns],
        }

    @classmethod
    def from_json(
        cls, spec: dict, *, preprocessor: ColumnTransformer, list_encoders=()
    ) -> FeatureEncoder:
        """Rebuild an encoder saved by :meth:`to_json` around ``preprocessor``
        and ``list_encoders``, the fitted transformers it was saved with; raises
        ValueError if they disagree (the number of input columns, the names of
        the outputs the network reads, the number of list columns)."""
        columns = [FeatureColumn(**c) for c in spec["feature_columns"]]
        encoder = cls(
            preprocessor=preprocessor,
            sparse_positions=_positions(spec["sparse_positions"]),
            dense_positions=_positions(spec["dense_positions"]),
            feature_columns=columns,
            numeric_input=bool(spec["numeric_input"]),
            list_columns=[int(p) for p in _positions(spec.get("list_columns", []))],
            list_encoders=list(list_encoders),
        )
        n_lists = sum(c.kind == "list" for c in columns)
        if not (n_lists == len(encoder.list_columns) == len(encoder.list_encoders)):
            raise ValueError(
                f"the features were saved with {n_lists} list columns, "
                f"{len(encoder.list_columns)} list positions and "
                f"{len(encoder.list_encoders)} list encoders"
            )
        if spec["n_features"] != preprocessor.n_features_in_:
            raise ValueError(
                f"the features were saved for {spec['n_features']} input columns, "
                f"but the preprocessor takes {preprocessor.n_features_in_}"
            )
        names_out = [str(n) for n in preprocessor.get_feature_names_out()]
        sparse, dense = encoder.sparse_positions, encoder.dense_positions
        inputs = [(names_out[p], "sparse") for p in sparse if p < len(names_out)]
        inputs += [(names_out[p], "dense") for p in dense if p < len(names_out)]
        if inputs != [(c.name, c.kind) for c in columns if c.kind != "list"]:
            raise ValueError(
                "the saved feature columns do not name the preprocessor's outputs"
            )
        return encoder

    def _transform(self, X):
        # An encoding that overflows float32 is reported by _split, naming the
        # column, rather than by numpy's warning.
        with np.errstate(over="ignore"):
            return self.preprocessor.transform(X)

    def _non_finite_error(self, dense: np.ndarray) -> ValueError:
        """Which dense input is NaN (a missing value left unimputed) or beyond
        float32's range (a value whose encoding overflows float32), by name."""
        names = [c.name for c in self.feature_columns if c.kind == "dense"]
        nan = np.isnan(dense).any(axis=0)
        if nan.any():
            return ValueError(
                f"The preprocessor left NaN in the dense input {names[nan.argmax()]!r}"
                "; impute missing values in the preprocessor."
            )
        column = names[(~(np.abs(dense) <= _FLOAT32_MAX)).any(axis=0).argmax()]
        return ValueError(
            f"The dense input {column!r} overflows float32 once encoded (its values "
            "are too large after scaling); rescale that column."
        )

    def _empty(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.empty((n, len(self.sparse_positions)), dtype=np.int32),
            np.empty((n, len(self.dense_positions)), dtype=np.float32),
        )

    def _split(self, out, sparse=None, dense=None) -> tuple[np.ndarray, np.ndarray]:
        """The preprocessor's output -> (sparse ids, dense values), written into
        ``sparse`` and ``dense`` when given; converted a block of rows at a time, so
        the temporaries stay small next to the output."""
        if sparse is None:
            sparse, dense = self._empty(out.shape[0])
        if hasattr(out, "tocsr"):
            out = out.tocsr()
        else:
            out = np.asarray(out)
        sizes = np.asarray(self.vocabulary_sizes, dtype=np.float64)
        for start in range(0, out.shape[0], SPLIT_BLOCK_ROWS):
            rows = slice(start, start + SPLIT_BLOCK_ROWS)
            block = out[rows]
            block = block.toarray() if hasattr(block, "toarray") else block
            if block.dtype.kind != "f":
                block = block.astype(np.float64)
            sparse[rows] = _reserved_index_codes(block[:, self.sparse_positions], sizes)
            values = block[:, self.dense_positions]
            if not (np.abs(values) <= _FLOAT32_MAX).all():  # NaN fails it too
                raise self._non_finite_error(values)
            dense[rows] = values
        return sparse, dense


def _positions(values) -> np.ndarray:
    """Saved output positions as an index array; ValueError unless they are
    non-negative integers."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"feature positions must be integers, got {values}")
    positions = np.asarray(values, dtype=np.intp)
    if (positions < 0).any():
        raise ValueError(f"feature positions must not be negative, got {values}")
    return positions


def _column_frame(X, position: int) -> pd.DataFrame:
    """Column ``position`` of X as a one-column DataFrame."""
    if hasattr(X, "iloc"):
        return X.iloc[:, [position]]
    return pd.DataFrame({position: pd.Series(list(np.asarray(X)[:, position]))})


def _list_mask(X) -> np.ndarray:
    """Which columns of X hold lists (:func:`is_list_column`)."""
    if hasattr(X, "iloc"):
        return np.array(
            [is_list_column(X.iloc[:, j], X.columns[j]) for j in range(X.shape[1])],
            dtype=bool,
        )
    array = np.asarray(X)
    if array.dtype != object:
        return np.zeros(X.shape[1], dtype=bool)
    return np.array(
        [
            is_list_column(_column_frame(array, j).iloc[:, 0], j)
            for j in range(X.shape[1])
        ],
        dtype=bool,
    )


def _per_column(value, label, default):
    """A parameter's value for one column: the dict's entry (by label, or by
    its text), ``default`` if it has none, or the value itself."""
    if not isinstance(value, dict):
        return value
    if label in value:
        return value[label]
    return value.get(str(label), default)


def _check_column_keys(spec: FeatureSpec, labels: list) -> None:
    """Every column a dict parameter names is a column of X."""
    known = {str(c) for c in labels} | set(labels)
    for name in ("embedding_dim", "combiner", "max_list_length", "hash_buckets"):
        value = getattr(spec, name)
        if isinstance(value, dict):
            unknown = [k for k in value if k not in known]
            if unknown:
                raise ValueError(
                    f"{name} names columns not in X: {unknown}. X has columns "
                    f"{[str(c) for c in labels]}."
                )


def embedding_width(embedding_dim, label, rows: int) -> int:
    """The width of a column's embedding: ``embedding_dim`` if an int, its
    entry for the column if a dict (8 for a column it does not name), and for
    "auto" DeepCTR's rule ``6 * int(rows ** 0.25)``, rows counting the reserved
    one (18 for 100 rows, 30 for 1,000, 186 for 1M)."""
    value = _per_column(embedding_dim, label, 8)
    if isinstance(value, str) and value == "auto":
        return 6 * int(rows**0.25)
    return int(value)


@dataclass
class _Inputs:
    """The columns of the built-in encoding, as :func:`_fit_built_in` finds
    them."""

    labels: list
    list_positions: list[int]
    cat_mask: np.ndarray
    date_mask: np.ndarray
    hash_buckets: list


def _find_inputs(X, spec: FeatureSpec) -> _Inputs:
    labels = list(X.columns) if hasattr(X, "columns") else list(range(X.shape[1]))
    _check_column_keys(spec, labels)
    lists = _list_mask(X)
    cat_mask = resolve_categorical_mask(X, spec.categorical_features) & ~lists
    date_mask = (
        np.array(
            [getattr(t, "kind", None) == "M" for t in getattr(X, "dtypes", [])]
            or [False] * X.shape[1]
        )
        & ~lists
    )
    buckets = [
        _per_column(spec.hash_buckets, label, None) if cat_mask[j] or lists[j] else None
        for j, label in enumerate(labels)
    ]
    return _Inputs(labels, list(np.flatnonzero(lists)), cat_mask, date_mask, buckets)


def _fit_list_encoders(X, spec: FeatureSpec, inputs: _Inputs) -> list[ListEncoder]:
    encoders = []
    for p in inputs.list_positions:
        label = inputs.labels[p]
        encoder = ListEncoder(
            max_length=_per_column(spec.max_list_length, label, None),
            min_frequency=spec.min_frequency,
            max_categories=spec.max_categories,
            hash_buckets=inputs.hash_buckets[p],
        )
        encoders.append(encoder.fit(_column_frame(X, p)))
    return encoders


def shared_groups(shared_embeddings, labels: list) -> dict:
    """``shared_embeddings`` ({column: column whose table it uses}) as groups:
    {the group's own column: [its columns, in X's order]}, by position in X.
    Chains (a -> b -> c) end at their last column; a column sharing with itself
    or with a column not in X is a ValueError."""
    if not shared_embeddings:
        return {}
    names = [str(c) for c in labels]

    def position(key) -> int:
        if key in labels:
            return labels.index(key)
        if str(key) in names:
            return names.index(str(key))
        raise ValueError(
            f"shared_embeddings names a column not in X: {key!r}. X has columns "
            f"{names}."
        )

    edges = {position(k): position(v) for k, v in shared_embeddings.items()}
    groups: dict = {}
    for column in edges:
        root, seen = column, {column}
        while root in edges:
            root = edges[root]
            if root in seen:
                raise ValueError(
                    "shared_embeddings must not make a cycle; column "
                    f"{names[column]!r} comes back to itself."
                )
            seen.add(root)
        groups.setdefault(root, {root}).add(column)
    return {root: sorted(members) for root, members in groups.items()}


def _encoder_of(position, transformer, list_encoders, inputs):
    """(encoder, its column index) encoding column ``position`` of X."""
    if position in inputs.list_positions:
        return list_encoders[inputs.list_positions.index(position)], 0
    for _, fitted, columns in transformer.transformers_:
        final = _final_step(fitted)
        if isinstance(final, CategoryEncoder) and position in list(columns):
            return final, list(columns).index(position)
    raise ValueError(
        f"shared_embeddings joins column {inputs.labels[position]!r}, which is "
        "neither categorical nor a list column; only those have embedding tables."
    )


def _set_vocabularies(counts: ValueCounts, spec, transformer, list_encoders, inputs):
    """Give each categorical and list column that is not hashed its vocabulary
    from ``counts`` (rare values grouped as fit groups them)."""
    cat_mask = inputs.cat_mask.copy()
    cat_mask[inputs.list_positions] = True
    for p in np.flatnonzero(cat_mask).tolist():
        if inputs.hash_buckets[p] is not None:
            continue
        encoder, j = _encoder_of(p, transformer, list_encoders, inputs)
        kept, infrequent = select_categories(
            *counts.of(p),
            min_frequency=spec.min_frequency,
            max_categories=spec.max_categories,
            n_samples=counts.n_samples,
        )
        categories = list(encoder.categories_)
        rare = list(encoder.infrequent_categories_)
        categories[j], rare[j] = kept, infrequent
        encoder.set_categories(categories, rare)


def _share_vocabularies(X, spec, groups, transformer, list_encoders, inputs, counts):
    """Give the columns of each shared group one vocabulary: the union of their
    values, rare ones grouped over their summed counts (of X, or ``counts``
    when given)."""
    for members in groups.values():
        buckets = {inputs.hash_buckets[p] for p in members}
        encoders = [_encoder_of(p, transformer, list_encoders, inputs) for p in members]
        if len(buckets) > 1:
            raise ValueError(
                "Columns that share an embedding table must be hashed alike: "
                f"{[str(inputs.labels[p]) for p in members]} have hash_buckets "
                f"{[inputs.hash_buckets[p] for p in members]}."
            )
        if buckets != {None}:
            continue  # equal values hash to equal ids
        summed = []
        for p, (encoder, _) in zip(members, encoders):
            if counts is not None:
                summed.append(counts.of(p))
                continue
            length = getattr(encoder, "max_length", None)
            column = _column_frame(X, p).iloc[:, 0]
            summed.append(category_counts(column, inputs.labels[p], max_length=length))
        kept, infrequent = select_categories(
            *sum_counts(summed),
            min_frequency=spec.min_frequency,
            max_categories=spec.max_categories,
            n_samples=X.shape[0] if counts is None else counts.n_samples,
        )
        for encoder, j in encoders:
            categories = list(encoder.categories_)
            rare = list(encoder.infrequent_categories_)
            categories[j], rare[j] = kept, infrequent
            encoder.set_categories(categories, rare)


def _sparse_columns(transformer, names, inputs: _Inputs | None):
    """(output position, input position or None, vocabulary size) of each
    output that feeds an embedding, and whether one comes from categories."""
    n_out = len(names)
    out, from_categories = [], False
    for name, fitted, columns in transformer.transformers_:
        final = _final_step(fitted)
        if not isinstance(final, (OrdinalEncoder, CategoryEncoder, QuantileBinner)):
            continue
        from_categories |= not isinstance(final, QuantileBinner)
        positions = range(n_out)[transformer.output_indices_[name]]
        one_to_one = inputs is not None and len(positions) == len(list(columns))
        if isinstance(final, (CategoryEncoder, QuantileBinner)) and hasattr(
            final, "vocabulary_sizes_"
        ):
            sizes = final.vocabulary_sizes_
        else:
            sizes = [_n_known_categories(c) + 1 for c in final.categories_]
        for k, (pos, size) in enumerate(zip(positions, sizes)):
            source = list(columns)[k] if one_to_one else None
            out.append((pos, source, int(size)))
    return out, from_categories


def _feature_columns(spec, names, sparse, inputs, groups, list_encoders):
    """The network's inputs: embeddings (scalar, then lists), with their
    tables, widths and combiners; the dense ones are added by the caller."""
    group_of = {p: root for root, members in groups.items() for p in members}
    widths: dict = {}
    columns = []

    def column(kind, name, source, size, combiner=None):
        label = None if source is None else inputs.labels[source]
        key = group_of.get(source, ("own", len(columns)))
        width = embedding_width(
            spec.embedding_dim, name if label is None else label, size
        )
        if key in widths and widths[key] != width:
            raise ValueError(
                f"Columns that share an embedding table need one embedding_dim: "
                f"{name!r} gets {width}, its table {widths[key]}."
            )
        widths[key] = width
        # A table of its own needs no number (as in model files written before
        # tables could be shared).
        table = list(widths).index(key) if source in group_of else None
        columns.append(FeatureColumn(name, kind, size, width, table, combiner))

    for pos, source, size in sparse:
        column("sparse", str(names[pos]), source, size)
    for p, encoder in zip(inputs.list_positions if inputs else [], list_encoders):
        label = inputs.labels[p]
        combiner = _per_column(spec.combiner, label, "mean")
        column("list", str(label), p, encoder.vocabulary_sizes_[0], combiner)
    return columns


def _fit_built_in(X, spec: FeatureSpec, counts: ValueCounts | None):
    """The built-in preprocessor and list encoders, fitted on X (their
    vocabularies from ``counts`` when given)."""
    inputs = _find_inputs(X, spec)
    scalar = np.ones(X.shape[1], dtype=bool)
    scalar[inputs.list_positions] = False
    # The list columns are no columns of the preprocessor (it drops them).
    transformer = make_default_preprocessor(
        inputs.cat_mask[scalar],
        [int(p) for p in np.flatnonzero(scalar)],
        spec.numeric_encoding,
        spec.n_bins,
        inputs.date_mask[scalar],
        min_frequency=spec.min_frequency,
        max_categories=spec.max_categories,
        hash_buckets=[b for b, keep in zip(inputs.hash_buckets, scalar) if keep],
    )
    list_encoders = _fit_list_encoders(X, spec, inputs)
    groups = shared_groups(spec.shared_embeddings, inputs.labels)
    if groups or counts is not None:
        transformer.fit(X)
        if counts is not None:
            _set_vocabularies(counts, spec, transformer, list_encoders, inputs)
        _share_vocabularies(X, spec, groups, transformer, list_encoders, inputs, counts)
        out = transformer.transform(X)
    else:
        out = transformer.fit_transform(X)
    return transformer, out, inputs, groups, list_encoders


def fit_feature_encoder(
    X, spec: FeatureSpec, *, counts: ValueCounts | None = None
) -> tuple[FeatureEncoder, Encoded]:
    """Fit the preprocessor on X and describe the network's inputs.

    With ``spec.preprocessor=None`` list-valued columns become pooled
    embeddings (:class:`ListEncoder`), the columns chosen by
    ``spec.categorical_features`` are ordinal-encoded into embeddings and the
    others encoded as ``spec.numeric_encoding`` says. A user's
    ColumnTransformer is copied and the copy fitted; the outputs of its
    ``OrdinalEncoder`` transformers (alone or ending a Pipeline) become
    embeddings and every other output a dense input.

    ``counts`` (built-in preprocessor only): the categorical and list columns'
    value counts over more rows than X holds (``skmmoe.dask``'s pass over all
    the data); their vocabularies, rare values and shared tables come from
    these, everything else from X.

    Returns
    -------
    encoder : FeatureEncoder
    encoded : Encoded
        X encoded, as ``encoder.transform(X)`` would return it.
    """
    preprocessor = spec.preprocessor
    inputs, groups, list_encoders = None, {}, []
    if preprocessor is None:
        transformer, out, inputs, groups, list_encoders = _fit_built_in(X, spec, counts)
    elif isinstance(preprocessor, FrozenEstimator):
        # A fitted encoding kept as it is: used, never refitted (nor copied: a
        # FrozenEstimator is shared by its clones too).
        transformer = preprocessor.estimator
        try:
            check_is_fitted(transformer)
        except NotFittedError:
            raise ValueError(
                "preprocessor is a FrozenEstimator around a ColumnTransformer that "
                "is not fitted; fit the ColumnTransformer before freezing it."
            ) from None
        out = transformer.transform(X)
    else:
        transformer = copy.deepcopy(cast(ColumnTransformer, preprocessor))
        out = transformer.fit_transform(X)
    names = transformer.get_feature_names_out()
    sparse, from_categories = _sparse_columns(transformer, names, inputs)
    sparse_set = {pos for pos, _, _ in sparse}
    dense_positions = [p for p in range(len(names)) if p not in sparse_set]
    feature_columns = _feature_columns(
        spec, names, sparse, inputs, groups, list_encoders
    )
    feature_columns += [FeatureColumn(str(names[p]), "dense") for p in dense_positions]
    encoder = FeatureEncoder(
        preprocessor=transformer,
        sparse_positions=np.asarray([p for p, _, _ in sparse], dtype=np.intp),
        dense_positions=np.asarray(dense_positions, dtype=np.intp),
        feature_columns=feature_columns,
        # An array X at predict must be all numbers only if no column of the fit
        # was categorical (or a list).
        numeric_input=spec.numeric_only and not from_categories and not list_encoders,
        list_columns=[int(p) for p in (inputs.list_positions if inputs else [])],
        list_encoders=list_encoders,
    )
    return encoder, Encoded(*encoder._split(out), encoder._lists(X))
