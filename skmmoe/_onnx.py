"""One ONNX graph from the raw columns to every task's prediction.

The fitted ColumnTransformer goes through skl2onnx, with converters for skmmoe's own
transformers (registered here) and, for this conversion only, for the imputer with
missing-value indicators and the ``numbers_as_float`` step; the eval-mode network and
the task links go through torch's exporter; ``onnx.compose`` joins the two, and a
last node per classification task looks its label up in the task's classes.

Inputs: one per raw column of shape (n, 1), named ``str(label)`` (``x0``, ``x1``, ...
for a fit on an array): strings for categorical columns (bool ones included, as
"True"/"False"; missing spelled ``""``), float64 for numeric ones (missing as NaN;
datetimes as seconds since the Unix epoch, timedeltas as seconds). As in predict,
imputation, scaling and binning compute in float64, and the features are cast to
float32 once encoded, before the network. A list column ``c`` is two inputs:
``c``, its elements as strings (spelled as categorical values are) of shape
(n, L), padded past each row's length, and ``c__length``, int64 (n,); the graph
looks the elements up as the ListEncoder does (a LabelEncoder, or
``com.microsoft.MurmurHash3`` and Mod for hashed columns) and the network pools
them with the padding masked out. Outputs per task ``t``: ``t_label`` and
``t_proba`` for classification, ``t_value`` for the kinds that predict values
(regression, poisson); no column may bear one of those names.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._encoders import (
    CalendarEncoder,
    CategoryEncoder,
    ListEncoder,
    PiecewiseLinearEncoder,
    QuantileBinner,
    _column_as_strings,
    _element_codes,
    _ragged_elements,
    category_positions,
    numbers_as_float,
)
from ._engine.network import Padded
from ._features import (
    CATEGORICAL,
    DATETIME,
    DATETIME_BINS,
    HASHED,
    NUMERIC,
    NUMERIC_BINS,
    is_categorical_dtype_auto,
)

try:
    import onnx
    import skl2onnx
    from onnx import TensorProto, helper, numpy_helper
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        StringTensorType,
    )
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.shape_calculators.imputer import (
        calculate_sklearn_imputer_output_shapes,
    )
except ImportError as exc:  # pragma: no cover - the extra is absent
    raise ImportError(
        "skmmoe.to_onnx and skmmoe.onnx_inputs need onnx and skl2onnx: "
        "pip install skmmoe[onnx]"
    ) from exc

__all__ = ["DEFAULT_OPSET", "MISSING_CATEGORY", "onnx_inputs", "to_onnx"]

DEFAULT_OPSET = 18
"""The ai.onnx opset of the exported graph (ai.onnx.ml: 3)."""
MIN_OPSET = 15
ML_OPSET = 3
MS_DOMAIN = "com.microsoft"
"""onnxruntime's domain, of the MurmurHash3 that ``hash_buckets`` needs."""
MISSING_CATEGORY = ""
"""How a missing value of a categorical column is spelled in the graph's string
inputs (:func:`onnx_inputs` writes it for NaN and None)."""
LENGTH_SUFFIX = "__length"
"""A list column ``c``'s graph inputs are ``c``, its elements padded, and
``c + LENGTH_SUFFIX``, each row's number of elements."""
FEATURES = "skmmoe_features"
INPUTS_PREFIX = "skmmoe_in_"


# ---------------------------------------------------------------- the inputs
def _split_model(model) -> tuple[Any, list]:
    """The skmmoe estimator and the Pipeline steps before it (empty for an
    estimator)."""
    from ._estimators import _BaseMMOE

    if isinstance(model, Pipeline):
        final = model.steps[-1][1]
        if not isinstance(final, _BaseMMOE):
            raise TypeError(
                "to_onnx exports a skmmoe estimator or a Pipeline ending in one; "
                f"the Pipeline ends in {type(final).__name__}."
            )
        before = [s for s in model.steps[:-1] if s[1] not in (None, "passthrough")]
        if before and not isinstance(before[0][1], ColumnTransformer):
            name, step = before[0]
            raise ValueError(
                "to_onnx exports a Pipeline whose first step is a scikit-learn "
                f"ColumnTransformer; its first step {name!r} is "
                f"{type(step).__name__}."
            )
        check_is_fitted(final, "network_")
        return final, before
    if not isinstance(model, _BaseMMOE):
        raise TypeError(
            "to_onnx exports a fitted MMOEEstimator, MMOEClassifier or "
            f"MMOERegressor (or a Pipeline ending in one); got {type(model).__name__}."
        )
    check_is_fitted(model, "network_")
    return model, []


def _input_columns(model, X_example) -> list[tuple[str, Any, str]]:
    """The graph's inputs: (name, column label, kind) per raw column of the fit,
    kind "string", "double" or "list" (:func:`_inputs_and_frame`)."""
    return _inputs_and_frame(model, X_example)[0]


def _graph_inputs(columns) -> list[str]:
    """The names of the graph's inputs, in order: a column's name, and after a
    list column's its lengths'."""
    names = []
    for name, _, kind in columns:
        names += [name, f"{name}{LENGTH_SUFFIX}"] if kind == "list" else [name]
    return names


def _inputs_and_frame(model, X) -> tuple[list[tuple[str, Any, str]], Any]:
    """The graph's inputs, and X (None allowed) as a DataFrame holding the
    columns of the fit under their labels.

    An input's name is ``str(label)`` where the fit saw column labels (a tuple
    label of MultiIndex columns as ``str`` writes it, ``"('a', 'b')"``), else
    ``x0``, ``x1``, ... by position. Its kind: "string" for the categorical
    columns of the built-in preprocessor, and where another preprocessor
    comes first, for the columns of X of a categorical dtype; "double" for the
    others, as ``numbers_as_float`` makes them; "list" for the list columns
    (:class:`~skmmoe._encoders.ListEncoder`'s), which the graph takes as two
    inputs (:func:`_graph_inputs`)."""
    est, before = _split_model(model)
    labels, named = _column_labels(est, before)
    frame = None if X is None else _columns_of(X, labels, named)
    categorical = np.zeros(len(labels), dtype=bool)
    encoder = est._fitted_state().encoder
    preprocessor = encoder.preprocessor
    if before and encoder.list_columns:
        own, _ = _column_labels(est, [])
        raise ValueError(
            "to_onnx cannot export list columns behind a Pipeline's earlier "
            f"steps: the skmmoe step's list column {own[encoder.list_columns[0]]!r} "
            "comes out of them, and only lists read from X are graph inputs; fit "
            "the skmmoe estimator on the columns themselves."
        )
    if not before and _is_built_in(preprocessor):
        for name, _, columns in preprocessor.transformers_:
            if name == CATEGORICAL or name.startswith(f"{HASHED}_"):
                categorical[list(columns)] = True
    elif frame is not None:
        categorical[:] = [is_categorical_dtype_auto(frame[c].dtype) for c in labels]
    lists = np.zeros(len(labels), dtype=bool)
    lists[list(encoder.list_columns)] = True
    names = [str(c) for c in labels] if named else [f"x{j}" for j in range(len(labels))]
    kinds = np.where(lists, "list", np.where(categorical, "string", "double"))
    columns = [
        (name, label, str(kind)) for name, label, kind in zip(names, labels, kinds)
    ]
    return columns, frame


