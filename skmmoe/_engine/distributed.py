"""Data-parallel training over a process group someone else made, torch only.

When ``torch.distributed`` is initialised with more than one process (by
``torchrun``, Ray Train's ``TorchTrainer``, ``accelerate launch``, or skmmoe's own
``n_workers``), every process (rank) is given the same X and y, fits the same
encoder and tasks (checked: :meth:`Group.check_same`), and builds the same
network from the same seed. Each epoch draws one global permutation from that
seed; every global batch is cut into ``world_size`` contiguous slices, one per
rank. A rank's loss is its slice's share of the global batch's loss (its summed
weighted losses over the global batch's total weight, which every rank works out
using the full targets without communication), so the gradients summed over ranks
are the gradients of the global batch, as one process would compute them.

Gradients are summed by one ``all_reduce`` of a flat buffer after the backward
pass, not by wrapping the network in ``DistributedDataParallel``:

- the optimizer, gradient clipping and float16 loss scaling then read the summed
  gradients by construction (skmmoe's Adam is functional and reads ``p.grad``;
  DDP's hooks write there too, but only when the forward pass went through the
  wrapper);
- the network's parameters without a gradient (the embedding table when X has no
  categorical or binned column) are simply left out, where DDP fails unless told
  to ignore them or to search the graph for unused parameters every step;
- one collective per step: DDP also broadcasts the buffers before every forward
  pass, and a network of skmmoe's size fits in one of its 25 MiB buckets, so its
  overlap of communication with the backward pass has nothing to overlap.

Per epoch one more ``all_reduce`` sums the training losses for the history, and
with early stopping rank 0's validation objective is broadcast, so that every
rank takes the same decisions (stop, best epoch, plateau schedule) and ends with
the same weights: rank 0 can save an ordinary model. A collective that fails
because another process died or timed out (the group's ``timeout``) raises a
RuntimeError saying so, instead of hanging.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Group", "current_group", "digest"]


@dataclass(frozen=True)
class Group:
    """The default process group as training sees it.

    Parameters
    ----------
    rank, world_size : int
        This process's rank and the number of processes.
    local_rank, local_world_size : int
        The same on this machine (``LOCAL_RANK`` / ``LOCAL_WORLD_SIZE`` as
        torchrun sets them; the global ones when unset).
    backend : str
        The group's backend ("gloo", "nccl", ...).
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    backend: str

    def shard(self, start: int, end: int) -> tuple[int, int]:
        """This rank's rows ``[lo, hi)`` of the global batch ``[start, end)``:
        contiguous slices in rank order, sizes differing by at most one."""
        n = end - start
        base, extra = divmod(n, self.world_size)
        lo = start + self.rank * base + min(self.rank, extra)
        return lo, lo + base + (self.rank < extra)

    def fair_threads(self, threads: int) -> int:
        """At most ``threads``, and no more than this rank's share of the cores
        among the group's processes on this machine."""
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
        return max(1, min(threads, cores // self.local_world_size))

    def all_reduce_gradients(self, parameters: Iterable[torch.Tensor]) -> None:
        """Sum the gradients of ``parameters`` over the ranks, in place, by one
        all_reduce of a flat buffer. Parameters without a gradient are left out:
        which ones have none is the same on every rank (same network, same code
        path)."""
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        with collective(self, "summing the gradients"):
            dist.all_reduce(flat)
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n

    def all_reduce_sum(self, tensor: torch.Tensor, what: str) -> torch.Tensor:
        """``tensor`` summed over the ranks, in place."""
        with collective(self, what):
            dist.all_reduce(tensor)
        return tensor

    def broadcast_float(self, value: float, device: torch.device, what: str) -> float:
        """Rank 0's ``value`` on every rank."""
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        with collective(self, what):
            dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def broadcast_int(self, value: int, device: torch.device, what: str) -> int:
        """Rank 0's ``value`` (an int64) on every rank."""
        tensor = torch.tensor([value], dtype=torch.int64, device=device)
        with collective(self, what):
            dist.broadcast(tensor, src=0)
        return int(tensor.item())

    def check_same(self, value: int, device: torch.device, what: str) -> None:
        """A ValueError on every rank unless every rank holds the same ``value``
        (a :func:`digest`); it names the ranks that differ from rank 0."""
        mine = torch.tensor([value], dtype=torch.int64, device=device)
        gathered = [torch.empty_like(mine) for _ in range(self.world_size)]
        with collective(self, f"comparing {what}"):
            dist.all_gather(gathered, mine)
        values = [int(t.item()) for t in gathered]
        differ = [r for r, v in enumerate(values) if v != values[0]]
        if differ:
            raise ValueError(
                f"Data-parallel training needs the same {what} on every process, "
                f"but rank(s) {differ} of {self.world_size} differ from rank 0. "
                "Give every process the same X, y, sample_weight and parameters "
                "(seed included); each process takes its share of every batch "
                "itself."
            )


def current_group() -> Group | None:
    """The default process group when torch.distributed is initialised with more
    than one process; None otherwise (one process: nothing changes)."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world_size = dist.get_world_size()
    if world_size < 2:
        return None
    rank = dist.get_rank()
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    return Group(
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        local_world_size=max(local_world_size, 1),
        backend=str(dist.get_backend()),
    )


@contextlib.contextmanager
def collective(group: Group, what: str) -> Iterator[None]:
    """A failed collective (another rank died, or did not arrive within the
    group's timeout) raised as a RuntimeError that says so."""
    try:
        yield
    except RuntimeError as exc:
        raise RuntimeError(
            f"Data-parallel training failed while {what} on rank {group.rank} of "
            f"{group.world_size}: another process of the group has probably died "
            "or stopped responding (the process group's timeout bounds the wait); "
            "see its log for the cause. Backend error: "
            + str(exc).strip().splitlines()[0]
        ) from exc


def digest(*parts: object) -> int:
    """A 63-bit hash of tensors (their values, shapes and dtypes), strings and
    None, to compare what the ranks hold."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, torch.Tensor):
            t = part.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
        elif part is None:
            h.update(b"\x00none")
        else:
            h.update(str(part).encode())
    return int.from_bytes(h.digest(), "little") >> 1
