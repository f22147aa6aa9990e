"""What a fit runs on: the device, the process group, the seed, the threads.

:func:`resolve_runtime` turns the training spec's machine-dependent choices into a
:class:`Runtime` at the start of ``fit``: is the device there, is this process one
of a torch.distributed group (then every rank takes rank 0's seed), how many CPU
threads to use, which dtype mixed precision computes in. An unavailable device
raises a ValueError here, before anything is learned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._params import TrainingSpec
from .distributed import Group, current_group
from .threads import max_threads

__all__ = ["Runtime", "resolve_device", "resolve_runtime"]

_AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    """The machine-dependent half of a fit's configuration (the other half is the
    :class:`~skmmoe._params.TrainingSpec`)."""

    device: torch.device
    device_ids: list[int] | None
    """The DataParallel device ids (several GPUs in one process); None: one."""
    group: Group | None
    """The process group of data-parallel training; None: one process."""
    seed: int
    """The seed of this fit: the spec's, or a fresh one drawn when it is None (by
    rank 0 in data-parallel training, and shared)."""
    autocast_dtype: torch.dtype | None
    """Mixed-precision training in this dtype; None trains in float32."""
    threads: int
    """CPU threads torch may use while training."""
    adapt_threads: bool
    """Whether to choose between ``threads`` and one thread by measurement
    (:class:`~skmmoe._engine.threads.ThreadTuner`)."""
    verbose: int
    """The spec's verbosity on rank 0 (and alone); 0 on the other ranks."""


def resolve_runtime(spec: TrainingSpec) -> Runtime:
    """The :class:`Runtime` of a fit with ``spec``; a ValueError when the machine
    cannot provide it, or when ``n_workers`` conflicts with it."""
    group = current_group()
    n_workers = spec.n_workers
    if n_workers is not None and n_workers > 1 and group is not None:
        raise ValueError(
            f"n_workers={n_workers} starts processes of its own, but this process "
            "is already one of a torch.distributed process group (torchrun, Ray "
            "Train, accelerate): the group's processes are the workers, so leave "
            "n_workers=None."
        )
    device, device_ids = resolve_device(spec.device, spec.gpus, group)
    if n_workers is not None and n_workers > 1:
        if device.type != "cpu" or device_ids is not None:
            raise ValueError(
                f"n_workers={n_workers} trains in CPU processes (gloo), but "
                f"device={spec.device!r}, gpus={list(spec.gpus or []) or None} "
                f"resolve to {device}: set device='cpu', or to train on several "
                "GPUs start one process per GPU with torchrun."
            )
    if spec.precision == "float16" and device.type != "cuda":
        raise ValueError(
            "precision='float16' needs a CUDA device; on the CPU use "
            "precision='bfloat16'."
        )
    seed = spec.seed
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
        if group is not None:
            seed = group.broadcast_int(seed, device, "sharing rank 0's seed")
    threads, adapt = max_threads(spec.n_jobs), spec.n_jobs is None
    if group is not None and spec.n_jobs is None:
        # Each rank its share of the machine's cores; no probing, whose timings
        # would differ between ranks.
        threads, adapt = group.fair_threads(threads), False
    return Runtime(
        device=device,
        device_ids=device_ids,
        group=group,
        seed=int(seed),
        autocast_dtype=_AUTOCAST[spec.precision],
        threads=threads,
        adapt_threads=adapt and group is None,
        # Only rank 0 prints.
        verbose=spec.verbose if group is None or group.rank == 0 else 0,
    )


def resolve_device(
    device, gpus, group: Group | None = None
) -> tuple[torch.device, list[int] | None]:
    """The training device and the DataParallel device ids, or a ValueError when
    the machine cannot provide them. In data-parallel training (``group``) each
    process trains on one device: ``gpus[local_rank]`` when ``gpus`` is given."""
    name = str(device)
    cuda = torch.cuda.is_available()
    if group is not None:
        resolved, ids = resolve_device(device, gpus)
        if ids is not None:
            if len(ids) < group.local_world_size:
                raise ValueError(
                    f"gpus={ids} names fewer GPUs than the {group.local_world_size} "
                    "processes of the process group on this machine: give one GPU "
                    "per process, or leave gpus=None and set device."
                )
            resolved, ids = torch.device(f"cuda:{ids[group.local_rank]}"), None
        if group.backend == "nccl" and resolved.type != "cuda":
            raise ValueError(
                "The process group's backend is 'nccl', which reduces CUDA tensors "
                f"only, but training runs on {resolved}: use "
                "init_process_group('gloo') to train on the CPU, or a CUDA device."
            )
        return resolved, ids
    if gpus is not None:
        gpus = [int(g) for g in gpus]
        if not cuda:
            raise ValueError(
                f"gpus={gpus} needs CUDA, which is not available on this machine; "
                "leave gpus=None to train on the CPU."
            )
        if max(gpus) >= torch.cuda.device_count():
            raise ValueError(
                f"gpus={gpus} names a GPU this machine lacks; it has "
                f"{torch.cuda.device_count()}."
            )
        if name not in ("auto", "cuda", f"cuda:{gpus[0]}"):
            raise ValueError(
                f"device={name!r} conflicts with gpus={gpus}: gpus[0] is the main "
                f"device, so use device='cuda:{gpus[0]}'."
            )
        return torch.device(f"cuda:{gpus[0]}"), gpus
    if name == "auto":
        return torch.device("cuda" if cuda else "cpu"), None
    try:
        parsed = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(
            f"device={name!r} is not a device skmmoe knows; use 'cpu', 'cuda', "
            "'cuda:N' or 'auto'."
        ) from None
    if parsed.type == "cpu":  # one CPU device, whatever index
        return torch.device("cpu"), None
    if parsed.type == "cuda":
        if not cuda:
            raise ValueError(
                f"device={name!r} was requested but CUDA is not available on this "
                "machine; use device='cpu' or device='auto'."
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={name!r} is not available: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
        return dev, None
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device='mps' was requested but MPS is not available.")
        return torch.device("mps"), None
    raise ValueError(
        f"device={name!r} is not a device skmmoe knows; use 'cpu', 'cuda', 'cuda:N' "
        "or 'auto'."
    )
