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
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from .. import _tasks
from .._params import NetworkSpec, TrainingSpec
from . import denormals
from .callbacks import Callback
from .network import (
    Dropout,
    MMOENetwork,
    Ragged,
    predict_logits,
    ragged_rows,
    ragged_take,
)
from .optim import OPTIMIZERS
from .progress import Progress
from .runtime import Runtime
from .threads import ThreadTuner, training_threads

__all__ = [
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "batch_starts",
    "build_network",
    "dropout_generator",
    "make_validator",
    "sparse_updates",
    "train",
]


@dataclass
class TrainData:
    """Encoded inputs and per-task targets, all with n_samples rows.

    ``weights[t]`` is None when every sample counts equally for task t; otherwise the
    per-sample weight of task t, zero where its label is missing. ``lists`` holds
    each list column's ids, ragged (:data:`~skmmoe._engine.network.Ragged`).
    """

    sparse: torch.Tensor
    dense: torch.Tensor
    targets: list[torch.Tensor]
    weights: list[torch.Tensor | None]
    lists: list[Ragged] = field(default_factory=list)

    @classmethod
    def from_arrays(cls, sparse, dense, targets, weights, lists=()) -> TrainData:
        """Tensors sharing the memory of the encoded inputs (int32 ids, float32
        values, list columns as (values, offsets) arrays), the tasks' targets and
        their weights (None: equal)."""
        return cls(
            torch.from_numpy(sparse),
            torch.from_numpy(dense),
            [torch.from_numpy(t) for t in targets],
            [None if w is None else torch.from_numpy(w) for w in weights],
            [(torch.from_numpy(v), torch.from_numpy(o)) for v, o in lists],
        )

    @property
    def inputs(self) -> tuple:
        """The network's inputs: (sparse, dense, lists)."""
        return self.sparse, self.dense, self.lists

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
            [(move(v), move(o)) for v, o in self.lists],
        )

    def take(self, index: torch.Tensor, lists: list[Ragged] | None = None) -> TrainData:
        """The rows ``index``; ``lists``, when given, are the list columns of
        those rows already taken (see :meth:`_Run.epoch`)."""

        def pick(t):
            return None if t is None else t[index]

        return TrainData(
            pick(self.sparse),
            pick(self.dense),
            [pick(t) for t in self.targets],
            [pick(w) for w in self.weights],
            [ragged_take(r, index) for r in self.lists] if lists is None else lists,
        )


@dataclass
class TrainConfig:
    """Everything the loop needs besides the network, tasks and data: the
    training spec (the hyper-parameters, defined once), the runtime (device,
    group, threads) and what this call adds."""

    spec: TrainingSpec
    runtime: Runtime
    epochs: int
    loss_weights: Sequence[float]
    seed: int
    """Seeds the batches' order (a fit's seed; each partial_fit chunk its own)."""
    callbacks: Sequence[Callback] = ()
    """Called in order (:mod:`skmmoe._engine.callbacks`): the learning-rate
    schedule, early stopping."""
    validate: Callable[[list[torch.Tensor]], tuple[dict, float]] | None = None
    """Maps the validation logits per task to (metrics, objective to minimise)."""
    optimizer_state: dict | None = None
    """The optimizer's state to resume from (partial_fit)."""
    keep_optimizer_state: bool = False
    """Return the optimizer's final state in the result (partial_fit)."""
    dropout_generator: torch.Generator | None = None
    """Where dropout masks come from; None: torch's global RNG."""

    @property
    def device(self) -> torch.device:
        return self.runtime.device


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


def build_network(
    spec: NetworkSpec, runtime: Runtime, *, embeddings: dict, n_dense: int, output_dims
) -> tuple[MMOENetwork, torch.Generator]:
    """The network of ``spec`` for these inputs (``embeddings``: the tables,
    the table of each scalar and list column and the lists' combiners, as
    :class:`~skmmoe._engine.network.EmbeddingLayout` takes them) and task
    outputs, initialised from torch's global RNG seeded with the runtime's seed
    (under a lock, and the caller's RNG state restored after), and a generator
    on the device holding the RNG state that initialisation left, for the fit's
    dropout masks: the same draws as if training had gone on with the global
    RNG, without touching it. A network too large to allocate raises a
    ValueError with its size."""
    device = runtime.device
    devices = [device] if device.type == "cuda" else []
    with _GLOBAL_RNG, torch.random.fork_rng(devices=devices):
        torch.manual_seed(runtime.seed)
        network = _new_network(spec, embeddings, n_dense, output_dims)
        generator = torch.Generator(device=device)
        if device.type == "cuda":
            generator.set_state(torch.cuda.get_rng_state(device))
        else:
            generator.set_state(torch.get_rng_state())
    return network, generator


