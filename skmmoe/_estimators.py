"""The scikit-learn estimators: validation, orchestration, tags."""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
)
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    check_is_fitted,
)

from ._features import NUMERIC_ENCODINGS, fit_feature_encoder
from ._network import ACTIVATIONS, MMOENetwork, predict_logits
from ._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    validate_data,
)
from ._tasks import TASK_TYPES, make_tasks, split_label_column
from ._training import LR_SCHEDULES, OPTIMIZERS, TrainConfig, TrainData, train
from ._version import __version__

__all__ = ["MMOEClassifier", "MMOEEstimator", "MMOERegressor"]

# epochs="auto": at least this many epochs, and enough to make at least
# _AUTO_MIN_STEPS optimizer steps on small data, but never more than _AUTO_MAX_EPOCHS.
# 250 steps: measured against gradient boosting on tables of 22k-24k rows
# (benchmarks/vs_gbdt.py), where 2 or 3 epochs left the network undertrained; from
# 64k rows on, 2 epochs at batch 512 make 250 steps.
_AUTO_MIN_EPOCHS = 2
_AUTO_MIN_STEPS = 250
_AUTO_MAX_EPOCHS = 200


class InconsistentVersionWarning(UserWarning):
    """A model saved (pickled or with skmmoe.save) by one version of skmmoe is loaded
    by another."""


def _auto_epochs(n_samples: int, batch_size: int) -> int:
    steps_per_epoch = math.ceil(n_samples / min(batch_size, n_samples))
    needed = math.ceil(_AUTO_MIN_STEPS / steps_per_epoch)
    return int(min(_AUTO_MAX_EPOCHS, max(_AUTO_MIN_EPOCHS, needed)))


def _resolve_device(device, gpus) -> tuple[torch.device, list[int] | None]:
    """The training device and the DataParallel device ids, or a ValueError when
    the machine cannot provide them."""
    name = str(device)
    cuda = torch.cuda.is_available()
    if gpus is not None:
        gpus = [int(g) for g in gpus]
        if not gpus:
            raise ValueError("gpus must name at least one GPU id, or be None.")
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
    if name == "cpu":
        return torch.device("cpu"), None
    if name == "cuda" or name.startswith("cuda:"):
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
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device='mps' was requested but MPS is not available.")
        return torch.device("mps"), None
    raise ValueError(
        f"device={name!r} is not a device skmmoe knows; use 'cpu', 'cuda', 'cuda:N' "
        "or 'auto'."
    )


