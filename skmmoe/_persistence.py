"""The model file: save/load without pickle.

A model file (format 3) is a zip archive of these members:

- ``model.json``: format version, skmmoe version, the estimator's class and
  parameters, and its fitted state: the feature encoder's and the tasks' own JSON
  (each module writes and reads its part), the network's shape, the training
  history;
- ``network.safetensors``: the network's state dict, in safetensors (tensors
  only: a header of names, dtypes and shapes, then the raw numbers);
- ``preprocessor.skops``: the fitted preprocessor (the built-in
  ``ColumnTransformer`` or the user's) and the estimator's ``preprocessor``
  parameter (None, a ``ColumnTransformer``, or a ``FrozenEstimator`` around the
  fitted one), by ``skops.io``, which stores objects as data and rebuilds only
  types it is told to trust: :data:`TRUSTED_TYPES`, and those the caller of
  :func:`load` names;
- ``optimizer.json`` and ``optimizer.safetensors``: only after ``partial_fit``,
  the optimizer's state, so that a loaded model continues a stream as the saved
  one would: its tensors in safetensors, the rest (steps, learning rates, the
  structure) in JSON;
- ``checksums.json``: the SHA-256 of every other member, so that a modified or
  truncated file is refused.

Nothing in the file is executed on load: the JSON members are data, safetensors
holds numbers, and skops builds objects of trusted types only, from their stored
attributes. Each member is read a block at a time up to a bound
(``MAX_JSON_BYTES``; ``MAX_PREPROCESSOR_BYTES``, which also bounds what the skops
member inflates to; for the tensors, the size of the network that ``model.json``
describes), so a crafted file cannot make load inflate more than that. Files of
format 2 are read by ``_legacy_format2.py``. This module owns the container, the
checksums and the format version.
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
from collections.abc import Iterable
from numbers import Integral

import numpy as np
import safetensors.torch
import torch
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

from . import _legacy_format2
from ._encoders import (
    CalendarEncoder,
    CategoryEncoder,
    ListEncoder,
    PiecewiseLinearEncoder,
    QuantileBinner,
    numbers_as_float,
)
from ._engine.network import MMOENetwork
from ._estimators import (
    FittedState,
    InconsistentVersionWarning,
    MMOEClassifier,
    MMOEEstimator,
    MMOERegressor,
)
from ._features import FeatureEncoder
from ._sklearn_compat import REMAINDER_COLUMNS_TYPE
from ._tasks import task_from_json
from ._version import __version__

__all__ = ["TRUSTED_TYPES", "load", "save"]

FORMAT = "skmmoe-model"
FORMAT_VERSION = 3
_JSON = "model.json"
_NETWORK = "network.safetensors"
_PREPROCESSOR = "preprocessor.skops"
_OPTIMIZER_JSON = "optimizer.json"  # only after partial_fit: the optimizer's state
_OPTIMIZER_TENSORS = "optimizer.safetensors"
_CHECKSUMS = "checksums.json"  # the SHA-256 of every other member
MAX_JSON_BYTES = 64 * 2**20
"""Largest model.json (and optimizer.json) that load reads."""
MAX_PREPROCESSOR_BYTES = 256 * 2**20
"""Largest preprocessor.skops that load reads, and the most its own members may
hold once inflated: skops writes about 270 bytes per category value, so this is
about a million categories."""
MAX_TENSOR_BYTES = 16 * 2**30
"""Largest tensor member that load reads; each is also bounded by the size the
network described in model.json implies."""
_TENSOR_SLACK_BYTES = 2**20  # safetensors' header (names, dtypes, shapes)
_MAX_CHECKSUMS_BYTES = 2**20
_ESTIMATORS = {
    cls.__name__: cls for cls in (MMOEEstimator, MMOEClassifier, MMOERegressor)
}


def _type_name(kind) -> str:
    """A type's or function's name as skops writes it: module and name."""
    return f"{kind.__module__}.{kind.__name__}"


TRUSTED_TYPES: frozenset[str] = frozenset(
    _type_name(kind)
    for kind in (
        # Plain data: what skops stores containers, numbers and arrays as.
        dict,
        list,
        tuple,
        set,
        str,
        int,
        float,
        bool,
        type(None),
        slice,  # ColumnTransformer.output_indices_
        np.ndarray,
        np.dtype,
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
        np.str_,
        # skmmoe's built-in preprocessor: its transformers and its one function
        # (FunctionTransformer is trusted with this function only; any other
        # function in a file must be trusted by name).
        CategoryEncoder,
        ListEncoder,
        CalendarEncoder,
        QuantileBinner,
        PiecewiseLinearEncoder,
        numbers_as_float,
        ColumnTransformer,
        Pipeline,
        FunctionTransformer,
        SimpleImputer,
        MissingIndicator,
        StandardScaler,
        # What users commonly put in their own ColumnTransformer: the preprocessor
        # parameter's FrozenEstimator, a union of features, scalers, category
        # encoders, bins, and the quantile and power transforms. Each keeps only
        # arrays and numbers, and transforms them with numpy, whose indexing is
        # bounds-checked, so a crafted value makes transform raise, not misbehave.
        FrozenEstimator,
        FeatureUnion,
        MinMaxScaler,
        RobustScaler,
        MaxAbsScaler,
        OneHotEncoder,
        OrdinalEncoder,
        KBinsDiscretizer,
        QuantileTransformer,
        PowerTransformer,
    )
) | {REMAINDER_COLUMNS_TYPE}
"""The types (and the one function) whose objects a model file's preprocessor
may hold without the caller of :func:`load` naming them in ``trusted``."""


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

    The network's tensors are written with safetensors, the fitted preprocessor
    with skops, everything else as JSON; :func:`load` reads them back.

    Parameters
    ----------
    estimator : MMOEEstimator, MMOEClassifier or MMOERegressor
        Fitted, with the built-in preprocessor or a ``ColumnTransformer`` of your
        own (``preprocessor=``, also within a ``FrozenEstimator``). A preprocessor
        holding types other than those :func:`load` trusts by default (see
        ``skmmoe._persistence.TRUSTED_TYPES``) is saved too, and loads with
        ``trusted=`` naming them; functions in it (``FunctionTransformer``) are
        saved by their module and name, so they must be importable where the file
        is loaded.
    path : str or path-like
        Destination file; by convention ending in ``.skmmoe``. It is replaced
        only once the new file is complete.

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
    state = estimator._fitted_state()
    params = estimator.get_params(deep=False)
    preprocessor_param = params.pop("preprocessor")
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
    members = {
        _JSON: json.dumps(meta, allow_nan=True).encode(),
        _NETWORK: _tensor_bytes(state.network.state_dict()),
        _PREPROCESSOR: _preprocessor_bytes(
            state.encoder.preprocessor, preprocessor_param, state.encoder.list_encoders
        ),
    }
    if state.optimizer_state is not None:
        tensors: dict[str, torch.Tensor] = {}
        structure = _split_tensors(state.optimizer_state, tensors)
        members[_OPTIMIZER_JSON] = json.dumps(structure, allow_nan=True).encode()
        members[_OPTIMIZER_TENSORS] = _tensor_bytes(tensors)
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


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """Named tensors in safetensors, on the CPU."""
    return safetensors.torch.save(
        {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    )


def _split_tensors(value, tensors: dict[str, torch.Tensor]):
    """A nested state (dicts, lists, tuples, numbers, strings, tensors) as JSON,
    each tensor replaced by ``{"tensor": name}`` and put in ``tensors``; dicts as
    ``{"dict": [[key, value], ...]}`` (torch keys a state by parameter index) and
    tuples as ``{"tuple": [...]}``, so that both come back as they were."""
    if isinstance(value, torch.Tensor):
        name = str(len(tensors))
        tensors[name] = value
        return {"tensor": name}
    if isinstance(value, dict):
        return {
            "dict": [
                [_split_tensors(k, tensors), _split_tensors(v, tensors)]
                for k, v in value.items()
            ]
        }
    if isinstance(value, tuple):
        return {"tuple": [_split_tensors(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_split_tensors(v, tensors) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"The optimizer's state holds a {type(value).__name__}.")


def _join_tensors(value, tensors: dict[str, torch.Tensor]):
    """The state :func:`_split_tensors` split, whole again."""
    if isinstance(value, dict):
        (kind,) = value  # one key: "tensor", "dict" or "tuple"
        if kind == "tensor":
            return tensors[value["tensor"]]
        if kind == "dict":
            return {
                _join_tensors(k, tensors): _join_tensors(v, tensors)
                for k, v in value["dict"]
            }
        return tuple(_join_tensors(v, tensors) for v in value["tuple"])
    if isinstance(value, list):
        return [_join_tensors(v, tensors) for v in value]
    return value


def _optimizer_state(structure, tensors: dict[str, torch.Tensor]) -> dict:
    state = _join_tensors(structure, tensors)
    if not isinstance(state, dict):
        raise TypeError(f"the optimizer's state is a {type(state).__name__}")
    return state


def _skops_io():
    """skops.io, imported on first use: it imports every scikit-learn estimator
    (0.6 s), which only saving and loading need."""
    import skops.io

    return skops.io


def _preprocessor_bytes(fitted, parameter, list_encoders=()) -> bytes:
    """The fitted preprocessor and the ``preprocessor`` parameter, by skops, in
    one member, so that a FrozenEstimator parameter and the fitted preprocessor
    it holds come back as one object; the list columns' encoders beside them
    (the key is there only when X had list columns)."""
    content = {"fitted": fitted, "parameter": parameter}
    if list_encoders:
        content["list_encoders"] = list(list_encoders)
    return _skops_io().dumps(content)


def _types_in_skops(data: bytes) -> set[str]:
    """Every type and function a skops member names, read from its schema before
    skops builds anything; ModelFileError if its own members would inflate
    beyond ``MAX_PREPROCESSOR_BYTES`` (zipfile reads a member no further than
    the size it declares), or if it refers to its arrays' data so many times
    that reading them would."""
    with zipfile.ZipFile(io.BytesIO(data)) as inner:
        sizes = {info.filename: info.file_size for info in inner.infolist()}
        if sum(sizes.values()) > MAX_PREPROCESSOR_BYTES:
            raise ModelFileError(
                f"{_PREPROCESSOR} inflates beyond {MAX_PREPROCESSOR_BYTES:,} bytes; "
                "refused."
            )
        schema = json.loads(inner.read("schema.json"))
    names: set[str] = set()
    reads: dict = {}  # each node that reads an array's data, by skops' object id
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "__class__" in value or "__module__" in value:
                names.add(f"{value.get('__module__')}.{value.get('__class__')}")
            if "file" in value:
                # skops reads the file once for each object id it meets, and
                # anew for each node without one.
                saved_id = value.get("__id__")
                if not (saved_id and isinstance(saved_id, int | str)):
                    saved_id = object()
                reads[saved_id] = value["file"]
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    if sum(sizes.get(str(f), 0) for f in reads.values()) > MAX_PREPROCESSOR_BYTES:
        raise ModelFileError(
            f"{_PREPROCESSOR} reads its arrays beyond {MAX_PREPROCESSOR_BYTES:,} "
            "bytes; refused."
        )
    return names


def _load_preprocessor(path, data: bytes, trusted: Iterable[str]):
    """The fitted preprocessor and the ``preprocessor`` parameter, built by skops
    if every type the member names is trusted; ModelFileError naming the others
    if not."""
    try:
        names = _types_in_skops(data)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except Exception as exc:  # a damaged zip or schema: whatever it raises
        raise ModelFileError(
            f"{path}: {_PREPROCESSOR} is damaged ({type(exc).__name__}: {exc})."
        ) from exc
    untrusted = sorted(names - TRUSTED_TYPES - set(trusted))
    if untrusted:
        raise ModelFileError(
            f"{path}: its preprocessor holds types that skmmoe does not trust by "
            f"default: {untrusted}. Loading runs no code from the file, but it "
            "would make objects of these types, whose code then runs on whatever "
            "values the file gives them. If you know where the file comes from and "
            f"have checked these types (the member {_PREPROCESSOR} is a skops "
            "file), load it with "
            f"skmmoe.load(path, trusted={untrusted!r})."
        )
    try:
        # Every name in the file is trusted by now; skops checks them again.
        content = _skops_io().loads(data, trusted=sorted(names))
        fitted, parameter = content["fitted"], content["parameter"]
        list_encoders = content.get("list_encoders", [])
        if not all(isinstance(e, ListEncoder) for e in list_encoders):
            raise TypeError("the list columns' encoders are not ListEncoders")
        if not isinstance(fitted, ColumnTransformer):
            raise TypeError(
                f"the fitted preprocessor is a {type(fitted).__name__}, not a "
                "ColumnTransformer"
            )
        if not isinstance(parameter, ColumnTransformer | FrozenEstimator | None):
            raise TypeError(
                f"the preprocessor parameter is a {type(parameter).__name__}"
            )
    except Exception as exc:  # skops and the objects' setters raise many kinds
        raise ModelFileError(
            f"{path}: {_PREPROCESSOR} holds no valid preprocessor "
            f"({type(exc).__name__}: {exc})."
        ) from exc
    return fitted, parameter, list_encoders


def _member_bounds(version: int, weights_bound: int) -> dict[str, tuple[int, bool]]:
    """The members besides model.json and checksums.json of a file of format
    ``version``: name -> (most bytes load reads, required). Members that are not
    required come all together or not at all."""
    if version == _legacy_format2.FORMAT_VERSION:
        return _legacy_format2.member_bounds(weights_bound)
    return {
        _NETWORK: (weights_bound, True),
        _PREPROCESSOR: (MAX_PREPROCESSOR_BYTES, True),
        _OPTIMIZER_JSON: (MAX_JSON_BYTES, False),
        # Adam keeps two moments per weight.
        _OPTIMIZER_TENSORS: (2 * weights_bound, False),
    }


def _read(path) -> tuple[dict, dict[str, bytes]]:
    """model.json and the other members of the file's format, each read a block at
    a time up to its bound and checked against checksums.json."""
    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            names = set(archive.namelist())
            if not {_JSON, _CHECKSUMS} <= names:
                raise ModelFileError(
                    f"{path} is not a skmmoe model file (it lacks {_JSON} or "
                    f"{_CHECKSUMS})."
                )
            checksums = json.loads(
                _read_member(archive, _CHECKSUMS, _MAX_CHECKSUMS_BYTES, path)
            )
            text = _read_member(archive, _JSON, MAX_JSON_BYTES, path)
            _check_digest(path, _JSON, text, checksums)
            meta = json.loads(text)
            _check_format(path, meta)
            bounds = _member_bounds(meta["format_version"], _weights_bound(path, meta))
            optional = [name for name, (_, required) in bounds.items() if not required]
            with_optional = any(n in names or n in checksums for n in optional)
            members = {}
            for name, (limit, required) in bounds.items():
                if not (required or with_optional):
                    continue
                if name not in names:
                    raise ModelFileError(
                        f"{path} lacks its member {name}; it is not a complete "
                        "skmmoe model file."
                    )
                members[name] = _read_member(archive, name, limit, path)
                _check_digest(path, name, members[name], checksums)
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
        raise ModelFileError(f"{path}: a JSON member is damaged ({exc}).") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ModelFileError(
            f"{path} could not be read as a model file ({exc})."
        ) from exc
    return meta, members


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
    version = meta.get("format_version")
    readable = (_legacy_format2.FORMAT_VERSION, FORMAT_VERSION)
    if type(version) is not int or version not in readable:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this skmmoe "
            f"({__version__}) reads versions {readable[0]} and {readable[1]}. A "
            "file from a newer skmmoe loads with that version."
        )


def _weights_bound(path, meta: dict) -> int:
    """The most bytes the network's tensors may take: the float32 weights of the
    network that model.json describes (built on the meta device, which allocates
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


def _load_tensors(path, name: str, data: bytes) -> dict[str, torch.Tensor]:
    """The named tensors of a safetensors member, on the CPU. Bytes that match
    their checksum can still be anything (the checksums are for damage, not for
    authorship): whatever safetensors raises on them becomes a ModelFileError."""
    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # SafetensorError, and whatever else bad bytes raise
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
    if network.get("tables") is not None:  # written since tables could be shared
        expected.update(encoder.embedding_layout())
    for key, value in expected.items():
        if _as_list(network[key]) != _as_list(value):
            raise ValueError(
                f"the network's {key} is {network[key]}, but the features and "
                f"tasks need {value}"
            )
    lists = [c for c in encoder.feature_columns if c.kind == "list"]
    for column, list_encoder in zip(lists, encoder.list_encoders):
        if list_encoder.vocabulary_sizes_ != [column.vocabulary_size]:
            raise ValueError(
                f"the list column {column.name!r} has {column.vocabulary_size} "
                f"embedding rows, but its encoder gives "
                f"{list_encoder.vocabulary_sizes_[0]} ids"
            )


def _check_columns(meta: dict, n_features: int) -> None:
    """The names and labels of X's columns, where saved, are one per column the
    preprocessor takes (names as strings)."""
    names, labels = meta["feature_names_in"], meta["columns_in"]
    if names is not None and not (
        isinstance(names, list)
        and len(names) == n_features
        and all(isinstance(n, str) for n in names)
    ):
        raise ValueError(f"feature_names_in is not {n_features} column names")
    if labels is not None and not (
        isinstance(labels, list) and len(labels) == n_features
    ):
        raise ValueError(f"columns_in is not {n_features} column labels")


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"it lacks the entry {exc.args[0]!r}"
    return str(exc)


def _trusted_names(trusted) -> list[str]:
    if trusted is None:
        return []
    if (
        not isinstance(trusted, Iterable)
        or isinstance(trusted, str)
        or not all(isinstance(t, str) for t in trusted)
    ):
        raise TypeError(
            "trusted must be a list of type names (str), such as those the error "
            f"for a file with untrusted types names; got {trusted!r}."
        )
    return list(trusted)


def load(
    path: str | os.PathLike[str], *, trusted: Iterable[str] | None = None
) -> MMOEEstimator | MMOEClassifier | MMOERegressor:
    """Load an estimator saved by :func:`save`.

    No code from the file runs: JSON, tensors (safetensors) and the preprocessor
    (skops, which builds only objects of trusted types from their stored
    attributes) are read as data. The model is placed on the CPU. Files written
    by earlier skmmoe versions in format 2 load too, and :func:`save` writes them
    again in the current format.

    Parameters
    ----------
    path : str or path-like
    trusted : list of str, default=None
        Names of types (``"module.Name"``, as skops names them) that the file's
        preprocessor may hold besides those skmmoe trusts by default
        (``skmmoe._persistence.TRUSTED_TYPES``: skmmoe's own transformers and the
        scikit-learn ones commonly used in a ``ColumnTransformer``). As in skops,
        name only types you have checked: a file from elsewhere that holds others
        is refused, with their names.

    Returns
    -------
    estimator : MMOEEstimator, MMOEClassifier or MMOERegressor
        Fitted, predicting exactly as the saved one; ``partial_fit`` continues as
        the saved one's would.

    Raises
    ------
    ValueError
        If the file is not a skmmoe model file, or is truncated, modified or of an
        unknown format version, or if its preprocessor holds types that are
        neither trusted by default nor named in ``trusted``.
    """
    trusted = _trusted_names(trusted)
    meta, members = _read(path)
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
        if meta["format_version"] == _legacy_format2.FORMAT_VERSION:
            weights, encoder, optimizer_state = _legacy_format2.read(meta, members)
        else:
            preprocessor, params["preprocessor"], list_encoders = _load_preprocessor(
                path, members[_PREPROCESSOR], trusted
            )
            encoder = FeatureEncoder.from_json(
                meta["features"],
                preprocessor=preprocessor,
                list_encoders=list_encoders,
            )
            weights = _load_tensors(path, _NETWORK, members[_NETWORK])
            optimizer_state = None
            if _OPTIMIZER_JSON in members:
                optimizer_state = _optimizer_state(
                    json.loads(members[_OPTIMIZER_JSON]),
                    _load_tensors(
                        path, _OPTIMIZER_TENSORS, members[_OPTIMIZER_TENSORS]
                    ),
                )
        estimator = cls(**params)
        network = MMOENetwork(**meta["network"])
        network.load_state_dict(weights)
        network.eval()
        tasks = [task_from_json(t) for t in meta["tasks"]]
        _check_consistent(meta["network"], encoder, tasks)
        _check_columns(meta, encoder.preprocessor.n_features_in_)
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
            optimizer_state=optimizer_state,
        )
        estimator._set_fitted(state)
    except ModelFileError:
        raise
    except Exception as exc:  # whatever an edited description makes the readers raise
        raise ModelFileError(
            f"{path} holds an invalid model description ({_describe(exc)})."
        ) from exc
    return estimator