def _column_labels(est, before: list) -> tuple[list, bool]:
    """The fit's column labels, and whether X had them (else they are its
    column positions)."""
    if before:
        first = before[0][1]
        names = getattr(first, "feature_names_in_", None)
        if names is not None:
            return list(names), True
        return list(range(int(first.n_features_in_))), False
    columns_in = est._fitted_state().columns_in
    if columns_in is not None:
        return list(columns_in), True
    return list(range(int(est.n_features_in_))), False


def _columns_of(X, labels: list, named: bool) -> pd.DataFrame:
    """X as a DataFrame with the columns ``labels`` of the fit: a DataFrame's
    taken by label (in any order) where the fit had labels, else by position."""
    if isinstance(X, pd.DataFrame) and named:
        missing = [c for c in labels if c not in X.columns]
        if missing:
            raise ValueError(
                f"X lacks the columns {missing} of the fit; it must hold the "
                "columns the model was fitted on."
            )
        return X
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    if np.ndim(X) != 2 or frame.shape[1] != len(labels):
        raise ValueError(
            f"X must have shape (n_samples, {len(labels)}); got {np.shape(X)}."
        )
    return frame.set_axis(labels, axis=1)


def _is_built_in(preprocessor: ColumnTransformer) -> bool:
    """Whether the fitted preprocessor is the one skmmoe builds (whose
    categorical columns it knows) rather than the user's."""
    named = {name: t for name, t, _ in preprocessor.transformers_}
    built_in = {CATEGORICAL, NUMERIC, NUMERIC_BINS, DATETIME, DATETIME_BINS}
    hashed = {name for name in named if name.startswith(f"{HASHED}_")}
    return set(named) <= built_in | hashed | {"remainder"} and all(
        isinstance(named[name], CategoryEncoder)
        for name in hashed | ({CATEGORICAL} & set(named))
    )


def onnx_inputs(model, X) -> dict[str, np.ndarray]:
    """The feed of :func:`to_onnx`'s graph for the rows of X.

    Parameters
    ----------
    model : MMOEEstimator, MMOEClassifier, MMOERegressor or Pipeline
        The fitted model the graph was exported from.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Raw rows with the columns of the fit (a DataFrame's matched by label,
        in any order, where the fit had labels).

    Returns
    -------
    feed : dict of str to ndarray
        One entry per column, named as the graph's inputs: ``str(label)``
        (``x0``, ``x1``, ... where the fit had no column labels), of shape
        (n_samples, 1). Categorical columns as strings (missing as ``""``;
        bools as ``"True"`` / ``"False"``), numeric ones as float64 (missing as
        NaN; datetimes as seconds since 1970-01-01 UTC and timedeltas as
        seconds, as predict reads them). A list column ``c`` (Python lists,
        tuples or 1-D arrays, Arrow or polars lists) has two: ``c``, its
        elements as strings spelled as categorical values are, of shape
        (n_samples, longest row of X, at least 1), padded with ``""``, and
        ``c__length``, int64 of shape (n_samples,), each row's number of
        elements (missing elements left out, then the first ``max_list_length``
        kept; 0 for a missing row).

    Examples
    --------
    >>> import pandas as pd
    >>> from skmmoe import MMOEClassifier, onnx_inputs
    >>> X = pd.DataFrame({"city": ["a", "b", None, "a"], "age": [1, 2, 3, None]})
    >>> clf = MMOEClassifier(epochs=1, expert_dnn_hidden_units=(4,))
    >>> clf = clf.fit(X, [0, 1, 0, 1])
    >>> feed = onnx_inputs(clf, X)
    >>> feed["city"].ravel().tolist(), feed["age"].dtype
    (['a', 'b', '', 'a'], dtype('float64'))
    """
    columns, frame = _inputs_and_frame(model, X)
    numeric = [(name, label) for name, label, kind in columns if kind == "double"]
    numbers = {}
    if numeric:
        # One conversion for all numeric columns, predict's own: it checks them
        # as predict does and reads datetimes and timedeltas as seconds.
        values = numbers_as_float(frame[[label for _, label in numeric]])
        numbers = {name: values[:, [j]] for j, (name, _) in enumerate(numeric)}
    list_encoders = dict(
        zip(
            [name for name, _, kind in columns if kind == "list"],
            _split_model(model)[0]._fitted_state().encoder.list_encoders,
        )
    )
    feed = {}
    for name, label, kind in columns:
        if kind == "double":
            feed[name] = numbers[name]
        elif kind == "string":
            feed[name] = _strings(frame[label], label).reshape(-1, 1)
        else:
            elements, lengths = _padded_elements(
                frame[label], label, list_encoders[name].max_length
            )
            feed[name] = elements
            feed[f"{name}{LENGTH_SUFFIX}"] = lengths
    return feed


