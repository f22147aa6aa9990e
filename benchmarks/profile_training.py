"""Training and inference throughput of skmmoe on census, and where a step's time
goes (torch.profiler), to measure a change before and after.

    python benchmarks/profile_training.py [--batch-sizes 256 1024 4096] [--profile]
    python benchmarks/profile_training.py --smoke    # a few seconds: 1000 rows,
                                                     # batch 256, 2 epochs

Prints, per batch size, the median over epochs 2..N of the training samples/s (epoch
1 warms up), with ``numeric_encoding="scaled"`` and the default architecture
(``--smoke``: a tiny one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from census_income import split_census  # noqa: E402

from skmmoe import MMOEEstimator  # noqa: E402
from skmmoe.datasets import load_census_income  # noqa: E402

# --smoke: tiny data and network, so that the script runs in a few seconds (tests);
# two epochs, as the figure is taken over epochs 2..N.
SMOKE = dict(batch_sizes=[256], epochs=2)
SMOKE_ROWS = 1000
SMOKE_NETWORK = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--encoding", default="scaled")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    if args.smoke:  # tiny sizes, unless given explicitly
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    X, Y = load_census_income()
    X_train, _, _, Y_train, _, _ = split_census(X, Y)
    network = {}
    if args.smoke:
        X_train, Y_train = X_train.iloc[:SMOKE_ROWS], Y_train.iloc[:SMOKE_ROWS]
        network = SMOKE_NETWORK
    rates = {}
    for batch_size in args.batch_sizes:
        est = MMOEEstimator(
            batch_size=batch_size,
            epochs=args.epochs,
            numeric_encoding=args.encoding,
            **network,
        ).fit(X_train, Y_train)
        seconds = [h["seconds"] for h in est.history_[1:]]
        rate = rates[batch_size] = len(X_train) / np.median(seconds)
        print(f"batch {batch_size}: {rate:,.0f} training samples/s", flush=True)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            MMOEEstimator(
                batch_size=args.batch_sizes[0],
                epochs=1,
                numeric_encoding=args.encoding,
                **network,
            ).fit(X_train.iloc[:20000], Y_train.iloc[:20000])
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    return rates


if __name__ == "__main__":
    main()
