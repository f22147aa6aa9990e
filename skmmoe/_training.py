"""The training loop, torch only: a plain function over pre-built tensors.

Each mini-batch gathers its rows from the pre-built tensors by a seeded permutation
(no per-sample DataLoader, no copy of the data set); each step sums the tasks'
masked, weighted mean losses with the loss weights, plus the L2 terms. The loop never
reads estimator attributes: it gets a :class:`TrainConfig`.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim.adam import adam

from ._network import predict_logits
from ._tasks import Task

__all__ = ["OPTIMIZERS", "TrainConfig", "TrainData", "TrainResult", "train"]


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
    no weight decay.

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

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
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


@dataclass
class TrainData:
    """Encoded inputs and per-task targets, all with n_samples rows.

    ``weights[t]`` is None when every sample counts equally for task t; otherwise the
    per-sample weight of task t, zero where its label is missing.
    """

    sparse: torch.Tensor
    dense: torch.Tensor
    targets: list[torch.Tensor]
    weights: list[torch.Tensor | None]

    def __len__(self) -> int:
        return self.sparse.shape[0]

    def to(self, device: torch.device) -> TrainData:
        def move(t):
            return None if t is None else t.to(device)

        return TrainData(
            move(self.sparse),
            move(self.dense),
            [move(t) for t in self.targets],
            [move(w) for w in self.weights],
        )

    def take(self, index: torch.Tensor) -> TrainData:
        def pick(t):
            return None if t is None else t[index]

        return TrainData(
            pick(self.sparse),
            pick(self.dense),
            [pick(t) for t in self.targets],
            [pick(w) for w in self.weights],
        )


@dataclass
class TrainConfig:
    """Everything the loop needs to know besides the network, tasks and data."""

    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    lr_schedule: str
    """How the learning rate moves over the planned ``epochs``: see
    :func:`lr_factor`."""
    loss_weights: Sequence[float]
    l2_reg_embedding: float
    l2_reg_dnn: float
    seed: int
    device: torch.device
    device_ids: list[int] | None = None
    verbose: int = 0
    n_iter_no_change: int = 5
    clip_grad_norm: float | None = None
    validate: Callable[[list[torch.Tensor]], tuple[dict, float]] | None = None
    """Maps the validation logits per task to (metrics, objective to minimise)."""
    optimizer_state: dict | None = None
    """The optimizer's state to resume from (partial_fit)."""
    keep_optimizer_state: bool = False
    """Return the optimizer's final state in the result (partial_fit)."""
    autocast_dtype: torch.dtype | None = None
    """Mixed-precision training in this dtype; None trains in float32."""


LR_SCHEDULES = ("constant", "linear", "cosine")


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


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    interrupted: bool = False
    optimizer_state: dict | None = None


def _task_loss(task: Task, logits, target, weight) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted mean loss of a batch, and the batch's total weight."""
    losses = task.loss(logits, target)
    if weight is None:
        return losses.mean(), losses.new_tensor(float(losses.shape[0]))
    total = weight.sum()
    # A batch with no weight for this task (all labels missing) contributes 0.
    return (losses * weight).sum() / total.clamp_min(1e-12), total


class _Progress:
    """A progress bar per epoch on stderr with the per-task loss: tqdm's when tqdm
    is installed, else a plain one-line bar. Refreshed at most twice a second."""

    def __init__(self, enabled: bool, epochs: int, n_batches: int):
        self.enabled = enabled
        self.epochs = epochs
        self.n_batches = n_batches
        self._last = 0.0
        self._bar = None
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


