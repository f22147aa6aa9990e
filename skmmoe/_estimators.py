"""The scikit-learn estimators: parameters, the fit and predict paths, tags.

``fit`` reads the hyper-parameters once (:func:`skmmoe._params.read_params`), then
goes straight down: targets (:mod:`skmmoe._targets`), rows set aside for early
stopping, the feature encoder fitted on the training rows (:mod:`skmmoe._features`),
the network (:mod:`skmmoe._engine.network`), the training loop
(:mod:`skmmoe._engine.training`), and the fitted state, set by
:meth:`_BaseMMOE._set_fitted` alone (``fit``, ``partial_fit`` and ``skmmoe.load``
all go through it).
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing
import sys
import warnings
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import sklearn.exceptions
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
)

from . import _docs
from ._engine import distributed as _distributed
from ._engine import launch as _launch
from ._engine import training as _training
from ._engine.callbacks import fit_callbacks
from ._engine.network import ACTIVATIONS, COMBINERS, MMOENetwork, predict_logits
from ._engine.optim import LR_SCHEDULES, OPTIMIZERS
from ._engine.runtime import resolve_runtime
from ._engine.training import TrainConfig, TrainData, build_network
from ._features import NUMERIC_ENCODINGS, FeatureEncoder, fit_feature_encoder
from ._params import read_params
from ._sklearn_compat import (
    Interval,
    IntSequence,
    StrOptions,
    _fit_context,
    available_if,
    in_joblib_worker,
    validate_data,
)
from ._targets import align_to_tasks, make_targets, read_labels, validation_split
from ._tasks import TASK_KINDS, Task, kinds_accepted
from ._typing import FeaturesLike, SampleWeightLike, TargetsLike, TaskProba
from ._version import __version__

__all__ = ["FittedState", "MMOEClassifier", "MMOEEstimator", "MMOERegressor"]

_E = TypeVar("_E", bound="_BaseMMOE")

UNKNOWN_CATEGORY_WARN_SHARE = 0.05
"""partial_fit warns when more than this share of a categorical column's values in
a chunk are categories the encoder has not seen. A few new categories per chunk are
normal for long-tailed columns (ids, cities) and cost little, as they share the
reserved embedding; beyond one row in twenty that embedding stands for a large
part of the column, and the chunk's model of it is mostly lost."""


class InconsistentVersionWarning(sklearn.exceptions.InconsistentVersionWarning):
    """A model saved (pickled or with skmmoe.save) by one version of skmmoe is loaded
    by another.

    A subclass of scikit-learn's warning of the same name, so that a filter for
    scikit-learn's (``warnings.simplefilter("error", InconsistentVersionWarning)``
    with scikit-learn's class) catches skmmoe's too. Its attributes name the
    skmmoe versions: ``original_skmmoe_version`` and ``current_skmmoe_version``;
    scikit-learn's ``original_sklearn_version`` and ``current_sklearn_version`` are
    set to the same values.

    Parameters
    ----------
    estimator_name : str
        The class of the loaded estimator.
    current_skmmoe_version, original_skmmoe_version : str
        The skmmoe loading the model, and the one that saved it.
    action : str, default="Loading"
        What is being done: "Loading" (skmmoe.load) or "Unpickling".
    """

    def __init__(
        self,
        *,
        estimator_name: str,
        current_skmmoe_version: str,
        original_skmmoe_version: str,
        action: str = "Loading",
    ):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_skmmoe_version,
            original_sklearn_version=original_skmmoe_version,
        )
        self.current_skmmoe_version = current_skmmoe_version
        self.original_skmmoe_version = original_skmmoe_version
        self.action = action

    def __str__(self) -> str:
        return (
            f"{self.action} a {self.estimator_name} made by skmmoe "
            f"{self.original_skmmoe_version} with skmmoe "
            f"{self.current_skmmoe_version}; it may not behave the same."
        )


