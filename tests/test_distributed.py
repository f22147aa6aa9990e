"""Data-parallel training (skmmoe._engine.distributed and .launch): two gloo
processes on the CPU reach the weights one process reaches over the same global
batches, numeric-only X included; a killed rank ends the fit with an error;
ranks given different data refuse; ``n_workers`` launches and refuses inside a
joblib worker. Every launch has a hard timeout, so a hang fails the test instead
of CI.

Tolerance: the ranks sum their shares of each batch's loss and gradients in
another order than one process, so weights agree to float32 rounding: measured
within 6e-8 after 3 epochs (27 steps); asserted with rtol=1e-5, atol=1e-6."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import skmmoe  # noqa: E402
from skmmoe import MMOEEstimator  # noqa: E402
from skmmoe._engine import distributed as _distributed  # noqa: E402
from skmmoe._engine import launch as _launch  # noqa: E402
from skmmoe._params import read_params  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import distributed_worker as worker  # noqa: E402

WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT_S = 150
RTOL, ATOL = 1e-5, 1e-6


def launch(scenario: str, tmp_path: Path, world: int = 2) -> list:
    """Run ``world`` worker processes of ``scenario`` as torchrun would (one
    process per rank, joined through a file store); their completed processes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    store = tmp_path / "store"
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), scenario, str(rank), str(world)]
            + [str(store), str(tmp_path / f"rank{rank}.pt")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world)
    ]
    done = []
    try:
        for p in processes:
            out, err = p.communicate(timeout=TIMEOUT_S)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return done


def assert_same_weights(state, reference, rtol=RTOL, atol=ATOL):
    assert state.keys() == reference.keys()
    for name, value in state.items():
        assert_allclose(
            value.double().numpy(),
            reference[name].double().numpy(),
            rtol=rtol,
            atol=atol,
            err_msg=name,
        )


