"""One process of a data-parallel fit, as a torchrun script runs it, for
tests/test_distributed.py: ``python distributed_worker.py SCENARIO RANK WORLD
STORE OUT``. It joins the process group through the file ``STORE``, fits the
scenario's estimator, and writes its weights and history to ``OUT`` (a torch
file)."""

from __future__ import annotations

import datetime
import os
import sys

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

import skmmoe
from skmmoe import MMOEEstimator

COMMON = dict(
    num_experts=2,
    expert_dnn_hidden_units=(16,),
    gate_dnn_hidden_units=(8,),
    tower_dnn_hidden_units=(8,),
    batch_size=64,
    epochs=3,
    learning_rate=0.01,
    l2_reg_embedding=1e-3,
    l2_reg_dnn=1e-4,
    n_jobs=1,
)


def mixed_data(n=600, seed=0):
    """A DataFrame X with a categorical column, a binary task with missing labels
    and a regression task, and sample weights."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "city": rng.choice(["a", "b", "c", "d"], n),
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(3, 1, n),
        }
    )
    bought = np.where(X.city.isin(["a", "b"]) ^ (X.age > 45), "yes", "no").astype(
        object
    )
    bought[rng.random(n) < 0.1] = None
    Y = pd.DataFrame({"bought": bought, "spend": X.age * 0.5 + rng.normal(size=n)})
    weights = rng.uniform(0.5, 2.0, n)
    return X, Y, weights


def numeric_data(n=600, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    Y = np.column_stack([X[:, 0] + X[:, 1] > 0, X[:, 2] - X[:, 3] > 0])
    return X, Y


def fit(scenario: str, rank: int = 0) -> MMOEEstimator:
    """The scenario's fitted estimator (in this process's group, if any)."""
    if scenario in ("mixed", "kill", "mismatch"):
        X, Y, w = mixed_data(seed=rank if scenario == "mismatch" else 0)
        est = MMOEEstimator(early_stopping=scenario == "mixed", **COMMON)
        if scenario == "kill" and rank == 1:
            _die_after_steps(3)
        return est.fit(X, Y, sample_weight=w)
    if scenario == "numeric":
        X, Y = numeric_data()
        # numeric_encoding="scaled": no embedded input, so the embedding table
        # gets no gradient (the trap that makes DistributedDataParallel fail).
        return MMOEEstimator(numeric_encoding="scaled", **COMMON).fit(X, Y)
    raise ValueError(scenario)


def _die_after_steps(n: int) -> None:
    """This process exits abruptly (as if killed) at its n-th training step."""
    from skmmoe._engine import training as _training

    step = _training._Run.step
    calls = [0]

    def dying_step(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            os._exit(17)
        return step(self, *args, **kwargs)

    _training._Run.step = dying_step


def result(est: MMOEEstimator) -> dict:
    return {
        "state": {k: v.detach().cpu() for k, v in est.network_.state_dict().items()},
        "history": est.history_,
        "best_epoch": est.best_epoch_,
    }


def main(scenario: str, rank: int, world: int, store: str, out: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        est = fit(scenario, rank)
        torch.save(result(est), out)
        if rank == 0:
            skmmoe.save(est, out + ".skmmoe")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    scenario, rank, world, store, out = sys.argv[1:]
    main(scenario, int(rank), int(world), store, out)