def _state_copy(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


def train(
    network: nn.Module,
    tasks: Sequence[Task],
    data: TrainData,
    config: TrainConfig,
    valid: TrainData | None = None,
) -> TrainResult:
    """Train ``network`` in place.

    With ``valid`` given, ``config.validate`` scores it after every epoch; training
    stops after ``n_iter_no_change`` epochs without improvement of the objective and
    the best weights are restored. A KeyboardInterrupt stops training with a warning
    and keeps the weights (the best ones when validating). Training on the CPU runs
    with denormal floats flushed to zero (:func:`flush_denormals`).

    Raises
    ------
    FloatingPointError
        When a task's loss becomes NaN or infinite.
    """
    with flush_denormals(config.device):
        return _train(network, tasks, data, config, valid)


def _train(
    network: nn.Module,
    tasks: Sequence[Task],
    data: TrainData,
    config: TrainConfig,
    valid: TrainData | None,
) -> TrainResult:
    device = config.device
    data = data.to(device)
    valid = valid.to(device) if valid is not None else None
    network.to(device)
    model: nn.Module = network
    if config.device_ids and len(config.device_ids) > 1:
        model = nn.DataParallel(network, device_ids=config.device_ids)

    generator = torch.Generator().manual_seed(config.seed)
    amp_dtype = config.autocast_dtype
    amp = amp_dtype is not None
    # float16 needs loss scaling against underflowing gradients; a disabled scaler
    # passes everything through.
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    optimizer = OPTIMIZERS[config.optimizer](network.parameters(), config.learning_rate)
    if config.optimizer_state is not None:
        optimizer.load_state_dict(config.optimizer_state)
    dnn_weights = list(network.dnn_weights()) if config.l2_reg_dnn > 0 else []
    n = len(data)
    batch_size = min(config.batch_size, n)
    starts = list(range(0, n, batch_size))
    if any(isinstance(m, nn.BatchNorm1d) for m in network.modules()):
        # Batch norm cannot train on a batch of one: fold it into the previous batch.
        if n - starts[-1] == 1 and len(starts) > 1:
            starts.pop()
    ends = starts[1:] + [n]
    names = [t.name for t in tasks]
    weights = list(config.loss_weights)
    progress = _Progress(config.verbose > 0, config.epochs, len(starts))
    total_steps = config.epochs * len(starts)

    result = TrainResult()
    best_objective = math.inf
    best_state = None
    stale = 0
    try:
        for epoch in range(1, config.epochs + 1):
            tic = time.perf_counter()
            network.train()
            # Batches gather their rows from the data by a seeded permutation: no
            # second copy of the data set is made.
            order = torch.randperm(n, generator=generator).to(device)
            loss_sums = torch.zeros(len(tasks), device=device)
            weight_sums = torch.zeros(len(tasks), device=device)
            for b, (start, end) in enumerate(zip(starts, ends)):
                batch_data = data.take(order[start:end])
                sparse, dense = batch_data.sparse, batch_data.dense
                # Mixed precision (precision="bfloat16"/"float16"): the forward pass
                # under autocast; losses are computed in float32 by autocast's rules.
                with torch.autocast(
                    device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp
                ):
                    penalty = None
                    if config.l2_reg_embedding > 0 and model is network:
                        logits, penalty = network(sparse, dense, with_penalty=True)
                    else:
                        logits = model(sparse, dense)
                        if config.l2_reg_embedding > 0:
                            penalty = network.embedding_penalty(sparse)
                    task_losses, task_totals = zip(
                        *(
                            _task_loss(
                                task,
                                logits[t],
                                batch_data.targets[t],
                                batch_data.weights[t],
                            )
                            for t, task in enumerate(tasks)
                        )
                    )
                    task_losses = torch.stack(task_losses)
                    task_totals = torch.stack(task_totals)
                    loss = sum(w * task_losses[t] for t, w in enumerate(weights))
                    if penalty is not None:
                        loss = loss + config.l2_reg_embedding * penalty
                    if dnn_weights:
                        loss = loss + config.l2_reg_dnn * sum(
                            w.pow(2).sum() for w in dnn_weights
                        )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                step = (epoch - 1) * len(starts) + b
                rate = config.learning_rate * lr_factor(
                    config.lr_schedule, step, total_steps
                )
                for group in optimizer.param_groups:
                    group["lr"] = rate
                if config.clip_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(
                        network.parameters(), config.clip_grad_norm
                    )
                scaler.step(optimizer)
                scaler.update()
                loss_sums += task_losses.detach() * task_totals
                weight_sums += task_totals
                progress.update(
                    epoch,
                    b + 1,
                    lambda sums=loss_sums, totals=weight_sums: dict(
                        zip(names, (sums / totals.clamp_min(1e-12)).tolist())
                    ),
                )

            # The epoch's weighted mean loss over the labelled samples of each task.
            train_loss = (loss_sums / weight_sums.clamp_min(1e-12)).tolist()
            for name, value in zip(names, train_loss):
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"Training diverged: the loss of task {name!r} became {value} "
                        f"in epoch {epoch}. Try a lower learning_rate (now "
                        f"{config.learning_rate:g}), clip_grad_norm, or check the "
                        "data for extreme values."
                    )
            record = {"epoch": epoch, "train_loss": dict(zip(names, train_loss))}
            stop = False
            if valid is not None and config.validate is not None:
                metrics, objective = config.validate(
                    predict_logits(network, valid.sparse, valid.dense)
                )
                record["valid"] = metrics
                record["valid_objective"] = objective
                if objective < best_objective:
                    best_objective, best_state, stale = (
                        objective,
                        _state_copy(network),
                        0,
                    )
                    result.best_epoch = epoch
                else:
                    stale += 1
                    stop = stale >= config.n_iter_no_change
            record["seconds"] = time.perf_counter() - tic
            result.history.append(record)
            progress.update(epoch, len(starts), record["train_loss"], final=True)
            if stop:
                break
    except KeyboardInterrupt:
        result.interrupted = True
        warnings.warn(
            f"Training interrupted in epoch {len(result.history) + 1}; keeping the "
            + (
                "best weights so far." if best_state is not None else "current weights."
            ),
            UserWarning,
            stacklevel=3,
        )
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    if config.keep_optimizer_state:
        result.optimizer_state = copy.deepcopy(optimizer.state_dict())
    return result
