"""Which numeric_encoding should be the default? Measured quality of each.

1. census-income (the example's 70/10/20 split, test ROC AUC per task), with
   MMOEEstimator's default settings but ``numeric_encoding``.
2. Synthetic data with non-linear numeric effects: 8 numeric features, a binary task
   ``y_b = 1[sin(2 x0) + x1^2 - 1 + 0.5 x2 |x3| > 0]`` (10% label noise) and a
   regression task ``y_r = 1.5 sin(3 x0) + exp(-x1^2) * 2 + |x4 - 0.5| + noise``;
   20,000 training and 10,000 test rows; test ROC AUC and R^2.

Each setting is fitted with several seeds; the table gives the median (and range).

    python benchmarks/numeric_encoding.py [--seeds 3]
    python benchmarks/numeric_encoding.py --smoke    # a few seconds: 1 seed, 1000
                                                     # rows, 1 epoch, tiny network
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

from skmmoe import MMOEEstimator
from skmmoe._features import NUMERIC_ENCODINGS
from skmmoe.datasets import load_census_income

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from census_income import split_census  # noqa: E402

ENCODINGS = NUMERIC_ENCODINGS
# --smoke: tiny data and network, so that the script runs in a few seconds (tests).
SMOKE = dict(seeds=1)
SMOKE_ROWS = 1000
SMOKE_PARAMS = dict(
    epochs=1, expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,)
)


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    logit = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - 1 + 0.5 * X[:, 2] * np.abs(X[:, 3])
    y_b = (logit > 0).astype(int)
    flip = rng.random(n) < 0.1
    y_b[flip] = 1 - y_b[flip]
    y_r = (
        1.5 * np.sin(3 * X[:, 0])
        + 2 * np.exp(-(X[:, 1] ** 2))
        + np.abs(X[:, 4] - 0.5)
        + 0.1 * rng.normal(size=n)
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    return frame, pd.DataFrame({"binary": y_b, "regression": y_r})


def census_metrics(est, X, Y):
    proba = est.predict_proba(X)
    return (
        roc_auc_score(Y["income"], proba[0][:, 1]),
        roc_auc_score(Y["marital"], proba[1][:, 1]),
    )


def synthetic_metrics(est, X, Y):
    proba = est.predict_proba(X)
    pred = est.predict(X)[:, 1].astype(float)
    return roc_auc_score(Y["binary"], proba[0][:, 1]), r2_score(Y["regression"], pred)


def fit_and_score(name, split, metrics, encoding, seed, **params) -> dict:
    X_train, Y_train, X_test, Y_test = split
    est = MMOEEstimator(numeric_encoding=encoding, seed=1024 + seed, **params)
    tic = time.perf_counter()
    est.fit(X_train, Y_train)
    seconds = time.perf_counter() - tic
    metric_1, metric_2 = metrics(est, X_test, Y_test)
    return dict(
        data=name,
        encoding=encoding,
        seed=seed,
        metric_1=metric_1,
        metric_2=metric_2,
        fit_s=seconds,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    if args.smoke:  # tiny sizes, unless given explicitly
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    seeds = range(args.seeds)

    X, Y = load_census_income()
    X_train, _, X_test, Y_train, _, Y_test = split_census(X, Y)
    n_train, n_test, params = 20000, 10000, {}
    if args.smoke:
        n_train = n_test = SMOKE_ROWS
        X_train, Y_train = X_train.iloc[:n_train], Y_train.iloc[:n_train]
        X_test, Y_test = X_test.iloc[:n_test], Y_test.iloc[:n_test]
        params = SMOKE_PARAMS
    Xs, Ys = synthetic(n_train + n_test, 0)
    datasets = [
        ("census", (X_train, Y_train, X_test, Y_test), census_metrics),
        (
            "synthetic",
            (Xs[:n_train], Ys[:n_train], Xs[n_train:], Ys[n_train:]),
            synthetic_metrics,
        ),
    ]

    rows = []
    for encoding in ENCODINGS:
        for seed in seeds:
            for name, split, metrics in datasets:
                rows.append(
                    fit_and_score(name, split, metrics, encoding, seed, **params)
                )
            print(*rows[-len(datasets) :], flush=True)

    table = pd.DataFrame(rows)
    summary = table.groupby(["data", "encoding"]).agg(
        metric_1=("metric_1", "median"),
        metric_1_min=("metric_1", "min"),
        metric_1_max=("metric_1", "max"),
        metric_2=("metric_2", "median"),
        metric_2_min=("metric_2", "min"),
        metric_2_max=("metric_2", "max"),
        fit_s=("fit_s", "median"),
    )
    print("census: metric_1 = income AUC, metric_2 = marital AUC")
    print("synthetic: metric_1 = binary AUC, metric_2 = regression R^2")
    with pd.option_context(
        "display.width", 200, "display.max_columns", None, "display.precision", 4
    ):
        print(summary)
    return summary


if __name__ == "__main__":
    main()