def _fork_rng(device: torch.device):
    """Save torch's global RNG state (and the CUDA device's) and restore it on
    exit, so seeding inside leaves the caller's RNG as it was."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def _check_units(name: str, value, allow_empty: bool) -> tuple[int, ...]:
    try:
        units = tuple(value)
    except TypeError:
        units = None
    if (
        units is None
        or not all(isinstance(u, Integral) and not isinstance(u, bool) for u in units)
        or any(u < 1 for u in units)
        or (not units and not allow_empty)
    ):
        need = "a tuple of positive ints" + ("" if allow_empty else ", not empty")
        raise ValueError(f"{name} must be {need}; got {value!r}.")
    return tuple(int(u) for u in units)


class _BaseMMOE(BaseEstimator):
    """Shared code of the three estimators; see :class:`MMOEEstimator`."""

    _task_kind = "any"

    _parameter_constraints: dict = {
        "num_experts": [Interval(Integral, 1, None, closed="left")],
        "expert_dnn_hidden_units": ["array-like"],
        "gate_dnn_hidden_units": ["array-like"],
        "tower_dnn_hidden_units": ["array-like"],
        "l2_reg_linear": [Interval(Real, 0, None, closed="left")],
        "l2_reg_embedding": [Interval(Real, 0, None, closed="left")],
        "l2_reg_dnn": [Interval(Real, 0, None, closed="left")],
        "init_std": [Interval(Real, 0, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left"), None],
        "dnn_dropout": [Interval(Real, 0, 1, closed="left")],
        "dnn_activation": [StrOptions(set(ACTIVATIONS))],
        "dnn_use_bn": ["boolean"],
        "task_types": [StrOptions(set(TASK_TYPES)), "array-like", None],
        "task_names": ["array-like", None],
        "device": [str, torch.device],
        "gpus": ["array-like", None],
        "categorical_features": [StrOptions({"auto"}), "array-like", None],
        "preprocessor": [HasMethods(["fit_transform", "transform"]), None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "numeric_encoding": [StrOptions(set(NUMERIC_ENCODINGS))],
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "loss_weights": ["array-like", None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "class_weight": [StrOptions({"balanced"}), dict, list, None],
        "precision": [StrOptions({"float32", "bfloat16", "float16"})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        num_experts=3,
        expert_dnn_hidden_units=(256, 128),
        gate_dnn_hidden_units=(64,),
        tower_dnn_hidden_units=(64,),
        l2_reg_linear=1e-5,
        l2_reg_embedding=1e-5,
        l2_reg_dnn=0.0,
        init_std=1e-4,
        seed=1024,
        dnn_dropout=0.0,
        dnn_activation="relu",
        dnn_use_bn=False,
        task_types=None,
        task_names=None,
        device="cpu",
        gpus=None,
        categorical_features="auto",
        preprocessor=None,
        embedding_dim=8,
        numeric_encoding="scaled+embedding",
        n_bins=32,
        epochs="auto",
        batch_size=512,
        optimizer="adam",
        learning_rate=4e-3,
        lr_schedule="linear",
        loss_weights=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        clip_grad_norm=None,
        class_weight=None,
        precision="float32",
        verbose=0,
    ):
        self.num_experts = num_experts
        self.expert_dnn_hidden_units = expert_dnn_hidden_units
        self.gate_dnn_hidden_units = gate_dnn_hidden_units
        self.tower_dnn_hidden_units = tower_dnn_hidden_units
        self.l2_reg_linear = l2_reg_linear
        self.l2_reg_embedding = l2_reg_embedding
        self.l2_reg_dnn = l2_reg_dnn
        self.init_std = init_std
        self.seed = seed
        self.dnn_dropout = dnn_dropout
        self.dnn_activation = dnn_activation
        self.dnn_use_bn = dnn_use_bn
        self.task_types = task_types
        self.task_names = task_names
        self.device = device
        self.gpus = gpus
        self.categorical_features = categorical_features
        self.preprocessor = preprocessor
        self.embedding_dim = embedding_dim
        self.numeric_encoding = numeric_encoding
        self.n_bins = n_bins
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.loss_weights = loss_weights
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.clip_grad_norm = clip_grad_norm
        self.class_weight = class_weight
        self.precision = precision
        self.verbose = verbose

    # ----------------------------------------------------------------- pickle
    def __getstate__(self):
        # A copy: BaseEstimator.__getstate__ may return the live __dict__ itself.
        state = dict(super().__getstate__())
        network = state.get("network_")
        if network is not None:
            device = next(network.parameters()).device
            if device.type != "cpu":
                # Pickles always hold CPU tensors, so they load on machines without
                # the training device.
                state["network_"] = copy.deepcopy(network).to("cpu")
                state["_fit_device"] = str(device)
        state["_skmmoe_version"] = __version__
        return state

    def __setstate__(self, state):
        version = state.pop("_skmmoe_version", None)
        if version != __version__:
            warnings.warn(
                f"Unpickling a {type(self).__name__} made by skmmoe {version} with "
                f"skmmoe {__version__}; it may not behave the same.",
                InconsistentVersionWarning,
                stacklevel=2,
            )
        fit_device = state.pop("_fit_device", None)
        super().__setstate__(state)
        if fit_device is not None and hasattr(self, "network_"):
            device = torch.device(fit_device)
            if device.type == "cuda" and torch.cuda.is_available():
                if device.index is None or device.index < torch.cuda.device_count():
                    self.network_.to(device)

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------ validation
    def _check_params(self) -> dict:
        """Cross-parameter rules and the contents of tuple parameters; returns the
        checked values."""
        checked = {
            "expert_dnn_hidden_units": _check_units(
                "expert_dnn_hidden_units", self.expert_dnn_hidden_units, False
            ),
            "gate_dnn_hidden_units": _check_units(
                "gate_dnn_hidden_units", self.gate_dnn_hidden_units, True
            ),
            "tower_dnn_hidden_units": _check_units(
                "tower_dnn_hidden_units", self.tower_dnn_hidden_units, True
            ),
        }
        if self.preprocessor is not None and not isinstance(
            self.preprocessor, ColumnTransformer
        ):
            raise TypeError(
                "preprocessor must be a scikit-learn ColumnTransformer or None; got "
                f"{type(self.preprocessor).__name__}."
            )
        if self.preprocessor is not None and not (
            isinstance(self.categorical_features, str)
            and self.categorical_features == "auto"
        ):
            raise ValueError(
                "categorical_features cannot be set together with preprocessor: the "
                "preprocessor's OrdinalEncoder outputs are the categorical features."
            )
        if self.dnn_use_bn and self.batch_size < 2:
            raise ValueError(
                "dnn_use_bn=True needs batch_size >= 2: batch norm cannot train on "
                f"batches of one sample (batch_size={self.batch_size})."
            )
        if self.gpus is not None:
            gpus = np.asarray(self.gpus)
            if gpus.ndim != 1 or gpus.dtype.kind not in "iu" or (gpus < 0).any():
                raise ValueError(
                    f"gpus must be a list of non-negative GPU ids; got {self.gpus!r}."
                )
        checked["device"], checked["device_ids"] = _resolve_device(
            self.device, self.gpus
        )
        if self.precision == "float16" and checked["device"].type != "cuda":
            raise ValueError(
                "precision='float16' needs a CUDA device; on the CPU use "
                "precision='bfloat16'."
            )
        return checked

    def _validate_X(self, X, *, reset: bool):
        """Check X, set or check n_features_in_ / feature_names_in_; return X as a
        DataFrame (kept as given) or an ndarray."""
        min_samples = 2 if reset else 1
        if isinstance(X, pd.DataFrame):
            names = getattr(self, "feature_names_in_", None)
            if not reset and names is not None:
                given = [str(c) for c in X.columns]
                if given != list(names) and sorted(given) == sorted(names):
                    X = X[list(names)]  # columns are matched by name, not position
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[1] == 0:
                raise ValueError(
                    f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                    "of 1 is required."
                )
            if X.shape[0] < min_samples:
                raise ValueError(
                    f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while "
                    f"a minimum of {min_samples} is required."
                )
            return X
        spec = self.categorical_features
        numeric_only = spec is None or (isinstance(spec, str) and spec == "auto")
        if self.preprocessor is not None or not numeric_only:
            X = check_array(
                X, dtype=None, ensure_all_finite=False, ensure_min_samples=min_samples
            )
            if X.dtype.kind == "c":
                raise ValueError("Complex data not supported.")
            validate_data(self, X, reset=reset, skip_check_array=True)
            return X
        return validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            ensure_min_samples=min_samples,
        )

    def _validate_y(self, y):
        """y -> (list of (observed, missing) per task, task names, y.ndim)."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is "
                "None."
            )
        if hasattr(y, "toarray") or hasattr(y, "tocsr"):
            raise TypeError("A sparse y is not supported; pass a dense array.")
        if isinstance(y, pd.DataFrame):
            frame, ndim = y, 2
            default_names = [str(c) for c in y.columns]
        elif isinstance(y, pd.Series):
            frame, ndim = y.to_frame(), 1
            default_names = ["task_0"]
        else:
            arr = np.asarray(y, dtype=object if isinstance(y, (list, tuple)) else None)
            if arr.ndim not in (1, 2):
                raise ValueError(
                    f"y must be 1-D (one task) or 2-D (one task per column); got "
                    f"shape {arr.shape}."
                )
            if arr.dtype.kind == "c":
                raise ValueError("Complex data not supported in y.")
            ndim = arr.ndim
            frame = pd.DataFrame(arr.reshape(len(arr), -1))
            default_names = [f"task_{j}" for j in range(frame.shape[1])]
        if frame.shape[1] == 0:
            raise ValueError("y has no columns (tasks).")
        if self.task_names is None:
            names = default_names
        else:
            names = (
                [self.task_names]
                if isinstance(self.task_names, str)
                else [str(n) for n in self.task_names]
            )
            if len(names) != frame.shape[1]:
                raise ValueError(
                    f"task_names has {len(names)} entries but y has {frame.shape[1]} "
                    "task(s) (columns)."
                )
        if len(set(names)) != len(names):
            raise ValueError(f"Task names must be unique; got {names}.")
        columns = [split_label_column(frame.iloc[:, j]) for j in range(frame.shape[1])]
        return columns, names, ndim

    def _check_loss_weights(self, n_tasks: int) -> list[float]:
        if self.loss_weights is None:
            return [1.0] * n_tasks
        weights = np.asarray(self.loss_weights, dtype=np.float64).ravel()
        if weights.shape != (n_tasks,):
            raise ValueError(
                f"loss_weights has {weights.size} entries but y has {n_tasks} task(s)."
            )
        if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() == 0:
            raise ValueError(
                "loss_weights must be finite, non-negative and not all zero; got "
                f"{self.loss_weights!r}."
            )
        return weights.tolist()

    def _task_weights(
        self, sample_weight, X, columns, names
    ) -> list[np.ndarray | None]:
        """Per-task sample weights, zero where the task's label is missing; None
        where every sample counts equally."""
        n, n_tasks = len(columns[0][1]), len(columns)
        if sample_weight is None:
            per_task = [None] * n_tasks
        else:
            sw = np.asarray(sample_weight)
            if sw.ndim == 2:
                if sw.shape != (n, n_tasks):
                    raise ValueError(
                        f"sample_weight of shape {sw.shape} must be (n_samples, "
                        f"n_tasks) = ({n}, {n_tasks}), or (n_samples,)."
                    )
                sw = check_array(sw, dtype=np.float64)
            else:
                sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if (sw < 0).any():
                raise ValueError("Negative values in sample_weight are not allowed.")
            per_task = (
                [sw[:, t] for t in range(n_tasks)] if sw.ndim == 2 else [sw] * n_tasks
            )
        weights = []
        for t, (_, missing) in enumerate(columns):
            w = per_task[t]
            if missing.any():
                w = (np.ones(n) if w is None else w.copy()) * ~missing
            if w is not None and not (w > 0).any():
                raise ValueError(
                    f"Task {names[t]!r} has no sample with a label and a positive "
                    "weight."
                )
            weights.append(w)
        return weights

    # ------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Fit the preprocessing and the MMoE network.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
            Features. DataFrame columns of object, string, category and bool dtype
            are categorical by default; missing values are allowed.
        y : array-like or DataFrame of shape (n_samples,) or (n_samples, n_tasks)
            One task per column. A missing label (NaN, None) masks that sample out of
            that task's loss only.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
            Per-sample weights, optionally per task.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit_atomic(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_atomic(self, X, y, sample_weight, classes=None, streaming=False):
        return self._atomic(self._fit, X, y, sample_weight, classes, streaming)

    def _atomic(self, method, *args):
        # A failed fit must leave a previously fitted estimator exactly as it was.
        saved = self.__dict__.copy()
        try:
            method(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        return self

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Fit on one chunk of data at a time, for data larger than memory.

        The first call fits the preprocessing and the network as :meth:`fit` does.
        Each later call trains one more epoch on the new chunk, with the fitted
        preprocessing (categories unseen so far go to the reserved index) and the
        optimizer's state carried over. Early stopping applies to the first call
        only.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
        y : array-like or DataFrame of shape (n_samples,) or (n_samples, n_tasks)
            The same tasks (columns) in every call. Class labels must all appear in
            the first chunk, or be given by ``classes``.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
        classes : array-like or list of array-like, default=None
            First call only: every class of a 1-D y, or for a 2-D y a list with the
            classes of each task (None for tasks whose classes are all in the chunk,
            and for regression tasks).

        Returns
        -------
        self : object
        """
        if not hasattr(self, "network_"):
            return self._fit_atomic(X, y, sample_weight, classes, True)
        return self._atomic(self._partial_fit, X, y, sample_weight)

    def _seed(self) -> int:
        if self.seed is not None:
            return self.seed
        return int(np.random.SeedSequence().generate_state(1)[0])

    def _prepare_targets(self, X, y, sample_weight, classes=None, tasks=None):
        """Validate y and the weights; fit the tasks unless given. Returns the label
        columns, task names, y.ndim, per-task weights and the tasks."""
        columns, names, y_ndim = self._validate_y(y)
        check_consistent_length(X, columns[0][1])
        weights = self._task_weights(sample_weight, X, columns, names)
        if tasks is None:
            tasks = make_tasks(
                columns,
                names,
                self.task_types,
                self._task_kind,
                weights,
                self._check_classes(classes, len(columns), y_ndim),
            )
        weights = self._apply_class_weight(tasks, columns, weights)
        return columns, names, y_ndim, weights, tasks

    @staticmethod
    def _check_classes(classes, n_tasks, y_ndim):
        if classes is None:
            return None
        if y_ndim == 1:
            return [classes]
        if not isinstance(classes, (list, tuple)) or len(classes) != n_tasks:
            raise ValueError(
                f"classes must be a list with one entry per task ({n_tasks}) for a "
                "2-D y."
            )
        return list(classes)

    def _apply_class_weight(self, tasks, columns, weights):
        spec = self.class_weight
        if spec is None:
            return weights
        n_tasks = len(tasks)
        if isinstance(spec, list):
            if len(spec) != n_tasks:
                raise ValueError(
                    f"class_weight as a list needs one entry per task ({n_tasks}); "
                    f"got {len(spec)}."
                )
            specs = spec
        elif isinstance(spec, dict) and n_tasks > 1:
            raise ValueError(
                "class_weight as a dict is for a single task; with several tasks "
                "pass a list with one dict (or 'balanced', or None) per task."
            )
        else:
            specs = [spec] * n_tasks
        out = list(weights)
        for t, (task, task_spec) in enumerate(zip(tasks, specs)):
            if task_spec is None:
                continue
            if not task.is_classification:
                if isinstance(spec, list) or n_tasks == 1:
                    raise ValueError(
                        f"class_weight is given for task {task.name!r}, which is a "
                        "regression task."
                    )
                continue
            observed, missing = columns[t]
            per_sample = np.zeros(len(missing))
            per_sample[~missing] = task.class_weights(observed, task_spec)
            base = out[t] if out[t] is not None else np.ones(len(missing))
            out[t] = base * per_sample
        return out

    def _train_config(self, params, *, epochs, seed, loss_weights, **extra):
        return TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            lr_schedule=extra.pop("lr_schedule", self.lr_schedule),
            loss_weights=loss_weights,
            l2_reg_embedding=self.l2_reg_embedding,
            l2_reg_dnn=self.l2_reg_dnn,
            seed=seed,
            device=params["device"],
            device_ids=params["device_ids"],
            verbose=self.verbose,
            n_iter_no_change=self.n_iter_no_change,
            clip_grad_norm=self.clip_grad_norm,
            autocast_dtype={
                "float32": None,
                "bfloat16": torch.bfloat16,
                "float16": torch.float16,
            }[self.precision],
            **extra,
        )

    @staticmethod
    def _train_data(sparse, dense, tasks, columns, weights) -> TrainData:
        return TrainData(
            torch.from_numpy(sparse),
            torch.from_numpy(dense),
            [
                torch.from_numpy(task.encode(observed, missing))
                for task, (observed, missing) in zip(tasks, columns)
            ],
            [
                None if w is None else torch.from_numpy(w.astype(np.float32))
                for w in weights
            ],
        )

    def _fit(self, X, y, sample_weight, classes=None, streaming=False):
        params = self._check_params()
        X = self._validate_X(X, reset=True)
        columns, names, y_ndim, task_weights, tasks = self._prepare_targets(
            X, y, sample_weight, classes
        )
        loss_weights = self._check_loss_weights(len(columns))
        encoder, sparse, dense = fit_feature_encoder(
            X,
            categorical_features=self.categorical_features,
            preprocessor=(
                None if self.preprocessor is None else copy.deepcopy(self.preprocessor)
            ),
            embedding_dim=self.embedding_dim,
            numeric_encoding=self.numeric_encoding,
            n_bins=self.n_bins,
        )
        del X  # nothing but the encoded tensors is held during training

        seed = self._seed()
        data = self._train_data(sparse, dense, tasks, columns, task_weights)
        del sparse, dense
        valid = None
        if self.early_stopping:
            data, valid = self._split_validation(data, tasks, seed)

        epochs = (
            _auto_epochs(len(data), self.batch_size)
            if self.epochs == "auto"
            else self.epochs
        )
        device = params["device"]
        with _fork_rng(device):
            # Seeding inside fork_rng: deterministic init and dropout, and the
            # caller's global RNG state is restored on exit.
            torch.manual_seed(seed)
            network = MMOENetwork(
                vocabulary_sizes=encoder.vocabulary_sizes,
                embedding_dim=self.embedding_dim,
                n_dense=data.dense.shape[1],
                output_dims=[t.output_dim for t in tasks],
                num_experts=self.num_experts,
                expert_hidden_units=params["expert_dnn_hidden_units"],
                gate_hidden_units=params["gate_dnn_hidden_units"],
                tower_hidden_units=params["tower_dnn_hidden_units"],
                activation=self.dnn_activation,
                dropout=self.dnn_dropout,
                use_bn=self.dnn_use_bn,
                init_std=self.init_std,
            )
            config = self._train_config(
                params,
                epochs=epochs,
                seed=seed,
                loss_weights=loss_weights,
                validate=(
                    None
                    if valid is None
                    else _make_validator(tasks, valid, loss_weights)
                ),
                keep_optimizer_state=streaming,
            )
            result = train(network, tasks, data, config, valid)

        self.network_ = network
        self.preprocessor_ = encoder.preprocessor
        self.feature_columns_ = list(encoder.feature_columns)
        self._encoder = encoder
        self._tasks = tasks
        self._y_ndim = y_ndim
        self._seed_used = seed
        self._optimizer_state = result.optimizer_state
        self._n_chunks = 1
        self.task_names_ = list(names)
        self.task_types_ = [t.task_type for t in tasks]
        self.n_tasks_ = len(tasks)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = len(result.history)
        self._set_classes()
        return self

    def _partial_fit(self, X, y, sample_weight):
        params = self._check_params()
        X = self._validate_X(X, reset=False)
        columns, names, y_ndim, task_weights, _ = self._prepare_targets(
            X, y, sample_weight, tasks=self._tasks
        )
        if names != self.task_names_ or y_ndim != self._y_ndim:
            raise ValueError(
                f"partial_fit got tasks {names} (y.ndim={y_ndim}); earlier calls "
                f"had {self.task_names_} (y.ndim={self._y_ndim})."
            )
        sparse, dense = self._encoder.transform(X)
        del X
        data = self._train_data(sparse, dense, self._tasks, columns, task_weights)
        seed = self._seed_used + self._n_chunks
        network = copy.deepcopy(self.network_)  # trained copy replaces it on success
        device = params["device"]
        with _fork_rng(device):
            torch.manual_seed(seed)
            config = self._train_config(
                params,
                epochs=1,
                seed=seed,
                loss_weights=self._check_loss_weights(len(columns)),
                # A chunk's epoch has no end of training to decay towards.
                lr_schedule="constant",
                optimizer_state=self._optimizer_state,
                keep_optimizer_state=True,
            )
            result = train(network, self._tasks, data, config)
        for record in result.history:
            record["epoch"] = len(self.history_) + 1
            self.history_ = [*self.history_, record]
        self.network_ = network
        self._optimizer_state = result.optimizer_state
        self._n_chunks += 1
        self.n_epochs_ = len(self.history_)
        return self

    def _set_classes(self):
        classes = [getattr(t, "classes_", None) for t in self._tasks]
        self.classes_ = classes[0] if self._y_ndim == 1 else classes

    def _split_validation(self, data: TrainData, tasks, seed: int):
        n = len(data)
        n_valid = max(1, int(round(self.validation_fraction * n)))
        if n - n_valid < 2:
            raise ValueError(
                f"early_stopping with validation_fraction={self.validation_fraction} "
                f"leaves fewer than 2 training samples out of {n}."
            )
        indices = np.arange(n)
        strata = None
        for t, task in enumerate(tasks):
            if task.is_classification:
                strata = data.targets[t].numpy().astype(np.int64)
                if data.weights[t] is not None:
                    strata = np.where(data.weights[t].numpy() > 0, strata, -1)
                break
        splitter = ShuffleSplit(n_splits=1, test_size=n_valid, random_state=seed)
        if strata is not None:
            try:
                train_idx, valid_idx = next(
                    StratifiedShuffleSplit(
                        n_splits=1, test_size=n_valid, random_state=seed
                    ).split(indices, strata)
                )
            except ValueError:  # a class too small to stratify
                train_idx, valid_idx = next(splitter.split(indices))
        else:
            train_idx, valid_idx = next(splitter.split(indices))
        return (
            data.take(torch.from_numpy(np.sort(train_idx))),
            data.take(torch.from_numpy(np.sort(valid_idx))),
        )

    # --------------------------------------------------------------- predict
    def _network_outputs(self, X, method: str = "forward") -> list[np.ndarray]:
        check_is_fitted(self, "network_")
        X = self._validate_X(X, reset=False)
        sparse, dense = self._encoder.transform(X)
        device = next(self.network_.parameters()).device
        outs = predict_logits(
            self.network_,
            torch.from_numpy(sparse).to(device),
            torch.from_numpy(dense).to(device),
            method=method,
        )
        return [o.double().cpu().numpy() for o in outs]

    def predict(self, X):
        """Predict every task.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_tasks)
            Shape (n_samples,) when fitted on a 1-D y. Class labels as given in fit
            (strings, bools, ints); regression values as floats. With several tasks
            whose predictions differ in dtype, an object array.
        """
        logits = self._network_outputs(X)
        preds = [task.decode(z) for task, z in zip(self._tasks, logits)]
        if self._y_ndim == 1:
            return preds[0]
        dtypes = {p.dtype for p in preds}
        if len(dtypes) == 1:
            return np.column_stack(preds)
        out = np.empty((len(preds[0]), len(preds)), dtype=object)
        for t, p in enumerate(preds):
            out[:, t] = p
        return out

    def _score_columns(self, y):
        """y of ``score`` as (observed, missing) per task, checked against the
        fitted tasks."""
        check_is_fitted(self, "network_")
        columns, _, _ = self._validate_y(y)
        if len(columns) != self.n_tasks_:
            raise ValueError(
                f"y has {len(columns)} task(s); the estimator was fitted on "
                f"{self.n_tasks_}."
            )
        return columns

    def _has_classification_task(self):
        if not hasattr(self, "_tasks"):
            return True  # let predict_proba raise NotFittedError
        return any(t.is_classification for t in self._tasks)

    def gate_weights(self, X):
        """Mean share of each expert in each task's mixture, per sample.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)

        Returns
        -------
        weights : ndarray of shape (n_samples, n_tasks, num_experts)
            Softmax outputs of the gates; each [i, t, :] sums to 1.
        """
        return self._network_outputs(X, method="gate_weights")[0]


class _ProbaMixin:
    @available_if(_BaseMMOE._has_classification_task)
    def predict_proba(self, X):
        """Class probabilities of the classification tasks.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or list
            For a 1-D y, an array whose columns follow ``classes_``. For a 2-D y, a
            list with one entry per task: an (n_samples, n_classes) array for a
            classification task, None for a regression task.
        """
        logits = self._network_outputs(X)
        probas = [task.predict_proba(z) for task, z in zip(self._tasks, logits)]
        return probas[0] if self._y_ndim == 1 else probas


def _make_validator(tasks, valid: TrainData, loss_weights):
    """Validation metrics per task and the loss-weighted mean validation loss."""
    total = sum(loss_weights)

    def validate(logits):
        metrics, objective = {}, 0.0
        for t, task in enumerate(tasks):
            metrics[task.name], loss = task.validation_metrics(
                logits[t], valid.targets[t], valid.weights[t]
            )
            objective += loss_weights[t] * loss / total
        return metrics, objective

    return validate


_PARAMETERS_DOC = """
    Parameters
    ----------
    num_experts : int, default=3
        Number of experts. 1 gives the shared-bottom baseline of the MMoE paper.
    expert_dnn_hidden_units : tuple of int, default=(256, 128)
        Layer widths of each expert MLP.
    gate_dnn_hidden_units : tuple of int, default=(64,)
        Hidden widths of each task's gate before its linear map to ``num_experts``
        logits and the softmax; ``()`` makes each gate a single linear map.
    tower_dnn_hidden_units : tuple of int, default=(64,)
        Layer widths of each task's tower; ``()`` feeds the mixture straight into the
        task's output layer.
    l2_reg_linear : float, default=1e-5
        Accepted for compatibility with DeepCTR-Torch's ``MMOE`` and has no effect:
        MMoE has no linear part.
    l2_reg_embedding : float, default=1e-5
        L2 strength on the embeddings, applied to the embedding vectors looked up in
        each batch (mean over the batch of their squared norm), not to whole tables.
    l2_reg_dnn : float, default=0.0
        L2 strength on every expert, gate and tower weight (not biases, not batch
        norm).
    init_std : float, default=1e-4
        Standard deviation of the normal init of embeddings. Linear layers use
        PyTorch's default init; the reference also draws them from N(0, init_std),
        which slows training.
    seed : int or None, default=1024
        Seeds initialisation, shuffling, dropout and the validation split: two fits
        with the same seed give identical predictions. torch's global RNG is left
        as it was. None draws a fresh seed per fit.
    dnn_dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden layer of experts, gates and towers.
    dnn_activation : str, default="relu"
        Activation of the hidden layers: 'relu', 'tanh', 'sigmoid', 'gelu', 'silu'
        (or 'swish'), 'elu', 'selu', 'leaky_relu', 'softplus', 'prelu' or 'linear'.
    dnn_use_bn : bool, default=False
        Batch norm between each hidden layer and its activation.
    task_types : tuple of str or None, default=None
        One of 'binary', 'multiclass', 'regression' per task, validated against y.
        None infers them from y: non-numeric labels and integers are classes
        (binary for two, multiclass for more); floats with more than two distinct
        values are regression.
    task_names : tuple of str or None, default=None
        None takes the columns of a y DataFrame, else 'task_0', 'task_1', ...
    device : str or torch.device, default="cpu"
        'cpu', 'cuda', 'cuda:N', or 'auto' (CUDA when available). An unavailable
        device raises a ValueError at fit.
    gpus : list of int or None, default=None
        GPU ids for data-parallel training; ``gpus[0]`` is the main device.
    categorical_features : "auto", None, or array-like of str, int or bool, \
default="auto"
        Columns to embed. "auto" takes the object, string, category and bool columns
        of a DataFrame (none of an array); or column names, indices or a boolean
        mask. Categories unseen in fit, and missing values, share a reserved index.
    preprocessor : ColumnTransformer or None, default=None
        None builds one: categorical columns ordinal-encoded for embeddings, numeric
        ones encoded as ``numeric_encoding`` says. A user's
        ColumnTransformer is cloned and fitted; the outputs of its
        ``OrdinalEncoder`` steps feed embeddings, all other outputs the dense input.
    embedding_dim : int, default=8
        Embedding width of each categorical feature.
    numeric_encoding : {"scaled+embedding", "piecewise_linear+embedding", \
"scaled", "piecewise_linear", "quantile_embedding"}, default="scaled+embedding"
        How the built-in preprocessor feeds numeric columns to the network. Each
        column is cut into at most ``n_bins`` bins the way a gradient-boosted
        tree's histogram does it: a column with at most ``n_bins`` distinct values
        (small integers, flags) gets one bin per value; otherwise bins are
        quantiles, and a value holding more than one bin's share of the rows (the
        0 of an amount that is zero for most rows, the 40 of working hours) gets a
        bin of its own, so its information is not lost.

        - "scaled": median-imputed (with missing indicators) and standardised, one
          dense input each.
        - "piecewise_linear": the piecewise-linear encoding over the bins
          (Gorishniy et al., "On Embeddings for Numerical Features in Tabular
          Deep Learning", NeurIPS 2022), after median imputation with missing
          indicators: one dense input per bin.
        - "quantile_embedding": the column's bin as a category with its own
          embedding of ``embedding_dim`` (missing values at the reserved index).
        - "scaled+embedding", "piecewise_linear+embedding": the dense encoding
          and the bin embedding together; the network sees both the value and
          which bin it falls in, as a tree sees thresholds.

        The default was chosen by measurement against HistGradientBoosting on
        three data sets (``benchmarks/vs_gbdt.py``, results in BENCHMARKS.md):
        "scaled+embedding" is level with "piecewise_linear+embedding" in quality
        and faster; both are ahead of the single encodings on tables with
        zero-inflated amounts and small integers.
    n_bins : int, default=32
        At most this many bins per numeric column (scikit-learn's
        ``KBinsDiscretizer`` calls it ``n_bins``; HistGradientBoosting, which
        uses 255, ``max_bins``). Bin embeddings cost the same whatever their
        number; the piecewise-linear encoding adds one dense input per bin.
    epochs : int or "auto", default="auto"
        Passes over the training data. "auto": at least 2, and on small data
        enough to make at least 250 optimizer steps (at most 200 epochs): about
        6 epochs for 25,000 rows at the default batch size, 2 from 64,000 rows on.
    batch_size : int, default=512
        Mini-batch size.
    optimizer : {"adam", "adamw", "sgd", "adagrad", "rmsprop"}, default="adam"
        "sgd" uses momentum 0.9.
    learning_rate : float, default=4e-3
        Learning rate of the optimizer at the start of training.
    lr_schedule : {"linear", "cosine", "constant"}, default="linear"
        How the learning rate moves over the planned ``epochs``, step by step:
        "linear" decays it towards zero at the last step, "cosine" along a half cosine
        (Loshchilov and Hutter, ICLR 2017, without restarts), "constant" keeps it.
        With early stopping the schedule still spans ``epochs``; the later calls
        of :meth:`partial_fit` train at the constant ``learning_rate``. Linear
        decay from 4e-3 was measured better than a constant 2e-3 for the same
        epochs (``benchmarks/vs_gbdt.py``).
    loss_weights : tuple of float or None, default=None
        Weight of each task's loss in the total; None weighs all tasks 1.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified on the first
        classification task), stop after ``n_iter_no_change`` epochs without
        improvement of the loss-weighted mean validation loss, and restore the best
        weights. Off by default: with ``epochs="auto"`` and the linear schedule it
        was measured no better (``benchmarks/vs_gbdt.py``), and it trains on 10%
        fewer rows.
    validation_fraction : float in (0, 1), default=0.1
        Share of rows held out when ``early_stopping=True``.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    clip_grad_norm : float or None, default=None
        Clip the gradient norm to this value at each step.
    class_weight : "balanced", dict, list or None, default=None
        Weights of the classes of classification tasks, multiplying
        ``sample_weight``: "balanced" weighs each class by n_samples / (n_classes *
        its count); a dict maps labels to weights (single task); a list gives one
        of these (or None) per task, None for regression tasks.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Training arithmetic. "bfloat16" trains under autocast (matmuls in bfloat16,
        losses in float32): faster on CPUs with bfloat16 instructions and on GPUs;
        "float16" is for CUDA only (with loss scaling). Prediction always runs in
        float32. Measured effect on speed and AUC: BENCHMARKS.md.
    verbose : int, default=0
        0 prints nothing (warnings aside); 1 a progress bar per epoch with the
        per-task loss on stderr (tqdm's when tqdm is installed).
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    task_names_ : list of str
        Name of each task.
    task_types_ : list of str
        'binary', 'multiclass' or 'regression' per task.
    n_tasks_ : int
        Number of tasks.
    feature_columns_ : list of FeatureColumn
        One entry per network input: ``name``, ``kind`` ('sparse' or 'dense'),
        ``vocabulary_size`` and ``embedding_dim`` (None for dense inputs).
    preprocessor_ : ColumnTransformer
        The fitted preprocessor.
    network_ : torch.nn.Module
        The fitted MMoE network (on the training device; pickled on the CPU).
    history_ : list of dict
        One dict per epoch: 'epoch', 'train_loss' (per task), 'seconds', and with
        early stopping 'valid' (metrics per task) and 'valid_objective'.
    best_epoch_ : int or None
        Epoch whose weights were kept by early stopping; None without it.
    n_epochs_ : int
        Epochs trained.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X was a DataFrame with string column names.
"""

_DIFFERENCES_DOC = """
    Notes
    -----
    The network follows DeepCTR-Torch's ``MMOE`` (same parameter names and
    defaults). Where it differs on purpose: features are built from a
    ColumnTransformer inside fit; unseen or missing categories map to a reserved
    index instead of failing; ids stay integers (the reference passes them through
    float32); linear layers use PyTorch's default init; the loss is the weighted mean
    over samples (not the sum), so its scale does not depend on the batch size; any
    number of tasks and experts (>= 1) and multiclass tasks are allowed; regression
    targets are standardised during training; torch's global RNG is never reseeded;
    nothing is printed at ``verbose=0``.
