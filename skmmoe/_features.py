"""Raw X -> ColumnTransformer -> the feature columns the network receives.

Categorical columns become ordinal codes shifted by one, so that index 0 is reserved for
unknown and missing categories; each feeds an embedding. Numeric columns are imputed
(with a missing-value indicator where the training data had gaps) and standardised; they
form the dense input.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

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
    PiecewiseLinearEncoder,
    QuantileBinner,
    _column_as_strings,
    numbers_as_float,
)
from ._sklearn_compat import _safe_indexing

if TYPE_CHECKING:
    from ._params import FeatureSpec

__all__ = [
    "NUMERIC_ENCODINGS",
    "FeatureColumn",
    "FeatureEncoder",
    "fit_feature_encoder",
]

# The names of the built-in preprocessor's transformers and pipeline steps, which
# skmmoe.dask and the reader of format-2 model files (_legacy_format2.py) find
# them by.
CATEGORICAL, NUMERIC, NUMERIC_BINS = "categorical", "numeric", "numeric_bins"
DATETIME, DATETIME_BINS = "datetime", "datetime_bins"
AS_FLOAT, IMPUTE, SCALE, BINS, PLE = "as_float", "impute", "scale", "bins", "ple"
CALENDAR = "calendar"


@dataclass(frozen=True)
class FeatureColumn:
    """One input of the network.

    Attributes
    ----------
    name : str
        Output feature name of the preprocessor.
    kind : {"sparse", "dense"}
        ``"sparse"``: integer ids looked up in an embedding table; ``"dense"``: one
        float passed to the experts and gates as it is.
    vocabulary_size : int or None
        Rows of the embedding table, including index 0 reserved for unknown and
        missing categories. None for dense columns.
    embedding_dim : int or None
        Width of the embedding. None for dense columns.
    """

    name: str
    kind: str
    vocabulary_size: int | None = None
    embedding_dim: int | None = None


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
    """
    dense_encoding, plus, _ = numeric_encoding.partition("+embedding")
    dates = np.zeros(len(cat_mask), bool) if date_mask is None else date_mask
    cat_cols = [c for c, m in zip(columns, cat_mask) if m]
    transformers = []
    if cat_cols:
        transformers.append((CATEGORICAL, CategoryEncoder(), cat_cols))
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
    """

    preprocessor: ColumnTransformer
    sparse_positions: np.ndarray
    dense_positions: np.ndarray
    feature_columns: list[FeatureColumn]
    numeric_input: bool

    @property
    def vocabulary_sizes(self) -> list[int]:
        return [
            int(c.vocabulary_size)
            for c in self.feature_columns
            if c.kind == "sparse" and c.vocabulary_size is not None
        ]

    def transform(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Encode X, a block of rows at a time (so the preprocessor's float output
        never exists for all rows at once).

        Returns
        -------
        sparse : ndarray of shape (n_samples, n_sparse), dtype int32
        dense : ndarray of shape (n_samples, n_dense), dtype float32
        """
        n = X.shape[0]
        if n <= TRANSFORM_BLOCK_ROWS:
            return self._split(self._transform(X))
        sparse, dense = self._empty(n)
        for start in range(0, n, TRANSFORM_BLOCK_ROWS):
            rows = slice(start, start + TRANSFORM_BLOCK_ROWS)
            block = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
            self._split(self._transform(block), sparse[rows], dense[rows])
        return sparse, dense

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
        }

    @classmethod
    def from_json(
        cls, spec: dict, *, preprocessor: ColumnTransformer
    ) -> FeatureEncoder:
        """Rebuild an encoder saved by :meth:`to_json` around ``preprocessor``, the
        fitted preprocessor it was saved with; raises ValueError if the two
        disagree (the number of input columns, or the names of the outputs the
        network reads)."""
        columns = [FeatureColumn(**c) for c in spec["feature_columns"]]
        encoder = cls(
            preprocessor=preprocessor,
            sparse_positions=_positions(spec["sparse_positions"]),
            dense_positions=_positions(spec["dense_positions"]),
            feature_columns=columns,
            numeric_input=bool(spec["numeric_input"]),
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
        if inputs != [(c.name, c.kind) for c in columns]:
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


def fit_feature_encoder(
    X, spec: FeatureSpec
) -> tuple[FeatureEncoder, np.ndarray, np.ndarray]:
    """Fit the preprocessor on X and describe the network's inputs.

    With ``spec.preprocessor=None`` the columns chosen by
    ``spec.categorical_features`` are ordinal-encoded into embeddings and the others
    encoded as ``spec.numeric_encoding`` says. A user's ColumnTransformer is copied
    and the copy fitted; the outputs of its ``OrdinalEncoder`` transformers (alone
    or ending a Pipeline) become embeddings and every other output a dense input.

    Returns
    -------
    encoder : FeatureEncoder
    sparse, dense : ndarray
        X encoded, as ``encoder.transform(X)`` would return it.
    """
    preprocessor = spec.preprocessor
    if preprocessor is None:
        # Positions, not names: a DataFrame's integer column labels would be read
        # as positions by ColumnTransformer anyway.
        columns = list(range(X.shape[1]))
        cat_mask = resolve_categorical_mask(X, spec.categorical_features)
        date_mask = np.array(
            [getattr(t, "kind", None) == "M" for t in getattr(X, "dtypes", [])]
            or [False] * X.shape[1]
        )
        transformer = make_default_preprocessor(
            cat_mask, columns, spec.numeric_encoding, spec.n_bins, date_mask
        )
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
    else:
        transformer = copy.deepcopy(preprocessor)
    if isinstance(preprocessor, FrozenEstimator):
        out = transformer.transform(X)
    else:
        out = transformer.fit_transform(X)
    names = transformer.get_feature_names_out()
    n_out = len(names)

    sparse_positions: list[int] = []
    vocabulary_sizes: list[int] = []
    sparse_from_categories = False
    for name, fitted, _ in transformer.transformers_:
        final = _final_step(fitted)
        if not isinstance(final, (OrdinalEncoder, CategoryEncoder, QuantileBinner)):
            continue
        sparse_from_categories |= not isinstance(final, QuantileBinner)
        positions = range(n_out)[transformer.output_indices_[name]]
        for pos, categories in zip(positions, final.categories_):
            sparse_positions.append(pos)
            vocabulary_sizes.append(_n_known_categories(categories) + 1)
    sparse_set = set(sparse_positions)
    dense_positions = [p for p in range(n_out) if p not in sparse_set]

    feature_columns = [
        FeatureColumn(str(names[p]), "sparse", size, spec.embedding_dim)
        for p, size in zip(sparse_positions, vocabulary_sizes)
    ] + [FeatureColumn(str(names[p]), "dense") for p in dense_positions]
    encoder = FeatureEncoder(
        preprocessor=transformer,
        sparse_positions=np.asarray(sparse_positions, dtype=np.intp),
        dense_positions=np.asarray(dense_positions, dtype=np.intp),
        feature_columns=feature_columns,
        # An array X at predict must be all numbers only if no column of the fit
        # was categorical.
        numeric_input=spec.numeric_only and not sparse_from_categories,
    )
    sparse, dense = encoder._split(out)
    return encoder, sparse, dense