@dataclass
class FittedState:
    """Everything a fitted estimator holds besides its parameters: what ``fit``
    produces, ``partial_fit`` updates and ``skmmoe.load`` restores."""

    network: MMOENetwork
    encoder: FeatureEncoder
    tasks: list[Task]
    y_ndim: int
    n_features_in: int
    feature_names_in: np.ndarray | None
    columns_in: list | None
    """The column labels of a DataFrame X in fit (of any type: names or
    numbers), by which predict matches columns; None for an array X."""
    history: list[dict]
    best_epoch: int | None
    seed: int
    """The seed the first fit used; later partial_fit chunks derive theirs from it."""
    n_chunks: int = 1
    """Fits so far: 1 after fit, one more per later partial_fit call."""
    optimizer_state: dict | None = field(default=None, repr=False)
    """The optimizer's state after the last partial_fit call, to resume from (on
    the CPU); None after fit."""


@contextlib.contextmanager
def _rollback(estimator):
    """A fit that fails leaves the estimator exactly as it was before."""
    saved = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise


def _take_rows(X, rows):
    if rows is None:
        return X
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


class _PortablePickleMixin:
    """Pickles that load anywhere: the network always pickled on the CPU (moved
    back to its CUDA device on unpickling where that device exists), and a warning
    when another skmmoe version unpickles it."""

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
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_skmmoe_version=__version__,
                    original_skmmoe_version=str(version),
                    action="Unpickling",
                ),
                stacklevel=2,
            )
        fit_device = state.pop("_fit_device", None)
        super().__setstate__(state)
        if fit_device is not None and hasattr(self, "network_"):
            device = torch.device(fit_device)
            if device.type == "cuda" and torch.cuda.is_available():
                if device.index is None or device.index < torch.cuda.device_count():
                    self.network_.to(device)


def _validate_X(estimator, X, *, reset: bool, numeric_only: bool):
    """Check X, set or check the estimator's n_features_in_ / feature_names_in_;
    return X as a DataFrame (kept as given; polars and pyarrow tables converted)
    or an ndarray, of numbers if ``numeric_only``."""
    min_samples = 2 if reset else 1
    if type(X).__module__.partition(".")[0] in ("polars", "pyarrow"):
        # polars DataFrames and pyarrow Tables as pandas ones: string columns
        # become categorical as in pandas.
        X = X.to_pandas()
    if isinstance(X, pd.DataFrame):
        fitted = getattr(estimator, "_columns_in", None)
        if not reset and fitted is not None:
            given = list(X.columns)
            if given != fitted and _same_labels(given, fitted):
                X = X[fitted]  # columns are matched by name, not position
        validate_data(estimator, X, reset=reset, skip_check_array=True)
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
    if not numeric_only:
        X = check_array(
            X, dtype=None, ensure_all_finite=False, ensure_min_samples=min_samples
        )
        if X.dtype.kind == "c":
            raise ValueError("Complex data not supported.")
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        return X
    return validate_data(
        estimator,
        X,
        reset=reset,
        dtype=[np.float64, np.float32],
        ensure_all_finite="allow-nan",
        ensure_min_samples=min_samples,
    )


def _check_ranks_agree(specs, runtime, encoder: FeatureEncoder, tasks, data, valid):
    """In a process group, every rank must train on the same thing: a hash of the
    parameters (the device aside), the encoded training and validation rows with
    their targets and weights, the inputs and the fitted tasks, compared across
    ranks. Nothing to do without a group."""
    group = runtime.group
    if group is None:
        return
    training = {
        f.name: getattr(specs.training, f.name)
        for f in fields(specs.training)
        if f.name not in ("device", "gpus", "n_jobs")
    }
    training["seed"] = runtime.seed
    parts: list = [repr(specs.network), repr(training), repr(encoder.feature_columns)]
    parts += [json.dumps(t.to_json(), sort_keys=True, default=str) for t in tasks]
    for d in (data, valid):
        if d is not None:
            parts += [d.sparse, d.dense, *d.targets, *d.weights]
            parts += [t for ragged in d.lists for t in ragged]
    group.check_same(
        _distributed.digest(*parts),
        runtime.device,
        "training data, encoding and parameters",
    )


