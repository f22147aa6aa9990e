"""Epoch times of a long fit with and without flushing denormal floats to zero.

Late in a long fit on census-like rows (drawn with replacement from the census
data, as in ``scaling.py``) some logits reach +-90 and beyond; their gradients and
the Adam moments they feed become denormal floats, which the CPU computes with many
times slower. skmmoe flushes them to zero while training
(``skmmoe._training.flush_denormals``); this script fits ``MMOEEstimator`` with
that on and with it disabled, each in a fresh process, alternating A B A B, and
prints every epoch's seconds.

    python benchmarks/denormals.py [--rows 200000 --epochs 16 --rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np
from _child_process import report, run_child

sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(n_rows: int, epochs: int, flush: bool) -> dict:
    from scaling import census_like

    import skmmoe._training as training
    from skmmoe import MMOEEstimator

    if not flush:
        training.flush_denormals = lambda device: contextlib.nullcontext()
    X, Y = census_like(n_rows)
    est = MMOEEstimator(epochs=epochs).fit(X, Y)
    return dict(flush=flush, epoch_s=[h["seconds"] for h in est.history_])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", choices=["on", "off"])
    args = parser.parse_args(argv)
    if args.child:
        report(child(args.rows, args.epochs, args.child == "on"))
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


if __name__ == "__main__":
    main()
