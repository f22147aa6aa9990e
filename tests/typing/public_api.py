"""The public API's annotations, as a user's type checker sees them: CI runs mypy
on this file (``mypy`` with the settings in pyproject.toml). Nothing here runs:
the checks are in a function that is never called."""

from __future__ import annotations

from typing import Any, assert_type

import numpy as np
import onnx
import pandas as pd

import skmmoe
from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor
from skmmoe.datasets import load_census_income, make_mixed_multitask
from skmmoe.metrics import TaskScorer, task_scorer
from skmmoe.plotting import plot_gates, plot_history, plot_tasks


def _check(X: pd.DataFrame, Y: pd.DataFrame) -> None:  # pragma: no cover
    est = MMOEEstimator().fit(X, Y)
    assert_type(est, MMOEEstimator)
    assert_type(MMOEClassifier().fit(X, Y), MMOEClassifier)
    assert_type(MMOERegressor().partial_fit(X, Y), MMOERegressor)
    assert_type(est.predict(X), np.ndarray)
    assert_type(est.predict_proba(X), np.ndarray | list[np.ndarray | None])
    assert_type(est.score(X, Y), float)
    assert_type(est.gate_weights(X), np.ndarray)
    skmmoe.save(est, "model.skmmoe")
    assert_type(skmmoe.to_onnx(est, path="model.onnx"), onnx.ModelProto)
    assert_type(skmmoe.onnx_inputs(est, X), dict[str, np.ndarray])
    assert_type(
        skmmoe.load("model.skmmoe"), MMOEEstimator | MMOEClassifier | MMOERegressor
    )
    scorer = task_scorer("income", "roc_auc").set_score_request(sample_weight=True)
    assert_type(scorer, TaskScorer)
    assert_type(scorer(est, X, Y), float)
    assert_type(
        make_mixed_multitask(100, random_state=0), tuple[pd.DataFrame, pd.DataFrame]
    )
    data = load_census_income()
    assert len(data) in (2, 3)
    assert_type(plot_history(est), list)
    assert_type(plot_tasks(est, X, Y), dict[str, list[Any]])
    plot_gates(est, X, ax=None)
