"""The model file: save/load without pickle.

A model file is a zip archive of two members, three after ``partial_fit``:

- ``model.json``: format version, skmmoe version, the estimator's class and
  parameters, and its fitted state: the feature encoder's and the tasks' own JSON
  (each module writes and reads its part), the network's shape, the training
  history;
- ``weights.pt``: the network's state dict, written by ``torch.save`` and read back
  with ``torch.load(weights_only=True)``, which loads tensors only;
- ``optimizer.pt``: the optimizer's state, kept by ``partial_fit`` so that a loaded
  model continues a stream as the saved one would; read the same way.

Nothing in the file is executed on load, and ``model.json`` records the SHA-256 of
the tensor members so a modified or truncated file is rejected. This module owns the
container, the checksum and the format version only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle  # for its error class only: nothing is unpickled with it
import warnings
import zipfile
import zlib
from numbers import Integral

import numpy as np
import torch

from ._estimators import (
    FittedState,
    InconsistentVersionWarning,
    MMOEClassifier,
    MMOEEstimator,
    MMOERegressor,
)
from ._features import FeatureEncoder
from ._network import MMOENetwork
from ._tasks import task_from_json
from ._version import __version__

__all__ = ["load", "save"]

FORMAT = "skmmoe-model"
FORMAT_VERSION = 2
_JSON = "model.json"
_WEIGHTS = "weights.pt"
_OPTIMIZER = "optimizer.pt"  # only after partial_fit: the optimizer's state
_ESTIMATORS = {
    cls.__name__: cls for cls in (MMOEEstimator, MMOEClassifier, MMOERegressor)
}


class ModelFileError(ValueError):
    """A file is not a readable skmmoe model file."""


def _jsonable(value):
    """Parameters and history -> JSON values (tuples become lists)."""
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
    state = estimator._fitted_state()
    weights = _tensor_bytes(
        {k: v.detach().cpu() for k, v in state.network.state_dict().items()}
    )
    optimizer = None
    if state.optimizer_state is not None:
        optimizer = _tensor_bytes(state.optimizer_state)
    params = estimator.get_params(deep=False)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skmmoe_version": __version__,
        "class": name,
        "params": {k: _param_to_json(v) for k, v in params.items()},
        "param_is_tuple": [k for k, v in params.items() if isinstance(v, tuple)],
        "network": _jsonable(state.network.config),
        "features": state.encoder.to_json(),
        "feature_names_in": (
            None
            if state.feature_names_in is None
            else _jsonable(state.feature_names_in)
        ),
        "columns_in": None if state.columns_in is None else _jsonable(state.columns_in),
        "tasks": [t.to_json() for t in state.tasks],
        "y_ndim": state.y_ndim,
        "history": _jsonable(state.history),
        "best_epoch": state.best_epoch,
        "seed": state.seed,
        "n_chunks": state.n_chunks,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "optimizer_sha256": (
            None if optimizer is None else hashlib.sha256(optimizer).hexdigest()
        ),
    }
    with zipfile.ZipFile(os.fspath(path), "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_JSON, json.dumps(meta, allow_nan=True))
        archive.writestr(_WEIGHTS, weights)
        if optimizer is not None:
            archive.writestr(_OPTIMIZER, optimizer)


def _param_to_json(value):
    """A parameter value as JSON, with dicts (``class_weight``) as lists of
    [key, value] pairs, so that keys keep their type (1 stays 1, not "1")."""
    if isinstance(value, dict):
        return {"dict_items": [[_jsonable(k), _jsonable(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_param_to_json(v) for v in value]
    return _jsonable(value)


def _param_from_json(value):
    if isinstance(value, dict):
        return {
            (tuple(k) if isinstance(k, list) else k): v for k, v in value["dict_items"]
        }
    if isinstance(value, list):
        return [_param_from_json(v) for v in value]
    return value


def _tensor_bytes(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _read(path) -> tuple[dict, bytes, bytes | None]:
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
            optimizer = archive.read(_OPTIMIZER) if _OPTIMIZER in names else None
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
    for member, content, key in (
        (_WEIGHTS, weights, "weights_sha256"),
        (_OPTIMIZER, optimizer, "optimizer_sha256"),
    ):
        digest = None if content is None else hashlib.sha256(content).hexdigest()
        if digest != meta.get(key):
            raise ModelFileError(
                f"{path}: {member} does not match its checksum; the file was "
                "modified or damaged."
            )
    return meta, weights, optimizer


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
    meta, weights, optimizer = _read(path)
    try:
        if meta["skmmoe_version"] != __version__:
            warnings.warn(
                f"Loading a model saved by skmmoe {meta['skmmoe_version']} with "
                f"skmmoe {__version__}; it may not behave the same.",
                InconsistentVersionWarning,
                stacklevel=2,
            )
        cls = _ESTIMATORS[meta["class"]]
        params = {k: _param_from_json(v) for k, v in meta["params"].items()}
        for key in meta["param_is_tuple"]:
            params[key] = tuple(params[key])
        estimator = cls(**params)
        tensors = torch.load(io.BytesIO(weights), weights_only=True, map_location="cpu")
        network = MMOENetwork(**meta["network"])
        network.load_state_dict(tensors)
        network.eval()
        encoder = FeatureEncoder.from_json(
            meta["features"],
            feature_names=meta["feature_names_in"],
            numeric_encoding=params["numeric_encoding"],
            n_bins=params["n_bins"],
        )
        state = FittedState(
            network=network,
            encoder=encoder,
            tasks=[task_from_json(t) for t in meta["tasks"]],
            y_ndim=meta["y_ndim"],
            n_features_in=meta["features"]["n_features"],
            feature_names_in=meta["feature_names_in"],
            columns_in=meta["columns_in"],
            history=meta["history"],
            best_epoch=meta["best_epoch"],
            seed=meta["seed"],
            n_chunks=meta["n_chunks"],
            optimizer_state=(
                None
                if optimizer is None
                else torch.load(
                    io.BytesIO(optimizer), weights_only=True, map_location="cpu"
                )
            ),
        )
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
    estimator._set_fitted(state)
    return estimator
