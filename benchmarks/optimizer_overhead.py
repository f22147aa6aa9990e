"""What torch.optim costs a training process: skmmoe's default Adam (torch's
functional ``adam``, fused kernel) against ``torch.optim.Adam(fused=True)``, whose
methods import ``torch._dynamo`` on first use.

Each run is a fresh process fitting ``MMOEEstimator()`` (default settings) on the
census training split (examples/census_income.py); runs alternate A B A B. Reports
the whole fit's seconds, the mean epoch seconds, the peak RSS and whether
``torch._dynamo`` got imported.

    python benchmarks/optimizer_overhead.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
from _child_process import report, run_child

ROOT = Path(__file__).resolve().parents[1]


def child(use_torch_optim: bool) -> dict:
    import skmmoe._training as training
    from skmmoe import MMOEEstimator
    from skmmoe.datasets import load_census_income

    sys.path.insert(0, str(ROOT / "examples"))
    from census_income import split_census

    if use_torch_optim:
        training.OPTIMIZERS["adam"] = training._fused(training.torch.optim.Adam)
    X, Y = load_census_income()
    X_train, _, _, Y_train, _, _ = split_census(X, Y)
    tic = time.perf_counter()
    est = MMOEEstimator().fit(X_train, Y_train)
    return dict(
        fit_s=time.perf_counter() - tic,
        epoch_s=float(np.mean([h["seconds"] for h in est.history_])),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        dynamo_imported="torch._dynamo" in sys.modules,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["skmmoe", "torch.optim"])
    args = parser.parse_args(argv)
    if args.child:
        report(child(args.child == "torch.optim"))
        return
    results = {"skmmoe": [], "torch.optim": []}
    for _ in range(args.rounds):
        for name in results:
            results[name].append(run_child(__file__, "--child", name))
            print(name, results[name][-1], flush=True)
    print(f"\n{'Adam':<40}{'fit s':>8}{'epoch s':>9}{'peak RSS MiB':>14}  dynamo")
    labels = {
        "skmmoe": "skmmoe (functional adam, fused)",
        "torch.optim": "torch.optim.Adam(fused=True)",
    }
    for name, runs in results.items():
        fit, epoch, rss = (
            np.median([r[k] for r in runs])
            for k in ("fit_s", "epoch_s", "peak_rss_mib")
        )
        imported = {r["dynamo_imported"] for r in runs}
        print(f"{labels[name]:<40}{fit:>8.2f}{epoch:>9.2f}{rss:>14.0f}  {imported}")


if __name__ == "__main__":
    main()