def _padded_elements(column: pd.Series, label, max_length) -> tuple:
    """A list column's elements as :class:`~skmmoe._encoders.ListEncoder`
    spells them (missing elements dropped, the first ``max_length`` of each
    row kept), padded with ``""`` to the longest row (at least 1 wide), and
    each row's number of elements (0 for a missing row)."""
    elements, lengths = _ragged_elements(
        column, label, max_length=max_length, fitted=True
    )
    codes, strings = _element_codes(elements, label)
    n = len(lengths)
    padded = np.full((n, max(int(lengths.max(initial=0)), 1)), MISSING_CATEGORY)
    padded = padded.astype(object)
    rows = np.repeat(np.arange(n), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    padded[rows, np.arange(len(codes)) - starts] = strings[codes]
    return padded, lengths.astype(np.int64)


def _strings(column: pd.Series, label) -> np.ndarray:
    """A categorical column's values as predict spells them, missing as ``""``."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Each category that occurs spelled once, then taken by position (-1,
        # missing: the last).
        positions, categories = category_positions(column)
        table = np.empty(len(categories) + 1, dtype=object)
        table[:-1] = _column_as_strings(categories, label)
        table[-1] = MISSING_CATEGORY
        return table[positions]
    strings = _column_as_strings(column, label)
    strings[pd.isna(strings)] = MISSING_CATEGORY
    return strings


# ------------------------------------------- skl2onnx converters for skmmoe
def _initializer(scope, container, values: np.ndarray, name: str) -> str:
    var = scope.get_unique_variable_name(name)
    tensor = numpy_helper.from_array(np.asarray(values), name=var)
    container.initializers.append(tensor)
    return var


def _cast_output(scope, container, operator, x: str, to: int) -> None:
    """The converter's output: ``x`` cast to the TensorProto type ``to``."""
    container.add_node(
        "Cast",
        [x],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Cast"),
        to=to,
    )


def _node(scope, container, op_type: str, inputs: list, **attrs) -> str:
    out = scope.get_unique_variable_name(op_type.lower())
    domain = attrs.pop("op_domain", "")
    version = attrs.pop("op_version", None)
    container.add_node(
        op_type,
        inputs,
        [out],
        name=scope.get_unique_operator_name(op_type),
        op_domain=domain,
        op_version=version,
        **attrs,
    )
    return out


def _columns(scope, container, x: str, positions) -> str:
    """Columns ``positions`` of the (n, k) value ``x``, as an (n, len) value."""
    index = _initializer(scope, container, np.asarray(positions, np.int64), "j")
    return _node(scope, container, "Gather", [x, index], axis=1)


def _n_columns(operator) -> int:
    return int(operator.raw_operator.n_features_in_)


def _shape_category_encoder(operator: Any) -> None:
    operator.outputs[0].type = FloatTensorType([None, _n_columns(operator)])


def _convert_category_encoder(scope: Any, operator: Any, container: Any) -> None:
    """Each column's string -> its code (:func:`_string_codes`), as float like
    the transformer."""
    encoder: CategoryEncoder = operator.raw_operator
    x = operator.inputs[0].full_name
    numeric = not isinstance(operator.inputs[0].type, StringTensorType)
    if numeric:  # a Pipeline's earlier steps made numbers (none hashed)
        # LabelEncoder (ai.onnx.ml 2 and 3) looks up float32 keys only.
        x = _node(scope, container, "Cast", [x], to=TensorProto.FLOAT)

    def node(op_type: str, inputs: list, **attrs) -> str:
        return _node(scope, container, op_type, inputs, **attrs)

    def const(values: np.ndarray, name: str) -> str:
        return _initializer(scope, container, values, name)

    codes = [
        _string_codes(
            node,
            const,
            _columns(scope, container, x, [j]),
            encoder,
            j,
            numeric=numeric,
            empty_is_missing=True,
        )
        for j in range(len(encoder.categories_))
    ]
    joined = (
        codes[0]
        if len(codes) == 1
        else _node(scope, container, "Concat", codes, axis=1)
    )
    _cast_output(scope, container, operator, joined, TensorProto.FLOAT)


def _string_codes(
    node,
    const,
    x: str,
    encoder: CategoryEncoder | ListEncoder,
    j: int,
    *,
    numeric: bool = False,
    empty_is_missing: bool,
) -> str:
    """The int64 codes of column ``j`` of ``encoder`` of the values ``x`` (a
    tensor of any shape), as the encoder's ``_codes`` gives them: the index in
    ``categories_[j]``, ``len(categories_[j])`` for an infrequent value, -1
    for any other; with ``hash_buckets``, the value's
    ``com.microsoft.MurmurHash3`` (seed 0, positive, as
    :func:`~skmmoe._encoders.hash_strings`) modulo the number of buckets, and
    with ``empty_is_missing`` -1 for ``""``. Strings unless ``numeric`` (float32
    then). ``node(op_type, inputs, **attrs)`` adds a node and names its output,
    ``const(values, name)`` adds an initializer."""
    if encoder.hash_buckets is not None:
        hashed = node(
            "MurmurHash3",
            [x],
            op_domain=MS_DOMAIN,
            op_version=1,
            seed=0,
            positive=1,
        )
        hashed = node("Cast", [hashed], to=TensorProto.INT64)
        buckets = const(np.array(encoder.hash_buckets, dtype=np.int64), "buckets")
        code = node("Mod", [hashed, buckets])
        if not empty_is_missing:
            return code
        # "" is missing: ai.onnx's Equal compares strings from opset 19 only.
        empty = node(
            "LabelEncoder",
            [x],
            op_domain="ai.onnx.ml",
            op_version=2,
            keys_strings=[MISSING_CATEGORY],
            values_int64s=[1],
            default_int64=0,
        )
        missing = const(np.array(-1, dtype=np.int64), "missing")
        return node(
            "Where", [node("Cast", [empty], to=TensorProto.BOOL), missing, code]
        )
    categories = list(encoder.categories_[j])
    infrequent = list(encoder.infrequent_categories_[j])
    attrs: dict[str, Any] = dict(
        values_int64s=list(range(len(categories)))
        + [len(categories)] * len(infrequent),
        default_int64=-1,
    )
    keys = categories + infrequent
    if numeric:
        attrs["keys_floats"] = [float(c) for c in keys]
    else:
        attrs["keys_strings"] = [str(c) for c in keys]
    return node("LabelEncoder", [x], op_domain="ai.onnx.ml", op_version=2, **attrs)


def _convert_quantile_binner(scope: Any, operator: Any, container: Any) -> None:
    """Index of the bin: how many inner edges are <= x, compared in float64 as
    the transformer compares them; NaN stays NaN."""
    binner: QuantileBinner = operator.raw_operator
    x = operator.inputs[0].full_name  # float64, from numbers_as_float
    inner = [e[1:-1] for e in binner.bin_edges_]
    width = max((len(e) for e in inner), default=0)
    table = np.full((len(inner), max(width, 1)), np.inf)
    for j, e in enumerate(inner):
        table[j, : len(e)] = e
    x3 = _node(
        scope,
        container,
        "Unsqueeze",
        [x, _initializer(scope, container, np.array([2], dtype=np.int64), "axis")],
    )
    above = _node(
        scope,
        container,
        "GreaterOrEqual",
        [x3, _initializer(scope, container, table[None], "edges")],
    )
    count = _node(
        scope,
        container,
        "ReduceSum",
        [
            _node(scope, container, "Cast", [above], to=TensorProto.FLOAT),
            _initializer(scope, container, np.array([2], dtype=np.int64), "axis"),
        ],
        keepdims=0,
    )
    nan = _initializer(scope, container, np.array(np.nan, dtype=np.float32), "nan")
    container.add_node(
        "Where",
        [_node(scope, container, "IsNaN", [x]), nan, count],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )


def _shape_ple(operator: Any) -> None:
    widths = [max(len(e) - 1, 1) for e in operator.raw_operator.bin_edges_]
    operator.outputs[0].type = FloatTensorType([None, sum(widths)])


def _convert_ple(scope: Any, operator: Any, container: Any) -> None:
    """(x - lo) / (hi - lo) per bin, in float64 as the transformer computes it,
    clipped below 0 except in the first bin and above 1 except in the last."""
    ple: PiecewiseLinearEncoder = operator.raw_operator
    x = operator.inputs[0].full_name
    source, lo, width, lower, upper = [], [], [], [], []
    for j, edges in enumerate(ple.bin_edges_):
        if len(edges) < 2:  # a constant column: one output, always 0
            source.append(j)
            lo.append(0.0)
            width.append(1.0)
            lower.append(0.0)
            upper.append(0.0)
            continue
        n = len(edges) - 1
        source += [j] * n
        lo += edges[:-1].tolist()
        width += (edges[1:] - edges[:-1]).tolist()
        lower += [-np.inf] + [0.0] * (n - 1)
        upper += [1.0] * (n - 1) + [np.inf]

    def const(values, name):
        return _initializer(scope, container, np.array([values]), name)

    repeated = _columns(scope, container, x, source)
    t = _node(scope, container, "Sub", [repeated, const(lo, "lo")])
    t = _node(scope, container, "Div", [t, const(width, "width")])
    t = _node(scope, container, "Max", [t, const(lower, "lower")])
    t = _node(scope, container, "Min", [t, const(upper, "upper")])
    _cast_output(scope, container, operator, t, TensorProto.FLOAT)


def _shape_imputer(operator: Any) -> None:
    imputer: SimpleImputer = operator.raw_operator
    if not _imputes_nan_in_floats(operator):
        calculate_sklearn_imputer_output_shapes(operator)
        return
    kept, indicators = _imputer_columns(imputer)
    operator.outputs[0].type = operator.inputs[0].type.__class__(
        [None, len(kept) + len(indicators)]
    )


def _imputer_columns(imputer: SimpleImputer) -> tuple[np.ndarray, np.ndarray]:
    """The columns transform keeps (all-missing ones are dropped unless
    ``keep_empty_features``) and those it adds an indicator for."""
    n = len(imputer.statistics_)
    kept = np.arange(n)
    if not imputer.keep_empty_features:
        kept = kept[~pd.isna(imputer.statistics_)]
    indicator = getattr(imputer, "indicator_", None)
    features = indicator.features_ if indicator is not None else []
    return kept.astype(np.int64), np.asarray(features, dtype=np.int64)


def _imputes_nan_in_floats(operator) -> bool:
    imputer = operator.raw_operator
    return isinstance(
        operator.inputs[0].type, (FloatTensorType, DoubleTensorType)
    ) and _is_nan(imputer.missing_values)


def _is_nan(value) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer of NaN in floats, with its missing-value indicators
    (skl2onnx's own converter drops them, and onnxruntime's Imputer takes float32
    only); anything else to skl2onnx's."""
    if not _imputes_nan_in_floats(operator):
        convert_sklearn_imputer(scope, operator, container)
        return
    imputer: SimpleImputer = operator.raw_operator
    kept, indicators = _imputer_columns(imputer)
    is_float = isinstance(operator.inputs[0].type, FloatTensorType)
    dtype = np.float32 if is_float else np.float64
    # What transform fills a missing value with, empty columns included.
    n = len(imputer.statistics_)
    row: Any = np.full((1, n), np.nan, dtype=dtype)
    if hasattr(imputer, "feature_names_in_"):
        row = pd.DataFrame(row, columns=imputer.feature_names_in_)
    fill = np.asarray(imputer.transform(row))[0, : len(kept)]
    x = operator.inputs[0].full_name
    missing = _node(scope, container, "IsNaN", [x])
    if len(kept) < n:
        index = _initializer(scope, container, kept, "kept")
        x = _node(scope, container, "Gather", [x, index], axis=1)
        kept_missing = _node(scope, container, "Gather", [missing, index], axis=1)
    else:
        kept_missing = missing
    parts = [
        _node(
            scope,
            container,
            "Where",
            [
                kept_missing,
                _initializer(scope, container, fill.astype(dtype)[None], "fill"),
                x,
            ],
        )
    ]
    if len(indicators):
        index = _initializer(scope, container, indicators, "j")
        flags = _node(scope, container, "Gather", [missing, index], axis=1)
        to = TensorProto.FLOAT if is_float else TensorProto.DOUBLE
        parts.append(_node(scope, container, "Cast", [flags], to=to))
    container.add_node(
        "Concat" if len(parts) > 1 else "Identity",
        parts,
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Concat"),
        **({"axis": 1} if len(parts) > 1 else {}),
    )


def _shape_calendar(operator: Any) -> None:
    encoder: CalendarEncoder = operator.raw_operator
    width = sum(1 + len(parts) for parts in encoder.parts_)
    operator.outputs[0].type = DoubleTensorType([None, width])


class _Arithmetic:
    """float64 arithmetic on graph values, one node per operation, in the order
    :func:`skmmoe._encoders.calendar_parts` computes it (so the graph gives the
    same numbers)."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def const(self, value: float) -> str:
        return _initializer(
            self.scope, self.container, np.array(value, dtype=np.float64), "c"
        )

    def op(self, op_type: str, *inputs) -> str:
        names = [self.const(v) if isinstance(v, float) else v for v in inputs]
        return _node(self.scope, self.container, op_type, names)

    def add(self, a, b) -> str:
        return self.op("Add", a, b)

    def sub(self, a, b) -> str:
        return self.op("Sub", a, b)

    def mul(self, a, b) -> str:
        return self.op("Mul", a, b)

    def floor_div(self, a, b: float) -> str:
        return self.op("Floor", self.op("Div", a, b))

    def parts(self, seconds: str) -> dict[str, str]:
        add, sub, mul, floor_div = self.add, self.sub, self.mul, self.floor_div
        days = floor_div(seconds, 86400.0)
        of_day = floor_div(sub(seconds, mul(days, 86400.0)), 3600.0)
        hour = self.op("Clip", of_day, 0.0, 23.0)
        shifted = add(days, 3.0)
        weekday = sub(shifted, mul(7.0, floor_div(shifted, 7.0)))
        z = add(days, 719468.0)
        doe = sub(z, mul(floor_div(z, 146097.0), 146097.0))
        yoe = floor_div(
            sub(
                add(sub(doe, floor_div(doe, 1460.0)), floor_div(doe, 36524.0)),
                floor_div(doe, 146096.0),
            ),
            365.0,
        )
        doy = sub(
            doe, sub(add(mul(365.0, yoe), floor_div(yoe, 4.0)), floor_div(yoe, 100.0))
        )
        mp = floor_div(add(mul(5.0, doy), 2.0), 153.0)
        day = add(sub(doy, floor_div(add(mul(153.0, mp), 2.0), 5.0)), 1.0)
        month = self.op(
            "Where", self.op("GreaterOrEqual", mp, 10.0), sub(mp, 9.0), add(mp, 3.0)
        )
        return {"hour": hour, "weekday": weekday, "day": day, "month": month}


def _convert_calendar(scope: Any, operator: Any, container: Any) -> None:
    """Each datetime column's seconds (float64, as ``onnx_inputs`` feeds them)
    and its calendar parts, computed as :func:`~skmmoe._encoders.calendar_parts`
    computes them."""
    encoder: CalendarEncoder = operator.raw_operator
    x = _node(
        scope, container, "Cast", [operator.inputs[0].full_name], to=TensorProto.DOUBLE
    )
    math = _Arithmetic(scope, container)
    columns = []
    for j, parts in enumerate(encoder.parts_):
        seconds = _columns(scope, container, x, [j])
        values = math.parts(seconds) if parts else {}
        columns += [seconds, *(values[p] for p in parts)]
    container.add_node(
        "Concat" if len(columns) > 1 else "Identity",
        columns,
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Concat"),
        **({"axis": 1} if len(columns) > 1 else {}),
    )


def _shape_as_float(operator: Any) -> None:
    _check_function(operator.raw_operator)
    width = operator.inputs[0].type.shape[1]
    operator.outputs[0].type = DoubleTensorType([None, width])


def _check_function(transformer: FunctionTransformer) -> None:
    if transformer.func is not numbers_as_float or transformer.inverse_func:
        raise ValueError(
            "to_onnx cannot export a FunctionTransformer with the function "
            f"{getattr(transformer.func, '__name__', transformer.func)!r}: ONNX "
            "has no converter for arbitrary Python functions."
        )


def _convert_as_float(scope: Any, operator: Any, container: Any) -> None:
    """``numbers_as_float``: numbers as float64 (what the imputation, scaling
    and binning after it compute in)."""
    x = operator.inputs[0].full_name
    _cast_output(scope, container, operator, x, TensorProto.DOUBLE)


skl2onnx.update_registered_converter(
    CategoryEncoder,
    "SkmmoeCategoryEncoder",
    _shape_category_encoder,
    _convert_category_encoder,
)
skl2onnx.update_registered_converter(
    QuantileBinner,
    "SkmmoeQuantileBinner",
    _shape_category_encoder,
    _convert_quantile_binner,
)
skl2onnx.update_registered_converter(
    PiecewiseLinearEncoder, "SkmmoePiecewiseLinearEncoder", _shape_ple, _convert_ple
)
skl2onnx.update_registered_converter(
    CalendarEncoder, "SkmmoeCalendarEncoder", _shape_calendar, _convert_calendar
)
# For skmmoe's conversions only, not registered: a user's own SimpleImputer and
# FunctionTransformer keep skl2onnx's converters elsewhere.
_CONVERTERS = {SimpleImputer: _convert_imputer, FunctionTransformer: _convert_as_float}
_SHAPES = {SimpleImputer: _shape_imputer, FunctionTransformer: _shape_as_float}


# --------------------------------------------------- the network and links
class _Serving(nn.Module):
    """The preprocessor's output and the list columns' ids -> every task's
    outputs: ids with the reserved index for unknown and missing values, the
    eval-mode network, the links.

    After ``features`` (n, n_features) come two tensors per list column: its ids
    (n, L) int64, padded past each row's length, and the lengths (n,) int64,
    which the network pools as :class:`~skmmoe._engine.network.Padded`."""

    sparse_positions: torch.Tensor
    dense_positions: torch.Tensor
    vocabulary_sizes: torch.Tensor

    def __init__(self, network, encoder, tasks):
        super().__init__()
        self.network = copy.deepcopy(network).cpu().eval()
        self.register_buffer(
            "sparse_positions", torch.as_tensor(encoder.sparse_positions).long()
        )
        self.register_buffer(
            "dense_positions", torch.as_tensor(encoder.dense_positions).long()
        )
        self.register_buffer(
            "vocabulary_sizes",
            torch.tensor(encoder.vocabulary_sizes, dtype=torch.float32),
        )
        self.tasks = list(tasks)

    def forward(
        self, features: torch.Tensor, *lists: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        n = features.shape[0]
        if len(self.sparse_positions):
            codes = features.index_select(1, self.sparse_positions)
            ids = torch.where(torch.isfinite(codes), codes, -1.0) + 1.0
            unknown = (ids < 0) | (ids >= self.vocabulary_sizes)
            sparse = torch.where(unknown, 0.0, ids).long()
        else:
            sparse = features.new_zeros((n, 0), dtype=torch.long)
        if len(self.dense_positions):
            dense = features.index_select(1, self.dense_positions)
        else:
            dense = features.new_zeros((n, 0))
        outs: list[torch.Tensor] = []
        padded = [Padded(ids, lengths) for ids, lengths in zip(lists[::2], lists[1::2])]
        for task, z in zip(self.tasks, self.network(sparse, dense, padded)):
            outs += task.serving_outputs(z)
        return tuple(outs)


LIST_IDS, LIST_LENGTHS = "skmmoe_list_ids_", "skmmoe_list_lengths_"
"""The network graph's inputs of list column i: ``f"{LIST_IDS}{i}"`` and
``f"{LIST_LENGTHS}{i}"``."""


def _network_graph(est, n_features: int, opset: int) -> tuple[onnx.ModelProto, list]:
    state = est._fitted_state()
    module = _Serving(state.network, state.encoder, state.tasks).eval()
    # A classification's label is looked up from its class index after export
    # (:func:`_label_lookups`).
    names = [
        f"{task.name}__index" if output == "label" else f"{task.name}_{output}"
        for task in state.tasks
        for output in task.onnx_outputs
    ]
    batch = torch.export.Dim("batch", min=1)
    example = [torch.zeros(4, n_features)]
    inputs, shapes = ["features"], [{0: batch}]
    for i in range(len(state.encoder.list_encoders)):
        # Any valid ids: the export reads no values, and each length dimension
        # is dynamic (an example of 1 would fix it, torch.export specialises 1).
        example += [torch.zeros(4, 3, dtype=torch.long), torch.tensor([3, 0, 1, 2])]
        inputs += [f"{LIST_IDS}{i}", f"{LIST_LENGTHS}{i}"]
        length = torch.export.Dim(f"list_length_{i}", min=1)
        shapes += [{0: batch, 1: length}, {0: batch}]
    # Traced with autograd on, as in training: under no_grad the network's
    # activations run in place (torch.relu_ saves an allocation there), which
    # the exporter turns into scatters and copies that cost onnxruntime a third
    # of its time. The exporter logs and warns about things of its own
    # (torchvision's operators, deprecations); skmmoe prints nothing unless asked.
    with torch.enable_grad(), _quiet():
        program = torch.onnx.export(
            module,
            tuple(example),
            input_names=inputs,
            output_names=names,
            # The list columns' tensors are forward's *lists, one argument
            # (none without list columns).
            dynamic_shapes=(shapes[0], *([tuple(shapes[1:])] if shapes[1:] else [])),
            opset_version=opset,
            dynamo=True,
            optimize=True,
            verbose=False,
        )
    assert program is not None  # dynamo=True returns the program
    return program.model_proto, state.tasks


@contextlib.contextmanager
def _quiet():
    names = ("torch.onnx", "torch.export", "torch", "onnxscript", "onnx_ir")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


# ----------------------------------------------------------------- export
def _preprocessor_graph(model, columns, opset: int) -> onnx.ModelProto:
    """The raw columns -> the skmmoe preprocessor's output as the network takes
    it: float32, one column per network input before the id lookup, computed in
    float64 before as predict computes it. A Pipeline's earlier steps are
    converted first and joined to the skmmoe preprocessor, which skl2onnx then
    converts with the width of their output known (it needs it to pick
    columns).

    skl2onnx gets the columns' names, which a user's ColumnTransformer picks
    columns by, and renames them to names of its own; every name of the graph
    that takes the columns is then prefixed, so that no merge meets a name
    twice: :func:`_name_inputs` gives the inputs the columns' names at the end.
    """
    est, before = _split_model(model)
    preprocessor = est._fitted_state().encoder.preprocessor
    for name, step in [*before, ("skmmoe preprocessor", preprocessor)]:
        for _, transformer, _ in getattr(step, "transformers_", []):
            _check_categories(transformer, name)
    if before:
        _check_no_hashing(est, preprocessor)
    # A list column is an input of this graph that no node reads (the
    # preprocessor drops it; :func:`_list_lookups` reads it): kept so that the
    # preprocessor's column positions are the inputs' positions.
    tensor_types = {
        "double": DoubleTensorType,
        "string": StringTensorType,
        "list": StringTensorType,
    }
    types = [(name, tensor_types[kind]([None, 1])) for name, _, kind in columns]
    if not before and not len(preprocessor.get_feature_names_out()):
        return _no_features(columns, opset)  # list columns only
    if not before:
        pre = _convert(
            _with_int_columns(preprocessor), types, opset, "the skmmoe preprocessor"
        )
        pre = onnx.compose.add_prefix(pre, INPUTS_PREFIX)
    else:
        first = before[0][1] if len(before) == 1 else Pipeline(before)
        described = ", ".join(f"{n!r} ({type(s).__name__})" for n, s in before)
        head = _convert(first, types, opset, f"the Pipeline's steps {described}")
        head = onnx.compose.add_prefix(head, INPUTS_PREFIX)
        tail = _convert(
            preprocessor,
            [(FEATURES, DoubleTensorType([None, int(est.n_features_in_)]))],
            opset,
            "the skmmoe preprocessor",
        )
        tail = onnx.compose.add_prefix(tail, "skmmoe_pre_", rename_inputs=False)
        # As numbers_as_float reads the steps' output.
        _cast_graph_output(head, TensorProto.DOUBLE)
        _agree(head, tail)
        pre = onnx.compose.merge_models(
            head, tail, io_map=[(head.graph.output[0].name, FEATURES)]
        )
    _cast_graph_output(pre, TensorProto.FLOAT)  # as FeatureEncoder._split
    return pre


def _no_features(columns, opset: int) -> onnx.ModelProto:
    """The preprocessor's graph where it has no output (X holds list columns
    only): an (n, 0) float32 features tensor, n read from the first input's
    shape (a list column's, whose padded elements then take its place)."""
    first = f"{INPUTS_PREFIX}{columns[0][0]}"
    inputs = [
        helper.make_tensor_value_info(
            f"{INPUTS_PREFIX}{name}", TensorProto.STRING, [None, 1]
        )
        for name, _, _ in columns
    ]
    zero = numpy_helper.from_array(np.array([0], dtype=np.int64), "skmmoe_pre_zero")
    nodes = [
        helper.make_node("Shape", [first], ["skmmoe_pre_n"], start=0, end=1),
        helper.make_node(
            "Concat", ["skmmoe_pre_n", zero.name], ["skmmoe_pre_shape"], axis=0
        ),
        helper.make_node(
            "ConstantOfShape",
            ["skmmoe_pre_shape"],
            ["skmmoe_pre_features"],
            value=numpy_helper.from_array(np.array([0.0], dtype=np.float32)),
        ),
    ]
    output = helper.make_tensor_value_info(
        "skmmoe_pre_features", TensorProto.FLOAT, [None, 0]
    )
    graph = helper.make_graph(nodes, "skmmoe_pre", inputs, [output], [zero])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _with_int_columns(preprocessor: ColumnTransformer) -> ColumnTransformer:
    """The fitted preprocessor, its columns' positions as Python ints where
    they are numpy ints (skl2onnx takes those for names; a user's
    ColumnTransformer may be given them), in a shallow copy."""
    copied = copy.copy(preprocessor)
    copied.transformers_ = [
        (
            name,
            transformer,
            [int(c) if isinstance(c, np.integer) else c for c in columns]
            if isinstance(columns, list)
            else columns,
        )
        for name, transformer, columns in preprocessor.transformers_
    ]
    return copied


def _cast_graph_output(model: onnx.ModelProto, to: int) -> None:
    """The graph's one output cast to the TensorProto type ``to``, unless it
    is of that type."""
    output = model.graph.output[0]
    if output.type.tensor_type.elem_type == to:
        return
    cast = f"{output.name}_{helper.tensor_dtype_to_np_dtype(to)}"
    model.graph.node.append(helper.make_node("Cast", [output.name], [cast], to=to))
    model.graph.output.remove(output)
    model.graph.output.append(helper.make_tensor_value_info(cast, to, [None, None]))


def _convert(transformer, types, opset: int, what: str) -> onnx.ModelProto:
    try:
        return skl2onnx.convert_sklearn(
            transformer,
            initial_types=types,
            target_opset={"": opset, "ai.onnx.ml": ML_OPSET},
            custom_conversion_functions=_CONVERTERS,
            custom_shape_calculators=_SHAPES,
        )
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as exc:
        raise ValueError(f"skl2onnx cannot convert {what}: {exc}") from exc


def _check_no_hashing(est, preprocessor: ColumnTransformer) -> None:
    """Behind a Pipeline's earlier steps the skmmoe preprocessor gets numbers,
    which ``hash_buckets`` hashes the text of as predict writes it, and ONNX
    does not write it alike."""
    labels, _ = _column_labels(est, [])
    for _, transformer, columns in preprocessor.transformers_:
        if getattr(transformer, "hash_buckets", None) is not None:
            raise ValueError(
                f"to_onnx cannot export the hashed column {labels[list(columns)[0]]!r}"
                " of the skmmoe step: behind a Pipeline's earlier steps it holds "
                "numbers, whose text predict hashes and ONNX cannot write alike; "
                "hash the columns of X (hash_buckets without the earlier steps)."
            )


def _check_categories(transformer, step_name: str) -> None:
    for part in getattr(transformer, "steps", [(None, transformer)]):
        encoder = part[1]
        if isinstance(encoder, CategoryEncoder):
            for categories, rare in zip(
                encoder.categories_, encoder.infrequent_categories_
            ):
                if MISSING_CATEGORY in {*categories.tolist(), *rare.tolist()}:
                    raise ValueError(
                        f"A categorical column of step {step_name!r} holds the empty "
                        "string as a category, which the ONNX graph reserves for "
                        "missing values; replace it before fitting."
                    )


def _label_lookups(model: onnx.ModelProto, tasks) -> None:
    graph = model.graph
    for task in tasks:
        if not task.is_classification:
            continue
        index = f"{task.name}__index"
        classes = np.asarray(task.classes_)
        if classes.dtype.kind in "OUS":
            table = np.asarray([str(c) for c in classes], dtype=object)
        elif classes.dtype.kind == "b":
            table = classes.astype(bool)
        elif classes.dtype.kind in "iu":
            table = classes.astype(np.int64)
        else:
            table = classes.astype(np.float64)
        const = numpy_helper.from_array(table, name=f"{task.name}__classes")
        graph.initializer.append(const)
        label = f"{task.name}_label"
        graph.node.append(helper.make_node("Gather", [const.name, index], [label]))
        position = [o.name for o in graph.output].index(index)
        graph.output.remove(graph.output[position])
        graph.output.insert(
            position,
            helper.make_tensor_value_info(label, const.data_type, ["batch"]),
        )


def to_onnx(
    model,
    X_example=None,
    path: str | os.PathLike | None = None,
    *,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """One ONNX graph from the raw columns of the fit to every task's prediction.

    The preprocessing (imputation, category lookup with the reserved index for
    unseen and missing values, rare values grouped or values hashed, bin edges,
    piecewise-linear encoding, scaling, list columns' lookup and pooling), the
    network and the task links are in the one graph; onnxruntime serves it without
    torch, pandas or scikit-learn.

    Parameters
    ----------
    model : MMOEEstimator, MMOEClassifier, MMOERegressor or Pipeline
        Fitted. A Pipeline's first step must be a scikit-learn ColumnTransformer
        whose steps skl2onnx converts, and its last a skmmoe estimator.
    X_example : DataFrame, default=None
        Rows with the columns of the fit, whose dtypes tell a Pipeline's or a
        user's preprocessor's string columns (object, string, category, bool)
        apart from numeric ones. Not needed with the built-in preprocessor, whose
        categorical columns are string inputs and the others float64.
    path : str or path-like, default=None
        Where to write the model too.
    opset : int, default=18
        The ai.onnx opset of the graph, at least 15 (torch's exporter writes 18
        and converts to others).

    Returns
    -------
    onnx.ModelProto
        Inputs, one per column of shape (n, 1), named exactly ``str(label)``
        (``"hours per week"`` stays so; a MultiIndex column ``("a", "b")`` is
        ``"('a', 'b')"``; ``x0``, ``x1``, ... for a fit on an array or a
        Pipeline fitted on one): categorical columns as strings (missing:
        ``""``, bools ``"True"`` / ``"False"``), numeric ones as float64
        (missing: NaN; datetimes as seconds since 1970-01-01 UTC, timedeltas as
        seconds), imputed, scaled and binned in float64 as predict does them;
        a list column ``c`` as two inputs, ``c``, strings of shape (n, L) padded
        with ``""`` past each row's length, and ``c__length``, int64 of shape
        (n,). :func:`onnx_inputs` builds them from a DataFrame. Outputs per task
        ``t``: ``t_label`` (n,) and ``t_proba`` (n, n_classes) float32 for
        classification, ``t_value`` (n,) float64 for regression and poisson. The
        batch size is dynamic.

    Raises
    ------
    ValueError
        Before building anything, for a column whose name the graph cannot
        take: the empty name (ONNX's absent input), one that is not UTF-8, or
        the name of an output (a column ``"t_label"`` beside a classification
        task ``t``), or a list column ``c`` beside a column ``c__length``. Also
        for steps skl2onnx cannot convert, naming the step; and naming the
        column, for list columns behind a Pipeline's earlier steps and for
        hashed columns there.

    Examples
    --------
    >>> import numpy as np, onnxruntime, pandas as pd
    >>> from skmmoe import MMOEEstimator, onnx_inputs, to_onnx
    >>> X = pd.DataFrame({"city": ["a", "b", None, "a"] * 5, "age": np.arange(20.0)})
    >>> Y = pd.DataFrame({"buys": ["no", "yes"] * 10, "spend": np.arange(20.0)})
    >>> est = MMOEEstimator(epochs=1, expert_dnn_hidden_units=(4,)).fit(X, Y)
    >>> session = onnxruntime.InferenceSession(to_onnx(est).SerializeToString())
    >>> [o.name for o in session.get_outputs()]
    ['buys_label', 'buys_proba', 'spend_value']
    >>> label, proba, value = session.run(None, onnx_inputs(est, X))
    >>> bool(np.allclose(proba, est.predict_proba(X)[0], atol=1e-5))
    True
    """
    est, before = _split_model(model)
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(
            f"opset must be an int >= {MIN_OPSET}, the oldest the export is "
            f"tested with; got {opset!r}."
        )
    columns = _input_columns(model, X_example)
    _check_names(columns, est._fitted_state().tasks)
    pre = _preprocessor_graph(model, columns, opset)
    n_features = len(est._fitted_state().encoder.preprocessor.get_feature_names_out())
    net, tasks = _network_graph(est, n_features, opset)
    net = onnx.compose.add_prefix(
        net, "skmmoe_net_", rename_inputs=False, rename_outputs=False
    )
    _agree(pre, net)
    merged = onnx.compose.merge_models(
        pre, net, io_map=[(pre.graph.output[0].name, "features")]
    )
    _label_lookups(merged, tasks)
    _list_lookups(merged, columns, est._fitted_state().encoder.list_encoders)
    # onnx.compose keeps each graph's import of a domain: one is enough.
    imports = {(i.domain, i.version): i for i in merged.opset_import}
    del merged.opset_import[:]
    merged.opset_import.extend(imports.values())
    merged.graph.name = "skmmoe"
    _name_inputs(merged.graph, _graph_inputs(columns))
    onnx.checker.check_model(merged)
    if path is not None:
        onnx.save(merged, os.fspath(path))
    return merged


class _Nodes:
    """Nodes and initializers for a graph, under names that start with
    ``prefix``; the nodes are kept in :attr:`nodes`, in the order added."""

    def __init__(self, graph: onnx.GraphProto, prefix: str):
        self.graph, self.prefix = graph, prefix
        self.nodes: list[onnx.NodeProto] = []
        self.domains: set[str] = set()

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}_{len(self.nodes)}_{len(self.graph.initializer)}"

    def node(self, op_type: str, inputs: list, **attrs) -> str:
        out = self._name(op_type.lower())
        domain = attrs.pop("op_domain", "")
        attrs.pop("op_version", None)
        self.domains.add(domain)
        self.nodes.append(
            helper.make_node(op_type, inputs, [out], name=out, domain=domain, **attrs)
        )
        return out

    def const(self, values: np.ndarray, name: str) -> str:
        var = self._name(name)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(values), var))
        return var


