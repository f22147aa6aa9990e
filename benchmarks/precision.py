"""Mixed precision: training speed and test AUC of precision="bfloat16" against
"float32" on census, at equal settings, alternating the two (A B A B).

Default settings otherwise except ``batch_size`` and ``epochs``. Each run is a fresh
process. Training samples/s is the median over epochs 2.. of one run.

    python benchmarks/precision.py [--rounds 2] [--batch-size 1024] [--epochs 4]
    python benchmarks/precision.py --smoke    # a few seconds: 1000 rows, 1 epoch
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from _child_process import report, run_child

ROOT = Path(__file__).resolve().parents[1]
# --smoke: tiny data and network, so that the script runs in a few seconds (tests).
SMOKE = dict(rounds=1, batch_size=256, epochs=1)
SMOKE_ROWS = 1000
SMOKE_NETWORK = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))


def child(precision: str, batch_size: int, epochs: int, smoke: bool = False) -> dict:
    sys.path.insert(0, str(ROOT / "examples"))
    from census_income import split_census
    from sklearn.metrics import roc_auc_score

    from skmmoe import MMOEEstimator
    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    X_train, _, X_test, Y_train, _, Y_test = split_census(X, Y)
    network = {}
    if smoke:
        X_train, Y_train = X_train.iloc[:SMOKE_ROWS], Y_train.iloc[:SMOKE_ROWS]
        X_test, Y_test = X_test.iloc[:SMOKE_ROWS], Y_test.iloc[:SMOKE_ROWS]
        network = SMOKE_NETWORK
    est = MMOEEstimator(
        precision=precision, batch_size=batch_size, epochs=epochs, **network
    )
    est.fit(X_train, Y_train)
    proba = est.predict_proba(X_test)
    seconds = [h["seconds"] for h in est.history_[1:]] or [est.history_[0]["seconds"]]
    return dict(
        precision=precision,
        train_samples_s=len(X_train) / float(np.median(seconds)),
        auc=[
            roc_auc_score(Y_test["income"], proba[0][:, 1]),
            roc_auc_score(Y_test["marital"], proba[1][:, 1]),
        ],
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    parser.add_argument("--child")
    args = parser.parse_args(argv)
    if args.smoke:  # tiny sizes, unless given explicitly
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.child:
        report(child(args.child, args.batch_size, args.epochs, args.smoke))
        return
    results = []
    for _ in range(args.rounds):
        for precision in ("float32", "bfloat16"):
            results.append(
                run_child(
                    __file__,
                    "--child",
                    precision,
                    "--batch-size",
                    str(args.batch_size),
                    "--epochs",
                    str(args.epochs),
                    *(["--smoke"] if args.smoke else []),
                )
            )
            print(json.dumps(results[-1]), flush=True)
    for precision in ("float32", "bfloat16"):
        runs = [r for r in results if r["precision"] == precision]
        rate = np.median([r["train_samples_s"] for r in runs])
        auc = np.median([r["auc"] for r in runs], axis=0)
        print(
            f"{precision:<9} train samples/s {rate:>9,.0f}  "
            f"income AUC {auc[0]:.4f}  marital AUC {auc[1]:.4f}"
        )
    return results


if __name__ == "__main__":
    main()
