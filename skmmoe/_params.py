"""The estimators' hyper-parameters, read once into typed specs.

:func:`read_params` is the only code that reads an estimator's hyper-parameters. It
runs at the start of ``fit`` and ``partial_fit``, after scikit-learn has checked each
parameter against its constraint, and applies the rules that involve several
parameters or the machine (is the device there?). Everything below the estimator
(features, targets, network, training) receives a spec, never the estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator

from ._engine.distributed import Group, current_group
from ._engine.network import MMOENetwork
from ._engine.threads import max_threads
from ._engine.training import TrainConfig

__all__ = [
    "FeatureSpec",
    "NetworkSpec",
    "Specs",
    "TargetSpec",
    "TrainingSpec",
    "read_params",
    "resolve_device",
]

# epochs="auto": at least this many epochs, and enough to make at least
# AUTO_MIN_STEPS optimizer steps on small data, but never more than AUTO_MAX_EPOCHS.
# 250 steps: measured against gradient boosting on tables of 22k-24k rows
# (benchmarks/vs_gbdt.py), where 2 or 3 epochs left the network undertrained; from
# 64k rows on, 2 epochs at batch 512 make 250 steps.
AUTO_MIN_EPOCHS = 2
AUTO_MIN_STEPS = 250
AUTO_MAX_EPOCHS = 200

_AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class FeatureSpec:
    """How X becomes the network's inputs (see :mod:`skmmoe._features`)."""

    categorical_features: object
    preprocessor: object
    embedding_dim: int
    numeric_encoding: str
    n_bins: int

    @property
    def numeric_only(self) -> bool:
        """Whether an array X must be all numbers: the built-in preprocessor with
        no column named categorical."""
        spec = self.categorical_features
        return self.preprocessor is None and (
            spec is None or (isinstance(spec, str) and spec == "auto")
        )


@dataclass(frozen=True)
class TargetSpec:
    """How y becomes tasks (see :mod:`skmmoe._targets`)."""

    task_types: object
    task_names: object
    class_weight: object
    loss_weights: object
    kind: str
    """What the estimator accepts: "any", "classifier" or "regressor"."""


@dataclass(frozen=True)
class NetworkSpec:
    """The network's hyper-parameters, named as the estimators' parameters and
    passed to :class:`~skmmoe._engine.network.MMOENetwork` as they are."""

    embedding_dim: int
    num_experts: int
    expert_dnn_hidden_units: tuple[int, ...]
    gate_dnn_hidden_units: tuple[int, ...]
    shared_gate: bool
    tower_dnn_hidden_units: tuple[int, ...]
    dnn_activation: str
    dnn_dropout: float
    dnn_use_bn: bool
    init_std: float

    def build(self, *, vocabulary_sizes, n_dense: int, output_dims) -> MMOENetwork:
        """The network for these inputs and task outputs (initialised from torch's
        global RNG: seed it first). A network too large to allocate raises a
        ValueError with its size."""
        try:
            return MMOENetwork(
                vocabulary_sizes=vocabulary_sizes,
                n_dense=n_dense,
                output_dims=output_dims,
                **{f.name: getattr(self, f.name) for f in fields(self)},
            )
        except (MemoryError, RuntimeError) as exc:
            if not isinstance(exc, MemoryError) and "allocate" not in str(exc):
                raise
            n_weights = self.weight_count(vocabulary_sizes, n_dense, output_dims)
            raise ValueError(
                f"The network does not fit in memory: about {n_weights:,} weights "
                f"({n_weights * 4 / 2**30:,.1f} GiB in float32) for "
                f"embedding_dim={self.embedding_dim}, num_experts="
                f"{self.num_experts}, expert_dnn_hidden_units="
                f"{self.expert_dnn_hidden_units} and {sum(vocabulary_sizes):,} "
                "embedding rows; make them smaller."
            ) from exc

    def weight_count(self, vocabulary_sizes, n_dense: int, output_dims) -> int:
        """The number of weights of the network (biases and norms aside)."""
        n_in = len(vocabulary_sizes) * self.embedding_dim + n_dense
        n_tasks = len(output_dims)

        def mlp(widths, n_inputs):
            sizes = [n_inputs, *widths]
            return sum(a * b for a, b in zip(sizes, sizes[1:]))

        experts = self.num_experts * mlp(self.expert_dnn_hidden_units, n_in)
        n_gates = 1 if self.shared_gate else n_tasks
        gates = n_gates * mlp([*self.gate_dnn_hidden_units, self.num_experts], n_in)
        towers = sum(
            mlp([*self.tower_dnn_hidden_units, d], self.expert_dnn_hidden_units[-1])
            for d in output_dims
        )
        return sum(vocabulary_sizes) * self.embedding_dim + experts + gates + towers


