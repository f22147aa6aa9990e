"""The model file: save/load without pickle.

A model file is a zip archive of these members:

- ``model.json``: format version, skmmoe version, the estimator's class and
  parameters, and its fitted state: the feature encoder's and the tasks' own JSON
  (each module writes and reads its part), the network's shape, the training
  history;
- ``weights.pt``: the network's state dict, written by ``torch.save`` and read back
  with ``torch.load(weights_only=True)``, which loads tensors only;
- ``optimizer.pt``: the optimizer's state, kept by ``partial_fit`` so that a loaded
  model continues a stream as the saved one would; read the same way;
- ``checksums.json``: the SHA-256 of every other member, so that a modified or
  truncated file is refused.

Nothing in the file is executed on load; each member is read a block at a time up
to a bound (``MAX_JSON_BYTES``, and for the tensors the size of the network that
``model.json`` describes), so a crafted file cannot make load inflate more than
that. This module owns the container, the checksums and the format version only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import stat
import warnings
import zipfile
import zlib
from numbers import Integral

import numpy as np
import torch

from ._engine.network import MMOENetwork
from ._estimators import (
    FittedState,
    InconsistentVersionWarning,
    MMOEClassifier,
    MMOEEstimator,
    MMOERegressor,
)
from ._features import FeatureEncoder
from ._tasks import task_from_json
from ._version import __version__

__all__ = ["load", "save"]

FORMAT = "skmmoe-model"
FORMAT_VERSION = 2
_JSON = "model.json"
_WEIGHTS = "weights.pt"
_OPTIMIZER = "optimizer.pt"  # only after partial_fit: the optimizer's state
_CHECKSUMS = "checksums.json"  # the SHA-256 of every other member
MAX_JSON_BYTES = 64 * 2**20
"""Largest model.json that load reads (categories of about a million values)."""
MAX_TENSOR_BYTES = 16 * 2**30
"""Largest tensor member that load reads; each is also bounded by the size the
network described in model.json implies."""
_TENSOR_SLACK_BYTES = 2**20  # torch.save's framing around the tensors
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


def save(
    estimator: MMOEEstimator | MMOEClassifier | MMOERegressor,
    path: str | os.PathLike[str],
) -> None:
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
        "columns_in": (
            None
            if state.columns_in is None
            else [_label_to_json(c) for c in state.columns_in]
        ),
        "tasks": [t.to_json() for t in state.tasks],
        "y_ndim": state.y_ndim,
        "history": _jsonable(state.history),
        "best_epoch": state.best_epoch,
        "seed": state.seed,
        "n_chunks": state.n_chunks,
    }
    members = {_JSON: json.dumps(meta, allow_nan=True).encode(), _WEIGHTS: weights}
    if optimizer is not None:
        members[_OPTIMIZER] = optimizer
    checksums = {
        name: hashlib.sha256(data).hexdigest() for name, data in members.items()
    }
    members[_CHECKSUMS] = json.dumps(checksums).encode()
    _write_atomically(path, members)


def _write_atomically(path, members: dict[str, bytes]) -> None:
    """Write the archive to a new file beside ``path`` (beside the target of a
    symbolic link), flush it to disk, then rename it over ``path``: a write that
    fails at any point (disk full, interrupted) leaves the file that was there
    as it was, and removes the partial one."""
    target = os.path.realpath(os.fspath(path))
    directory, base = os.path.split(target)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.tmp")
    # Created as open() creates a file (the umask applies), never over another.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileNotFoundError):  # keep the replaced file's mode
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _label_to_json(label):
    """A column label of X as JSON, exactly: a tuple (a MultiIndex column) as
    ``{"tuple": [...]}``, so that it comes back a tuple and predict keeps matching
    columns by name."""
    if isinstance(label, tuple):
        return {"tuple": [_label_to_json(part) for part in label]}
    if isinstance(label, (str, bool, np.bool_)) or label is None:
        return label if label is None or isinstance(label, str) else bool(label)
    if isinstance(label, (Integral, np.integer)):
        return int(label)
    if isinstance(label, (float, np.floating)):
        return float(label)
    raise TypeError(
        f"skmmoe.save cannot save the column label {label!r} of type "
        f"{type(label).__name__}: column labels must be strings, numbers, booleans "
        "or tuples of them; rename the column before fitting."
    )


def _label_from_json(value):
    if isinstance(value, dict):
        return tuple(_label_from_json(part) for part in value["tuple"])
    return value


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
    """model.json, the weights and the optimizer state (or None), each read a
    block at a time up to its bound and checked against checksums.json."""
    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            names = set(archive.namelist())
            if not {_JSON, _WEIGHTS, _CHECKSUMS} <= names:
                raise ModelFileError(
                    f"{path} is not a skmmoe model file (it lacks {_JSON}, "
                    f"{_WEIGHTS} or {_CHECKSUMS})."
                )
            checksums = json.loads(_read_member(archive, _CHECKSUMS, 2**20, path))
            text = _read_member(archive, _JSON, MAX_JSON_BYTES, path)
            _check_digest(path, _JSON, text, checksums)
            meta = json.loads(text)
            _check_format(path, meta)
            bound = _weights_bound(path, meta)
            weights = _read_member(archive, _WEIGHTS, bound, path)
            _check_digest(path, _WEIGHTS, weights, checksums)
            optimizer = None
            if _OPTIMIZER in names or _OPTIMIZER in checksums:
                # Adam keeps two moments per weight.
                optimizer = _read_member(archive, _OPTIMIZER, 2 * bound, path)
                _check_digest(path, _OPTIMIZER, optimizer, checksums)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        KeyError,  # a member named in checksums.json is missing
        zlib.error,  # damaged compressed data
        NotImplementedError,  # damaged compression method or version fields
        RuntimeError,  # damaged flags, e.g. "encrypted"
    ) as exc:
        raise ModelFileError(
            f"{path} is not a skmmoe model file, or it is truncated or damaged ({exc})."
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: a JSON member is damaged ({exc}).") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ModelFileError(
            f"{path} could not be read as a model file ({exc})."
        ) from exc
    return meta, weights, optimizer


def _read_member(archive: zipfile.ZipFile, name: str, limit: int, path) -> bytes:
    """A member's bytes, refused as soon as it would exceed ``limit`` bytes: its
    declared size is checked first, and the bytes as they inflate, a block at a
    time, so a member that inflates far beyond its size (a zip bomb) costs at most
    ``limit`` bytes of memory."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ModelFileError(
            f"{path}: {name} declares {info.file_size:,} bytes, more than the "
            f"{limit:,} a model file's {name} may hold."
        )
    chunks, size = [], 0
    with archive.open(info) as member:
        while block := member.read(2**20):
            size += len(block)
            if size > limit:
                raise ModelFileError(
                    f"{path}: {name} inflates beyond {limit:,} bytes; refused."
                )
            chunks.append(block)
    return b"".join(chunks)


