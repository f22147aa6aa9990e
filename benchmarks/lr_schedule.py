"""Which lr_schedule should be the default? Census quality and time of each.

census-income, the example's 70/10/20 split: each schedule trains on the 70%,
and the test ROC AUC of both tasks (income, marital status) is measured on the
20%. The schedules:

- "constant", "linear" (the default) and "cosine" with MMOEEstimator's defaults
  (``epochs="auto"``: 2 epochs here);
- "plateau" (torch's ReduceLROnPlateau on the validation loss) with early stopping
  on the 10% validation rows, up to ``--plateau-epochs`` epochs: the schedule that
  needs more epochs to act, with early stopping to end them;
- "linear" with the same early stopping and epochs, to tell the schedule's effect
  from that of the extra epochs.

Each setting is fitted with several seeds; the table gives the median (and range)
of the test AUCs, the epochs trained and the fit time.

    python benchmarks/lr_schedule.py [--seeds 3] [--plateau-epochs 12]
    python benchmarks/lr_schedule.py --smoke    # seconds: 1 seed, 3000 rows, tiny net
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sklearn.metrics import roc_auc_score

from skmmoe import MMOEEstimator
from skmmoe.datasets import load_census_income

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from census_income import split_census  # noqa: E402


def settings(plateau_epochs: int) -> dict:
    stopping = dict(early_stopping=True, epochs=plateau_epochs, n_iter_no_change=4)
    return {
        "constant": dict(lr_schedule="constant"),
        "linear (default)": dict(lr_schedule="linear"),
        "cosine": dict(lr_schedule="cosine"),
        f"plateau, early stopping, <= {plateau_epochs} epochs": dict(
            lr_schedule="plateau", **stopping
        ),
        f"linear, early stopping, {plateau_epochs} epochs": dict(
            lr_schedule="linear", **stopping
        ),
    }


# --smoke: a tiny network, one epoch for the step schedules (tests).
SMOKE_PARAMS = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))


def evaluate(params: dict, seed: int, data, smoke: bool) -> dict:
    X_train, X_test, Y_train, Y_test = data
    if smoke:
        params = {"epochs": 1, **params, **SMOKE_PARAMS}
    est = MMOEEstimator(seed=seed, **params)
    tic = time.perf_counter()
    est.fit(X_train, Y_train)
    seconds = time.perf_counter() - tic
    proba = est.predict_proba(X_test)
    aucs = {}
    for t, name in enumerate(est.task_names_):
        positive = est.classes_[t][1]
        aucs[name] = roc_auc_score(Y_test[name] == positive, proba[t][:, 1])
    return {**aucs, "epochs": est.n_epochs_, "seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--plateau-epochs", type=int, default=12)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    seeds = 1 if args.smoke else args.seeds
    X, Y = load_census_income()
    X_train, X_valid, X_test, Y_train, Y_valid, Y_test = split_census(X, Y)
    # Early stopping sets aside its own validation rows from the training rows;
    # the example's validation split is not used, so every setting sees the same
    # training rows.
    del X_valid, Y_valid
    if args.smoke:
        X_train, Y_train = X_train.iloc[:3000], Y_train.iloc[:3000]
        X_test, Y_test = X_test.iloc[:2000], Y_test.iloc[:2000]
    plateau_epochs = 3 if args.smoke else args.plateau_epochs
    data = (X_train, X_test, Y_train, Y_test)
    results = {}
    for seed in range(seeds):  # seeds outermost: settings alternate in time
        for name, params in settings(plateau_epochs).items():
            results.setdefault(name, []).append(
                evaluate(params, seed, data, args.smoke)
            )
    print(
        f"census-income, {len(X_train)} training rows, test ROC AUC, median "
        f"(min-max) over {seeds} seed(s):"
    )
    tasks = [
        k for k in next(iter(results.values()))[0] if k not in ("epochs", "seconds")
    ]
    header = "".join(f"{t:>26}" for t in tasks)
    print(f"{'lr_schedule':48}{header}{'epochs':>8}{'fit s':>8}")
    for name, runs in results.items():
        cells = ""
        for task in tasks:
            values = [r[task] for r in runs]
            cells += (
                f"{statistics.median(values):>10.4f} "
                f"({min(values):.4f}-{max(values):.4f})"
            )
        epochs = statistics.median(r["epochs"] for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        print(f"{name:48}{cells}{epochs:>8.0f}{seconds:>8.1f}")
    return results


if __name__ == "__main__":
    main()