@dataclass(frozen=True)
class TrainingSpec:
    """How the network is trained (see :mod:`skmmoe._engine.training`)."""

    epochs: int | str
    batch_size: int
    optimizer: str
    learning_rate: float
    lr_schedule: str
    l2_reg_embedding: float
    l2_reg_dnn: float
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: int
    clip_grad_norm: float | None
    autocast_dtype: torch.dtype | None
    device: torch.device
    device_ids: list[int] | None
    n_jobs: int | None
    n_workers: int | None
    verbose: int
    seed: int
    """The seed of this fit: ``seed``, or a fresh one drawn when it is None (by
    rank 0 in data-parallel training, and shared)."""
    group: Group | None = None
    """The process group of data-parallel training; None: one process."""

    def epochs_for(self, n_samples: int) -> int:
        """``epochs``, with "auto" resolved for ``n_samples`` training rows."""
        if self.epochs != "auto":
            return int(self.epochs)
        steps_per_epoch = math.ceil(n_samples / min(self.batch_size, n_samples))
        needed = math.ceil(AUTO_MIN_STEPS / steps_per_epoch)
        return int(min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, needed)))

    def config(self, *, epochs: int, loss_weights, **overrides) -> TrainConfig:
        """The training loop's configuration; ``overrides`` set its other fields
        (validation, optimizer state, schedule)."""
        values = dict(
            epochs=epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            loss_weights=loss_weights,
            l2_reg_embedding=self.l2_reg_embedding,
            l2_reg_dnn=self.l2_reg_dnn,
            seed=self.seed,
            device=self.device,
            device_ids=self.device_ids,
            verbose=self.verbose,
            n_iter_no_change=self.n_iter_no_change,
            clip_grad_norm=self.clip_grad_norm,
            autocast_dtype=self.autocast_dtype,
            threads=max_threads(self.n_jobs),
            adapt_threads=self.n_jobs is None,
        )
        group = self.group
        if group is not None:
            values.update(
                group=group,
                # Only rank 0 prints.
                verbose=self.verbose if group.rank == 0 else 0,
                # Each rank its share of the machine's cores; no probing, whose
                # timings would differ between ranks.
                threads=(
                    max_threads(self.n_jobs)
                    if self.n_jobs is not None
                    else group.fair_threads(max_threads(None))
                ),
                adapt_threads=False,
            )
        return TrainConfig(**{**values, **overrides})


@dataclass(frozen=True)
class Specs:
    features: FeatureSpec
    targets: TargetSpec
    network: NetworkSpec
    training: TrainingSpec


def _read(spec_class, estimator, **values):
    """A spec whose fields not in ``values`` are the estimator's parameters of the
    same names."""
    names = [f.name for f in fields(spec_class) if f.name not in values]
    return spec_class(**{n: getattr(estimator, n) for n in names}, **values)