"""


class MMOEEstimator(_ProbaMixin, _BaseMMOE):
    __doc__ = (
        """Multi-gate Mixture-of-Experts for any mix of tasks.

    One network predicts every column of y: binary, multiclass and regression tasks
    in any mix, each with its own gate over shared experts and its own tower.
"""
        + _PARAMETERS_DOC
        + _ATTRIBUTES_DOC
        + """    classes_ : ndarray or list
        For a 1-D y, the classes of its task (None for regression); for a 2-D y,
        one entry per task.
"""
        + _DIFFERENCES_DOC
        + """
    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmmoe import MMOEEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"city": rng.choice(["a", "b", "c"], 200),
    ...                   "age": rng.normal(40, 10, 200)})
    >>> Y = pd.DataFrame({"bought": np.where(X.city == "a", "yes", "no"),
    ...                   "spend": X.age * 2.0})
    >>> est = MMOEEstimator(epochs=5).fit(X, Y)
    >>> est.task_types_
    ['binary', 'regression']
    >>> est.predict(X.head(2)).shape
    (2, 2)
"""
    )

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of ROC AUC (binary), accuracy (multiclass) and R^2
        (regression); samples whose label is missing are left out of their task.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
        y : array-like or DataFrame of shape (n_samples,) or (n_samples, n_tasks)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        columns = self._score_columns(y)
        logits = self._network_outputs(X)
        sw = None if sample_weight is None else np.asarray(sample_weight)
        scores = []
        for task, z, (observed, missing) in zip(self._tasks, logits, columns):
            keep = ~missing
            scores.append(
                task.score(observed, z[keep], None if sw is None else sw[keep])
            )
        return float(np.mean(scores))


class MMOEClassifier(_ProbaMixin, ClassifierMixin, _BaseMMOE):
    __doc__ = (
        """Multi-gate Mixture-of-Experts for classification tasks.

    Every task (column of y) is binary or multiclass; see :class:`MMOEEstimator`
    for mixed tasks. ``score`` is the accuracy, or the subset accuracy (all tasks
    right) for several tasks.
