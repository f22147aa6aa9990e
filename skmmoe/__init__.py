"""skmmoe: Multi-gate Mixture-of-Experts multi-task models with a scikit-learn API."""

from ._estimators import MMOEClassifier, MMOEEstimator, MMOERegressor
from ._features import FeatureColumn

__version__ = "0.1.0.dev0"

__all__ = [
    "FeatureColumn",
    "MMOEClassifier",
    "MMOEEstimator",
    "MMOERegressor",
    "__version__",
]
