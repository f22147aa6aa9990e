"""skmmoe: Multi-gate Mixture-of-Experts multi-task models with a scikit-learn API."""

from typing import TYPE_CHECKING

from ._estimators import (
    InconsistentVersionWarning,
    MMOEClassifier,
    MMOEEstimator,
    MMOERegressor,
)
from ._features import FeatureColumn
from ._persistence import load, save
from ._version import __version__

if TYPE_CHECKING:
    from ._onnx import onnx_inputs, to_onnx

__all__ = [
    "FeatureColumn",
    "InconsistentVersionWarning",
    "MMOEClassifier",
    "MMOEEstimator",
    "MMOERegressor",
    "__version__",
    "load",
    "onnx_inputs",
    "save",
    "to_onnx",
]

# Imported on first use, so that ``import skmmoe`` needs neither onnx nor skl2onnx
# (the optional extra ``onnx``).
_ONNX_NAMES = ("onnx_inputs", "to_onnx")


def __getattr__(name: str):
    if name in _ONNX_NAMES:
        from . import _onnx

        return getattr(_onnx, name)
    raise AttributeError(f"module 'skmmoe' has no attribute {name!r}")
