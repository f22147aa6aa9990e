"""Optimizers and learning-rate schedules, torch only.

The default Adam runs torch's functional (fused) Adam without
``torch.optim.Optimizer``, whose methods import ``torch._dynamo``; the other
optimizers are torch.optim's, fused where torch supports it. The learning-rate
schedules' factors are here; the callback that applies them is
:class:`skmmoe._engine.callbacks.LRSchedule` ("plateau": torch's
ReduceLROnPlateau).
"""

from __future__ import annotations

import math

import torch
from torch.optim.adam import adam

__all__ = [
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "PLATEAU_FACTOR",
    "Adam",
    "ParamGroups",
    "lr_factor",
]


def _fused(optimizer_class, **defaults):
    """An optimizer factory using the fused (single-kernel) implementation where
    torch supports it: about 0.4 ms a step faster here than the default."""

    def make(params, lr):
        params = list(params)
        try:
            return optimizer_class(params, lr=lr, fused=True, **defaults)
        except (RuntimeError, TypeError, ValueError):
            return optimizer_class(params, lr=lr, **defaults)

    return make


class Adam:
    """Adam (Kingma and Ba, 2015) as ``torch.optim.Adam`` computes it, by torch's
    functional ``torch.optim.adam.adam`` (its fused kernel where torch has one for
    the device), without ``torch.optim.Optimizer``: the methods of that class
    import ``torch._dynamo`` on first use, which costs a training process about 1 s
    and 57 MiB (``benchmarks/optimizer_overhead.py``). Betas (0.9, 0.999), eps 1e-8,
    no weight decay. A parameter with a sparse gradient (an embedding table too
    large for a batch to cover) gets the lazy update of ``torch.optim.SparseAdam``.

    ``state_dict()`` holds CPU copies, so an estimator's pickle loads anywhere.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        # param_groups as torch.optim has them: GradScaler reads them, and the
        # learning-rate schedule sets the rate there.
        self.param_groups = [{"params": self.params, "lr": lr}]
        self.betas, self.eps = betas, eps
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.fused = bool(self.params) and self._fused_works(self.params[0].device)
        # The step count per parameter, on its device for the fused kernel.
        self.steps = [self._step_tensor(0.0, p.device) for p in self.params]

    def _step_tensor(self, value: float, device: torch.device) -> torch.Tensor:
        return torch.tensor(value, device=device if self.fused else "cpu")

    def _fused_works(self, device: torch.device) -> bool:
        """Whether this torch has a fused Adam kernel for the device (CPU: 2.4+)."""
        probe = torch.zeros(1, device=device)
        try:
            self._update(
                [probe],
                [probe.clone()],
                [probe.clone()],
                [probe.clone()],
                [probe.new_zeros(())],
                fused=True,
            )
        except (RuntimeError, NotImplementedError):
            return False
        return True

    def _update(self, params, grads, exp_avgs, exp_avg_sqs, steps, fused):
        adam(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            fused=fused,
            amsgrad=False,
            beta1=self.betas[0],
            beta2=self.betas[1],
            lr=self.param_groups[0]["lr"],
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
        )

    def _lazy_update(self, i: int) -> None:
        """Adam on the rows of parameter i that its sparse gradient holds (an
        embedding table's rows the batch looked up), as ``torch.optim.SparseAdam``
        ("lazy Adam"): the other rows, and their moments, stay as they are, so a
        step costs the rows looked up, not the table."""
        param, grad = self.params[i], self.params[i].grad.coalesce()
        rows, values = grad.indices()[0], grad.values()
        beta1, beta2 = self.betas
        self.steps[i] += 1
        step = float(self.steps[i])
        m = self.exp_avgs[i][rows].mul_(beta1).add_(values, alpha=1.0 - beta1)
        v = (
            self.exp_avg_sqs[i][rows]
            .mul_(beta2)
            .addcmul_(values, values, value=1.0 - beta2)
        )
        self.exp_avgs[i][rows] = m
        self.exp_avg_sqs[i][rows] = v
        denom = (v / (1.0 - beta2**step)).sqrt_().add_(self.eps)
        lr = self.param_groups[0]["lr"] / (1.0 - beta1**step)
        param.index_add_(0, rows, m.div_(denom), alpha=-lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                self._lazy_update(i)
            else:
                live.append(i)
        if not live:
            return
        self._update(
            [self.params[i] for i in live],
            [self.params[i].grad for i in live],
            [self.exp_avgs[i] for i in live],
            [self.exp_avg_sqs[i] for i in live],
            [self.steps[i] for i in live],
            fused=self.fused,
        )

    def state_dict(self) -> dict:
        def cpu(tensors):
            return [t.detach().to("cpu", copy=True) for t in tensors]

        return {
            "step": [float(s) for s in self.steps],
            "exp_avg": cpu(self.exp_avgs),
            "exp_avg_sq": cpu(self.exp_avg_sqs),
        }

    def load_state_dict(self, state: dict) -> None:
        for p, m, v, saved_m, saved_v in zip(
            self.params,
            self.exp_avgs,
            self.exp_avg_sqs,
            state["exp_avg"],
            state["exp_avg_sq"],
        ):
            m.copy_(saved_m.to(p.device))
            v.copy_(saved_v.to(p.device))
        self.steps = [
            self._step_tensor(value, p.device)
            for value, p in zip(state["step"], self.params)
        ]


OPTIMIZERS = {
    "adam": Adam,
    "adamw": _fused(torch.optim.AdamW),
    "sgd": _fused(torch.optim.SGD, momentum=0.9),
    "adagrad": _fused(torch.optim.Adagrad),
    "rmsprop": lambda params, lr: torch.optim.RMSprop(params, lr=lr),
}


LR_SCHEDULES = ("constant", "linear", "cosine", "plateau")
PLATEAU_FACTOR = 0.5
""""plateau" halves the learning rate when the monitored loss stalls."""


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """The learning rate's multiplier before optimizer step ``step`` (0-based) of
    ``total_steps``: 1 throughout ("constant"), or decaying from 1 towards 0 at the
    last step, linearly ("linear") or along a half cosine ("cosine", Loshchilov and
    Hutter, ICLR 2017, without restarts)."""
    progress = step / max(total_steps, 1)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


class ParamGroups(torch.optim.Optimizer):
    """The param_groups of skmmoe's Adam (not a ``torch.optim.Optimizer``), for
    torch's schedulers, which read and write the groups' "lr" only. Optimizer's
    ``__init__`` is deliberately not called: it imports ``torch._dynamo`` (about
    1.5 s), which skmmoe's Adam exists to avoid."""

    def __init__(self, optimizer):  # noqa: D107 - no super().__init__, see above
        self.param_groups = optimizer.param_groups
        self.defaults = {}
        self.state = {}

    def step(self, closure=None):
        """The optimizer's own step did the work; this marks it for the
        scheduler."""
        return None
