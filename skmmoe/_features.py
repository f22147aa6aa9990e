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
# FeatureEncoder.to_json and from_json find them by.
CATEGORICAL, NUMERIC, NUMERIC_BINS = "categorical", "numeric", "numeric_bins"
AS_FLOAT, IMPUTE, SCALE, BINS, PLE = "as_float", "impute", "scale", "bins", "ple"


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


def _numeric_steps(dense_encoding: str, n_bins: int) -> list:
    as_float = (
        AS_FLOAT,
        FunctionTransformer(numbers_as_float, feature_names_out="one-to-one"),
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
    cat_mask: np.ndarray, columns, numeric_encoding: str, n_bins: int
) -> ColumnTransformer:
    """The ColumnTransformer skmmoe builds when the user gives none.

    Categorical columns: :class:`CategoryEncoder` (unknown and missing -> -1, then
    the reserved id). Numeric columns by ``numeric_encoding``: "scaled" (median
    imputation with missing indicators, standardisation: dense inputs),
    "quantile_embedding" (bins from :func:`bin_edges` as categories: embeddings,
    missing values at the reserved id), "piecewise_linear" (imputation, then a
    piecewise-linear encoding over those bins: dense inputs); with "+embedding"
    the dense encoding and, as a second transformer ``numeric_bins``, the bin
    embedding of every numeric column.
    """
    dense_encoding, plus, _ = numeric_encoding.partition("+embedding")
    cat_cols = [c for c, m in zip(columns, cat_mask) if m]
    num_cols = [c for c, m in zip(columns, cat_mask) if not m]
    transformers = []
    if cat_cols:
        transformers.append((CATEGORICAL, CategoryEncoder(), cat_cols))
    if num_cols:
        transformers.append(
            (NUMERIC, Pipeline(_numeric_steps(dense_encoding, n_bins)), num_cols)
        )
        if plus:
            bins = _numeric_steps("quantile_embedding", n_bins)
            transformers.append((NUMERIC_BINS, Pipeline(bins), num_cols))
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
        """The built-in preprocessor's learned values (categories, imputation
        medians, scaling, bin edges) and the network's inputs, as JSON values;
        :meth:`from_json` rebuilds the encoder from them."""
        numeric: dict | None = None
        categorical: dict = {"positions": [], "categories": []}
        for name, pipe, columns in self.preprocessor.transformers_:
            positions = [int(c) for c in columns]
            if name == CATEGORICAL:
                categorical = {
                    "positions": positions,
                    "categories": [[str(c) for c in cats] for cats in pipe.categories_],
                }
            elif name == NUMERIC:
                numeric = {"positions": positions, **_numeric_to_json(pipe)}
            if name in _BIN_EDGES_KEYS:
                for key in (BINS, PLE):
                    if key in pipe.named_steps and numeric is not None:
                        edges = pipe.named_steps[key].bin_edges_
                        numeric[_BIN_EDGES_KEYS[name]] = [e.tolist() for e in edges]
        return {
            "n_features": int(self.preprocessor.n_features_in_),
            "categorical": categorical,
            "numeric": numeric,
            "feature_columns": [asdict(c) for c in self.feature_columns],
            "numeric_input": self.numeric_input,
        }

    @classmethod
    def from_json(
        cls, spec: dict, *, feature_names, numeric_encoding: str, n_bins: int
    ) -> FeatureEncoder:
        """Rebuild an encoder saved by :meth:`to_json`: the built-in preprocessor is
        fitted on a small frame made to reproduce the saved columns and
        missing-value pattern, then given the saved values."""
        preprocessor = _preprocessor_from_json(
            spec, feature_names, numeric_encoding, n_bins
        )
        columns = [FeatureColumn(**c) for c in spec["feature_columns"]]
        names_out = list(preprocessor.get_feature_names_out())
        return cls(
            preprocessor=preprocessor,
            sparse_positions=np.asarray(
                [names_out.index(c.name) for c in columns if c.kind == "sparse"],
                dtype=np.intp,
            ),
            dense_positions=np.asarray(
                [names_out.index(c.name) for c in columns if c.kind == "dense"],
                dtype=np.intp,
            ),
            feature_columns=columns,
            numeric_input=bool(spec["numeric_input"]),
        )

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


