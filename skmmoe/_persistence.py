"""save/load without pickle, and the version stamp that pickles carry.

A model file is a zip archive of two members:

- ``model.json``: format version, skmmoe version, the estimator's class and
  parameters, the fitted preprocessor's learned values (categories, medians, means,
  scales), the tasks (classes, target scaling) and the training history;
- ``weights.pt``: the network's state dict, written by ``torch.save`` and read back
  with ``torch.load(weights_only=True)``, which loads tensors only.

Nothing in the file is executed on load, and ``model.json`` records the SHA-256 of
``weights.pt`` so a modified or truncated file is rejected.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle  # for its error class only: nothing is unpickled with it
import zipfile
import zlib
from numbers import Integral

import numpy as np
import torch

from . import _estimators
from ._estimators import InconsistentVersionWarning
from ._features import FeatureColumn, FeatureEncoder, make_default_preprocessor
from ._network import MMOENetwork
from ._tasks import BinaryTask, MulticlassTask, RegressionTask
from ._version import __version__

__all__ = ["InconsistentVersionWarning", "load", "save"]

FORMAT = "skmmoe-model"
FORMAT_VERSION = 1
_JSON = "model.json"
_WEIGHTS = "weights.pt"
_ESTIMATORS = {
    cls.__name__: cls
    for cls in (
        _estimators.MMOEEstimator,
        _estimators.MMOEClassifier,
        _estimators.MMOERegressor,
    )
}
_TASKS = {cls.task_type: cls for cls in (BinaryTask, MulticlassTask, RegressionTask)}


class ModelFileError(ValueError):
    """A file is not a readable skmmoe model file."""


def _jsonable(value):
    """Parameters and labels -> JSON values (tuples become lists)."""
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (Integral, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be saved.")


def _labels_to_json(classes: np.ndarray) -> dict:
    kind = classes.dtype.kind
    if kind not in "biufOU":
        raise TypeError(f"Class labels of dtype {classes.dtype} cannot be saved.")
    if kind == "O" and not all(isinstance(c, str) for c in classes):
        raise TypeError("Object class labels must all be strings to be saved.")
    return {"dtype": classes.dtype.str, "values": _jsonable(classes.tolist())}


def _labels_from_json(spec: dict) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    if dtype.kind == "O":
        out = np.empty(len(spec["values"]), dtype=object)
        out[:] = spec["values"]
        return out
    return np.asarray(spec["values"], dtype=dtype)


def _task_to_json(task) -> dict:
    out = {"name": task.name, "type": task.task_type}
    if task.is_classification:
        out["classes"] = _labels_to_json(task.classes_)
    else:
        out["mean"], out["scale"] = task.mean_, task.scale_
    return out


def _task_from_json(spec: dict):
    task = _TASKS[spec["type"]](spec["name"])
    if task.is_classification:
        task.classes_ = _labels_from_json(spec["classes"])
    else:
        task.mean_, task.scale_ = float(spec["mean"]), float(spec["scale"])
    return task


# Where each numeric pipeline's bin edges are saved.
_BIN_EDGES_KEYS = {"numeric": "bin_edges", "numeric_bins": "embedding_bin_edges"}


def _preprocessor_to_json(est) -> dict:
    ct = est.preprocessor_
    n_features = est.n_features_in_
    cat_positions, categories = [], []
    numeric = None
    for name, pipe, columns in ct.transformers_:
        if name == "categorical":
            cat_positions = [int(c) for c in columns]
            categories = [[str(c) for c in cats] for cats in pipe.categories_]
        elif name == "numeric":
            steps = pipe.named_steps
            numeric = {"positions": [int(c) for c in columns]}
            if "impute" in steps:
                imputer = steps["impute"]
                numeric["statistics"] = imputer.statistics_.tolist()
                numeric["indicator_features"] = (
                    imputer.indicator_.features_.tolist()
                    if imputer.indicator_ is not None
                    else []
                )
            if "scale" in steps:
                scaler = steps["scale"]
                numeric["mean"] = scaler.mean_.tolist()
                numeric["scale"] = scaler.scale_.tolist()
                numeric["var"] = scaler.var_.tolist()
                numeric["n_samples_seen"] = int(np.max(scaler.n_samples_seen_))
        if name in _BIN_EDGES_KEYS:
            # The piecewise-linear encoding also bins the missing indicators, so
            # with "+embedding" the two pipelines hold different edges.
            for key in ("bins", "ple"):
                if key in pipe.named_steps:
                    edges = pipe.named_steps[key].bin_edges_
                    numeric[_BIN_EDGES_KEYS[name]] = [e.tolist() for e in edges]
    return {
        "n_features": n_features,
        "categorical": {"positions": cat_positions, "categories": categories},
        "numeric": numeric,
    }


def _preprocessor_from_json(spec: dict, feature_names, params: dict):
    """Rebuild the default ColumnTransformer: fit it on a small frame made to
    reproduce the saved categories and missing-value pattern, then set the learned
    statistics."""
    n_features = spec["n_features"]
    cat = spec["categorical"]
    num = spec["numeric"]
    n_rows = 2
    columns: list = [None] * n_features
    for pos in cat["positions"]:
        # The saved categories are set after fitting; any strings do here.
        columns[pos] = np.asarray(["a"] * n_rows, dtype=object)
    if num is not None:
        for j, pos in enumerate(num["positions"]):
            values = np.zeros(n_rows)
            if j in num.get("indicator_features", []):
                values[0] = np.nan
            columns[pos] = values
    cat_mask = np.zeros(n_features, dtype=bool)
    cat_mask[cat["positions"]] = True
    if feature_names is not None:
        import pandas as pd

        design = pd.DataFrame(dict(zip(feature_names, columns)))
    else:
        design = np.empty((n_rows, n_features), dtype=object)
        for pos, values in enumerate(columns):
            design[:, pos] = values
        if not cat_mask.any():
            design = design.astype(np.float64)
    ct = make_default_preprocessor(
        cat_mask,
        list(range(n_features)),
        params.get("numeric_encoding", "scaled"),
        params.get("n_bins", 16),
    )
    ct.fit(design)
    for name, pipe, _ in ct.transformers_:
        if name == "categorical":
            pipe.set_categories(cat["categories"])
        elif name == "numeric":
            steps = pipe.named_steps
            if "impute" in steps:
                steps["impute"].statistics_ = np.asarray(
                    num["statistics"], dtype=np.float32
                )
            if "scale" in steps:
                scaler = steps["scale"]
                scaler.mean_ = np.asarray(num["mean"], dtype=np.float32)
                scaler.scale_ = np.asarray(num["scale"], dtype=np.float32)
                scaler.var_ = np.asarray(num["var"], dtype=np.float32)
                scaler.n_samples_seen_ = num["n_samples_seen"]
        if name in _BIN_EDGES_KEYS:
            for key in ("bins", "ple"):
                if key in pipe.named_steps:
                    edges = num[_BIN_EDGES_KEYS[name]]
                    pipe.named_steps[key].set_bin_edges(edges)
    return ct


def save(estimator, path) -> None:
    """Save a fitted skmmoe estimator to ``path`` in a format that runs no code on
    load (unlike pickle).

    Parameters
    ----------
    estimator : MMOEEstimator, MMOEClassifier or MMOERegressor
        Fitted, with the built-in preprocessor (``preprocessor=None``). For a
        user-given preprocessor, use joblib.
    path : str or path-like
        Destination file; by convention ending in ``.skmmoe``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> import skmmoe
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> reg = skmmoe.MMOERegressor(epochs=2).fit(X, X @ [1.0, 2.0, 3.0])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skmmoe")
    >>> skmmoe.save(reg, path)
    >>> np.array_equal(skmmoe.load(path).predict(X), reg.predict(X))
    True
    """
    name = type(estimator).__name__
    if name not in _ESTIMATORS:
        raise TypeError(f"skmmoe.save saves skmmoe estimators, not {name}.")
    if not hasattr(estimator, "network_"):
        raise ValueError(f"This {name} is not fitted yet; fit it before saving.")
    if estimator.preprocessor is not None:
        raise ValueError(
            "skmmoe.save supports the built-in preprocessor only; an estimator with "
            "a user-given preprocessor can be saved with joblib.dump (pickle)."
        )
    net = estimator.network_
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, buffer)
    weights = buffer.getvalue()
    params = estimator.get_params(deep=False)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skmmoe_version": __version__,
        "class": name,
        "params": _jsonable(params),
        "param_is_tuple": [k for k, v in params.items() if isinstance(v, tuple)],
        "network": _jsonable(net.config),
        "preprocessor": _preprocessor_to_json(estimator),
        "feature_names_in": (
            _jsonable(estimator.feature_names_in_)
            if hasattr(estimator, "feature_names_in_")
            else None
        ),
        "feature_columns": [
            _jsonable(vars(c).copy()) for c in estimator.feature_columns_
        ],
        "tasks": [_task_to_json(t) for t in estimator._tasks],
        "y_ndim": estimator._y_ndim,
        "history": _jsonable(estimator.history_),
        "best_epoch": estimator.best_epoch_,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    with zipfile.ZipFile(os.fspath(path), "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_JSON, json.dumps(meta, allow_nan=True))
        archive.writestr(_WEIGHTS, weights)


def _read(path) -> tuple[dict, bytes]:
    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            names = set(archive.namelist())
            if not {_JSON, _WEIGHTS} <= names:
                raise ModelFileError(
                    f"{path} is not a skmmoe model file (it lacks {_JSON} or "
                    f"{_WEIGHTS})."
                )
            meta = json.loads(archive.read(_JSON))
            weights = archive.read(_WEIGHTS)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        zlib.error,  # damaged compressed data
        NotImplementedError,  # damaged compression method or version fields
        RuntimeError,  # damaged flags, e.g. "encrypted"
    ) as exc:
        raise ModelFileError(
            f"{path} is not a skmmoe model file, or it is truncated or damaged ({exc})."
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: {_JSON} is damaged ({exc}).") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ModelFileError(
            f"{path} could not be read as a model file ({exc})."
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a skmmoe model file.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {meta.get('format_version')}; this "
            f"skmmoe reads version {FORMAT_VERSION}."
        )
    if hashlib.sha256(weights).hexdigest() != meta.get("weights_sha256"):
        raise ModelFileError(
            f"{path}: the weights do not match their checksum; the file was modified "
            "or damaged."
        )
    return meta, weights


def load(path):
    """Load an estimator saved by :func:`save`.

    Only JSON and tensors are read (``torch.load(weights_only=True)``); no code from
    the file runs. The model is placed on the CPU.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : MMOEEstimator, MMOEClassifier or MMOERegressor
        Fitted, predicting exactly as the saved one.

    Raises
    ------
    ValueError
        If the file is not a skmmoe model file, or is truncated, modified or of an
        unknown format version.
    """
    import warnings

    meta, weights = _read(path)
    try:
        if meta["skmmoe_version"] != __version__:
            warnings.warn(
                f"Loading a model saved by skmmoe {meta['skmmoe_version']} with "
                f"skmmoe {__version__}; it may not behave the same.",
                InconsistentVersionWarning,
                stacklevel=2,
            )
        cls = _ESTIMATORS[meta["class"]]
        params = dict(meta["params"])
        for key in meta["param_is_tuple"]:
            params[key] = tuple(params[key])
        estimator = cls(**params)
        state = torch.load(io.BytesIO(weights), weights_only=True, map_location="cpu")
        network = MMOENetwork(**meta["network"])
        network.load_state_dict(state)
        network.eval()
        feature_names = meta["feature_names_in"]
        preprocessor = _preprocessor_from_json(
            meta["preprocessor"], feature_names, params
        )
        columns = [FeatureColumn(**c) for c in meta["feature_columns"]]
        sparse_positions = [i for i, c in enumerate(columns) if c.kind == "sparse"]
        names_out = list(preprocessor.get_feature_names_out())
        encoder = FeatureEncoder(
            preprocessor=preprocessor,
            sparse_positions=np.asarray(
                [names_out.index(columns[i].name) for i in sparse_positions],
                dtype=np.intp,
            ),
            dense_positions=np.asarray(
                [names_out.index(c.name) for c in columns if c.kind == "dense"],
                dtype=np.intp,
            ),
            feature_columns=columns,
        )
        tasks = [_task_from_json(t) for t in meta["tasks"]]
    except ModelFileError:
        raise
    except (
        KeyError,
        TypeError,
        ValueError,
        RuntimeError,
        IndexError,
        pickle.UnpicklingError,  # torch.load(weights_only=True) refused the weights
    ) as exc:
        raise ModelFileError(
            f"{path} holds an invalid model description ({exc})."
        ) from exc

    estimator.network_ = network
    estimator.preprocessor_ = preprocessor
    estimator.feature_columns_ = columns
    estimator._encoder = encoder
    estimator._tasks = tasks
    estimator._y_ndim = meta["y_ndim"]
    estimator.task_names_ = [t.name for t in tasks]
    estimator.task_types_ = [t.task_type for t in tasks]
    estimator.n_tasks_ = len(tasks)
    estimator.history_ = meta["history"]
    estimator.best_epoch_ = meta["best_epoch"]
    estimator.n_epochs_ = len(meta["history"])
    estimator.n_features_in_ = meta["preprocessor"]["n_features"]
    if feature_names is not None:
        estimator.feature_names_in_ = np.asarray(feature_names, dtype=object)
    estimator._set_classes()
    return estimator
