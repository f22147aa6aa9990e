"""The main job: MMoE on census-income against single-task models
==============================================================

Tasks (the MMoE paper's first group): ``income`` (above 50K) and ``marital`` (never
married). The split is fixed: 20% test (``train_test_split(..., test_size=0.2,
random_state=2018)``), then 1/8 of the rest (10% of all rows) for validation, leaving
70% for training. ``MMOEEstimator()`` trains with its default settings; the baseline
is two separate single-task models (the same estimator fitted on one task each).

Prints each task's test ROC AUC and the fit times, and writes a PNG of the training
curves (needs matplotlib).

Run it::

    python examples/census_income.py            # full run
    python examples/census_income.py --fast     # a quick smoke run (CI)
"""

from __future__ import annotations

import argparse
import os
import time

from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skmmoe import MMOEEstimator
from skmmoe.datasets import load_census_income

SEED = 2018


def split_census(X, Y):
    """The documented 70/10/20 train/validation/test split."""
    X_rest, X_test, Y_rest, Y_test = train_test_split(
        X, Y, test_size=0.2, random_state=SEED
    )
    X_train, X_valid, Y_train, Y_valid = train_test_split(
        X_rest, Y_rest, test_size=0.125, random_state=SEED
    )
    return X_train, X_valid, X_test, Y_train, Y_valid, Y_test


def timed_fit(estimator, X, y):
    tic = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - tic


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="small, quick run (CI)")
    parser.add_argument("--output-dir", default="examples/output")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("SKMMOE_EXAMPLES_FAST") == "1"

    X, Y = load_census_income()
    X_train, X_valid, X_test, Y_train, Y_valid, Y_test = split_census(X, Y)
    params = {}
    if fast:
        X_train, Y_train = X_train.iloc[:3000], Y_train.iloc[:3000]
        X_valid, Y_valid = X_valid.iloc[:3000], Y_valid.iloc[:3000]
        X_test, Y_test = X_test.iloc[:5000], Y_test.iloc[:5000]
        params = {"expert_dnn_hidden_units": (64,)}
    print(
        f"census-income: {len(X_train)} train / {len(X_valid)} valid / "
        f"{len(X_test)} test rows, {X.shape[1]} features"
    )

    mmoe = MMOEEstimator(**params)
    mmoe_seconds = timed_fit(mmoe, X_train, Y_train)
    proba = mmoe.predict_proba(X_test)
    valid_proba = mmoe.predict_proba(X_valid)
    mmoe_auc = {
        task: roc_auc_score(Y_test[task], proba[t][:, 1])
        for t, task in enumerate(Y.columns)
    }
    valid_auc = {
        task: roc_auc_score(Y_valid[task], valid_proba[t][:, 1])
        for t, task in enumerate(Y.columns)
    }

    single, single_auc, single_seconds = {}, {}, 0.0
    for task in Y.columns:
        single[task] = MMOEEstimator(**params)
        single_seconds += timed_fit(single[task], X_train, Y_train[task])
        single_auc[task] = roc_auc_score(
            Y_test[task], single[task].predict_proba(X_test)[:, 1]
        )

    print(f"{'model':<28}{'income AUC':>12}{'marital AUC':>13}{'fit s':>8}")
    print(
        f"{'MMoE (MMOEEstimator())':<28}{mmoe_auc['income']:>12.4f}"
        f"{mmoe_auc['marital']:>13.4f}{mmoe_seconds:>8.1f}"
    )
    print(
        f"{'two single-task models':<28}{single_auc['income']:>12.4f}"
        f"{single_auc['marital']:>13.4f}{single_seconds:>8.1f}"
    )
    print(
        "validation AUC (MMoE): "
        + ", ".join(f"{k} {v:.4f}" for k, v in valid_auc.items())
    )
    print(f"MMoE epochs: {mmoe.n_epochs_}, batch size {mmoe.batch_size}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from skmmoe.plotting import plot_history
    except ImportError:
        print("matplotlib is not installed: no plot written")
        return mmoe_auc
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    plot_history(mmoe, axes=axes, label="MMoE")
    for ax, task in zip(axes, Y.columns):
        history = single[task].history_
        ax.plot(
            [h["epoch"] for h in history],
            [h["train_loss"]["task_0"] for h in history],
            marker="s",
            label="single-task train loss",
        )
        ax.set_ylabel("log loss")
        ax.legend(fontsize="small")
    fig.suptitle("census-income: training curves")
    fig.tight_layout()
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "census_training_curves.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
    return mmoe_auc


if __name__ == "__main__":
    main()
