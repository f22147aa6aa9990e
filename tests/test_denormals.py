"""Tests of skmmoe._engine.denormals: denormal floats flushed to zero while training."""

import numpy as np
import pandas as pd
import pytest
import torch
from small_network import small

from skmmoe import MMOEEstimator
from skmmoe._engine import denormals as _denormals
from skmmoe._engine import training as _training

# ------------------------------------------------------------ denormal floats
CAN_FLUSH = torch.set_flush_denormal(False)  # off is the default; True if supported


def _denormals_kept(probe: torch.Tensor) -> int:
    """How many of probe's denormal elements survive a multiplication by 1, which
    torch splits over its worker threads (0 when every thread flushes them)."""
    return int(torch.count_nonzero(probe * 1.0))


@pytest.mark.skipif(not CAN_FLUSH, reason="this CPU cannot flush denormals")
def test_flush_denormals_applies_in_every_thread_and_is_restored():
    torch.randn(512, 512) @ torch.randn(512, 512)  # the worker threads exist
    probe = torch.full((1 << 20,), 1e-39)  # made while denormals are kept
    assert not _denormals.flushes_denormals()
    assert _denormals_kept(probe) == probe.numel()
    with _denormals.flush_denormals(torch.device("cpu")):
        assert _denormals.flushes_denormals()
        if _denormals._gnu_openmp_runtimes():
            assert _denormals_kept(probe) == 0
    assert not _denormals.flushes_denormals()
    assert _denormals_kept(probe) == probe.numel()


@pytest.mark.skipif(not CAN_FLUSH, reason="this CPU cannot flush denormals")
def test_flush_denormals_leaves_a_users_setting_alone():
    torch.set_flush_denormal(True)
    try:
        with _denormals.flush_denormals(torch.device("cpu")):
            assert _denormals.flushes_denormals()
        assert _denormals.flushes_denormals()
    finally:
        torch.set_flush_denormal(False)


def test_training_flushes_denormals_and_fit_restores_arithmetic(monkeypatch):
    seen = []
    real_epoch = _training._Run.epoch

    def spy(self, epoch):
        seen.append(_denormals.flushes_denormals())
        return real_epoch(self, epoch)

    monkeypatch.setattr(_training._Run, "epoch", spy)
    X = pd.DataFrame({"a": np.arange(40.0), "b": list("xy") * 20})
    Y = pd.DataFrame({"t1": np.arange(40) % 2, "t2": np.arange(40.0)})
    MMOEEstimator(**small(epochs=1)).fit(X, Y)
    assert seen == [CAN_FLUSH]
    assert not _denormals.flushes_denormals()
