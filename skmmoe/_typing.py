"""Type aliases of the public API.

skmmoe reads many kinds of tables (pandas and polars DataFrames, pyarrow Tables,
numpy arrays, lists), so the inputs are typed broadly; the outputs precisely.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

__all__ = ["FeaturesLike", "SampleWeightLike", "TargetsLike", "TaskProba"]

FeaturesLike: TypeAlias = Any
"""X: a pandas or polars DataFrame, a pyarrow Table, or an array-like of shape
(n_samples, n_features)."""
TargetsLike: TypeAlias = Any
"""y: an array-like, Series or DataFrame of shape (n_samples,) or (n_samples,
n_tasks)."""
SampleWeightLike: TypeAlias = Any
"""sample_weight: None, or an array-like of shape (n_samples,) or (n_samples,
n_tasks)."""
TaskProba: TypeAlias = "np.ndarray | list[np.ndarray | None]"
"""predict_proba's output: one array for a 1-D y, else one entry per task (None
for regression tasks)."""