"""
        + _PARAMETERS_DOC
        + _ATTRIBUTES_DOC
        + """    classes_ : ndarray or list of ndarray
        Class labels for a 1-D y; one array per task for a 2-D y.
"""
        + _DIFFERENCES_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skmmoe import MMOEClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0])
    >>> clf = MMOEClassifier(epochs=5).fit(X, Y)
    >>> clf.predict(X[:3]).shape
    (3, 2)
    >>> len(clf.predict_proba(X[:3]))
    2
"""
    )

    _task_kind = "classifier"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def score(self, X, y, sample_weight=None):
        """Accuracy, or subset accuracy (every task right) for a 2-D y; a missing
        label (NaN, None) does not count against its sample.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        columns = self._score_columns(y)
        y_pred = self.predict(X).reshape(len(columns[0][1]), -1)
        correct = np.ones(len(y_pred), dtype=bool)
        for t, (observed, missing) in enumerate(columns):
            # A sample is right when every task with a label there is right.
            correct[~missing] &= y_pred[~missing, t] == observed
        return float(np.average(correct, weights=sample_weight))


class MMOERegressor(RegressorMixin, _BaseMMOE):
    __doc__ = (
        """Multi-gate Mixture-of-Experts for regression tasks.

    Every task (column of y) is a regression; ``score`` is the mean R^2 over tasks.
"""
        + _PARAMETERS_DOC
        + _ATTRIBUTES_DOC
        + _DIFFERENCES_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skmmoe import MMOERegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> Y = np.column_stack([X @ [1.0, 2.0, 0.0], X @ [1.0, 1.5, 0.5]])
    >>> reg = MMOERegressor(epochs=5).fit(X, Y)
    >>> reg.predict(X[:4]).shape
    (4, 2)
"""
    )

    _task_kind = "regressor"