def _refuse_inside_workers(n_workers: int) -> None:
    """A RuntimeError when this process is a joblib (loky) or dask worker, or
    daemonic: no place to start ``n_workers`` processes of its own."""
    where = None
    if in_joblib_worker():
        where = "a joblib (loky) worker"
    elif multiprocessing.current_process().daemon:
        where = "a daemonic process (a multiprocessing pool's worker, say)"
    elif "distributed" in sys.modules:
        try:
            sys.modules["distributed"].get_worker()
            where = "a dask worker"
        except (ValueError, AttributeError):
            pass
    if where is not None:
        raise RuntimeError(
            f"n_workers={n_workers} starts {n_workers} training processes, which "
            f"is refused inside {where}: its machine is shared out already. Use "
            "n_workers=None there (one process per fit), or run the fit outside "
            "the worker."
        )


def _warn_unknown_categories(encoder: FeatureEncoder, X, sparse: np.ndarray) -> None:
    """Warn when a partial_fit chunk holds many categories the encoder did not see
    (more than UNKNOWN_CATEGORY_WARN_SHARE of a column's values). ``sparse``: the
    chunk's encoded ids, whose reserved index 0 counts unknown and missing values
    together, so that the exact count (which converts the categorical columns
    again) is made only where that share is over the threshold."""
    if sparse.size == 0 or (sparse == 0).mean(axis=0).max() <= (
        UNKNOWN_CATEGORY_WARN_SHARE
    ):
        return
    shares = encoder.unknown_category_shares(X)
    many = {c: s for c, s in shares.items() if s > UNKNOWN_CATEGORY_WARN_SHARE}
    if not many:
        return
    listed = ", ".join(f"{c!r} ({s:.0%})" for c, s in many.items())
    warnings.warn(
        f"partial_fit: this chunk's categorical column(s) {listed} hold values "
        "the encoder did not see in the first call; they all share the reserved "
        "unknown-category index. Fit the encoding on every category first: "
        "skmmoe.dask.fit, or a ColumnTransformer fitted on all the data and "
        "passed as preprocessor=FrozenEstimator(...).",
        UserWarning,
        # Past _partial_fit, partial_fit and scikit-learn's _fit_context wrapper.
        stacklevel=5,
    )


def _same_labels(a: list, b: list) -> bool:
    """Whether two lists of column labels hold the same labels in any order."""
    try:
        return len(a) == len(b) and set(a) == set(b)
    except TypeError:  # unhashable labels
        return False


def _train_data(encoded, targets) -> TrainData:
    """The engine's tensors of encoded X and its (targets, weights)."""
    labels, weights = targets
    return TrainData.from_arrays(
        encoded.sparse, encoded.dense, labels, weights, lists=encoded.lists
    )