def read_params(estimator) -> Specs:
    """The estimator's hyper-parameters as specs, with the rules that involve
    several parameters or the machine; raises ValueError when they are broken."""
    if estimator.preprocessor is not None and not (
        isinstance(estimator.categorical_features, str)
        and estimator.categorical_features == "auto"
    ):
        raise ValueError(
            "categorical_features cannot be set together with preprocessor: the "
            "preprocessor's OrdinalEncoder outputs are the categorical features."
        )
    preprocessor = estimator.preprocessor
    if isinstance(preprocessor, FrozenEstimator) and not isinstance(
        preprocessor.estimator, ColumnTransformer
    ):
        raise ValueError(
            "preprocessor=FrozenEstimator(...) must wrap a fitted ColumnTransformer; "
            f"it wraps a {type(preprocessor.estimator).__name__}."
        )
    if estimator.dnn_use_bn and estimator.batch_size < 2:
        raise ValueError(
            "dnn_use_bn=True needs batch_size >= 2: batch norm cannot train on "
            f"batches of one sample (batch_size={estimator.batch_size})."
        )
    group = current_group()
    if estimator.n_workers is not None and estimator.n_workers > 1:
        if group is not None:
            raise ValueError(
                f"n_workers={estimator.n_workers} starts processes of its own, but "
                "this process is already one of a torch.distributed process group "
                "(torchrun, Ray Train, accelerate): the group's processes are the "
                "workers, so leave n_workers=None."
            )
    device, device_ids = resolve_device(estimator.device, estimator.gpus, group)
    if estimator.n_workers is not None and estimator.n_workers > 1:
        if device.type != "cpu" or device_ids is not None:
            raise ValueError(
                f"n_workers={estimator.n_workers} trains in CPU processes (gloo), "
                f"but device={estimator.device!r}, gpus={estimator.gpus} resolve to "
                f"{device}: set device='cpu', or to train on several GPUs start one "
                "process per GPU with torchrun."
            )
    if estimator.precision == "float16" and device.type != "cuda":
        raise ValueError(
            "precision='float16' needs a CUDA device; on the CPU use "
            "precision='bfloat16'."
        )
    seed = estimator.seed
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
        if group is not None:
            seed = group.broadcast_int(seed, device, "sharing rank 0's seed")
    units = {
        name: tuple(int(u) for u in getattr(estimator, name))
        for name in (
            "expert_dnn_hidden_units",
            "gate_dnn_hidden_units",
            "tower_dnn_hidden_units",
        )
    }
    return Specs(
        features=_read(FeatureSpec, estimator),
        targets=_read(TargetSpec, estimator, kind=estimator._task_kind),
        network=_read(NetworkSpec, estimator, **units),
        training=_read(
            TrainingSpec,
            estimator,
            autocast_dtype=_AUTOCAST[estimator.precision],
            device=device,
            device_ids=device_ids,
            seed=seed,
            group=group,
        ),
    )


def resolve_device(
    device, gpus, group: Group | None = None
) -> tuple[torch.device, list[int] | None]:
    """The training device and the DataParallel device ids, or a ValueError when
    the machine cannot provide them. In data-parallel training (``group``) each
    process trains on one device: ``gpus[local_rank]`` when ``gpus`` is given."""
    name = str(device)
    cuda = torch.cuda.is_available()
    if group is not None:
        resolved, ids = resolve_device(device, gpus)
        if ids is not None:
            if len(ids) < group.local_world_size:
                raise ValueError(
                    f"gpus={ids} names fewer GPUs than the {group.local_world_size} "
                    "processes of the process group on this machine: give one GPU "
                    "per process, or leave gpus=None and set device."
                )
            resolved, ids = torch.device(f"cuda:{ids[group.local_rank]}"), None
        if group.backend == "nccl" and resolved.type != "cuda":
            raise ValueError(
                "The process group's backend is 'nccl', which reduces CUDA tensors "
                f"only, but training runs on {resolved}: use "
                "init_process_group('gloo') to train on the CPU, or a CUDA device."
            )
        return resolved, ids
    if gpus is not None:
        gpus = [int(g) for g in gpus]
        if not cuda:
            raise ValueError(
                f"gpus={gpus} needs CUDA, which is not available on this machine; "
                "leave gpus=None to train on the CPU."
            )
        if max(gpus) >= torch.cuda.device_count():
            raise ValueError(
                f"gpus={gpus} names a GPU this machine lacks; it has "
                f"{torch.cuda.device_count()}."
            )
        if name not in ("auto", "cuda", f"cuda:{gpus[0]}"):
            raise ValueError(
                f"device={name!r} conflicts with gpus={gpus}: gpus[0] is the main "
                f"device, so use device='cuda:{gpus[0]}'."
            )
        return torch.device(f"cuda:{gpus[0]}"), gpus
    if name == "auto":
        return torch.device("cuda" if cuda else "cpu"), None
    try:
        parsed = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(
            f"device={name!r} is not a device skmmoe knows; use 'cpu', 'cuda', "
            "'cuda:N' or 'auto'."
        ) from None
    if parsed.type == "cpu":  # one CPU device, whatever index
        return torch.device("cpu"), None
    if parsed.type == "cuda":
        if not cuda:
            raise ValueError(
                f"device={name!r} was requested but CUDA is not available on this "
                "machine; use device='cpu' or device='auto'."
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={name!r} is not available: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
        return dev, None
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device='mps' was requested but MPS is not available.")
        return torch.device("mps"), None
    raise ValueError(
        f"device={name!r} is not a device skmmoe knows; use 'cpu', 'cuda', 'cuda:N' "
        "or 'auto'."
    )
