"""Denormal floats flushed to zero on the CPU while training, in torch's OpenMP
worker threads too."""

from __future__ import annotations

import contextlib
import ctypes
import functools

import torch

__all__ = ["flush_denormals", "flushes_denormals"]


@functools.cache
def _gnu_openmp_runtimes() -> tuple[ctypes.CDLL, ...]:
    """The GNU OpenMP runtimes loaded in this process (torch's, loaded with torch;
    scikit-learn's wheels bring their own), on Linux; empty elsewhere. Looked up
    once per process (reading /proc/self/maps takes about 2 ms)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libgomp" in line}
    except OSError:
        return ()
    runtimes = []
    for path in sorted(paths):
        try:
            runtime = ctypes.CDLL(path)
            runtime.omp_pause_resource_all.argtypes = [ctypes.c_int]
        except (OSError, AttributeError):
            continue
        runtimes.append(runtime)
    return tuple(runtimes)


def _restart_openmp_workers(runtimes: tuple[ctypes.CDLL, ...]) -> None:
    # omp_pause_resource_all ends the calling thread's pool of worker threads; the
    # next parallel region starts new ones, which inherit this thread's
    # floating-point control register.
    for runtime in runtimes:
        runtime.omp_pause_resource_all(1)  # omp_pause_soft


def flushes_denormals() -> bool:
    """Whether this thread treats denormal floats as zero (torch.set_flush_denormal)."""
    return torch.tensor(1e-39).mul(1.0).item() == 0.0


@contextlib.contextmanager
def flush_denormals(device: torch.device):
    """Treat denormal floats (below 1.2e-38) as zero on the CPU while training.

    Late in a long fit some samples' logits reach +-90 and more; their gradients,
    and the Adam moments they feed, fall into the denormal range, where the CPU's
    arithmetic is many times slower: epochs on 200k census-like rows slowed from
    about 4 s to 25 s without this (``benchmarks/denormals.py``). Flushing them to
    zero is what TensorFlow does by default. The flag is per thread and torch sets
    it only in the calling thread, so the OpenMP worker threads are restarted to
    inherit it (GNU OpenMP; elsewhere only the calling thread flushes). Everything
    is restored on exit; nothing changes when flushing was already on.
    """
    if device.type != "cpu" or flushes_denormals():
        yield
        return
    if not torch.set_flush_denormal(True):  # the CPU cannot flush
        yield
        return
    runtimes = _gnu_openmp_runtimes()
    _restart_openmp_workers(runtimes)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        _restart_openmp_workers(runtimes)