def _new_network(spec: NetworkSpec, embeddings: dict, n_dense, output_dims):
    tables = embeddings["tables"]
    widths = {int(w) for _, w in tables}
    arguments = {f.name: getattr(spec, f.name) for f in fields(spec)}
    # The width the network records as embedding_dim: the one of its tables, or
    # the parameter's when an int (model files read it back as the default).
    dim = spec.embedding_dim
    arguments["embedding_dim"] = (
        widths.pop() if len(widths) == 1 else dim if isinstance(dim, int) else 8
    )
    try:
        return MMOENetwork(
            vocabulary_sizes=[tables[t][0] for t in embeddings["sparse_tables"]],
            n_dense=n_dense,
            output_dims=output_dims,
            **arguments,
            **embeddings,
        )
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and "allocate" not in str(exc):
            raise
        width = sum(tables[t][1] for t in embeddings["sparse_tables"])
        width += sum(tables[t][1] for t in embeddings["list_tables"]) + n_dense
        n_weights = spec.weight_count(tables, width, output_dims)
        raise ValueError(
            f"The network does not fit in memory: about {n_weights:,} weights "
            f"({n_weights * 4 / 2**30:,.1f} GiB in float32) for "
            f"embedding_dim={spec.embedding_dim}, num_experts="
            f"{spec.num_experts}, expert_dnn_hidden_units="
            f"{spec.expert_dnn_hidden_units} and "
            f"{sum(int(r) for r, _ in tables):,} embedding rows; make them smaller."
        ) from exc


def batch_starts(
    n_rows: int, batch_size: int, *, batch_norm: bool, world_size: int = 1
) -> list[int]:
    """The first row of each batch of an epoch over ``n_rows`` rows. Batch norm
    cannot train on a batch of one, nor a rank on no rows: a last batch too small
    to give each rank one row (two with batch norm) is folded into the previous
    one."""
    starts = list(range(0, n_rows, min(batch_size, n_rows)))
    smallest = (2 if batch_norm else 1) * world_size
    if n_rows - starts[-1] < smallest and len(starts) > 1:
        starts.pop()
    if n_rows < smallest and world_size > 1:
        raise ValueError(
            f"Data-parallel training over {world_size} processes needs at "
            f"least {smallest} training rows; got {n_rows}."
        )
    return starts


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


def train(
    network: MMOENetwork,
    tasks: Sequence[_tasks.Task],
    data: TrainData,
    config: TrainConfig,
    valid: TrainData | None = None,
) -> TrainResult:
    """Train ``network`` in place.

    With ``valid`` given, ``config.validate`` scores it after every epoch and its
    objective is the one the callbacks watch (else the training loss):
    :class:`~skmmoe._engine.callbacks.EarlyStopping` stops training and restores
    the best weights, :class:`~skmmoe._engine.callbacks.LRSchedule` moves the
    learning rate. A KeyboardInterrupt stops training with a warning and keeps the
    weights (the best ones when validating). Training on the CPU runs with denormal
    floats flushed to zero (:func:`skmmoe._engine.denormals.flush_denormals`).

    Threads: the runtime's, or one thread where measurement finds it faster
    (:class:`~skmmoe._engine.threads.ThreadTuner`); the caller's count is restored.

    Raises
    ------
    FloatingPointError
        When a task's loss, or after the last step the weights or outputs, become
        NaN or infinite.
    """
    runtime = config.runtime
    with (
        denormals.flush_denormals(runtime.device),
        training_threads(runtime.threads),
        _dropout_from(network, config.dropout_generator),
    ):
        run = _Run.start(network, tasks, data, config)
        valid = valid.to(runtime.device) if valid is not None else None
        result = TrainResult()
        for callback in config.callbacks:
            callback.on_train_begin(run)
        try:
            for epoch in range(1, config.epochs + 1):
                if run.end_of_epoch(epoch, run.epoch(epoch), valid, result):
                    break
        except KeyboardInterrupt:
            result.interrupted = True
        for callback in config.callbacks:
            callback.on_train_end(run, result)
    if result.interrupted:
        warnings.warn(
            f"Training interrupted in epoch {len(result.history) + 1}; keeping "
            + (
                "the best weights so far."
                if result.best_epoch is not None
                else "the current weights."
            ),
            UserWarning,
            stacklevel=2,
        )
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
            n = min(config.spec.batch_size, len(run.data))
            rows = torch.arange(n, device=run.data.sparse.device)
            logits = predict_logits(network, *run.data.take(rows).inputs)
            bad = [
                f"the output of task {task.name!r}"
                for task, z in zip(run.tasks, logits)
                if not z.isfinite().all()
            ]
    if bad:
        raise FloatingPointError(
            f"Training diverged: {bad[0]} became NaN or infinite in the last "
            f"steps. Try a lower learning_rate (now {config.spec.learning_rate:g}), "
            "clip_grad_norm, or check the data for extreme values."
        )


