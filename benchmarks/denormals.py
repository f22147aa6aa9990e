"""Epoch times of a long fit with and without flushing denormal floats to zero.

Late in a long fit on census-like rows (drawn with replacement from the census
data, as in ``scaling.py``) some logits reach +-90 and beyond; their gradients and
the Adam moments they feed become denormal floats, which the CPU computes with many
times slower. skmmoe flushes them to zero while training
(``skmmoe._engine.denormals.flush_denormals``); this script fits ``MMOEEstimator`` with
that on and with it disabled, each in a fresh process, alternating A B A B, and
prints every epoch's seconds.

    python benchmarks/denormals.py [--rows 200000 --epochs 16 --rounds 1]
    python benchmarks/denormals.py --smoke    # a few seconds: 500 rows, 1 epoch
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np
from _child_process import report, run_child

sys.path.insert(0, str(Path(__file__).resolve().parent))

# --smoke: tiny data and network, so that the script runs in a few seconds (tests).
SMOKE = dict(rows=500, epochs=1, rounds=1)
SMOKE_NETWORK = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))


def child(n_rows: int, epochs: int, flush: bool, smoke: bool = False) -> dict:
    from scaling import census_like

    import skmmoe._engine.denormals as denormals
    from skmmoe import MMOEEstimator

    disabled = []
    if not flush:
        if not callable(getattr(denormals, "flush_denormals", None)):
            raise AttributeError("skmmoe._engine.denormals.flush_denormals is gone")

        def no_flush(device):
            disabled.append(device)
            return contextlib.nullcontext()

        denormals.flush_denormals = no_flush
    X, Y = census_like(n_rows)
    est = MMOEEstimator(epochs=epochs, **(SMOKE_NETWORK if smoke else {})).fit(X, Y)
    if not flush and not disabled:
        raise RuntimeError(
            "training did not call skmmoe._engine.denormals.flush_denormals: flushing "
            "could not be disabled"
        )
    return dict(flush=flush, epoch_s=[h["seconds"] for h in est.history_])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    parser.add_argument("--child", choices=["on", "off"])
    args = parser.parse_args(argv)
    if args.smoke:  # tiny sizes, unless given explicitly
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.child:
        report(child(args.rows, args.epochs, args.child == "on", args.smoke))
        return
    results = {"on": [], "off": []}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            result = run_child(
                __file__,
                "--child",
                mode,
                "--rows",
                str(args.rows),
                "--epochs",
                str(args.epochs),
                *(["--smoke"] if args.smoke else []),
            )
            results[mode].append(result["epoch_s"])
            epochs = " ".join(f"{s:.1f}" for s in results[mode][-1])
            print(f"flush {mode:>3}: epoch seconds {epochs}", flush=True)
    for mode in ("off", "on"):
        times = np.asarray(results[mode])
        print(
            f"flush {mode:>3}: total {np.median(times.sum(axis=1)):.1f} s, slowest "
            f"epoch {np.median(times.max(axis=1)):.1f} s, fastest "
            f"{np.median(times.min(axis=1)):.1f} s (medians over {args.rounds} rounds)"
        )
    return results


if __name__ == "__main__":
    main()