def _list_lookups(model: onnx.ModelProto, columns, encoders: list) -> None:
    """Each list column's graph inputs: its elements, strings of shape (n, L),
    looked up as its ListEncoder looks them up (unknown 0, ``k + 1``, the
    infrequent ``K + 1``, or the hash bucket + 1), for the network's
    ``LIST_IDS`` input, and its lengths, the network's ``LIST_LENGTHS`` one.
    The inputs end in the order of :func:`_graph_inputs` (the preprocessor's
    inputs come first, one per column, in order)."""
    graph = model.graph
    if not encoders:
        return
    own = list(graph.input)[: len(columns)]
    by_name = {value.name: value for value in graph.input}
    inputs, nodes, domains, i = [], [], set(), 0
    for value, (name, _, kind) in zip(own, columns):
        if kind != "list":
            inputs.append(value)
            continue
        build = _Nodes(graph, f"skmmoe_list_{i}_")
        code = _string_codes(
            build.node, build.const, value.name, encoders[i], 0, empty_is_missing=False
        )
        one = build.const(np.array(1, dtype=np.int64), "one")
        build.nodes.append(
            helper.make_node(
                "Add", [code, one], [f"{LIST_IDS}{i}"], name=f"{LIST_IDS}{i}"
            )
        )
        nodes += build.nodes
        domains |= build.domains
        elements = helper.make_tensor_value_info(
            value.name, TensorProto.STRING, ["batch", f"{name}__longest"]
        )
        inputs += [elements, by_name[f"{LIST_LENGTHS}{i}"]]
        i += 1
    del graph.input[:]
    graph.input.extend(inputs)
    # Before the network's nodes, which read their outputs (ONNX graphs are
    # sorted).
    for node in reversed(nodes):
        graph.node.insert(0, node)
    imported = {imp.domain for imp in model.opset_import}
    versions = {"ai.onnx.ml": ML_OPSET, MS_DOMAIN: 1}
    for domain in sorted(domains - imported - {""}):
        model.opset_import.append(helper.make_opsetid(domain, versions[domain]))