# Where each numeric pipeline's bin edges are saved: the piecewise-linear encoding
# also bins the missing indicators, so with "+embedding" the two hold different ones.
_BIN_EDGES_KEYS = {NUMERIC: "bin_edges", NUMERIC_BINS: "embedding_bin_edges"}


def _numeric_to_json(pipe: Pipeline) -> dict:
    steps, out = pipe.named_steps, {}
    if IMPUTE in steps:
        imputer = steps[IMPUTE]
        out["statistics"] = imputer.statistics_.tolist()
        out["statistics_dtype"] = str(imputer.statistics_.dtype)
        out["indicator_features"] = (
            imputer.indicator_.features_.tolist()
            if imputer.indicator_ is not None
            else []
        )
    if SCALE in steps:
        scaler = steps[SCALE]
        out["mean"] = scaler.mean_.tolist()
        out["scale"] = scaler.scale_.tolist()
        out["var"] = scaler.var_.tolist()
        out["n_samples_seen"] = int(np.max(scaler.n_samples_seen_))
        # float32 or float64 by scikit-learn's version: transform computes in it.
        out["scale_dtype"] = str(scaler.mean_.dtype)
    return out


def _design_frame(spec: dict, feature_names) -> tuple:
    """A two-row X with the saved columns' kinds and missing-value pattern, and
    the categorical mask."""
    n_features, cat, num = spec["n_features"], spec["categorical"], spec["numeric"]
    n_rows = 2
    columns: list = [None] * n_features
    for pos in cat["positions"]:
        # The saved categories are set after fitting; any strings do here.
        columns[pos] = np.asarray(["a"] * n_rows, dtype=object)
    if num is not None:
        for j, pos in enumerate(num["positions"]):
            values = np.zeros(n_rows)
            if j in num.get("indicator_features", []):
                values[0] = np.nan
            columns[pos] = values
    cat_mask = np.zeros(n_features, dtype=bool)
    cat_mask[cat["positions"]] = True
    if feature_names is not None:
        return pd.DataFrame(dict(zip(feature_names, columns))), cat_mask
    design = np.empty((n_rows, n_features), dtype=object)
    for pos, values in enumerate(columns):
        design[:, pos] = values
    if not cat_mask.any():
        design = design.astype(np.float64)
    return design, cat_mask


def _preprocessor_from_json(spec, feature_names, numeric_encoding, n_bins):
    design, cat_mask = _design_frame(spec, feature_names)
    ct = make_default_preprocessor(
        cat_mask, list(range(spec["n_features"])), numeric_encoding, n_bins
    )
    ct.fit(design)
    num = spec["numeric"]
    for name, pipe, _ in ct.transformers_:
        if name == CATEGORICAL:
            pipe.set_categories(spec["categorical"]["categories"])
            continue
        steps = pipe.named_steps
        if IMPUTE in steps:
            dtype = num.get("statistics_dtype", "float32")
            steps[IMPUTE].statistics_ = np.asarray(num["statistics"], dtype=dtype)
        if SCALE in steps:
            scaler = steps[SCALE]
            dtype = num.get("scale_dtype", "float32")
            scaler.mean_ = np.asarray(num["mean"], dtype=dtype)
            scaler.scale_ = np.asarray(num["scale"], dtype=dtype)
            scaler.var_ = np.asarray(num["var"], dtype=dtype)
            scaler.n_samples_seen_ = num["n_samples_seen"]
        for key in (BINS, PLE):
            if key in steps:
                steps[key].set_bin_edges(num[_BIN_EDGES_KEYS[name]])
    return ct


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
        transformer = make_default_preprocessor(
            cat_mask, columns, spec.numeric_encoding, spec.n_bins
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
