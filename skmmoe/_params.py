"""The estimators' hyper-parameters, read once into typed specs (no torch).

:func:`read_params` is the only code that reads an estimator's hyper-parameters. It
runs at the start of ``fit`` and ``partial_fit``, after scikit-learn has checked each
parameter against its constraint, and applies the rules that involve several
parameters. Everything below the estimator (features, targets, network, training)
receives a spec, never the estimator. What depends on the machine (is the device
there, is this process one of a process group, how many threads) is resolved from
the training spec by the engine (:func:`skmmoe._engine.runtime.resolve_runtime`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator

__all__ = [
    "FeatureSpec",
    "NetworkSpec",
    "Specs",
    "TargetSpec",
    "TrainingSpec",
    "read_params",
]

# epochs="auto": at least this many epochs, and enough to make at least
# AUTO_MIN_STEPS optimizer steps on small data, but never more than AUTO_MAX_EPOCHS.
# 250 steps: measured against gradient boosting on tables of 22k-24k rows
# (benchmarks/vs_gbdt.py), where 2 or 3 epochs left the network undertrained; from
# 64k rows on, 2 epochs at batch 512 make 250 steps.
AUTO_MIN_EPOCHS = 2
AUTO_MIN_STEPS = 250
AUTO_MAX_EPOCHS = 200
# early_stopping="auto": on for fit where epochs="auto" makes more than
# AUTO_MIN_EPOCHS passes (small data, where many passes overfit a noisy target:
# measured on benchmarks/vs_gbdt.py's public tables) and the held-out share has at
# least this many rows, enough for the validation loss to tell epochs apart.
AUTO_MIN_VALIDATION_ROWS = 200


@dataclass(frozen=True)
class FeatureSpec:
    """How X becomes the network's inputs (see :mod:`skmmoe._features`)."""

    categorical_features: object
    preprocessor: object
    embedding_dim: object
    """An int, "auto" or a dict per column."""
    numeric_encoding: str
    n_bins: int
    combiner: object = "mean"
    max_list_length: object = None
    min_frequency: object = None
    max_categories: object = None
    hash_buckets: object = None
    shared_embeddings: object = None

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
    passed to :class:`~skmmoe._engine.network.MMOENetwork` as they are
    (:func:`skmmoe._engine.training.build_network`)."""

    embedding_dim: object
    """An int, "auto" or a dict per column: the features decide each table's
    width (:meth:`skmmoe._features.FeatureEncoder.embedding_layout`)."""
    num_experts: int
    expert_dnn_hidden_units: tuple[int, ...]
    gate_dnn_hidden_units: tuple[int, ...]
    shared_gate: bool
    tower_dnn_hidden_units: tuple[int, ...]
    dnn_activation: str
    dnn_dropout: float
    dnn_use_bn: bool
    init_std: float

    def weight_count(self, tables, input_width: int, output_dims) -> int:
        """The number of weights of the network (biases and norms aside), for
        embedding ``tables`` [(rows, width)] and an input ``input_width`` wide."""
        n_tasks = len(output_dims)

        def mlp(widths, n_inputs):
            sizes = [n_inputs, *widths]
            return sum(a * b for a, b in zip(sizes, sizes[1:]))

        experts = self.num_experts * mlp(self.expert_dnn_hidden_units, input_width)
        n_gates = 1 if self.shared_gate else n_tasks
        gates = n_gates * mlp(
            [*self.gate_dnn_hidden_units, self.num_experts], input_width
        )
        towers = sum(
            mlp([*self.tower_dnn_hidden_units, d], self.expert_dnn_hidden_units[-1])
            for d in output_dims
        )
        embeddings = sum(int(rows) * int(width) for rows, width in tables)
        return embeddings + experts + gates + towers


@dataclass(frozen=True)
class TrainingSpec:
    """How the network is trained: the training loop's hyper-parameters, defined
    here once (:class:`skmmoe._engine.training.TrainConfig` holds this spec)."""

    epochs: int | str
    batch_size: int
    optimizer: str
    learning_rate: float
    lr_schedule: str
    """How the learning rate moves over the planned steps: see
    :func:`~skmmoe._engine.optim.lr_factor`; "plateau" halves it after
    ``max(1, n_iter_no_change // 2)`` epochs without improvement of the
    validation objective (the training loss without validation)."""
    l2_reg_embedding: float
    l2_reg_dnn: float
    early_stopping: bool | str
    """True, False or "auto": see :meth:`early_stopping_for`."""
    validation_fraction: float
    n_iter_no_change: int
    clip_grad_norm: float | None
    precision: str
    """"float32", or mixed precision in "bfloat16" or "float16"."""
    device: object
    """As given: a str or a torch.device (resolved by the engine)."""
    gpus: tuple[int, ...] | None
    n_jobs: int | None
    n_workers: int | None
    verbose: int
    seed: int | None
    """The estimator's seed; None: a fresh one is drawn at fit (the engine's
    :class:`~skmmoe._engine.runtime.Runtime` holds the one used)."""

    def epochs_for(self, n_samples: int) -> int:
        """``epochs``, with "auto" resolved for ``n_samples`` training rows."""
        if self.epochs != "auto":
            return int(self.epochs)
        steps_per_epoch = math.ceil(n_samples / min(self.batch_size, n_samples))
        needed = math.ceil(AUTO_MIN_STEPS / steps_per_epoch)
        return int(min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, needed)))

    def early_stopping_for(self, n_samples: int, streaming: bool = False) -> bool:
        """``early_stopping``, with "auto" resolved for a fit on ``n_samples``
        rows: on where ``epochs="auto"`` plans more than AUTO_MIN_EPOCHS passes
        and ``validation_fraction`` of the rows is at least
        AUTO_MIN_VALIDATION_ROWS; never for partial_fit (``streaming``)."""
        if self.early_stopping != "auto":
            return bool(self.early_stopping)
        return (
            not streaming
            and self.epochs == "auto"
            and self.epochs_for(n_samples) > AUTO_MIN_EPOCHS
            and round(self.validation_fraction * n_samples) >= AUTO_MIN_VALIDATION_ROWS
        )


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
    several parameters; raises ValueError when they are broken."""
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
    units = {
        name: tuple(int(u) for u in getattr(estimator, name))
        for name in (
            "expert_dnn_hidden_units",
            "gate_dnn_hidden_units",
            "tower_dnn_hidden_units",
        )
    }
    if estimator.preprocessor is not None:
        for name in (
            "hash_buckets",
            "shared_embeddings",
            "min_frequency",
            "max_categories",
        ):
            if getattr(estimator, name) is not None:
                raise ValueError(
                    f"{name} applies to the built-in preprocessor's columns; with "
                    "preprocessor= set, encode in the preprocessor instead."
                )
    if estimator.hash_buckets is not None and (
        estimator.min_frequency is not None or estimator.max_categories is not None
    ):
        raise ValueError(
            "hash_buckets cannot be combined with min_frequency or max_categories: "
            "hashed columns keep no vocabulary to group rare values in."
        )
    gpus = None if estimator.gpus is None else tuple(int(g) for g in estimator.gpus)
    return Specs(
        features=_read(FeatureSpec, estimator),
        targets=_read(TargetSpec, estimator, kind=estimator._task_kind),
        network=_read(NetworkSpec, estimator, **units),
        training=_read(TrainingSpec, estimator, gpus=gpus),
    )
