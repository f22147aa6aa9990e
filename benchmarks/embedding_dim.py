"""embedding_dim="auto" (DeepCTR's ``6 * int(rows ** 0.25)``) against the fixed
default of 8: test quality and fit time.

1. census-income (the example's 70/10/20 split): income and marital AUC.
2. ``make_recsys_multitask`` (120,000 rows, 100,000 training and 20,000 test; 20,000
   users, 2,000 items): click AUC, conversion AUC on the clicked test rows, and
   watch time R^2, with the recent items sharing the item table.

Each setting is fitted with several seeds; the table gives the medians.

    python benchmarks/embedding_dim.py [--seeds 3]
    python benchmarks/embedding_dim.py --smoke    # a few seconds (tests)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score, roc_auc_score

from skmmoe import MMOEEstimator
from skmmoe.datasets import load_census_income, make_recsys_multitask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from census_income import split_census  # noqa: E402

WIDTHS = (8, "auto")
SMOKE_PARAMS = dict(
    epochs=1, expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,)
)


def census(params, seed, smoke):
    X, Y = load_census_income()
    X_train, _, X_test, Y_train, _, Y_test = split_census(X, Y)
    if smoke:
        X_train, Y_train = X_train.iloc[:2000], Y_train.iloc[:2000]
        X_test, Y_test = X_test.iloc[:1000], Y_test.iloc[:1000]
    tic = time.perf_counter()
    est = MMOEEstimator(seed=seed, **params).fit(X_train, Y_train)
    seconds = time.perf_counter() - tic
    proba = est.predict_proba(X_test)
    aucs = [roc_auc_score(Y_test[task], proba[t][:, 1]) for t, task in enumerate(Y)]
    return aucs, seconds


def recsys(params, seed, smoke):
    n, n_train = (3000, 2500) if smoke else (120_000, 100_000)
    X, Y = make_recsys_multitask(n, n_users=20_000, n_items=2_000, random_state=seed)
    train, test = slice(0, n_train), slice(n_train, None)
    tic = time.perf_counter()
    est = MMOEEstimator(
        seed=seed, shared_embeddings={"recent_items": "item_id"}, **params
    ).fit(X.iloc[train], Y.iloc[train])
    seconds = time.perf_counter() - tic
    click, conversion, watch = est.predict_proba(X.iloc[test])
    Y_test = Y.iloc[test]
    clicked = Y_test["conversion"].notna().to_numpy()
    watch = est.predict(X.iloc[test])[:, 2].astype(float)
    return [
        roc_auc_score(Y_test["click"], click[:, 1]),
        roc_auc_score(
            Y_test["conversion"][clicked].astype(int), conversion[clicked, 1]
        ),
        r2_score(Y_test["watch_time"], watch),
    ], seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    seeds = 1 if args.smoke else args.seeds
    base = SMOKE_PARAMS if args.smoke else {}
    print("census: the tasks' AUCs; recsys: click AUC, conversion AUC, watch R^2")
    for name, run in (("census", census), ("recsys", recsys)):
        for width in WIDTHS:
            results = [
                run({**base, "embedding_dim": width}, s, args.smoke)
                for s in range(seeds)
            ]
            metrics = np.median([r[0] for r in results], axis=0)
            seconds = float(np.median([r[1] for r in results]))
            shown = " ".join(f"{m:.4f}" for m in metrics)
            print(f"{name:7s} {str(width):5s} {shown} fit {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
