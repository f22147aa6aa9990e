"""Fit and predict speed of this checkout against another commit's, side by side.

Each round runs one fresh process per checkout, alternating, so that both meet
the same machine; each process fits ``MMOEEstimator()`` (default settings) on the
census example's training split and times ``predict_proba`` on 1, 64 and 19,953
(the test split) rows. Prints each checkout's medians over the rounds and the
ratio other / this, and the test AUCs (which a refactoring must leave equal).

    git worktree add /tmp/before <commit>
    python benchmarks/compare_commits.py --other /tmp/before [--rounds 3]
    python benchmarks/compare_commits.py --smoke      # this checkout against itself,
                                                      # 3,000 rows, 1 epoch, 1 round
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1] + "/examples")
from census_income import split_census
from sklearn.metrics import roc_auc_score
from skmmoe import MMOEEstimator
from skmmoe.datasets import load_census_income

rows, epochs = int(sys.argv[2]), sys.argv[3]
X, Y = load_census_income()
X_train, _, X_test, Y_train, _, Y_test = split_census(X, Y)
X_train, Y_train = X_train.iloc[:rows], Y_train.iloc[:rows]
tic = time.perf_counter()
model = MMOEEstimator(epochs=epochs if epochs == "auto" else int(epochs))
model.fit(X_train, Y_train)
out = {"fit_s": time.perf_counter() - tic}
for n in (1, 64, len(X_test)):
    batch = X_test.iloc[:n]
    model.predict_proba(batch)  # warm
    times = []
    for _ in range(20 if n < 100 else 3):
        tic = time.perf_counter()
        model.predict_proba(batch)
        times.append(time.perf_counter() - tic)
    out[f"predict_{n}_ms"] = 1000 * float(np.median(times))
proba = model.predict_proba(X_test)
out["auc"] = [
    round(roc_auc_score(Y_test[t], p[:, 1]), 4) for t, p in zip(Y.columns, proba)
]
print(json.dumps(out))
"""


def measure(checkout: Path, rows: int, epochs: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(checkout), str(rows), epochs],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--other", type=Path, help="a checkout of another commit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10**9, help="training rows")
    parser.add_argument("--epochs", default="auto", help="the fits' epochs")
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.other, args.rounds, args.rows = args.other or ROOT, 1, 3000
        args.epochs = "1"
    if args.other is None:
        parser.error("--other is required (a checkout of the commit to compare)")
    checkouts = {"this": ROOT, "other": args.other.resolve()}
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    start = time.perf_counter()
    for round_ in range(args.rounds):
        # Alternate which goes first, so that neither always meets a warmer cache.
        order = list(checkouts) if round_ % 2 == 0 else list(checkouts)[::-1]
        for name in order:
            runs[name].append(measure(checkouts[name], args.rows, args.epochs))
    print(f"{args.rounds} round(s), {time.perf_counter() - start:.0f} s; medians:")
    keys = [k for k in runs["this"][0] if k != "auc"]
    print(f"{'':<20}{'this':>12}{'other':>12}{'other/this':>12}")
    for key in keys:
        this = statistics.median(r[key] for r in runs["this"])
        other = statistics.median(r[key] for r in runs["other"])
        print(f"{key:<20}{this:>12.3f}{other:>12.3f}{other / this:>12.2f}")
    for name in checkouts:
        print(f"test AUC ({name}): {runs[name][0]['auc']}")


if __name__ == "__main__":
    main()