def _fit_state(
    X, y, sample_weight, classes, streaming, specs, runtime, feature_names_in, encoder
) -> FittedState:
    """A fit from validated X (which the caller holds no reference to, so that
    only the encoded rows stay in memory while training), straight down: the
    targets, rows set aside for early stopping (before the encoder learns
    anything), the encoder fitted on the training rows (or ``encoder``, already
    fitted, used as it is), the network built and trained by the engine."""
    training = specs.training
    columns_in = list(X.columns) if isinstance(X, pd.DataFrame) else None
    n_features_in = X.shape[1]
    targets = make_targets(y, sample_weight, X, specs.targets, classes=classes)
    train_rows = valid_rows = None
    if training.early_stopping_for(len(X), streaming):
        train_rows, valid_rows = validation_split(
            targets, training.validation_fraction, runtime.seed
        )
    if encoder is None:
        encoder, encoded = fit_feature_encoder(
            _take_rows(X, train_rows), specs.features
        )
    else:
        encoded = encoder.transform(_take_rows(X, train_rows))
    data = _train_data(encoded, targets.encoded(train_rows))
    valid = None
    if valid_rows is not None:
        encoded = encoder.transform(_take_rows(X, valid_rows))
        valid = _train_data(encoded, targets.encoded(valid_rows))
    del X, encoded  # only the encoded tensors are held during training
    _check_ranks_agree(specs, runtime, encoder, targets.tasks, data, valid)
    network, dropout_rng = build_network(
        specs.network,
        runtime,
        embeddings=encoder.embedding_layout(),
        n_dense=data.dense.shape[1],
        output_dims=[t.output_dim for t in targets.tasks],
    )
    validate = None
    if valid is not None:
        validate = _training.make_validator(targets.tasks, valid, targets.loss_weights)
    config = TrainConfig(
        spec=training,
        runtime=runtime,
        epochs=training.epochs_for(len(data)),
        loss_weights=targets.loss_weights,
        seed=runtime.seed,
        callbacks=fit_callbacks(training, validating=valid is not None),
        validate=validate,
        keep_optimizer_state=streaming,
        dropout_generator=dropout_rng,
    )
    result = _training.train(network, targets.tasks, data, config, valid)
    return FittedState(
        network=network,
        encoder=encoder,
        tasks=targets.tasks,
        y_ndim=targets.ndim,
        n_features_in=n_features_in,
        feature_names_in=feature_names_in,
        columns_in=columns_in,
        history=result.history,
        best_epoch=result.best_epoch,
        seed=runtime.seed,
        optimizer_state=result.optimizer_state,
    )


