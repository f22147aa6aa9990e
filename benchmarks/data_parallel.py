"""Data-parallel training: start-up of a 2-process gloo group, and training
throughput of 2 gloo processes against 1 process.

1. Start-up: 2 fresh processes, as torchrun starts them, each importing skmmoe
   and joining a gloo group through a file store; the time from starting them to
   both passing a first barrier, and the part of it spent in
   ``init_process_group`` (the rest is Python and the imports). Then
   ``MMOEEstimator(n_workers=2).fit`` on a tiny table, whose time is almost all
   start-up: it writes the data, starts 2 processes and reads the model back.
2. Throughput: default ``MMOEEstimator`` epochs on the census example's training
   rows, each setting in fresh processes: 1 process with 1 thread, 1 process with
   2 threads (``n_jobs=2``), and 2 gloo processes with 1 thread each (the same
   global batches; each process its half), summing gradients by skmmoe's one
   all_reduce per step or, patched in, through ``DistributedDataParallel``
   (buffers broadcast before each forward pass, gradients averaged in its
   backward hooks). Reported: the median epoch time
   (``history_[i]["seconds"]``, which leaves out start-up and encoding) over the
   rounds' epochs after the first, training rows per second, and the ratio to
   1 process with 2 threads.
3. Equivalence: the largest difference between the weights ``n_workers=2``
   reaches and those of one process, after one epoch on the census rows.

    python benchmarks/data_parallel.py [--rounds 3] [--rows 100000]
    python benchmarks/data_parallel.py --rounds 0 --equivalence-rows 3000
    python benchmarks/data_parallel.py --smoke     # tiny data, one round (tests)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _child_process import report

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(__file__).resolve())


def join_group(store: str, rank: int, world: int) -> float:
    """Join the gloo group; the seconds init_process_group took."""
    import torch.distributed as dist

    tic = time.perf_counter()
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(minutes=5),
    )
    return time.perf_counter() - tic


def child_startup(store: str, rank: int) -> None:
    import torch.distributed as dist

    import skmmoe  # noqa: F401 - a worker imports it

    init_s = join_group(store, rank, 2)
    dist.barrier()
    if rank == 0:
        report({"init_s": init_s, "ready": time.time()})
    dist.destroy_process_group()


def training_rows(n_rows: int, census: bool | None = None):
    """The census example's first ``n_rows`` training rows; for a smoke run
    (by default when n_rows < 5,000) random rows, which spare each process
    reading the file."""
    if not (census if census is not None else n_rows >= 5_000):
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(0)
        X = pd.DataFrame(
            {"c": rng.choice(list("abcd"), n_rows), "x": rng.normal(size=n_rows)}
        )
        return X, np.column_stack([X.c == "a", X.x > 0])
    sys.path.insert(0, str(ROOT / "examples"))
    from census_income import split_census

    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    X_train, _, _, Y_train, _, _ = split_census(X, Y)
    return X_train.iloc[:n_rows], Y_train.iloc[:n_rows]


def child_epochs(setting: str, n_rows: int, epochs: int, store: str, rank: int):
    from skmmoe import MMOEEstimator

    X_train, Y_train = training_rows(n_rows)
    world = 2 if setting.startswith("2 ") else 1
    if world > 1:
        import torch.distributed as dist

        join_group(store, rank, world)
    wrapped = []
    if setting == DDP:
        wrapped = wrap_in_ddp()
    n_jobs = 2 if setting == "1 process x 2 threads" else 1
    model = MMOEEstimator(epochs=epochs, n_jobs=n_jobs).fit(X_train, Y_train)
    if world > 1:
        dist.destroy_process_group()
    if setting == DDP and not wrapped:
        raise SystemExit("the DistributedDataParallel patch did not take")
    if rank == 0:
        report({"epoch_s": [h["seconds"] for h in model.history_]})


def wrap_in_ddp() -> list:
    """Patch skmmoe's loop to train through DistributedDataParallel (which
    averages the gradients in its backward hooks) instead of its own all_reduce;
    the returned list fills as runs are wrapped."""
    from torch.nn.parallel import DistributedDataParallel

    from skmmoe._engine import distributed as _distributed
    from skmmoe._engine import training as _training

    start = _training._Run.start.__func__
    wrapped: list = []

    def ddp_start(cls, network, tasks, data, config):
        run = start(cls, network, tasks, data, config)
        run.model = DistributedDataParallel(network)
        wrapped.append(run)
        return run

    _training._Run.start = classmethod(ddp_start)
    # DDP averages where skmmoe sums: a constant factor that Adam's update
    # normalises away (eps aside), so the steps stay comparable.
    _distributed.Group.all_reduce_gradients = lambda self, parameters: None
    return wrapped


def run_ranks(args: list[str], world: int) -> dict:
    """Run this script's child mode in ``world`` processes; rank 0's result."""
    with tempfile.TemporaryDirectory() as folder:
        store = os.path.join(folder, "store")
        procs = [
            subprocess.Popen(
                [sys.executable, SCRIPT, "--child", *args, store, str(rank)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "LOCAL_WORLD_SIZE": str(world)},
            )
            for rank in range(world)
        ]
        outs = [p.communicate(timeout=1800) for p in procs]
    for p, (_, err) in zip(procs, outs):
        if p.returncode:
            sys.stderr.write(err)
            raise SystemExit(f"a child failed: {p.args}")

    line = next(x for x in outs[0][0].splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def startup(rounds: int, n_workers_fit: bool) -> None:
    import numpy as np

    from skmmoe import MMOEEstimator

    totals, inits, n_workers_fits = [], [], []
    for _ in range(rounds):
        tic = time.time()
        result = run_ranks(["startup"], 2)
        totals.append(result["ready"] - tic)
        inits.append(result["init_s"])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0])
    for _ in range(rounds if n_workers_fit else 0):
        tic = time.perf_counter()
        MMOEEstimator(n_workers=2, epochs=1).fit(X, Y)
        n_workers_fits.append(time.perf_counter() - tic)
    print(
        f"2-process gloo group: ready in {statistics.median(totals):.2f} s "
        f"(init_process_group {statistics.median(inits):.3f} s, the rest "
        "starting Python and importing skmmoe); "
        + (
            f"n_workers=2 fit of 200 rows, 1 epoch: "
            f"{statistics.median(n_workers_fits):.2f} s "
            if n_workers_fit
            else "n_workers=2 fit skipped (smoke) "
        )
        + f"(medians over {rounds} rounds)"
    )


DDP = "2 gloo processes, DDP-wrapped"
SETTINGS = (
    "1 process x 1 thread",
    "1 process x 2 threads",
    "2 gloo processes x 1 thread",
    DDP,
)


def throughput(rounds: int, n_rows: int, epochs: int) -> None:
    times: dict[str, list[float]] = {s: [] for s in SETTINGS}
    for _ in range(rounds):
        for setting in SETTINGS:  # rounds alternate the settings
            world = 2 if setting.startswith("2 ") else 1
            # One thread per process unless the setting says 2: the rounds must
            # not follow whatever OMP_NUM_THREADS the caller has.
            result = run_ranks(["epochs", setting, str(n_rows), str(epochs)], world)
            times[setting] += result["epoch_s"][1:] or result["epoch_s"]
    base = statistics.median(times["1 process x 2 threads"])
    data = "census" if n_rows >= 5_000 else "random (smoke)"
    print(f"training throughput on {n_rows:,} {data} rows, {epochs} epochs:")
    for setting in SETTINGS:
        median = statistics.median(times[setting])
        print(
            f"  {setting:<31} epoch {median:.3f} s  {n_rows / median:,.0f} rows/s  "
            f"{median / base:.2f}x the time of 1 process x 2 threads"
        )
    print(f"(median epoch over {rounds} rounds, first epoch of each left out)")


def equivalence(n_rows: int) -> None:
    """The largest difference between the weights of ``n_workers=2`` and of one
    process, after one epoch over the same global batches."""
    import torch

    from skmmoe import MMOEEstimator

    X, Y = training_rows(n_rows, census=True)
    params = dict(epochs=1, early_stopping=True, n_jobs=1)
    two = MMOEEstimator(n_workers=2, **params).fit(X, Y).network_.state_dict()
    torch.set_num_threads(1)
    one = MMOEEstimator(**params).fit(X, Y).network_.state_dict()
    diffs = {
        name: float((two[name].double() - w.double()).abs().max())
        for name, w in one.items()
        if w.numel()
    }
    worst = max(diffs, key=diffs.__getitem__)
    print(
        f"weights, n_workers=2 against 1 process, {n_rows:,} census rows, 1 epoch: "
        "largest "
        f"difference {diffs[worst]:.1e} ({worst}); median over tensors "
        f"{statistics.median(diffs.values()):.1e}"
    )


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        mode, *rest = sys.argv[2:]
        if mode == "startup":
            child_startup(rest[0], int(rest[1]))
        else:
            setting, n_rows, epochs, store, rank = rest
            child_epochs(setting, int(n_rows), int(epochs), store, int(rank))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--equivalence-rows", type=int, default=3_000)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.rows, args.epochs = 1, 2_000, 1
    # A smoke run leaves out the n_workers fit, which tests/test_distributed.py
    # covers: the tests' time goes to starting processes.
    if args.rounds > 0:  # --rounds 0: the equivalence alone
        startup(args.rounds, n_workers_fit=not args.smoke)
        throughput(args.rounds, args.rows, args.epochs)
    if not args.smoke:  # tests/test_distributed.py checks it at a tolerance
        equivalence(args.equivalence_rows)


if __name__ == "__main__":
    main()
