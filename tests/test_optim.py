"""Tests of skmmoe._optim: the default Adam and the learning-rate schedules."""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from skmmoe import _optim


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
    # per process); the default optimizer avoids them. A fresh process shows it.
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from skmmoe import MMOEEstimator\n"
        "X = np.random.default_rng(0).normal(size=(64, 3))\n"
        "Y = pd.DataFrame({'a': (X[:, 0] > 0).astype(int), 'b': X[:, 1]})\n"
        "MMOEEstimator(epochs=1).fit(X, Y).predict(X)\n"
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