SPARSE_UPDATE_FACTOR = 16
"""Sparse updates from tables of this many times the rows a batch looks up. A
dense update touches every row of a table at every step, a sparse one only the
rows looked up, but each of those costs more (sparse gradients, their sort, the
gathers and scatters of the lazy update): measured with
``benchmarks/sparse_updates.py`` (batch 256, about 4,400 lookups a batch), the
dense update was faster for tables of 11k and 36k rows (by 14% and 6% of the
epoch) and the sparse one for 201k rows (by 20%), a break-even near 20 times the
lookups."""


def sparse_updates(
    network: MMOENetwork, data: TrainData, spec: TrainingSpec, runtime: Runtime
) -> bool:
    """Whether the embedding tables get sparse gradients and the lazy update of
    the rows a batch looks up: when some table of one width has more than
    :data:`SPARSE_UPDATE_FACTOR` times the rows a batch can look up (the batch
    size times the lookups per row there), so that a dense update, which touches
    every row at every step, would cost the table rather than the batch (1M ids:
    most of a step). The default Adam only, on one device, in one process
    (data-parallel training sums dense gradients), without gradient clipping."""
    if (
        spec.optimizer != "adam"
        or runtime.group is not None
        or len(runtime.device_ids or ()) > 1
        or spec.clip_grad_norm is not None
    ):
        return False
    n = max(len(data), 1)
    lookups = [float(len(g.columns)) for g in network.layout.groups]
    for spec_list, (values, _) in zip(network.layout.lists, data.lists):
        lookups[spec_list.group] += len(values) / n
    batch = min(spec.batch_size, n)
    return any(
        k > 0 and g.rows > SPARSE_UPDATE_FACTOR * batch * k
        for g, k in zip(network.layout.groups, lookups)
    )


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
    unlabelled_rows: bool
    """Whether some row has no label of any task, so that a batch may have none
    (checked per step only then: the check waits for the device)."""
    step_count: int = 0

    @classmethod
    def start(cls, network, tasks, data: TrainData, config: TrainConfig) -> _Run:
        spec, runtime = config.spec, config.runtime
        device = runtime.device
        network.to(device)
        model: nn.Module = network
        if runtime.device_ids and len(runtime.device_ids) > 1:
            if network.n_lists:
                raise ValueError(
                    f"gpus={list(runtime.device_ids)} trains with torch's "
                    "DataParallel, which cannot split list columns' ragged ids "
                    "between the GPUs; train on one GPU, or across processes "
                    "with n_workers or torchrun."
                )
            model = nn.DataParallel(network, device_ids=runtime.device_ids)
        network.sparse_gradients = sparse_updates(network, data, spec, runtime)
        optimizer = OPTIMIZERS[spec.optimizer](network.parameters(), spec.learning_rate)
        if config.optimizer_state is not None:
            optimizer.load_state_dict(config.optimizer_state)
        batch_norm = any(isinstance(m, nn.BatchNorm1d) for m in network.modules())
        group = runtime.group
        starts = batch_starts(
            len(data),
            spec.batch_size,
            batch_norm=batch_norm,
            world_size=group.world_size if group is not None else 1,
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
                device.type, enabled=runtime.autocast_dtype == torch.float16
            ),
            generator=torch.Generator().manual_seed(config.seed),
            starts=starts,
            progress=Progress(runtime.verbose > 0, config.epochs, len(starts)),
            dnn_weights=(list(network.dnn_weights()) if spec.l2_reg_dnn > 0 else []),
            tuner=ThreadTuner(
                runtime.threads,
                adaptive=runtime.adapt_threads and device.type == "cpu",
            ),
            unlabelled_rows=_has_unlabelled_rows(data),
        )

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def end_of_epoch(self, epoch: int, record: dict, valid, result) -> bool:
        """Validate (with ``valid``), record the epoch and call the callbacks;
        True when one asks to stop."""
        config = self.config
        if valid is not None and config.validate is not None:
            metrics, objective = config.validate(
                predict_logits(self.network, *valid.inputs)
            )
            group = config.runtime.group
            if group is not None:
                # Every rank takes rank 0's decisions (stop, best epoch).
                objective = group.broadcast_float(
                    objective, config.device, "sharing the validation loss"
                )
            record["valid"], record["valid_objective"] = metrics, objective
        else:
            objective = _weighted_loss(record["train_loss"], config)
        # Every callback sees the epoch, whichever asks to stop.
        stop = [cb.on_epoch_end(self, epoch, objective) for cb in config.callbacks]
        result.history.append(record)
        self.progress.update(epoch, len(self.starts), record["train_loss"], True)
        return any(stop)

    def epoch(self, epoch: int) -> dict:
        """One pass over the data in a seeded random order; the epoch's record."""
        tic = time.perf_counter()
        learning_rate = self.learning_rate
        self.network.train()
        n, device = len(self.data), self.config.device
        # Batches gather their rows by a seeded permutation: no copy of the data.
        order = torch.randperm(n, generator=self.generator).to(device)
        group = self.config.runtime.group
        # The list columns are put in that order once per epoch (a copy of their
        # ids), so that a batch slices its rows rather than gathering them: a
        # ragged gather per batch and column costs more than the copy.
        ordered = None
        if self.data.lists and group is None:
            ordered = [ragged_take(r, order) for r in self.data.lists]
        loss_sums = torch.zeros(len(self.tasks), device=device)
        weight_sums = torch.zeros(len(self.tasks), device=device)
        names = [t.name for t in self.tasks]
        # The progress bar (rank 0's) shows its share of the loss times the
        # number of ranks; the epoch's record holds the exact sum.
        shares = group.world_size if group is not None else 1
        for b, (start, end) in enumerate(zip(self.starts, self.starts[1:] + [n])):
            self.tuner.before_step()
            if group is None:
                lists = None
                if ordered is not None:
                    lists = [ragged_rows(r, start, end) for r in ordered]
                task_losses, task_totals = self.step(
                    self.data.take(order[start:end], lists)
                )
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
                    f"{self.config.spec.learning_rate:g}), clip_grad_norm, or check "
                    "the data for extreme values."
                )
        return {
            "epoch": epoch,
            "train_loss": dict(zip(names, train_loss)),
            "seconds": time.perf_counter() - tic,
            "learning_rate": learning_rate,
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
        spec, group = config.spec, config.runtime.group
        if group is not None:
            group.all_reduce_gradients(self.network.parameters())
        if spec.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.network.parameters(), spec.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step_count += 1
        for callback in config.callbacks:
            callback.on_step_end(self)
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
        spec, group = config.spec, config.runtime.group
        autocast_dtype = config.runtime.autocast_dtype
        amp = autocast_dtype is not None
        # Mixed precision: the forward pass under autocast; losses are computed in
        # float32 by autocast's rules.
        with torch.autocast(
            config.device.type,
            dtype=autocast_dtype or torch.bfloat16,
            enabled=amp,
        ):
            penalty = None
            if spec.l2_reg_embedding > 0 and self.model is self.network:
                logits, penalty = self.network(*batch.inputs, with_penalty=True)
            else:
                logits = self.model(*batch.inputs)
                if spec.l2_reg_embedding > 0:
                    penalty = self.network.embedding_penalty(batch.sparse, batch.lists)
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
                loss = loss + spec.l2_reg_embedding * penalty
            if self.dnn_weights:
                loss = loss + spec.l2_reg_dnn * dnn_share * sum(
                    w.pow(2).sum() for w in self.dnn_weights
                )
        return task_losses, torch.stack(task_totals), loss
