"""``n_workers``: a data-parallel fit on this machine, in processes skmmoe starts.

A convenience for one machine; on a cluster the user's launcher (torchrun, Ray
Train, accelerate) starts the processes and skmmoe joins their group
(:mod:`skmmoe._engine.distributed`). Here the parent writes the unfitted estimator and
the data to a private temporary folder, starts ``n_workers`` fresh Python
processes (``python -c``, importing skmmoe: no ``__main__`` guard is needed and
nothing is forked), which join a gloo group through a file store in that folder
and fit; rank 0 writes the fitted estimator back. Every process builds its own
network from the shared seed: no tensor is shared between them (tensors passed
through ``torch.multiprocessing`` live in shared memory, where every rank's
optimizer would step the same weights).

When a process fails, the parent stops the others and raises the failure: the
error the process reported (a ValueError about the data, say), or a
RuntimeError naming the rank that ended without reporting one (killed). Inside
a joblib (loky) or dask worker, or a daemonic process, it refuses: those
workers share their machine already, and daemonic processes may not start
others.
"""

from __future__ import annotations

import datetime
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

__all__ = ["WORKER_TIMEOUT", "fit_in_workers"]

WORKER_TIMEOUT = datetime.timedelta(minutes=10)
"""How long a worker's collectives wait for the other workers before failing."""
_POLL_S = 0.05
_GRACE_S = 5.0
"""How long the parent lets the other workers end on their own (their
collectives fail at once when a peer's connection closes) before killing them."""


def fit_in_workers(unfitted, X, y, sample_weight, n_workers: int):
    """``unfitted`` (an estimator with ``n_workers=None``) fitted by ``n_workers``
    processes in a gloo process group on this machine, as rank 0 returns it
    (the estimator refuses first where this process is itself a worker)."""
    with tempfile.TemporaryDirectory(prefix="skmmoe-workers-") as folder:
        root = Path(folder)
        with open(root / "payload.pkl", "wb") as f:
            pickle.dump((unfitted, X, y, sample_weight), f, protocol=5)
        env = {
            **os.environ,
            "LOCAL_WORLD_SIZE": str(n_workers),
            "WORLD_SIZE": str(n_workers),
        }
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, folder, str(rank)],
                env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            )
            for rank in range(n_workers)
        ]
        try:
            _wait(processes, root)
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        with open(root / "result.pkl", "rb") as f:
            return pickle.load(f)  # written by our own worker, in our own folder


def _wait(processes: list[subprocess.Popen], root: Path) -> None:
    """Return when every worker has succeeded; raise the first failure."""
    while True:
        codes = [p.poll() for p in processes]
        failed = [r for r, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            break
        if all(c == 0 for c in codes):
            return
        time.sleep(_POLL_S)
    deadline = time.monotonic() + _GRACE_S
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(_POLL_S)
    first = failed[0]
    error_file = root / f"error-{first}.pkl"
    if error_file.exists():
        with open(error_file, "rb") as f:
            error, text = pickle.load(f)
        if error is not None:
            raise error from RuntimeError(f"in training process {first}:\n{text}")
        raise RuntimeError(f"Training process {first} failed:\n{text}")
    code = processes[first].returncode
    how = (
        f"was killed by signal {signal.Signals(-code).name}"
        if code < 0
        else f"exited with code {code}"
    )
    raise RuntimeError(
        f"Training process {first} of {len(processes)} (pid "
        f"{processes[first].pid}) {how} without reporting an error; the fit "
        "was stopped."
    )


# Not ``python -m skmmoe._engine.launch``: the package imports this module first, which
# runpy warns about.
_WORKER_MAIN = (
    "import sys; from skmmoe._engine.launch import _worker; "
    "sys.exit(_worker(sys.argv[1], int(sys.argv[2])))"
)


def _worker(folder: str, rank: int) -> int:
    """A worker's life: join the group, fit, rank 0 writes the result."""
    import torch.distributed as dist

    root = Path(folder)
    world_size = int(os.environ["WORLD_SIZE"])
    try:
        with open(root / "payload.pkl", "rb") as f:
            estimator, X, y, sample_weight = pickle.load(f)
        dist.init_process_group(
            "gloo",
            init_method=f"file://{root / 'store'}",
            rank=rank,
            world_size=world_size,
            timeout=WORKER_TIMEOUT,
        )
        try:
            estimator.fit(X, y, sample_weight=sample_weight)
        finally:
            dist.destroy_process_group()
        if rank == 0:
            with open(root / "result.tmp", "wb") as f:
                pickle.dump(estimator, f, protocol=5)
            os.replace(root / "result.tmp", root / "result.pkl")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        text = traceback.format_exc()
        try:
            payload = pickle.dumps((exc, text))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            payload = pickle.dumps((None, text))
        (root / f"error-{rank}.pkl").write_bytes(payload)
        return 1
    return 0
