"""The one place that imports scikit-learn's private helpers.

scikit-learn's private API moves between releases; keeping every such import here means
an upgrade is fixed in one file.
"""

import sys
from collections.abc import Callable
from numbers import Integral
from typing import Any, TypeVar

from sklearn.base import _fit_context as _sklearn_fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if as _sklearn_available_if
from sklearn.utils.validation import (
    _check_feature_names_in,
    _check_sample_weight,
    validate_data,
)

_F = TypeVar("_F", bound=Callable[..., Any])


def _fit_context(*, prefer_skip_nested_validation: bool) -> Callable[[_F], _F]:
    """scikit-learn's ``_fit_context`` decorator (parameter validation and the
    nested-validation switch), typed so that a decorated method keeps its
    signature for type checkers (scikit-learn ships no type hints)."""
    return _sklearn_fit_context(
        prefer_skip_nested_validation=prefer_skip_nested_validation
    )


REMAINDER_COLUMNS_TYPE = "sklearn.compose._column_transformer._RemainderColsList"
"""The list subclass (data only) in which scikit-learn 1.5 to 1.7 keep a
ColumnTransformer's remainder columns, by the name skops writes; a string, so
that releases without it import fine."""


def scorer_response_methods(scorer) -> tuple[str, ...]:
    """The methods a scikit-learn scorer calls on the estimator (its private
    ``_response_method``); "predict" for any other callable."""
    methods = getattr(scorer, "_response_method", "predict")
    return (methods,) if isinstance(methods, str) else tuple(methods)


def in_joblib_worker() -> bool:
    """Whether this process is a worker of joblib's loky backend (loky's private
    ``_CURRENT_DEPTH``)."""
    loky = sys.modules.get("joblib.externals.loky.process_executor")
    return getattr(loky, "_CURRENT_DEPTH", 0) > 0


def available_if(check: Callable[[Any], bool]) -> Callable[[_F], _F]:
    """scikit-learn's ``available_if``, typed like :func:`_fit_context`."""
    return _sklearn_available_if(check)


__all__ = [
    "REMAINDER_COLUMNS_TYPE",
    "Interval",
    "IntSequence",
    "StrOptions",
    "_check_feature_names_in",
    "_check_sample_weight",
    "_safe_indexing",
    "_fit_context",
    "available_if",
    "in_joblib_worker",
    "scorer_response_methods",
    "validate_data",
]


class IntSequence(HasMethods):
    """Parameter constraint: a sequence (tuple, list, 1-D array) of ints, each at
    least ``minimum``, and not empty unless ``allow_empty``.

    scikit-learn's parameter validation accepts only its own constraint classes;
    this one derives from ``HasMethods`` to be accepted and overrides its test.
    """

    def __init__(self, minimum: int, *, allow_empty: bool):
        super().__init__([])
        self.minimum = minimum
        self.allow_empty = allow_empty

    def is_satisfied_by(self, val) -> bool:
        if isinstance(val, (str, bytes, dict, set)) or not hasattr(val, "__len__"):
            return False
        try:
            items = list(val)
        except TypeError:
            return False
        return (self.allow_empty or len(items) > 0) and all(
            isinstance(u, Integral)
            and not isinstance(u, bool)
            and int(u) >= self.minimum
            for u in items
        )

    def __str__(self) -> str:
        empty = "" if self.allow_empty else ", not empty"
        return f"a sequence of ints >= {self.minimum}{empty}"
