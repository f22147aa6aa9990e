"""skmmoe: Multi-gate Mixture-of-Experts multi-task models with a scikit-learn API."""

from ._estimators import (
    InconsistentVersionWarning,
    MMOEClassifier,
    MMOEEstimator,
    MMOERegressor,
)
from ._features import FeatureColumn
from ._persistence import load, save
from ._version import __version__

__all__ = [
    "FeatureColumn",
    "InconsistentVersionWarning",
    "MMOEClassifier",
    "MMOEEstimator",
    "MMOERegressor",
    "__version__",
    "load",
    "save",
]
