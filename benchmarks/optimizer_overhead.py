"""What torch.optim costs a training process: skmmoe's default Adam (torch's
functional ``adam``, fused kernel) against ``torch.optim.Adam(fused=True)``, whose
methods import ``torch._dynamo`` on first use.

Each run is a fresh process fitting ``MMOEEstimator()`` (default settings) on the
census training split (examples/census_income.py); runs alternate A B A B. Reports
the whole fit's seconds, the mean epoch seconds, the peak RSS and whether
``torch._dynamo`` got imported.

    python benchmarks/optimizer_overhead.py [--rounds 3]
    python benchmarks/optimizer_overhead.py --smoke    # a few seconds: 1000 rows,
                                                       # 1 epoch, 1 round
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
# --smoke: tiny data and network, so that the script runs in a few seconds (tests).
SMOKE = dict(rounds=1)
SMOKE_ROWS = 1000
SMOKE_PARAMS = dict(
    epochs=1, expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,)
)


def child(use_torch_optim: bool, smoke: bool = False) -> dict:
    import torch

    import skmmoe._engine.optim as optim
    from skmmoe import MMOEEstimator
    from skmmoe.datasets import load_census_income

    sys.path.insert(0, str(ROOT / "examples"))
    from census_income import split_census

    made = []
    if use_torch_optim:
        if "adam" not in optim.OPTIMIZERS:
            raise KeyError("skmmoe._engine.optim.OPTIMIZERS has no 'adam'")
        fused_adam = optim._fused(torch.optim.Adam)

        def make(params, lr):
            made.append(fused_adam(params, lr))
            return made[-1]

        optim.OPTIMIZERS["adam"] = make
    X, Y = load_census_income()
    X_train, _, _, Y_train, _, _ = split_census(X, Y)
    params = {}
    if smoke:
        X_train, Y_train = X_train.iloc[:SMOKE_ROWS], Y_train.iloc[:SMOKE_ROWS]
        params = SMOKE_PARAMS
    tic = time.perf_counter()
    est = MMOEEstimator(**params).fit(X_train, Y_train)
    fit_s = time.perf_counter() - tic
    if use_torch_optim and not made:
        raise RuntimeError(
            "training did not use skmmoe._engine.optim.OPTIMIZERS['adam']: "
            "torch.optim.Adam was not measured"
        )
    return dict(
        fit_s=fit_s,
        epoch_s=float(np.mean([h["seconds"] for h in est.history_])),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        dynamo_imported="torch._dynamo" in sys.modules,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    parser.add_argument("--child", choices=["skmmoe", "torch.optim"])
    args = parser.parse_args(argv)
    if args.smoke:  # tiny sizes, unless given explicitly
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.child:
        report(child(args.child == "torch.optim", args.smoke))
        return
    smoke = ["--smoke"] if args.smoke else []
    results = {"skmmoe": [], "torch.optim": []}
    for _ in range(args.rounds):
        for name in results:
            results[name].append(run_child(__file__, "--child", name, *smoke))
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
    return results


if __name__ == "__main__":
    main()