def _check_names(columns, tasks) -> None:
    """Every column's name can be a graph input: not empty (ONNX's name for an
    absent input), UTF-8, and not an output's name (an ONNX graph has one
    namespace for all its values). Names are distinct: the fit refuses
    duplicate columns, and the labels it takes (strings, numbers, tuples of
    them) print differently where they differ. A list column's lengths'
    input, ``name + "__length"``, is no other column's or output's name."""
    outputs = {
        f"{task.name}_{output}": task.name
        for task in tasks
        for output in task.onnx_outputs
    }
    for name, label, _ in columns:
        if not name:
            raise ValueError(
                "The column named '' cannot be a graph input: ONNX reserves the "
                "empty name for absent inputs; rename the column."
            )
        if not _is_utf8(name):
            raise ValueError(
                f"The name of column {label!r} is not valid Unicode text, which "
                "ONNX names must be (UTF-8); rename the column."
            )
        if name in outputs:
            raise ValueError(
                f"Column {label!r} has the name of the output {name!r} of task "
                f"{outputs[name]!r}, and an ONNX graph's inputs and outputs share "
                "one namespace; rename the column or the task."
            )
    names = {name for name, _, _ in columns}
    for name, label, kind in columns:
        length = f"{name}{LENGTH_SUFFIX}"
        if kind == "list" and (length in names or length in outputs):
            raise ValueError(
                f"List column {label!r} has its lengths as the graph input "
                f"{length!r}, which is also the name of "
                f"{'a column' if length in names else 'an output'}; rename one."
            )


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _name_inputs(graph: onnx.GraphProto, names: list[str]) -> None:
    """The graph's inputs renamed, in order, to ``names``; any other value of
    the graph that has one of them gets a name of its own first."""
    old = [i.name for i in graph.input]
    values = _value_names(graph)
    taken = values | set(names)
    mapping = {}
    for name in sorted(set(names) & (values - set(old))):
        fresh, k = name, 0
        while fresh in taken:
            k += 1
            fresh = f"{name}_{k}"
        taken.add(fresh)
        mapping[name] = fresh
    mapping.update(zip(old, names))
    _rename_values(graph, mapping)


def _value_names(graph: onnx.GraphProto) -> set[str]:
    names = {v.name for v in [*graph.input, *graph.output, *graph.value_info]}
    names.update(t.name for t in graph.initializer)
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def _rename_values(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        value.name = mapping.get(value.name, value.name)


def _agree(*models: onnx.ModelProto) -> None:
    """The graphs get one IR version and import each domain at one version (the
    higher of each), as onnx.compose requires."""
    ir_version = max(m.ir_version for m in models)
    for m in models:
        m.ir_version = ir_version
    versions: dict[str, int] = {}
    for m in models:
        for imp in m.opset_import:
            versions[imp.domain] = max(versions.get(imp.domain, 0), imp.version)
    for m in models:
        for imp in m.opset_import:
            imp.version = versions[imp.domain]
