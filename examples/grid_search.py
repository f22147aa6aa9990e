"""Model selection with GridSearchCV: per-task scorers, refit on one
=================================================================

Searches ``num_experts``, ``expert_dnn_hidden_units`` and ``learning_rate`` of an
MMOEEstimator on part of the census data, in two processes (``n_jobs=2``), scoring
each task's ROC AUC with :func:`skmmoe.metrics.task_scorer` and the estimator's own
``score`` (the mean AUC over tasks), and refits the best model for income AUC.

Run it::

    python examples/grid_search.py          # full run (a few minutes on 2 cores)
    python examples/grid_search.py --fast   # a quick smoke run (CI)
"""

from __future__ import annotations

import argparse
import os

import pandas as pd
from sklearn.model_selection import GridSearchCV, train_test_split

from skmmoe import MMOEEstimator
from skmmoe.datasets import load_census_income
from skmmoe.metrics import task_scorer


def estimator_score(estimator, X, y):
    """The estimator's own score: for MMOEEstimator, the mean over tasks of ROC AUC."""
    return estimator.score(X, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="small, quick run (CI)")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("SKMMOE_EXAMPLES_FAST") == "1"

    X, Y = load_census_income()
    n_rows = 1500 if fast else 20000
    X_train, X_test, Y_train, Y_test = train_test_split(
        X, Y, train_size=n_rows, test_size=n_rows // 2, random_state=0
    )
    grid = {
        "num_experts": [1, 3],
        "expert_dnn_hidden_units": [(64,), (256, 128)],
        "learning_rate": [1e-3, 3e-3],
    }
    if fast:
        grid = {
            "num_experts": [1, 2],
            "expert_dnn_hidden_units": [(16,)],
            "learning_rate": [3e-3],
        }
    scoring = {
        "income_auc": task_scorer("income", "roc_auc"),
        "marital_auc": task_scorer("marital", "roc_auc"),
        "mean_auc": estimator_score,
    }
    search = GridSearchCV(
        MMOEEstimator(epochs=2 if fast else 4),
        grid,
        scoring=scoring,
        refit="income_auc",
        cv=3,
        n_jobs=2,
    )
    search.fit(X_train, Y_train)

    results = pd.DataFrame(search.cv_results_)
    columns = [
        "params",
        "mean_test_income_auc",
        "mean_test_marital_auc",
        "mean_test_mean_auc",
    ]
    with pd.option_context("display.width", 160, "display.max_colwidth", 90):
        print(results[columns].sort_values("mean_test_income_auc", ascending=False))
    print("best for income AUC:", search.best_params_)
    best = search.best_estimator_
    income_auc = task_scorer("income", "roc_auc")(best, X_test, Y_test)
    print(f"held-out income AUC of the refitted best model: {income_auc:.4f}")
    return search


if __name__ == "__main__":
    main()
