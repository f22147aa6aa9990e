"""The one place that imports scikit-learn's private helpers.

scikit-learn's private API moves between releases; keeping every such import here means
an upgrade is fixed in one file.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
)
from sklearn.utils.validation import validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "_fit_context",
    "validate_data",
]
