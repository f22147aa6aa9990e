"""The training loop, torch only: a plain function over pre-built tensors.

Each mini-batch gathers its rows from the pre-built tensors by a seeded permutation
(no per-sample DataLoader, no copy of the data set); each step sums the tasks'
masked, weighted mean losses with the loss weights, plus the L2 terms. The loop never
reads estimator attributes: it gets a :class:`TrainConfig`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .. import _tasks
from . import denormals
from .distributed import Group
from .network import Dropout, MMOENetwork, predict_logits
from .optim import OPTIMIZERS, Schedule
from .progress import Progress
from .threads import ThreadTuner, training_threads

__all__ = [
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "dropout_generator",
    "initialise",
    "make_validator",
    "train",
]


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
    :func:`~skmmoe._engine.optim.lr_factor`; "plateau" halves it after
    ``max(1, n_iter_no_change // 2)`` epochs without improvement of the
    validation objective (the training loss without validation)."""
    loss_weights: Sequence[float]
    l2_reg_embedding: float
    l2_reg_dnn: float
    seed: int
    device: torch.device
    device_ids: list[int] | None
    verbose: int
    n_iter_no_change: int
    clip_grad_norm: float | None
    autocast_dtype: torch.dtype | None
    """Mixed-precision training in this dtype; None trains in float32."""
    threads: int
    """CPU threads torch may use while training."""
    adapt_threads: bool
    """Whether to choose between ``threads`` and one thread by measurement
    (:class:`~skmmoe._engine.threads.ThreadTuner`)."""
    validate: Callable[[list[torch.Tensor]], tuple[dict, float]] | None = None
    """Maps the validation logits per task to (metrics, objective to minimise)."""
    optimizer_state: dict | None = None
    """The optimizer's state to resume from (partial_fit)."""
    keep_optimizer_state: bool = False
    """Return the optimizer's final state in the result (partial_fit)."""
    dropout_generator: torch.Generator | None = None
    """Where dropout masks come from; None: torch's global RNG."""
    group: Group | None = None
    """The process group of data-parallel training (:mod:`skmmoe._engine.distributed`):
    this process trains on its share of every global batch; None: one process."""


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    interrupted: bool = False
    optimizer_state: dict | None = None


