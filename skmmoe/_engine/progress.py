"""The progress display of training (``verbose=1``)."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A progress bar per epoch on stderr with the per-task loss: tqdm's when tqdm
    is installed, else a plain one-line bar. Refreshed at most twice a second."""

    def __init__(self, enabled: bool, epochs: int, n_batches: int):
        self.enabled = enabled
        self.epochs = epochs
        self.n_batches = n_batches
        self._last = 0.0
        self._bar: Any = None  # a tqdm bar while an epoch runs
        try:
            import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm

    def update(self, epoch: int, batch: int, losses=None, final: bool = False):
        """``losses``: a dict task -> loss, or a callable returning one."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if not final and now - self._last < 0.5:
            return
        self._last = now
        if callable(losses):
            losses = losses()
        if self._tqdm is not None:
            if self._bar is None:
                self._bar = self._tqdm.tqdm(
                    total=self.n_batches,
                    desc=f"Epoch {epoch}/{self.epochs}",
                    file=sys.stderr,
                    leave=True,
                )
            self._bar.update(batch - self._bar.n)
            if losses:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()})
            if final:
                self._bar.close()
                self._bar = None
            return
        done = int(20 * batch / self.n_batches)
        bar = "=" * done + "." * (20 - done)
        text = f"\rEpoch {epoch}/{self.epochs} [{bar}] {batch}/{self.n_batches}"
        if losses:
            text += " - " + " ".join(f"{k}: {v:.4f}" for k, v in losses.items())
        sys.stderr.write(text + ("\n" if final else ""))
        sys.stderr.flush()