def _check_digest(path, name: str, data: bytes, checksums: dict) -> None:
    if not isinstance(checksums, dict) or checksums.get(name) != (
        hashlib.sha256(data).hexdigest()
    ):
        raise ModelFileError(
            f"{path}: {name} does not match its checksum; the file was modified "
            "or damaged."
        )


def _check_format(path, meta) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a skmmoe model file.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {meta.get('format_version')}; this "
            f"skmmoe reads version {FORMAT_VERSION}."
        )


def _weights_bound(path, meta: dict) -> int:
    """The most bytes weights.pt may hold: the float32 weights of the network
    that model.json describes (built on the meta device, which allocates
    nothing), plus framing; never more than MAX_TENSOR_BYTES."""
    try:
        with torch.device("meta"):
            network = MMOENetwork(**meta["network"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path} describes no valid network ({_describe(exc)})."
        ) from exc
    n_weights = sum(p.numel() for p in network.state_dict().values())
    return min(4 * n_weights + _TENSOR_SLACK_BYTES, MAX_TENSOR_BYTES)


def _load_tensors(path, name: str, data: bytes):
    """``torch.load(weights_only=True)`` of a member's bytes, on the CPU. Bytes that
    match their checksum can still be anything (the checksums are for damage, not
    for authorship): whatever torch's reader raises on them becomes a
    ModelFileError."""
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # torch's unpickler raises many kinds on bad bytes
        raise ModelFileError(
            f"{path}: {name} holds no readable tensors ({type(exc).__name__}: {exc})."
        ) from exc


def _check_consistent(network: dict, encoder: FeatureEncoder, tasks) -> None:
    """The network takes what the encoder gives and gives what the tasks read (a
    description edited with its checksums rewritten may disagree with itself)."""
    expected = {
        "vocabulary_sizes": list(encoder.vocabulary_sizes),
        "n_dense": len(encoder.dense_positions),
        "output_dims": [task.output_dim for task in tasks],
    }
    for key, value in expected.items():
        if _as_list(network[key]) != _as_list(value):
            raise ValueError(
                f"the network's {key} is {network[key]}, but the features and "
                f"tasks need {value}"
            )


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"it lacks the entry {exc.args[0]!r}"
    return str(exc)


def load(
    path: str | os.PathLike[str],
) -> MMOEEstimator | MMOEClassifier | MMOERegressor:
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
                InconsistentVersionWarning(
                    estimator_name=str(meta["class"]),
                    current_skmmoe_version=__version__,
                    original_skmmoe_version=str(meta["skmmoe_version"]),
                ),
                stacklevel=2,
            )
        cls = _ESTIMATORS[meta["class"]]
        params = {k: _param_from_json(v) for k, v in meta["params"].items()}
        for key in meta["param_is_tuple"]:
            params[key] = tuple(params[key])
        estimator = cls(**params)
        tensors = _load_tensors(path, _WEIGHTS, weights)
        network = MMOENetwork(**meta["network"])
        network.load_state_dict(tensors)
        network.eval()
        encoder = FeatureEncoder.from_json(
            meta["features"],
            feature_names=meta["feature_names_in"],
            numeric_encoding=params["numeric_encoding"],
            n_bins=params["n_bins"],
        )
        tasks = [task_from_json(t) for t in meta["tasks"]]
        _check_consistent(meta["network"], encoder, tasks)
        state = FittedState(
            network=network,
            encoder=encoder,
            tasks=tasks,
            y_ndim=meta["y_ndim"],
            n_features_in=meta["features"]["n_features"],
            feature_names_in=meta["feature_names_in"],
            columns_in=(
                None
                if meta["columns_in"] is None
                else [_label_from_json(c) for c in meta["columns_in"]]
            ),
            history=meta["history"],
            best_epoch=meta["best_epoch"],
            seed=meta["seed"],
            n_chunks=meta["n_chunks"],
            optimizer_state=(
                None
                if optimizer is None
                else _load_tensors(path, _OPTIMIZER, optimizer)
            ),
        )
        estimator._set_fitted(state)
    except ModelFileError:
        raise
    except Exception as exc:  # whatever an edited description makes the readers raise
        raise ModelFileError(
            f"{path} holds an invalid model description ({_describe(exc)})."
        ) from exc
    return estimator
