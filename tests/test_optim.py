"""Tests of skmmoe._engine.optim: the default Adam and the learning-rate schedules."""

import copy
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from small_network import small
from torch import nn

from skmmoe._engine import optim as _optim


# ------------------------------------------------------------------ Adam
def _adam_pair(seed=0):
    torch.manual_seed(seed)
    ours = [nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(4))]
    theirs = [nn.Parameter(p.detach().clone()) for p in ours]
    return ours, theirs


def test_adam_matches_torch_optim_adam():
    ours, theirs = _adam_pair()
    a, b = _optim.Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    for i in range(30):
        grads = [torch.randn_like(p) for p in ours]
        for p, q, g in zip(ours, theirs, grads):
            # The second parameter gets no gradient every third step: skipped by
            # both, its step count included.
            if p.dim() == 1 and i % 3 == 0:
                continue
            p.grad, q.grad = g.clone(), g.clone()
        a.step()
        b.step()
        a.zero_grad()
        b.zero_grad()
    for p, q in zip(ours, theirs):
        assert_allclose(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
    assert a.state_dict()["step"] == [30.0, 20.0]


def test_adam_state_dict_resumes_exactly():
    torch.manual_seed(0)
    grads = [torch.randn(5, 3) for _ in range(10)]
    straight = nn.Parameter(torch.ones(5, 3))
    resumed = nn.Parameter(torch.ones(5, 3))
    a = _optim.Adam([straight], lr=0.1)
    b = _optim.Adam([resumed], lr=0.1)
    for i, g in enumerate(grads):
        if i == 5:
            state = copy.deepcopy(b.state_dict())
            assert all(t.device.type == "cpu" for t in state["exp_avg"])
            b = _optim.Adam([resumed], lr=0.1)
            b.load_state_dict(state)
        straight.grad, resumed.grad = g.clone(), g.clone()
        a.step()
        b.step()
    assert_allclose(resumed.detach(), straight.detach(), rtol=0, atol=0)


def test_adam_under_a_grad_scaler_takes_the_unscaled_step():
    ours, theirs = _adam_pair()
    scaled, plain = _optim.Adam(ours, lr=0.01), _optim.Adam(theirs, lr=0.01)
    try:
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    except (RuntimeError, TypeError):
        pytest.skip("this torch has no CPU GradScaler")
    x = torch.randn(8, 5)
    for params, scale in ((ours, True), (theirs, False)):
        loss = (x @ params[0]).pow(2).mean() + params[1].sum()
        (scaler.scale(loss) if scale else loss).backward()
    scaler.step(scaled)
    scaler.update()
    plain.step()
    for p, q in zip(ours, theirs):
        assert_allclose(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)


def test_fit_does_not_import_torch_dynamo():
    # torch.optim.Optimizer's methods import torch._dynamo (about 1 s and 57 MiB
    # per process); the default optimizer avoids them, and so do the schedules
    # (torch's, over Adam's param groups). A fresh process shows it.
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from skmmoe import MMOEEstimator\n"
        "X = np.random.default_rng(0).normal(size=(64, 3))\n"
        "Y = pd.DataFrame({'a': (X[:, 0] > 0).astype(int), 'b': X[:, 1]})\n"
        "for schedule in ('linear', 'cosine', 'constant', 'plateau'):\n"
        "    MMOEEstimator(epochs=2, lr_schedule=schedule).fit(X, Y).predict(X)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# ------------------------------------------------------- learning-rate schedule
def test_lr_factor_schedules():
    assert _optim.lr_factor("constant", 7, 10) == 1.0
    linear = [_optim.lr_factor("linear", s, 4) for s in range(4)]
    assert_allclose(linear, [1, 0.75, 0.5, 0.25])
    cosine = [_optim.lr_factor("cosine", s, 4) for s in range(4)]
    assert_allclose(cosine, 0.5 * (1 + np.cos(np.pi * np.arange(4) / 4)))


def _adam(lr=0.01):
    return _optim.Adam([torch.nn.Parameter(torch.zeros(3))], lr=lr)


def _schedule(adam, schedule, **kwargs):
    """An LRSchedule begun on ``adam`` as the loop begins it, and the run stand-in
    its hooks receive (they read the optimizer only, once begun)."""
    from skmmoe._engine.callbacks import LRSchedule

    run = types.SimpleNamespace(optimizer=adam)
    callback = LRSchedule(schedule, learning_rate=0.01, **kwargs)
    callback.on_train_begin(run)
    return callback, run


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant"])
def test_the_schedule_sets_each_steps_rate_as_lr_factor(schedule):
    """The rate of step k is learning_rate * lr_factor(schedule, k, total): the
    same product torch's LambdaLR computed, so results did not move."""
    adam = _adam(0.01)
    callback, run = _schedule(adam, schedule, total_steps=6)
    rates = []
    for epoch in range(6):
        rates.append(adam.param_groups[0]["lr"])
        callback.on_step_end(run)
        callback.on_epoch_end(run, epoch, 1.0)  # no effect on the step schedules
    expected = [0.01 * _optim.lr_factor(schedule, k, 6) for k in range(6)]
    assert rates == expected


def test_the_schedule_carries_its_steps_over_calls():
    """skmmoe.dask's passes share one schedule: a second call of the loop goes on
    from the steps the first took."""
    adam = _adam(0.01)
    callback, run = _schedule(adam, "linear", total_steps=4)
    for _ in range(2):
        callback.on_step_end(run)
    callback.on_train_begin(run)  # the next call
    assert adam.param_groups[0]["lr"] == 0.01 * _optim.lr_factor("linear", 2, 4)


def test_plateau_halves_the_rate_after_patience_epochs_without_improvement():
    adam = _adam(0.01)
    callback, run = _schedule(adam, "plateau", patience=1)
    rates = []
    for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.7, 0.4, 0.45, 0.5, 0.5]):
        for _ in range(3):
            callback.on_step_end(run)  # steps leave the rate alone
        callback.on_epoch_end(run, epoch, loss)
        rates.append(adam.param_groups[0]["lr"])
    # Two epochs without improvement (more than patience=1) halve the rate.
    assert rates == pytest.approx(
        [0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025, 0.0025]
    )


def test_plateau_with_early_stopping_in_a_fit():
    """history_ records each epoch's starting rate, which "plateau" halves when
    the validation loss stalls."""
    from skmmoe import MMOERegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = rng.normal(size=300)  # noise: the validation loss soon stalls
    est = MMOERegressor(
        **small(epochs=12, learning_rate=0.01),
        lr_schedule="plateau",
        early_stopping=True,
        n_iter_no_change=4,
    ).fit(X, y)
    # The validation loss is best after epoch 1 (by 0.02 or more): epochs 2-4
    # fail to improve it, so epoch 5 starts at half the rate (patience 4 // 2),
    # and early stopping (4 epochs without improvement) ends the fit after it.
    rates = [record["learning_rate"] for record in est.history_]
    assert rates == [0.01, 0.01, 0.01, 0.01, 0.005]