def _task_loss(
    task: _tasks.Task, logits, target, weight, total: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted mean loss of a batch, and the batch's total weight. With
    ``total`` (data-parallel training) the batch is one rank's share of a global
    batch of that total weight: its weighted loss sum over ``total``."""
    losses = task.loss(logits, target)
    if total is not None:
        summed = losses.sum() if weight is None else (losses * weight).sum()
        return summed / total.clamp_min(1e-12), total
    if weight is None:
        return losses.mean(), losses.new_tensor(float(losses.shape[0]))
    total = weight.sum()
    # A batch with no weight for this task (all labels missing) contributes 0.
    return (losses * weight).sum() / total.clamp_min(1e-12), total


# torch's global RNG initialises layers; fits in several threads take turns.
_GLOBAL_RNG = threading.Lock()


def initialise(
    device: torch.device, seed: int, build
) -> tuple[nn.Module, torch.Generator]:
    """``build()``'s network, initialised from torch's global RNG seeded with
    ``seed`` (under a lock, and the caller's RNG state restored after), and a
    generator on ``device`` holding the RNG state that initialisation left, for
    the fit's dropout masks: the same draws as if training had gone on with the
    global RNG, without touching it."""
    devices = [device] if device.type == "cuda" else []
    with _GLOBAL_RNG, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        network = build()
        generator = torch.Generator(device=device)
        if device.type == "cuda":
            generator.set_state(torch.cuda.get_rng_state(device))
        else:
            generator.set_state(torch.get_rng_state())
    return network, generator


def dropout_generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator for dropout masks seeded with ``seed`` (partial_fit)."""
    return torch.Generator(device=device).manual_seed(seed)


def _weighted_loss(task_losses: dict, config: TrainConfig) -> float:
    """The loss-weighted mean of the tasks' training losses, over the tasks
    measured (a task without labels in a partial_fit chunk is NaN)."""
    pairs = [
        (w, v)
        for w, v in zip(config.loss_weights, task_losses.values())
        if not math.isnan(v)
    ]
    total = sum(w for w, _ in pairs)
    return sum(w * v for w, v in pairs) / total if total > 0 else math.nan


def make_validator(tasks: Sequence[_tasks.Task], valid: TrainData, loss_weights):
    """``TrainConfig.validate`` for early stopping: validation metrics per task and
    the loss-weighted mean validation loss of the tasks that have a label among
    the validation rows (the others' metrics are NaN: not measured).

    Raises
    ------
    ValueError
        When no validation row has a label for any task.
    """
    measured = [
        (w is None or bool((w > 0).any())) and loss_weight > 0
        for w, loss_weight in zip(valid.weights, loss_weights)
    ]
    if not any(measured):
        raise ValueError(
            f"early_stopping: none of the {len(valid)} validation rows has a label "
            "for a task with a positive loss weight, so nothing can be validated; "
            "raise validation_fraction, or fit without early_stopping."
        )
    total = sum(w for w, m in zip(loss_weights, measured) if m)

    def validate(logits):
        metrics, objective = {}, 0.0
        for t, task in enumerate(tasks):
            metrics[task.name], loss = task.validation_metrics(
                logits[t], valid.targets[t], valid.weights[t]
            )
            if measured[t]:
                objective += loss_weights[t] * loss / total
        return metrics, objective

    return validate


def _to_cpu(value):
    """Every tensor in nested dicts and lists moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _state_copy(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


def train(
    network: MMOENetwork,
    tasks: Sequence[_tasks.Task],
    data: TrainData,
    config: TrainConfig,
    valid: TrainData | None = None,
) -> TrainResult:
    """Train ``network`` in place.

    With ``valid`` given, ``config.validate`` scores it after every epoch; training
    stops after ``n_iter_no_change`` epochs without improvement of the objective and
    the best weights are restored. A KeyboardInterrupt stops training with a warning
    and keeps the weights (the best ones when validating). Training on the CPU runs
    with denormal floats flushed to zero (:func:`skmmoe.denormals.flush_denormals`).

    Threads: ``config.threads``, or one thread where measurement finds it faster
    (:class:`~skmmoe._engine.threads.ThreadTuner`); the caller's count is restored.

    Raises
    ------
    FloatingPointError
        When a task's loss, or after the last step the weights or outputs, become
        NaN or infinite.
    """
    with (
        denormals.flush_denormals(config.device),
        training_threads(config.threads),
        _dropout_from(network, config.dropout_generator),
    ):
        run = _Run.start(network, tasks, data, config)
        valid = valid.to(config.device) if valid is not None else None
        stopper = _EarlyStopping(config.n_iter_no_change)
        result = TrainResult()
        try:
            for epoch in range(1, config.epochs + 1):
                learning_rate = run.schedule.learning_rate
                record = run.epoch(epoch)
                record["learning_rate"] = learning_rate
                if valid is not None and config.validate is not None:
                    metrics, objective = config.validate(
                        predict_logits(network, valid.sparse, valid.dense)
                    )
                    if config.group is not None:
                        # Every rank takes rank 0's decisions (stop, best epoch).
                        objective = config.group.broadcast_float(
                            objective, config.device, "sharing the validation loss"
                        )
                    record["valid"], record["valid_objective"] = metrics, objective
                    stop = stopper.update(objective, network, epoch)
                else:
                    objective = _weighted_loss(record["train_loss"], config)
                    stop = False
                run.schedule.after_epoch(objective)
                result.history.append(record)
                run.progress.update(epoch, len(run.starts), record["train_loss"], True)
                if stop:
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            warnings.warn(
                f"Training interrupted in epoch {len(result.history) + 1}; keeping "
                + (
                    "the best weights so far."
                    if stopper.best_state
                    else "the current weights."
                ),
                UserWarning,
                stacklevel=2,
            )
    if stopper.best_state is not None:
        network.load_state_dict(stopper.best_state)
        result.best_epoch = stopper.best_epoch
    network.eval()
    _check_finite_result(run)
    if config.keep_optimizer_state:
        # On the CPU, so that pickles and model files load on any machine.
        result.optimizer_state = _to_cpu(copy.deepcopy(run.optimizer.state_dict()))
    return result


@contextlib.contextmanager
def _dropout_from(network: nn.Module, generator: torch.Generator | None):
    """The network's dropout layers draw from ``generator`` inside."""
    layers = [m for m in network.modules() if isinstance(m, Dropout)]
    for layer in layers:
        layer.generator = generator
    try:
        yield
    finally:
        for layer in layers:
            layer.generator = None


def _check_finite_result(run: _Run) -> None:
    """The epochs' losses are computed before each step's update, so they cannot
    see what the last step did: check the weights it left, and the outputs they
    give on a batch of the training rows (one forward pass, once per training)."""
    network, config = run.network, run.config
    with torch.no_grad():
        bad = [n for n, p in network.named_parameters() if not p.isfinite().all()]
        if not bad:
            rows = slice(0, min(config.batch_size, len(run.data)))
            logits = predict_logits(
                network, run.data.sparse[rows], run.data.dense[rows]
            )
            bad = [
                f"the output of task {task.name!r}"
                for task, z in zip(run.tasks, logits)
                if not z.isfinite().all()
            ]
    if bad:
        raise FloatingPointError(
            f"Training diverged: {bad[0]} became NaN or infinite in the last "
            f"steps. Try a lower learning_rate (now {config.learning_rate:g}), "
            "clip_grad_norm, or check the data for extreme values."
        )


class _EarlyStopping:
    """The best validation objective so far, its epoch and weights, and whether
    patience has run out."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best_objective = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch: int | None = None
        self.stale = 0

    def update(self, objective: float, network: nn.Module, epoch: int) -> bool:
        """Record an epoch's objective; True when training should stop."""
        if objective < self.best_objective:
            self.best_objective, self.best_epoch, self.stale = objective, epoch, 0
            self.best_state = _state_copy(network)
            return False
        self.stale += 1
        return self.stale >= self.patience


def _has_unlabelled_rows(data: TrainData) -> bool:
    """Whether some row has no label (a zero weight) for every task."""
    weights = [w for w in data.weights if w is not None]
    if len(weights) < len(data.weights) or not weights:
        return False
    return bool((torch.stack(weights) > 0).sum(dim=0).eq(0).any())


@dataclass
class _Run:
    """One training run: the data on the device, the optimizer, the batches and
    the step count, set up once by :meth:`start`."""

    network: MMOENetwork
    model: nn.Module  # the network, or a DataParallel wrapper of it
    tasks: Sequence[_tasks.Task]
    data: TrainData
    config: TrainConfig
    optimizer: Any  # skmmoe's Adam or a torch.optim optimizer
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    starts: list[int]
    progress: Progress
    dnn_weights: list[torch.Tensor]
    tuner: ThreadTuner
    schedule: Schedule
    unlabelled_rows: bool
    """Whether some row has no label of any task, so that a batch may have none
    (checked per step only then: the check waits for the device)."""
    step_count: int = 0

    @classmethod
    def start(cls, network, tasks, data: TrainData, config: TrainConfig) -> _Run:
        device = config.device
        network.to(device)
        model: nn.Module = network
        if config.device_ids and len(config.device_ids) > 1:
            model = nn.DataParallel(network, device_ids=config.device_ids)
        optimizer = OPTIMIZERS[config.optimizer](
            network.parameters(), config.learning_rate
        )
        if config.optimizer_state is not None:
            optimizer.load_state_dict(config.optimizer_state)
        n = len(data)
        starts = list(range(0, n, min(config.batch_size, n)))
        # Batch norm cannot train on a batch of one, nor a rank on no rows: a last
        # batch too small to give each rank one row (two with batch norm) is
        # folded into the previous one.
        batch_norm = any(isinstance(m, nn.BatchNorm1d) for m in network.modules())
        world_size = config.group.world_size if config.group is not None else 1
        smallest = (2 if batch_norm else 1) * world_size
        if n - starts[-1] < smallest and len(starts) > 1:
            starts.pop()
        if n < smallest and world_size > 1:
            raise ValueError(
                f"Data-parallel training over {world_size} processes needs at "
                f"least {smallest} training rows; got {n}."
            )
        return cls(
            network=network,
            model=model,
            tasks=tasks,
            data=data.to(device),
            config=config,
            optimizer=optimizer,
            # float16 needs loss scaling against underflowing gradients; a disabled
            # scaler passes everything through.
            scaler=torch.amp.GradScaler(
                device.type, enabled=config.autocast_dtype == torch.float16
            ),
            generator=torch.Generator().manual_seed(config.seed),
            starts=starts,
            progress=Progress(config.verbose > 0, config.epochs, len(starts)),
            dnn_weights=(list(network.dnn_weights()) if config.l2_reg_dnn > 0 else []),
            tuner=ThreadTuner(
                config.threads,
                adaptive=config.adapt_threads and device.type == "cpu",
            ),
            schedule=Schedule(
                optimizer,
                config.lr_schedule,
                total_steps=config.epochs * len(starts),
                patience=max(1, config.n_iter_no_change // 2),
            ),
            unlabelled_rows=_has_unlabelled_rows(data),
        )

    def epoch(self, epoch: int) -> dict:
        """One pass over the data in a seeded random order; the epoch's record."""
        tic = time.perf_counter()
        self.network.train()
        n, device = len(self.data), self.config.device
        # Batches gather their rows by a seeded permutation: no copy of the data.
        order = torch.randperm(n, generator=self.generator).to(device)
        loss_sums = torch.zeros(len(self.tasks), device=device)
        weight_sums = torch.zeros(len(self.tasks), device=device)
        names = [t.name for t in self.tasks]
        group = self.config.group
        # The progress bar (rank 0's) shows its share of the loss times the
        # number of ranks; the epoch's record holds the exact sum.
        shares = group.world_size if group is not None else 1
        for b, (start, end) in enumerate(zip(self.starts, self.starts[1:] + [n])):
            self.tuner.before_step()
            if group is None:
                task_losses, task_totals = self.step(self.data.take(order[start:end]))
            else:
                rows = order[start:end]
                lo, hi = group.shard(start, end)
                task_losses, task_totals = self.step(
                    self.data.take(order[lo:hi]),
                    self._totals(rows, end - start),
                    end - start,
                )
            self.tuner.after_step()
            loss_sums += task_losses.detach() * task_totals
            weight_sums += task_totals
            self.progress.update(
                epoch,
                b + 1,
                lambda sums=loss_sums, totals=weight_sums: dict(
                    zip(names, (shares * sums / totals.clamp_min(1e-12)).tolist())
                ),
            )
        if group is not None:
            # Each rank summed its share of every batch's loss: the sum over the
            # ranks is the epoch's, as one process computes it.
            group.all_reduce_sum(loss_sums, "summing the epoch's training loss")
        # The epoch's weighted mean loss over the labelled samples of each task;
        # NaN for a task with none (a partial_fit chunk without its labels).
        train_loss = torch.where(
            weight_sums > 0, loss_sums / weight_sums.clamp_min(1e-12), math.nan
        ).tolist()
        for name, value, total in zip(names, train_loss, weight_sums.tolist()):
            if total > 0 and not math.isfinite(value):
                raise FloatingPointError(
                    f"Training diverged: the loss of task {name!r} became {value} "
                    f"in epoch {epoch}. Try a lower learning_rate (now "
                    f"{self.config.learning_rate:g}), clip_grad_norm, or check the "
                    "data for extreme values."
                )
        return {
            "epoch": epoch,
            "train_loss": dict(zip(names, train_loss)),
            "seconds": time.perf_counter() - tic,
        }

    def _totals(self, rows: torch.Tensor, size: int) -> torch.Tensor:
        """Each task's total weight over the global batch ``rows``, which every
        rank computes alike from the full targets, without communication."""
        device = self.config.device
        return torch.stack(
            [
                torch.tensor(float(size), device=device) if w is None else w[rows].sum()
                for w in self.data.weights
            ]
        )

    def step(
        self,
        batch: TrainData,
        global_totals: torch.Tensor | None = None,
        global_rows: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch; each task's mean loss and total weight.

        With ``global_totals`` (data-parallel training) the batch is this rank's
        share of a global batch of ``global_rows`` rows whose tasks have these
        total weights: the loss is its share of the global batch's, and the
        gradients are summed over the ranks before the optimizer (and clipping,
        and loss scaling) reads them.
        """
        config = self.config
        task_losses, task_totals, loss = self._loss(batch, global_totals, global_rows)
        if self.unlabelled_rows and not bool((task_totals > 0).any()):
            # No label in the batch: no step, which with zero gradients would
            # still move the weights by the optimizer's momentum. Every rank
            # sees the same global totals, so all skip alike.
            return task_losses, task_totals
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if config.group is not None:
            config.group.all_reduce_gradients(self.network.parameters())
        if config.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.network.parameters(), config.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.after_step()
        self.step_count += 1
        return task_losses, task_totals

    def _loss(
        self,
        batch: TrainData,
        global_totals: torch.Tensor | None = None,
        global_rows: int = 0,
    ):
        """Each task's loss and total weight on the batch, and the training loss:
        the loss-weighted sum plus the L2 terms. With ``global_totals``, this
        rank's share of each (see :meth:`step`)."""
        config = self.config
        group = config.group
        amp = config.autocast_dtype is not None
        # Mixed precision: the forward pass under autocast; losses are computed in
        # float32 by autocast's rules.
        with torch.autocast(
            config.device.type,
            dtype=config.autocast_dtype or torch.bfloat16,
            enabled=amp,
        ):
            penalty = None
            if config.l2_reg_embedding > 0 and self.model is self.network:
                logits, penalty = self.network(
                    batch.sparse, batch.dense, with_penalty=True
                )
            else:
                logits = self.model(batch.sparse, batch.dense)
                if config.l2_reg_embedding > 0:
                    penalty = self.network.embedding_penalty(batch.sparse)
            losses, totals = zip(
                *(
                    _task_loss(
                        task,
                        logits[t],
                        batch.targets[t],
                        batch.weights[t],
                        None if global_totals is None else global_totals[t],
                    )
                    for t, task in enumerate(self.tasks)
                )
            )
            task_losses, task_totals = torch.stack(losses), totals
            loss: torch.Tensor = sum(  # type: ignore[assignment]  # a tensor sum
                w * task_losses[t] for t, w in enumerate(config.loss_weights)
            )
            dnn_share = 1.0
            if group is not None:
                # The penalty is a mean over the global batch; the weights' L2
                # term is the same on every rank: each rank adds its share.
                if penalty is not None:
                    penalty = penalty * (len(batch) / global_rows)
                dnn_share = 1.0 / group.world_size
            if penalty is not None:
                loss = loss + config.l2_reg_embedding * penalty
            if self.dnn_weights:
                loss = loss + config.l2_reg_dnn * dnn_share * sum(
                    w.pow(2).sum() for w in self.dnn_weights
                )
        return task_losses, torch.stack(task_totals), loss
