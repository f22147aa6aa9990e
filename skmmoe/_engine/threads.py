"""How many CPU threads training uses, chosen by measurement while it runs.

torch's intra-op thread pool (GNU OpenMP) has its workers spin while they wait. When
another process keeps a core busy, every parallel region then waits for a worker
that the OS has put aside: beside one busy process a fit with two threads on two
cores ran 2.9x (one machine) to 12.7x (another) slower than alone, where one
thread ran as fast as alone (``benchmarks/under_load.py``).
So training measures (unless ``n_jobs`` fixes the count): every so often it times
a few steps with one thread against a few with the threads it may use
(:class:`ThreadTuner`). Alone the probes cost 2-5%; beside a busy process
training falls back to one thread within a probe.

The thread count can change the rounding of some of torch's reductions (batch
normalisation's statistics, for one), so a choice that followed every wobble of
the clock would make two fits with one seed differ in their last digits. The
tuner therefore only leaves the full thread count when one thread is clearly
faster (:data:`LEAVE_RATIO`, median against median of several steps, so a stray
slow step does not count), and the steps it probes are fixed by the step count
alone. On a machine that is not overloaded every fit thus runs the same steps
with the same threads; ``n_jobs=<int>`` fixes the count whatever the load.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

import torch

__all__ = ["ThreadTuner", "max_threads", "training_threads"]

LEAVE_RATIO = 1.25
"""One thread replaces the full count only when its steps are this many times
faster: beside one busy process two threads ran 1.9x (one machine) to 9x
(another) slower than one thread; alone they run up to 1.6x faster."""
RETURN_RATIO = 1.25
"""The full count comes back when its steps are this many times faster."""


def max_threads(n_jobs: int | None) -> int:
    """The threads a fit may use: for None, the threads torch has now, which
    follow OMP_NUM_THREADS, threadpoolctl's limits and joblib's limits in its
    workers; else ``n_jobs`` (negative: the usable cores + 1 + n_jobs, as in
    joblib), at least 1."""
    if n_jobs is None:
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

    A probe times ``probe`` steps with one thread, then ``probe`` steps with the
    full thread count. The count in use changes only when the other is clearly
    faster (:data:`LEAVE_RATIO`, :data:`RETURN_RATIO`); it runs the next ``run``
    steps, and each time the same count is kept, ``run`` doubles (up to
    ``max_run``), so a steady machine is probed ever more rarely. Which steps
    probe thus depends on the decisions alone: while the count stays, every fit
    probes at the same steps. The full-thread half of a probe is cut short when
    its second and third steps both take more than :data:`LEAVE_RATIO` times the
    one-thread median (beside a busy process such a step can take 20 times
    longer), which only happens where one thread is the choice. With
    ``adaptive=False`` (or one thread allowed) the count never changes.
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
        # Beside a busy process each full-thread step can take 20 times longer:
        # two such steps after the first (which pays for resizing the pool)
        # settle the probe.
        slow = (
            len(one) >= self.probe
            and len(many) >= 3
            and min(many[1:]) > LEAVE_RATIO * _median(one)
        )
        if slow:
            self._decide(_median(one), min(many[1:]))
        elif len(many) >= self.probe:
            self._decide(_median(one), _median(many))

    def _next_threads(self) -> int:
        if self.left > 0:
            return self.chosen
        return 1 if len(self.times[1]) < self.probe else self.threads

    def _decide(self, one: float, many: float) -> None:
        if self.chosen == self.threads:
            chosen = 1 if one * LEAVE_RATIO < many else self.threads
        else:
            chosen = self.threads if many * RETURN_RATIO < one else 1
        same = chosen == self.chosen
        self.chosen = chosen
        self.run = min(2 * self.run, self.max_run) if same else self.base_run
        self.left = self.run
        self.times = {1: [], self.threads: []}


def _median(times: list[float]) -> float:
    # The first step after a change pays for resizing the thread pool: leave it out.
    return statistics.median(times[1:] or times) if times else float("inf")
