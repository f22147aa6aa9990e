"""How many CPU threads training uses, chosen by measurement while it runs.

torch's intra-op thread pool (GNU OpenMP) has its workers spin while they wait. When
another process keeps a core busy, every parallel region then waits for a worker
that the OS has put aside, and a fit with two threads on two cores ran 12.7x slower
than alone, where one thread ran as fast as alone (``benchmarks/under_load.py``).
So with ``n_jobs="auto"`` training measures: every so often it times a few steps
with one thread against a few with the threads it may use, and keeps the faster
until the next probe (:class:`ThreadTuner`). Alone the probes cost about 2%;
beside a busy process training falls back to one thread within a probe.
It is not the default because the thread count changes the rounding of torch's
reductions, and choices made from timings would make two fits with one seed differ
in their last digits.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

import torch

__all__ = ["ThreadTuner", "max_threads", "training_threads"]


def max_threads(n_jobs: int | str | None) -> int:
    """The threads a fit may use: for None and "auto", the threads torch has
    now, which follow OMP_NUM_THREADS, threadpoolctl's limits and joblib's limits
    in its workers; else ``n_jobs`` (negative: the usable cores + 1 + n_jobs, as
    in joblib), at least 1."""
    if n_jobs is None or n_jobs == "auto":
        return max(torch.get_num_threads(), 1)
    if n_jobs < 0:
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
        return max(cores + 1 + n_jobs, 1)
    return int(n_jobs)


@contextlib.contextmanager
def training_threads(threads: int):
    """torch uses ``threads`` intra-op threads inside; the caller's count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ThreadTuner:
    """Picks the number of threads for the next steps from the times of the last.

    A probe times ``probe`` steps with one thread, then up to ``probe`` steps with
    the full thread count, cut short when one of those takes more than twice the
    one-thread median (beside a busy process such a step can take 20 times
    longer). The faster count runs the next ``run`` steps; each time one thread
    wins again, ``run`` doubles (up to ``max_run``), so a steadily busy machine
    is probed ever more rarely. With ``adaptive=False`` (or one thread allowed)
    the count never changes.
    """

    def __init__(
        self,
        threads: int,
        *,
        adaptive: bool,
        probe: int = 5,
        run: int = 50,
        max_run: int = 800,
    ):
        self.threads = threads
        self.adaptive = adaptive and threads > 1
        self.probe, self.run, self.base_run, self.max_run = probe, run, run, max_run
        self.chosen = threads
        self.times: dict[int, list[float]] = {1: [], threads: []}
        self.left = 0  # steps left before the next probe
        self._current = threads
        self._tic = 0.0

    def before_step(self) -> None:
        if self.adaptive:
            wanted = self._next_threads()
            if wanted != self._current:
                torch.set_num_threads(wanted)
                self._current = wanted
        self._tic = time.perf_counter()

    def after_step(self) -> None:
        if not self.adaptive:
            return
        seconds = time.perf_counter() - self._tic
        if self.left > 0:
            self.left -= 1
            return
        self.times[self._current].append(seconds)
        one, many = self.times[1], self.times[self.threads]
        slow = len(one) >= self.probe and seconds > 2 * _median(one)
        if len(many) >= self.probe or (many and slow):
            self._decide(_median(one), _median(many))

    def _next_threads(self) -> int:
        if self.left > 0:
            return self.chosen
        return 1 if len(self.times[1]) < self.probe else self.threads

    def _decide(self, one: float, many: float) -> None:
        chosen = 1 if one <= many else self.threads
        same = chosen == self.chosen
        self.chosen = chosen
        self.run = min(2 * self.run, self.max_run) if same else self.base_run
        self.left = self.run
        self.times = {1: [], self.threads: []}


def _median(times: list[float]) -> float:
    # The first step after a change pays for resizing the thread pool: leave it out.
    return statistics.median(times[1:] or times) if times else float("inf")