@pytest.fixture
def one_thread():
    """torch on one thread, as the ranks (n_jobs=1), for the one-process fit that
    the ranks are compared with; the count is restored after the test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_ranks_reach_the_weights_of_one_process(tmp_path, one_thread):
    # Categorical and numeric columns, a binary task with missing labels, a
    # regression task, sample weights, both L2 terms and early stopping.
    done = launch("mixed", tmp_path)
    for rank, d in enumerate(done):
        assert d.returncode == 0, f"rank {rank}:\n{d.stderr}"
        assert d.stdout == "" and "Warning" not in d.stderr, d.stderr
    one = worker.result(worker.fit("mixed"))
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    # The summed gradients are the same on both ranks: so are the weights, exactly.
    assert_same_weights(ranks[1]["state"], ranks[0]["state"], rtol=0, atol=0)
    assert_same_weights(ranks[0]["state"], one["state"])
    assert ranks[0]["best_epoch"] == ranks[1]["best_epoch"] == one["best_epoch"]
    assert len(ranks[0]["history"]) == len(one["history"]) == 3
    for got, want in zip(ranks[0]["history"], one["history"]):
        for task, loss in want["train_loss"].items():
            assert got["train_loss"][task] == pytest.approx(loss, rel=1e-5)
        assert got["valid_objective"] == pytest.approx(want["valid_objective"], 1e-5)
    # Rank 0 saved an ordinary model, which predicts in a plain process.
    loaded = skmmoe.load(tmp_path / "rank0.pt.skmmoe")
    X, Y, _ = worker.mixed_data()
    reference = worker.fit("mixed")
    assert_allclose(
        loaded.predict(X)[:, 1].astype(float),
        reference.predict(X)[:, 1].astype(float),
        rtol=1e-4,
        atol=1e-5,
    )


def test_killed_rank_ends_the_fit_with_an_error(tmp_path):
    # Rank 1 exits abruptly in its third step: rank 0 must fail, not hang.
    done = launch("kill", tmp_path)
    assert done[1].returncode == 17
    assert done[0].returncode != 0
    assert "RuntimeError: Data-parallel training failed while" in done[0].stderr
    assert "rank 0 of 2" in done[0].stderr
    assert not (tmp_path / "rank0.pt").exists()


def test_ranks_given_different_data_refuse(tmp_path):
    done = launch("mismatch", tmp_path)
    for d in done:
        assert d.returncode != 0
        assert "ValueError: Data-parallel training needs the same" in d.stderr
        assert "rank(s) [1] of 2 differ from rank 0" in d.stderr


def test_n_workers_numeric_only_X_matches_one_process(one_thread):
    # numeric_encoding="scaled": no embedded input, so the embedding table gets
    # no gradient (DistributedDataParallel fails on such a parameter unless told).
    X, Y = worker.numeric_data()
    params = dict(numeric_encoding="scaled", **worker.COMMON)
    two = MMOEEstimator(n_workers=2, **params).fit(X, Y)
    one = MMOEEstimator(**params).fit(X, Y)
    assert two.n_workers == 2 and two.n_features_in_ == 5
    assert_same_weights(two.network_.state_dict(), one.network_.state_dict())
    assert_allclose(two.predict_proba(X)[0], one.predict_proba(X)[0], atol=1e-5)


def _fit_with_workers(X, Y):
    return MMOEEstimator(n_workers=2, epochs=1).fit(X, Y)


def test_n_workers_refuses_inside_a_joblib_worker():
    from joblib import Parallel, delayed

    X, Y = worker.numeric_data(n=50)
    with pytest.raises(RuntimeError, match=r"refused inside a joblib \(loky\)"):
        Parallel(n_jobs=2)(delayed(_fit_with_workers)(X, Y) for _ in range(2))


def test_n_workers_refuses_partial_fit_and_other_devices():
    X, Y = worker.numeric_data(n=50)
    with pytest.raises(ValueError, match="n_workers=2 applies to fit"):
        MMOEEstimator(n_workers=2).partial_fit(X, Y)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="needs CUDA"):
            MMOEEstimator(n_workers=2, gpus=[0]).fit(X, Y)


def test_dead_worker_is_named(tmp_path, monkeypatch):
    """The parent of n_workers names a worker that ended without an error."""
    monkeypatch.setattr(_launch, "_GRACE_S", 0.2)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed = subprocess.Popen(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)"]
    )
    try:
        with pytest.raises(RuntimeError, match="Training process 1 of 2 .* SIGKILL"):
            _launch._wait([sleeper, killed], tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_one_process_group_changes_nothing(tmp_path):
    X, Y = worker.numeric_data(n=200)
    params = dict(worker.COMMON, epochs=2, n_jobs=1)
    alone = MMOEEstimator(**params).fit(X, Y)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{tmp_path / 'store'}",
        rank=0,
        world_size=1,
        timeout=datetime.timedelta(seconds=30),
    )
    try:
        assert _distributed.current_group() is None
        in_group = MMOEEstimator(**params).fit(X, Y)
    finally:
        dist.destroy_process_group()
    assert_same_weights(
        in_group.network_.state_dict(), alone.network_.state_dict(), 0, 0
    )


@pytest.mark.parametrize("n, world", [(10, 2), (7, 2), (5, 3), (2, 2)])
def test_shards_cover_the_batch_in_rank_order(n, world):
    groups = [
        _distributed.Group(
            rank=r,
            world_size=world,
            local_rank=r,
            local_world_size=world,
            backend="gloo",
        )
        for r in range(world)
    ]
    shards = [g.shard(100, 100 + n) for g in groups]
    rows = np.concatenate([np.arange(lo, hi) for lo, hi in shards])
    assert_allclose(rows, np.arange(100, 100 + n))
    sizes = [hi - lo for lo, hi in shards]
    assert max(sizes) - min(sizes) <= 1


def test_digest_tells_tensors_apart():
    a = torch.arange(6.0).reshape(2, 3)
    assert _distributed.digest(a, "x") == _distributed.digest(a.clone(), "x")
    assert _distributed.digest(a) != _distributed.digest(a.reshape(3, 2))
    assert _distributed.digest(a) != _distributed.digest(a.double())
    b = a.clone()
    b[1, 2] += 1e-6
    assert _distributed.digest(a) != _distributed.digest(b)


def test_torchrun_runs_the_example(tmp_path):
    """The README's torchrun recipe, as written: torchrun (torch's own launcher)
    starts 2 processes of examples/distributed_torchrun.py."""
    example = Path(__file__).parents[1] / "examples" / "distributed_torchrun.py"
    output = tmp_path / "census_ddp.skmmoe"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
        + ["--standalone", str(example), "--fast", "--output-dir", str(tmp_path)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("2 process(es): test AUC income") == 1, done.stdout
    assert skmmoe.load(output).n_epochs_ == 2


def _group(rank=1, world=2, backend="gloo"):
    return _distributed.Group(
        rank=rank,
        world_size=world,
        local_rank=rank,
        local_world_size=world,
        backend=backend,
    )


def test_ranks_other_than_0_print_nothing_and_share_the_cores(monkeypatch):
    from skmmoe._engine import runtime

    spec = read_params(MMOEEstimator(verbose=1)).training
    monkeypatch.setattr(runtime, "current_group", lambda: _group(rank=1))
    resolved = runtime.resolve_runtime(spec)
    assert resolved.verbose == 0 and not resolved.adapt_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    assert resolved.threads == max(1, min(torch.get_num_threads(), cores // 2))
    monkeypatch.setattr(runtime, "current_group", lambda: _group(rank=0))
    resolved = runtime.resolve_runtime(spec)
    assert resolved.verbose == 1 and resolved.group.rank == 0


def test_nccl_group_refuses_cpu_training():
    from skmmoe._engine.runtime import resolve_device

    with pytest.raises(ValueError, match="backend is 'nccl'.*CUDA tensors only"):
        resolve_device("cpu", None, _group(backend="nccl"))
    assert resolve_device("cpu", None, _group()) == (torch.device("cpu"), None)