class _BaseMMOE(_PortablePickleMixin, BaseEstimator):
    """Shared code of the three estimators; see :class:`MMOEEstimator`."""

    _task_kind = "any"

    # The HTML repr's "?" icon links to the estimator's API page on the site.
    _doc_link_module = "skmmoe"
    _doc_link_template = _docs.DOCS_URL + _docs.api_page(
        "{estimator_module}.{estimator_name}"
    )

    _parameter_constraints: dict = {
        "num_experts": [Interval(Integral, 1, None, closed="left")],
        "expert_dnn_hidden_units": [IntSequence(1, allow_empty=False)],
        "gate_dnn_hidden_units": [IntSequence(1, allow_empty=True)],
        "shared_gate": ["boolean"],
        "tower_dnn_hidden_units": [IntSequence(1, allow_empty=True)],
        "l2_reg_linear": [Interval(Real, 0, None, closed="left")],
        "l2_reg_embedding": [Interval(Real, 0, None, closed="left")],
        "l2_reg_dnn": [Interval(Real, 0, None, closed="left")],
        "init_std": [Interval(Real, 0, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left"), None],
        "dnn_dropout": [Interval(Real, 0, 1, closed="left")],
        "dnn_activation": [StrOptions(set(ACTIVATIONS))],
        "dnn_use_bn": ["boolean"],
        "task_types": [StrOptions(set(TASK_KINDS)), "array-like", None],
        "task_names": ["array-like", None],
        "device": [str, torch.device],
        "gpus": [IntSequence(0, allow_empty=False), None],
        "categorical_features": [StrOptions({"auto"}), "array-like", None],
        "preprocessor": [ColumnTransformer, FrozenEstimator, None],
        "embedding_dim": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            dict,
        ],
        "numeric_encoding": [StrOptions(set(NUMERIC_ENCODINGS))],
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "combiner": [StrOptions(set(COMBINERS)), dict],
        "max_list_length": [Interval(Integral, 1, None, closed="left"), dict, None],
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
            None,
        ],
        "max_categories": [Interval(Integral, 1, None, closed="left"), None],
        "hash_buckets": [Interval(Integral, 1, None, closed="left"), dict, None],
        "shared_embeddings": [dict, None],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "loss_weights": ["array-like", None],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "class_weight": [StrOptions({"balanced"}), dict, list, None],
        "precision": [StrOptions({"float32", "bfloat16", "float16"})],
        "n_jobs": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
            None,
        ],
        "n_workers": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        num_experts=3,
        expert_dnn_hidden_units=(256, 128),
        gate_dnn_hidden_units=(64,),
        shared_gate=False,
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
        combiner="mean",
        max_list_length=None,
        min_frequency=None,
        max_categories=None,
        hash_buckets=None,
        shared_embeddings=None,
        epochs="auto",
        batch_size=512,
        optimizer="adam",
        learning_rate=4e-3,
        lr_schedule="linear",
        loss_weights=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=5,
        clip_grad_norm=None,
        class_weight=None,
        precision="float32",
        n_jobs=None,
        n_workers=None,
        verbose=0,
    ):
        self.num_experts = num_experts
        self.expert_dnn_hidden_units = expert_dnn_hidden_units
        self.gate_dnn_hidden_units = gate_dnn_hidden_units
        self.shared_gate = shared_gate
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
        self.combiner = combiner
        self.max_list_length = max_list_length
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.hash_buckets = hash_buckets
        self.shared_embeddings = shared_embeddings
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
        self.n_jobs = n_jobs
        self.n_workers = n_workers
        self.verbose = verbose

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True  # string columns are categorical features
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self: _E,
        X: FeaturesLike,
        y: TargetsLike,
        sample_weight: SampleWeightLike = None,
    ) -> _E:
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
        with _rollback(self):
            return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self: _E,
        X: FeaturesLike,
        y: TargetsLike,
        sample_weight: SampleWeightLike = None,
        classes: Any = None,
    ) -> _E:
        """Fit on one chunk of data at a time, for data larger than memory.

        The first call fits the preprocessing and the network as :meth:`fit` does.
        Each later call trains one more epoch on the new chunk, with the fitted
        preprocessing (categories unseen so far go to the reserved index), at the
        constant ``learning_rate``, and the optimizer's state carried over from
        the calls before (pickles and ``skmmoe.save`` keep it).
        ``early_stopping=True`` applies to the first call only ("auto" is off in
        partial_fit). An estimator fitted by :meth:`fit`
        continues too, with a fresh optimizer state (``fit`` keeps none).

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
        y : array-like or DataFrame of shape (n_samples,) or (n_samples, n_tasks)
            The same tasks (columns) in every call. Class labels must all appear in
            the first chunk, or be given by ``classes``. The first chunk needs a
            label of every task; a later one may have none of a task, whose loss
            it then leaves out.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
        classes : array-like or list of array-like, default=None
            First call only: every class of a 1-D y, or for a 2-D y a list with the
            classes of each task (None for tasks whose classes are all in the chunk,
            and for tasks that predict values).

        Returns
        -------
        self : object
        """
        with _rollback(self):
            if not hasattr(self, "network_"):
                return self._fit(X, y, sample_weight, classes, streaming=True)
            return self._partial_fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight, classes=None, streaming=False, encoder=None):
        """fit, or partial_fit's first call (``streaming``); ``encoder``: a
        FeatureEncoder fitted already (by skmmoe.dask.fit, on every category of
        its data), used instead of fitting one on X."""
        specs = read_params(self)
        runtime = resolve_runtime(specs.training)
        n_workers = specs.training.n_workers
        if n_workers is not None and n_workers > 1:
            if streaming:
                raise ValueError(
                    f"n_workers={n_workers} applies to fit; partial_fit trains in "
                    "this process: set n_workers=None for it."
                )
            _refuse_inside_workers(n_workers)
            fitted = _launch.fit_in_workers(
                clone(self).set_params(n_workers=None), X, y, sample_weight, n_workers
            )
            self._set_fitted(fitted._fitted_state())
            return self
        numeric_only = specs.features.numeric_only
        state = _fit_state(
            _validate_X(self, X, reset=True, numeric_only=numeric_only),
            y,
            sample_weight,
            classes,
            streaming,
            specs,
            runtime,
            # Set by _validate_X, for a DataFrame whose column names are strings.
            getattr(self, "feature_names_in_", None),
            encoder,
        )
        self._set_fitted(state)
        return self

    def _partial_fit(self, X, y, sample_weight, callbacks=None):
        """One more epoch on a chunk. ``callbacks`` replace the constant
        learning rate of a chunk (skmmoe.dask's passes share one schedule)."""
        specs = read_params(self)
        runtime = resolve_runtime(specs.training)
        state = self._fitted_state()
        X = _validate_X(self, X, reset=False, numeric_only=state.encoder.numeric_input)
        targets = make_targets(y, sample_weight, X, specs.targets, tasks=state.tasks)
        if targets.names != self.task_names_ or targets.ndim != state.y_ndim:
            raise ValueError(
                f"partial_fit got tasks {targets.names} (y.ndim={targets.ndim}); "
                f"earlier calls had {self.task_names_} (y.ndim={state.y_ndim})."
            )
        if specs.network.dnn_use_bn and len(X) < 2:
            raise ValueError(
                "partial_fit with dnn_use_bn=True needs chunks of at least 2 rows: "
                f"batch norm cannot train on one row (got {len(X)})."
            )
        encoded = state.encoder.transform(X)
        _warn_unknown_categories(state.encoder, X, encoded.sparse)
        data = _train_data(encoded, targets.encoded())
        del X
        _check_ranks_agree(specs, runtime, state.encoder, state.tasks, data, None)
        seed = state.seed + state.n_chunks
        network = copy.deepcopy(state.network)  # the trained copy replaces it
        config = TrainConfig(
            spec=specs.training,
            runtime=runtime,
            epochs=1,
            loss_weights=targets.loss_weights,
            seed=seed,
            callbacks=callbacks
            or fit_callbacks(specs.training, validating=False, chunk=True),
            optimizer_state=state.optimizer_state,
            keep_optimizer_state=True,
            dropout_generator=_training.dropout_generator(runtime.device, seed),
        )
        result = _training.train(network, state.tasks, data, config)
        epochs_before = len(state.history)
        state.history = state.history + [
            {**record, "epoch": epochs_before + i + 1}
            for i, record in enumerate(result.history)
        ]
        state.network, state.optimizer_state = network, result.optimizer_state
        state.n_chunks += 1
        self._set_fitted(state)
        return self

    def _set_fitted(self, state: FittedState) -> None:
        """Set every fitted attribute from ``state``: the only place that does."""
        self.network_ = state.network
        self.preprocessor_ = state.encoder.preprocessor
        self.feature_columns_ = list(state.encoder.feature_columns)
        self.task_names_ = [t.name for t in state.tasks]
        self.task_types_ = [t.task_type for t in state.tasks]
        self.n_tasks_ = len(state.tasks)
        self.history_ = state.history
        self.best_epoch_ = state.best_epoch
        self.n_epochs_ = len(state.history)
        self.n_features_in_ = state.n_features_in
        if state.feature_names_in is not None:
            self.feature_names_in_ = np.asarray(state.feature_names_in, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._columns_in = state.columns_in
        classes = [getattr(t, "classes_", None) for t in state.tasks]
        self.classes_ = classes[0] if state.y_ndim == 1 else classes
        self._encoder = state.encoder
        self._tasks = state.tasks
        self._y_ndim = state.y_ndim
        self._seed_used = state.seed
        self._n_chunks = state.n_chunks
        self._optimizer_state = state.optimizer_state

    def _fitted_state(self) -> FittedState:
        """The fitted state, as :meth:`_set_fitted` would set it back."""
        check_is_fitted(self, "network_")
        return FittedState(
            network=self.network_,
            encoder=self._encoder,
            tasks=self._tasks,
            y_ndim=self._y_ndim,
            n_features_in=self.n_features_in_,
            feature_names_in=getattr(self, "feature_names_in_", None),
            columns_in=self._columns_in,
            history=list(self.history_),
            best_epoch=self.best_epoch_,
            seed=self._seed_used,
            n_chunks=self._n_chunks,
            optimizer_state=self._optimizer_state,
        )

    # --------------------------------------------------------------- predict
    def _network_outputs(self, X, method: str = "forward") -> list[np.ndarray]:
        check_is_fitted(self, "network_")
        X = _validate_X(self, X, reset=False, numeric_only=self._encoder.numeric_input)
        sparse, dense, lists = self._encoder.transform(X)
        device = next(self.network_.parameters()).device

        def tensor(array):
            return torch.from_numpy(array).to(device)

        outs = predict_logits(
            self.network_,
            tensor(sparse),
            tensor(dense),
            [(tensor(v), tensor(o)) for v, o in lists],
            method=method,
        )
        return [o.double().cpu().numpy() for o in outs]

    def predict(self, X: FeaturesLike) -> np.ndarray:
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

    def _score_labels(self, X, y):
        """The labels of ``score``'s y per task, checked against X and the fitted
        tasks (columns of a y DataFrame matched to the tasks by name)."""
        check_is_fitted(self, "network_")
        labels, _, _ = read_labels(align_to_tasks(y, self.task_names_))
        check_consistent_length(X, labels[0].missing)
        if len(labels) != self.n_tasks_:
            raise ValueError(
                f"y has {len(labels)} task(s); the estimator was fitted on "
                f"{self.n_tasks_}."
            )
        return labels

    def _mean_task_score(self, X, y, sample_weight) -> float:
        """Mean over tasks of each task's own score, on its labelled rows."""
        labels = self._score_labels(X, y)
        for task, (_, missing) in zip(self._tasks, labels):
            if missing.all():
                raise ValueError(
                    f"score: task {task.name!r} has no label in y (all {len(missing)} "
                    "missing), so it cannot be scored; score the other tasks with "
                    "skmmoe.metrics.task_scorer."
                )
        logits = self._network_outputs(X)
        sw = None if sample_weight is None else np.asarray(sample_weight)
        scores = []
        for task, z, (observed, missing) in zip(self._tasks, logits, labels):
            keep = ~missing
            scores.append(
                task.score(observed, z[keep], None if sw is None else sw[keep])
            )
        return float(np.mean(scores))

    def _has_classification_task(self):
        if not hasattr(self, "_tasks"):
            return True  # let predict_proba raise NotFittedError
        return any(t.is_classification for t in self._tasks)

    def gate_weights(self, X: FeaturesLike) -> np.ndarray:
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
    def predict_proba(self, X: FeaturesLike) -> TaskProba:
        """Class probabilities of the classification tasks.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or list
            For a 1-D y, an array whose columns follow ``classes_``. For a 2-D y, a
            list with one entry per task: an (n_samples, n_classes) array for a
            classification task, None for a task that predicts values.
        """
        model = cast(_BaseMMOE, self)  # a mixin of the estimators
        logits = model._network_outputs(X)
        probas = [task.predict_proba(z) for task, z in zip(model._tasks, logits)]
        if model._y_ndim == 1:  # its one task classifies (available_if)
            return cast(np.ndarray, probas[0])
        return probas


class MMOEEstimator(_ProbaMixin, _BaseMMOE):
    __doc__ = (
        """Multi-gate Mixture-of-Experts for any mix of tasks.

    One network predicts every column of y: binary, multiclass, regression and poisson
    tasks
    in any mix, each with its own gate over shared experts and its own tower.
"""
        + _docs.PARAMETERS
        + _docs.ATTRIBUTES
        + """    classes_ : ndarray or list
        For a 1-D y, the classes of its task (None if it predicts values); for a 2-D y,
        one entry per task.
"""
        + _docs.DIFFERENCES
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

    def __sklearn_tags__(self):
        # A classifier or a regressor to scikit-learn when every task is one (from
        # task_types, or once fitted from the tasks), so that tools that need one
        # (CalibratedClassifierCV, StratifiedKFold by default) treat it as such.
        tags = super().__sklearn_tags__()
        kind = self._estimator_kind()
        if kind == "classifier":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_label=True)
        elif kind == "regressor":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def _estimator_kind(self) -> str | None:
        """ "classifier" when every task classifies, "regressor" when every task
        regresses, else None; from the fitted tasks, or task_types before fit."""
        kinds = getattr(self, "task_types_", None)
        if kinds is None:
            spec = self.task_types
            if spec is None:
                return None
            kinds = [spec] if isinstance(spec, str) else list(spec)
        if not kinds or not all(k in TASK_KINDS for k in kinds):
            return None
        for kind in ("classifier", "regressor"):
            if set(kinds) <= set(kinds_accepted(kind)):
                return kind
        return None

    def score(
        self,
        X: FeaturesLike,
        y: TargetsLike,
        sample_weight: SampleWeightLike = None,
    ) -> float:
        """Mean over tasks of each task's own score: ROC AUC (binary), accuracy
        (multiclass), R^2 (regression), D^2 (poisson); samples whose label is
        missing are left out of their task.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
        y : array-like or DataFrame of shape (n_samples,) or (n_samples, n_tasks)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return self._mean_task_score(X, y, sample_weight)


class MMOEClassifier(_ProbaMixin, ClassifierMixin, _BaseMMOE):
    __doc__ = (
        """Multi-gate Mixture-of-Experts for classification tasks.

    Every task (column of y) is binary or multiclass; see :class:`MMOEEstimator`
    for mixed tasks. ``score`` is the accuracy, or the subset accuracy (all tasks
    right) for several tasks.
"""
        + _docs.PARAMETERS
        + _docs.ATTRIBUTES
        + """    classes_ : ndarray or list of ndarray
        Class labels for a 1-D y; one array per task for a 2-D y.
"""
        + _docs.DIFFERENCES
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

    def score(
        self,
        X: FeaturesLike,
        y: TargetsLike,
        sample_weight: SampleWeightLike = None,
    ) -> float:
        """Accuracy, or subset accuracy (every task right) for a 2-D y, over the
        samples that have a label; a missing label (NaN, None) does not count
        against its sample, and a sample with no label at all is left out.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        labels = self._score_labels(X, y)
        labelled = ~np.logical_and.reduce([missing for _, missing in labels])
        if not labelled.any():
            raise ValueError(
                f"score: y has no label (all {len(labelled)} samples missing in "
                f"every task {self.task_names_}); there is nothing to score."
            )
        y_pred = self.predict(X).reshape(len(labelled), -1)
        correct = np.ones(len(y_pred), dtype=bool)
        for t, (observed, missing) in enumerate(labels):
            # A sample is right when every task with a label there is right.
            correct[~missing] &= y_pred[~missing, t] == observed
        weights = None if sample_weight is None else np.asarray(sample_weight)
        return float(
            np.average(
                correct[labelled],
                weights=None if weights is None else weights[labelled],
            )
        )


class MMOERegressor(RegressorMixin, _BaseMMOE):
    __doc__ = (
        """Multi-gate Mixture-of-Experts for regression tasks.

    Every task (column of y) predicts values: a regression (or, by
    ``task_types``, counts: poisson); ``score`` is the mean over tasks of R^2 (D^2
    for poisson).
"""
        + _docs.PARAMETERS
        + _docs.ATTRIBUTES
        + _docs.DIFFERENCES
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

    def score(
        self,
        X: FeaturesLike,
        y: TargetsLike,
        sample_weight: SampleWeightLike = None,
    ) -> float:
        """R^2, or its mean over tasks for a 2-D y; samples whose label is missing
        (NaN, None) are left out of their task.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return self._mean_task_score(X, y, sample_weight)
