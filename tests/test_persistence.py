"""Persistence: pickles (pickle, joblib) that carry the skmmoe version, and
skmmoe.save / skmmoe.load, a format that never runs code on load (format 3:
JSON, safetensors, skops), and the files of format 2 that earlier versions wrote
(tests/data). Pickles of a network trained off the CPU are tested in
test_device.py; partial_fit after a load in test_partial_fit.py, and here with a
preprocessor of the user's."""

import functools
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import textwrap
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from estimator_helpers import assert_same_proba, private_copy
from hypothesis import given, settings
from hypothesis import strategies as st
from model_files import archive, read_members, skops_member, skops_schema
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)
from small_network import assert_close_across_row_sets, small

import skmmoe
from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor

# Tiny networks and two epochs: each fit takes well under a second.
SMALL = small(epochs=2)
# Model files of format 2, written by skmmoe at commit d4e9a31, and the
# predictions they gave then (tests/data/README.md).
DATA = Path(__file__).parent / "data"
FORMAT_3_MEMBERS = {
    "model.json",
    "network.safetensors",
    "preprocessor.skops",
    "checksums.json",
}
OPTIMIZER_MEMBERS = {"optimizer.json", "optimizer.safetensors"}


@pytest.fixture(scope="module")
def unseen_rows():
    """Rows of fitted_mixed_estimator's columns to predict on, with unseen
    categories and missing values everywhere."""
    return pd.DataFrame(
        {
            "city": pd.Series(["tokyo", None, "rome", "paris"], dtype=object),
            "color": pd.Categorical(["purple", None, "red", "blue"]),
            "member": [True, False, False, True],
            "age": [np.nan, 25.0, np.nan, 61.0],
        }
    )


@pytest.fixture(scope="module")
def numeric_classifier():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)
    return MMOEClassifier(**SMALL).fit(X, y), X, y


@pytest.fixture(scope="module")
def saved_file(numeric_classifier, tmp_path_factory):
    """A valid model file, and its bytes."""
    path = tmp_path_factory.mktemp("saved") / "model.skmmoe"
    skmmoe.save(numeric_classifier[0], path)
    return path, path.read_bytes()


@pytest.fixture(scope="module")
def streamed_file(numeric_classifier, tmp_path_factory):
    """A valid model file of a model continued by partial_fit: it holds the
    optimizer's state."""
    est, X, y = numeric_classifier
    path = tmp_path_factory.mktemp("streamed") / "model.skmmoe"
    skmmoe.save(clone(est).fit(X, y).partial_fit(X, y), path)
    return path


def _round_trip(est, tmp_path):
    path = tmp_path / "model.skmmoe"
    skmmoe.save(est, path)
    return skmmoe.load(path)


def _rewrite(src, dst, resign=True, **members):
    """Copy the zip at src to dst, replacing the named members' bytes; with
    ``resign``, checksums.json is rewritten to match, as a deliberately crafted
    file would be (so the test reaches the checks after the checksums)."""
    content = read_members(src)
    for name, data in members.items():
        content[name] = data.encode() if isinstance(data, str) else data
    resign = resign and "checksums.json" not in members
    Path(dst).write_bytes(archive(content, resign=resign))


def _meta(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("model.json"))


# ------------------------------------------------------------------ pickles
def test_pickle_round_trip(mixed_frame_xy):
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    assert_array_equal(restored.predict_proba(X)[0], est.predict_proba(X)[0])
    assert_array_equal(restored.gate_weights(X), est.gate_weights(X))
    assert restored.task_names_ == est.task_names_


def test_joblib_round_trip_in_a_fresh_process(fitted_mixed_estimator, tmp_path):
    est, X, _ = fitted_mixed_estimator
    joblib.dump(est, tmp_path / "model.joblib")
    X.to_pickle(tmp_path / "X.pkl")
    script = textwrap.dedent(
        """
        import json, sys, warnings
        import joblib, numpy as np, pandas as pd
        out = sys.argv[1]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # same version: no warning
            est = joblib.load(out + "/model.joblib")
        X = pd.read_pickle(out + "/X.pkl")
        np.save(out + "/pred.npy", est.predict(X), allow_pickle=True)
        proba = est.predict_proba(X)
        np.save(out + "/proba0.npy", proba[0])
        with open(out + "/info.json", "w") as f:
            json.dump({"proba_is_none": [p is None for p in proba],
                       "device": str(next(est.network_.parameters()).device)}, f)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    pred = np.load(tmp_path / "pred.npy", allow_pickle=True)
    assert pred.shape == (len(X), 2)
    assert_array_equal(pred, est.predict(X))
    proba = est.predict_proba(X)
    assert_array_equal(np.load(tmp_path / "proba0.npy"), proba[0])
    info = json.loads((tmp_path / "info.json").read_text())
    assert info == {"proba_is_none": [False, True], "device": "cpu"}


def test_pickling_leaves_the_estimator_alone(fitted_mixed_estimator):
    est, X, _ = fitted_mixed_estimator
    est = private_copy(est)
    before = dict(vars(est))
    pred = est.predict(X)
    state = est.__getstate__()
    pickle.dumps(est)
    assert state is not vars(est)
    assert vars(est).keys() == before.keys()
    assert all(vars(est)[k] is v for k, v in before.items())
    assert_array_equal(est.predict(X), pred)


def test_pickle_carries_the_skmmoe_version(fitted_mixed_estimator):
    est, X, _ = fitted_mixed_estimator
    est = private_copy(est)
    state = dict(est.__getstate__())
    assert state["_skmmoe_version"] == skmmoe.__version__

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored = pickle.loads(pickle.dumps(est))
    assert not hasattr(restored, "_skmmoe_version")
    assert_array_equal(restored.predict(X), est.predict(X))


def test_unpickling_another_version_warns(fitted_mixed_estimator):
    est, X, _ = fitted_mixed_estimator
    state = dict(private_copy(est).__getstate__())
    state["_skmmoe_version"] = "0.0.1.dev-other"
    restored = type(est).__new__(type(est))
    with pytest.warns(skmmoe.InconsistentVersionWarning, match="0.0.1.dev-other"):
        restored.__setstate__(state)
    assert_array_equal(restored.predict(X), est.predict(X))


def test_the_version_warning_is_scikit_learns(fitted_mixed_estimator):
    """A filter for scikit-learn's InconsistentVersionWarning catches skmmoe's,
    which names the skmmoe versions."""
    import warnings

    from sklearn.exceptions import InconsistentVersionWarning

    est, _, _ = fitted_mixed_estimator
    state = dict(private_copy(est).__getstate__())
    state["_skmmoe_version"] = "0.0.1.dev-other"
    restored = type(est).__new__(type(est))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        with pytest.raises(InconsistentVersionWarning) as caught:
            restored.__setstate__(state)
    warning = caught.value
    assert isinstance(warning, skmmoe.InconsistentVersionWarning)
    assert warning.original_skmmoe_version == "0.0.1.dev-other"
    assert warning.current_skmmoe_version == skmmoe.__version__
    assert warning.estimator_name == type(est).__name__
    assert str(warning).startswith(f"Unpickling a {type(est).__name__} made by")


def test_unpickling_a_state_without_version_warns(fitted_mixed_estimator):
    state = dict(private_copy(fitted_mixed_estimator[0]).__getstate__())
    del state["_skmmoe_version"]
    restored = type(fitted_mixed_estimator[0]).__new__(type(fitted_mixed_estimator[0]))
    with pytest.warns(skmmoe.InconsistentVersionWarning):
        restored.__setstate__(state)


def test_unpickling_the_same_version_does_not_warn(fitted_mixed_estimator):
    est = fitted_mixed_estimator[0]
    state = dict(private_copy(est).__getstate__())
    restored = type(est).__new__(type(est))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored.__setstate__(state)
    assert restored.task_names_ == est.task_names_


# ---------------------------------------------------------- save and load
def _assert_fitted_attributes_equal(loaded, est):
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    assert loaded.task_names_ == est.task_names_
    assert loaded.task_types_ == est.task_types_
    assert loaded.n_tasks_ == est.n_tasks_
    assert loaded.feature_columns_ == est.feature_columns_
    assert loaded.n_features_in_ == est.n_features_in_
    assert loaded.history_ == est.history_
    assert loaded.n_epochs_ == est.n_epochs_
    assert loaded.best_epoch_ == est.best_epoch_
    if hasattr(est, "feature_names_in_"):
        assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
        assert loaded.feature_names_in_.dtype == est.feature_names_in_.dtype
    else:
        assert not hasattr(loaded, "feature_names_in_")
    if isinstance(est.classes_, list):
        assert isinstance(loaded.classes_, list)
        assert len(loaded.classes_) == len(est.classes_)
        for a, b in zip(loaded.classes_, est.classes_):
            if b is None:
                assert a is None
            else:
                assert_array_equal(a, b)
                assert a.dtype == b.dtype
    elif est.classes_ is None:
        assert loaded.classes_ is None
    else:
        assert_array_equal(loaded.classes_, est.classes_)
        assert loaded.classes_.dtype == est.classes_.dtype


def _assert_same_predictions(loaded, est, X):
    pred, loaded_pred = est.predict(X), loaded.predict(X)
    assert_array_equal(loaded_pred, pred)
    assert loaded_pred.dtype == pred.dtype
    if hasattr(est, "predict_proba"):
        assert_same_proba(loaded.predict_proba(X), est.predict_proba(X))


def test_save_load_mixed_dataframe(fitted_mixed_estimator, unseen_rows, tmp_path):
    est, X, _ = fitted_mixed_estimator
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    assert loaded.classes_[1] is None
    assert_array_equal(loaded.classes_[0], ["no", "yes"])
    _assert_same_predictions(loaded, est, X)
    _assert_same_predictions(loaded, est, unseen_rows)
    assert_array_equal(loaded.gate_weights(unseen_rows), est.gate_weights(unseen_rows))


def test_save_load_shared_gate(mixed_frame_xy, tmp_path):
    # OMoE (one gate for every task) round-trips as it is: same predictions, gates
    # equal across tasks, and the parameter kept.
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=2), shared_gate=True).fit(X, Y)
    gates = est.gate_weights(X)
    assert_array_equal(gates[:, 0], gates[:, 1])
    loaded = _round_trip(est, tmp_path)
    assert loaded.shared_gate is True
    assert_array_equal(loaded.predict(X), est.predict(X))
    assert_array_equal(loaded.gate_weights(X), gates)


def test_save_load_numpy_classifier_keeps_the_label_dtype(numeric_classifier, tmp_path):
    est, X, y = numeric_classifier
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    assert loaded.classes_.dtype == np.int32
    assert loaded.predict(X).shape == (len(X),)
    assert loaded.predict(X).dtype == np.int32
    _assert_same_predictions(loaded, est, X)
    assert loaded.score(X, y) == est.score(X, y)


def test_save_load_regressor_with_2d_y(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    Y = np.column_stack([X[:, 0] - X[:, 1], 3.0 * X[:, 2] + 10.0])
    est = MMOERegressor(**SMALL).fit(X, Y)
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    assert loaded.task_types_ == ["regression", "regression"]
    assert loaded.predict(X).shape == (len(X), 2)
    _assert_same_predictions(loaded, est, X)


def test_save_load_categorical_indices_on_object_array(tmp_path):
    rng = np.random.default_rng(4)
    n = 150
    X = np.empty((n, 3), dtype=object)
    X[:, 0] = rng.choice(["a", "b", "c"], n)
    X[:, 1] = rng.normal(size=n)
    X[:, 2] = rng.choice([1, 2, 3], n)
    y = (X[:, 1].astype(float) > 0).astype(np.int64)
    est = MMOEClassifier(categorical_features=[0, 2], **SMALL).fit(X, y)
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    sparse = [c.name for c in loaded.feature_columns_ if c.kind == "sparse"]
    assert sparse == ["x0", "x2", "x1_bin"]  # two categorical, one numeric's bins
    X_new = X[:6].copy()
    X_new[0, 0], X_new[1, 0], X_new[2, 1], X_new[3, 2] = "zzz", None, np.nan, 99
    _assert_same_predictions(loaded, est, X)
    _assert_same_predictions(loaded, est, X_new)


def test_save_load_a_network_without_embeddings(tmp_path):
    """No categorical column and no bins: the network holds zero-size tensors,
    which safetensors reads back from 0.4.4 on."""
    X = np.random.default_rng(3).normal(size=(80, 3))
    est = MMOERegressor(**SMALL, numeric_encoding="scaled").fit(X, X[:, 0])
    assert any(t.numel() == 0 for t in est.network_.state_dict().values())
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    _assert_same_predictions(loaded, est, X)


def test_save_load_multiclass_string_labels(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 3))
    y = np.array(["cat", "dog", "emu"])[np.argmax(X, axis=1)]
    est = MMOEClassifier(**SMALL).fit(X, y)
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    assert loaded.task_types_ == ["multiclass"]
    assert_array_equal(loaded.classes_, ["cat", "dog", "emu"])
    assert loaded.predict_proba(X).shape == (len(X), 3)
    _assert_same_predictions(loaded, est, X)


def test_save_load_bool_labels(tmp_path):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(120, 3))
    y = X[:, 0] > 0
    est = MMOEClassifier(**SMALL).fit(X, y)
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    assert loaded.classes_.dtype == bool
    assert loaded.predict(X).dtype == bool
    _assert_same_predictions(loaded, est, X)


def test_save_load_all_missing_categorical_column(tmp_path):
    rng = np.random.default_rng(7)
    X = pd.DataFrame(
        {"empty": pd.Series([None] * 100, dtype=object), "x": rng.normal(size=100)}
    )
    est = MMOERegressor(**SMALL).fit(X, 2.0 * X["x"].to_numpy())
    loaded = _round_trip(est, tmp_path)
    _assert_same_predictions(loaded, est, X)


def test_load_of_another_version_warns(saved_file, numeric_classifier, tmp_path):
    path, _ = saved_file
    meta = _meta(path)
    meta["skmmoe_version"] = "0.0.1.dev-other"
    other = tmp_path / "other.skmmoe"
    _rewrite(path, other, **{"model.json": json.dumps(meta)})
    with pytest.warns(skmmoe.InconsistentVersionWarning, match="0.0.1.dev-other"):
        loaded = skmmoe.load(other)
    est, X, _ = numeric_classifier
    assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_load_of_the_same_version_does_not_warn(saved_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = skmmoe.load(saved_file[0])
    assert loaded.n_features_in_ == 3


def test_load_accepts_str_paths(saved_file, numeric_classifier):
    est, X, _ = numeric_classifier
    loaded = skmmoe.load(os.fspath(saved_file[0]))
    assert_array_equal(loaded.predict(X), est.predict(X))


# --------------------------------------------------------------- bad files
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_file_raises_value_error(saved_file, tmp_path, fraction):
    _, raw = saved_file
    path = tmp_path / "cut.skmmoe"
    path.write_bytes(raw[: int(fraction * len(raw))])
    with pytest.raises(ValueError, match="not a skmmoe model file|truncated"):
        skmmoe.load(path)


def test_truncated_by_one_byte_raises_value_error(saved_file, tmp_path):
    _, raw = saved_file
    path = tmp_path / "cut.skmmoe"
    path.write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="skmmoe model file"):
        skmmoe.load(path)


@pytest.mark.parametrize("member", ["network.safetensors", "preprocessor.skops"])
def test_a_modified_member_fails_the_checksum(saved_file, tmp_path, member):
    path, _ = saved_file
    with zipfile.ZipFile(path) as archive:
        data = bytearray(archive.read(member))
    data[len(data) // 2] ^= 0x01
    damaged = tmp_path / "damaged.skmmoe"
    # zipfile recomputes the CRC, so only the SHA-256 in checksums.json can tell.
    _rewrite(path, damaged, resign=False, **{member: bytes(data)})
    with pytest.raises(ValueError, match=f"{member} does not match its checksum"):
        skmmoe.load(damaged)


def _flip_positions(raw):
    """Every byte of the zip headers at both ends, and a spread over the data."""
    return sorted(set(range(0, 64)) | set(range(0, len(raw), 23))) + list(
        range(max(0, len(raw) - 200), len(raw))
    )


def test_flipped_byte_anywhere_raises_value_error_or_loads_the_same_model(
    saved_file, numeric_classifier, tmp_path
):
    _, raw = saved_file
    est, X, _ = numeric_classifier
    expected = est.predict_proba(X)
    path = tmp_path / "flipped.skmmoe"
    for position in _flip_positions(raw):
        damaged = bytearray(raw)
        damaged[position] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = skmmoe.load(path)
        except ValueError:
            continue
        except Exception as exc:  # any other type is the failure under test
            pytest.fail(f"byte {position}: {type(exc).__name__}: {exc}")
        # Only bytes zip readers ignore (e.g. the local header's timestamps) may
        # change without an error, and then the model must be the same.
        assert_array_equal(loaded.predict_proba(X), expected)


def test_flipped_byte_in_the_local_header_times_loads_the_same_model(
    saved_file, numeric_classifier, tmp_path
):
    _, raw = saved_file
    est, X, _ = numeric_classifier
    damaged = bytearray(raw)
    damaged[10] ^= 0xFF  # modification time of model.json in its local header
    path = tmp_path / "flipped.skmmoe"
    path.write_bytes(bytes(damaged))
    assert_array_equal(skmmoe.load(path).predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is a text file\n", b"PK\x03\x04", "random"],
    ids=["empty", "text", "zip-magic-only", "random-bytes"],
)
def test_foreign_file_raises_value_error(tmp_path, content):
    if content == "random":
        content = np.random.default_rng(0).bytes(4096)
    path = tmp_path / "foreign.skmmoe"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a skmmoe model file"):
        skmmoe.load(path)


def test_zip_without_model_json_raises_value_error(saved_file, tmp_path):
    path = tmp_path / "foreign.skmmoe"
    with zipfile.ZipFile(saved_file[0]) as src, zipfile.ZipFile(path, "w") as zout:
        zout.writestr("network.safetensors", src.read("network.safetensors"))
        zout.writestr("readme.txt", "not a model")
    with pytest.raises(ValueError, match="model.json"):
        skmmoe.load(path)


def test_zip_with_another_format_raises_value_error(saved_file, tmp_path):
    meta = _meta(saved_file[0])
    meta["format"] = "some-other-model"
    path = tmp_path / "other.skmmoe"
    _rewrite(saved_file[0], path, **{"model.json": json.dumps(meta)})
    with pytest.raises(ValueError, match="not a skmmoe model file"):
        skmmoe.load(path)


@pytest.mark.parametrize("json_text", ["[1, 2, 3]", "{not json", '"a string"'])
def test_model_json_that_is_not_an_object_raises_value_error(
    saved_file, tmp_path, json_text
):
    path = tmp_path / "bad.skmmoe"
    _rewrite(saved_file[0], path, **{"model.json": json_text})
    with pytest.raises(ValueError, match="not a skmmoe model file|damaged"):
        skmmoe.load(path)


@pytest.mark.parametrize("format_version", [4, 1, 0, "3", 3.0, True, None])
def test_unknown_format_version_raises_value_error(
    saved_file, tmp_path, format_version
):
    meta = _meta(saved_file[0])
    meta["format_version"] = format_version
    path = tmp_path / "future.skmmoe"
    _rewrite(saved_file[0], path, **{"model.json": json.dumps(meta)})
    with pytest.raises(ValueError, match="format version"):
        skmmoe.load(path)


def test_invalid_model_description_raises_value_error(saved_file, tmp_path):
    meta = _meta(saved_file[0])
    meta["class"] = "LogisticRegression"
    path = tmp_path / "bad.skmmoe"
    _rewrite(saved_file[0], path, **{"model.json": json.dumps(meta)})
    with pytest.raises(ValueError, match="invalid model description"):
        skmmoe.load(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        skmmoe.load(tmp_path / "nowhere.skmmoe")


# ------------------------------------------------------- no code execution
class _WritesMarker:
    """Unpickling this would create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (os.fspath(self.marker), "w"))


def _evil_pickle(marker, kind):
    """Bytes whose unpickling creates ``marker``: written by torch.save (tensors
    and the payload), or a plain pickle."""
    if kind == "plain pickle":
        return pickle.dumps(_WritesMarker(marker))
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2), "payload": _WritesMarker(marker)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["torch.save", "plain pickle"])
@pytest.mark.parametrize("member", ["network.safetensors", "optimizer.safetensors"])
def test_a_pickle_in_place_of_the_tensors_is_refused_and_never_run(
    streamed_file, tmp_path, kind, member
):
    """safetensors reads a header and raw numbers; a pickle there is no tensors,
    even with its checksum rewritten."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.skmmoe"
    _rewrite(streamed_file, path, **{member: _evil_pickle(marker, kind)})
    with pytest.raises(ValueError, match=f"{member} holds no readable tensors"):
        skmmoe.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["torch.save", "plain pickle"])
@pytest.mark.parametrize("member", ["weights.pt", "optimizer.pt"])
def test_a_format_2_file_never_runs_code_from_its_tensors(tmp_path, kind, member):
    """Format 2's tensors are read by torch.load(weights_only=True), which
    refuses anything but tensors."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.skmmoe"
    _rewrite(
        DATA / "format2_default.skmmoe", path, **{member: _evil_pickle(marker, kind)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about the pickle protocol
        with pytest.raises(ValueError, match=f"{member} holds no readable tensors"):
            skmmoe.load(path)
    assert not marker.exists()


class _BuiltFromFile:
    """An object whose making from a file's state creates the marker file."""

    def __init__(self, marker):
        self.marker = os.fspath(marker)

    def __setstate__(self, state):
        open(state["marker"], "w").close()


def test_a_crafted_preprocessor_of_an_untrusted_type_is_refused_by_name(
    saved_file, tmp_path
):
    """A preprocessor.skops made to hold an object whose making runs code, with
    the checksums rewritten to match: refused, naming the type, before skops
    builds anything; with the type trusted, it would be built."""
    import skops.io

    marker = tmp_path / "PWNED"
    content = {"fitted": _BuiltFromFile(marker), "parameter": None}
    path = tmp_path / "evil.skmmoe"
    _rewrite(saved_file[0], path, **{"preprocessor.skops": skops.io.dumps(content)})
    name = f"{_BuiltFromFile.__module__}._BuiltFromFile"
    with pytest.raises(ValueError, match=re.escape(f"trusted=['{name}']")):
        skmmoe.load(path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="fitted preprocessor is a _BuiltFromFile"):
        skmmoe.load(path, trusted=[name])
    assert marker.exists()  # trusted means built: what `trusted` is for


def test_a_crafted_function_is_refused_by_name(saved_file, tmp_path):
    """The built-in preprocessor's one function replaced by os.system in the
    skops schema, checksums rewritten: refused, naming it."""
    members = read_members(saved_file[0])
    schema, arrays = skops_schema(members["preprocessor.skops"])
    text = json.dumps(schema)
    assert '"numbers_as_float", "__module__": "skmmoe._encoders"' in text
    text = text.replace(
        '"numbers_as_float", "__module__": "skmmoe._encoders"',
        '"system", "__module__": "os"',
    )
    crafted = skops_member(json.loads(text), arrays)
    path = tmp_path / "evil.skmmoe"
    _rewrite(saved_file[0], path, **{"preprocessor.skops": crafted})
    with pytest.raises(ValueError, match=re.escape("['os.system']")):
        skmmoe.load(path)


def test_load_of_a_plain_pickle_file_raises_value_error(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_WritesMarker(marker)))
    with pytest.raises(ValueError, match="not a skmmoe model file"):
        skmmoe.load(path)
    assert not marker.exists()


def test_load_of_a_joblib_file_raises_value_error(fitted_mixed_estimator, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted_mixed_estimator[0], path)
    with pytest.raises(ValueError, match="not a skmmoe model file"):
        skmmoe.load(path)


# ------------------------------------------------------- what save refuses
def test_save_unfitted_estimator_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        skmmoe.save(MMOEClassifier(), tmp_path / "model.skmmoe")
    assert not (tmp_path / "model.skmmoe").exists()


@pytest.mark.parametrize("obj", [StandardScaler(), object(), "model"])
def test_save_non_skmmoe_object_raises_type_error(tmp_path, obj):
    with pytest.raises(TypeError, match="skmmoe estimators"):
        skmmoe.save(obj, tmp_path / "model.skmmoe")


@pytest.mark.parametrize(
    "encoding",
    [
        "quantile_embedding",
        "piecewise_linear",
        "scaled+embedding",
        "piecewise_linear+embedding",
    ],
)
def test_save_load_binned_numeric_encodings(
    fitted_mixed_estimator, unseen_rows, encoding, tmp_path
):
    _, X, Y = fitted_mixed_estimator
    est = MMOEEstimator(**SMALL, numeric_encoding=encoding, n_bins=5).fit(X, Y)
    loaded = _round_trip(est, tmp_path)
    _assert_fitted_attributes_equal(loaded, est)
    far = unseen_rows.assign(age=unseen_rows["age"] * 100)  # outside the training range
    for frame in (X, unseen_rows, far):
        _assert_same_predictions(loaded, est, frame)


@pytest.mark.parametrize(
    "class_weight",
    [{0: 1.0, 1: 2.5}, [{"no": 1.0, "yes": 3.0}, None], {True: 2.0, False: 1.0}],
    ids=["int keys", "per task", "bool keys"],
)
def test_class_weight_keys_keep_their_type_through_save_load(class_weight, tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 2))
    if isinstance(class_weight, list):
        y = np.column_stack([np.where(X[:, 0] > 0, "yes", "no"), X[:, 1] > 0])
    else:
        labels = list(class_weight)
        y = np.where(X[:, 0] > 0, labels[0], labels[1])
    est = MMOEClassifier(**SMALL, class_weight=class_weight).fit(X, y)
    skmmoe.save(est, tmp_path / "model.skmmoe")
    loaded = skmmoe.load(tmp_path / "model.skmmoe")
    assert loaded.class_weight == class_weight
    assert [type(k) for k in _keys(loaded.class_weight)] == [
        type(k) for k in _keys(class_weight)
    ]
    clone(loaded).fit(X, y)  # refit works with the restored keys


def _keys(class_weight):
    specs = class_weight if isinstance(class_weight, list) else [class_weight]
    return [k for spec in specs if spec for k in spec]


# ------------------------------------------------------ the user's preprocessor
@functools.cache
def _user_data():
    """A DataFrame of a string column, a categorical code column and a numeric
    one, two tasks, and rows with unseen categories."""
    rng = np.random.default_rng(9)
    n = 160
    X = pd.DataFrame(
        {
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "color": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(10.0, 3.0, n),
        }
    )
    Y = pd.DataFrame(
        {
            "bought": np.where((X["city"] == "rome") | (X["size"] > 11), "yes", "no"),
            "spend": 2.0 * X["size"] + (X["color"] == "red") + rng.normal(size=n),
        }
    )
    unseen = pd.DataFrame(
        {"city": ["tokyo", "rome"], "color": ["purple", "red"], "size": [1.0, 30.0]}
    )
    return X, Y, unseen


def _user_column_transformer(**extra) -> ColumnTransformer:
    """One-hot cities (dense inputs), ordinal colours (an embedding) and the
    scaled size, and any ``extra`` transformers by name."""
    transformers = [
        ("onehot", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        (
            "codes",
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
            ["color"],
        ),
        ("scale", StandardScaler(), ["size"]),
    ]
    transformers += [(name, t, ["size"]) for name, t in extra.items()]
    return ColumnTransformer(transformers)


def test_save_load_with_a_user_column_transformer(tmp_path):
    X, Y, unseen = _user_data()
    preprocessor = _user_column_transformer()
    est = MMOEEstimator(preprocessor=preprocessor, **SMALL).fit(X, Y)
    assert [c.kind for c in est.feature_columns_].count("sparse") == 1
    loaded = _round_trip(est, tmp_path)
    assert type(loaded) is type(est)
    assert loaded.feature_columns_ == est.feature_columns_
    assert loaded.history_ == est.history_
    for rows in (X, unseen):
        _assert_same_predictions(loaded, est, rows)
    # The parameter comes back as given: the unfitted ColumnTransformer.
    assert isinstance(loaded.preprocessor, ColumnTransformer)
    assert loaded.preprocessor is not loaded.preprocessor_
    assert not hasattr(loaded.preprocessor, "transformers_")
    assert repr(loaded.preprocessor) == repr(preprocessor)
    shares = [m._fitted_state().encoder.unknown_category_shares for m in (loaded, est)]
    assert shares[0](unseen) == shares[1](unseen) == {"color": 0.5}
    refit = clone(loaded).fit(X, Y)  # and it fits again
    assert_array_equal(refit.predict(X), clone(est).fit(X, Y).predict(X))


def test_save_load_with_a_frozen_column_transformer(tmp_path):
    X, Y, unseen = _user_data()
    fitted = _user_column_transformer().fit(X)
    est = MMOEEstimator(preprocessor=FrozenEstimator(fitted), **SMALL).fit(X, Y)
    loaded = _round_trip(est, tmp_path)
    for rows in (X, unseen):
        _assert_same_predictions(loaded, est, rows)
    # One fitted ColumnTransformer, inside the FrozenEstimator as in the saved model.
    assert isinstance(loaded.preprocessor, FrozenEstimator)
    assert loaded.preprocessor.estimator is loaded.preprocessor_
    assert est.preprocessor.estimator is est.preprocessor_


@pytest.mark.parametrize("frozen", [False, True], ids=["copied", "frozen"])
def test_partial_fit_after_load_with_a_user_preprocessor_continues_as_saved(
    tmp_path, frozen
):
    """After partial_fit the file keeps the optimizer's state: the loaded model's
    next chunk trains exactly as the saved model's does."""
    X, Y, _ = _user_data()
    preprocessor = _user_column_transformer()
    if frozen:
        preprocessor = FrozenEstimator(preprocessor.fit(X))
    est = MMOEEstimator(preprocessor=preprocessor, **SMALL).fit(X, Y)
    est.partial_fit(X.iloc[:80], Y.iloc[:80])
    path = tmp_path / "model.skmmoe"
    skmmoe.save(est, path)
    assert OPTIMIZER_MEMBERS <= set(read_members(path))
    loaded = skmmoe.load(path).partial_fit(X, Y)
    est.partial_fit(X, Y)
    assert loaded.history_[-1]["train_loss"] == est.history_[-1]["train_loss"]
    assert_allclose(loaded.predict_proba(X)[0], est.predict_proba(X)[0], rtol=1e-6)
    assert_array_equal(loaded.predict(X)[:, 0], est.predict(X)[:, 0])


@pytest.mark.parametrize(
    "extra, names",
    [
        (
            {"log": FunctionTransformer(np.log1p, feature_names_out="one-to-one")},
            # Where pickle (and skops) finds it: numpy or, in NumPy 1, numpy.core.
            [f"{pickle.whichmodule(np.log1p, 'log1p')}.log1p"],
        ),
        (
            {"square": PolynomialFeatures(2, include_bias=False)},
            [f"{PolynomialFeatures.__module__}.PolynomialFeatures"],
        ),
    ],
    ids=["a function", "a scikit-learn type skops trusts"],
)
def test_a_preprocessor_of_other_types_loads_only_once_they_are_trusted(
    tmp_path, extra, names
):
    """A preprocessor holding a function or type that skmmoe does not trust by
    default (skops itself trusts both of these) saves; load refuses it, naming
    them and saying how to load it, and loads it once they are named in
    ``trusted``."""
    X, Y, unseen = _user_data()
    est = MMOEEstimator(preprocessor=_user_column_transformer(**extra), **SMALL)
    est.fit(X, Y)
    path = tmp_path / "model.skmmoe"
    skmmoe.save(est, path)
    with pytest.raises(ValueError, match="does not trust") as refused:
        skmmoe.load(path)
    assert f"skmmoe.load(path, trusted={names!r})" in str(refused.value)
    assert isinstance(refused.value, skmmoe._persistence.ModelFileError)
    with pytest.raises(ValueError, match="does not trust"):
        skmmoe.load(path, trusted=["numpy.exp", "sklearn.tree.DecisionTreeRegressor"])
    loaded = skmmoe.load(path, trusted=names)
    for rows in (X, unseen):
        _assert_same_predictions(loaded, est, rows)


@pytest.mark.parametrize("trusted", ["numpy.log1p", [np.log1p], 3])
def test_trusted_must_be_a_list_of_names(saved_file, trusted):
    with pytest.raises(TypeError, match="trusted must be a list of type names"):
        skmmoe.load(saved_file[0], trusted=trusted)


def test_the_built_in_preprocessor_needs_nothing_trusted(saved_file, tmp_path):
    """Every type in the built-in preprocessor's member is trusted by default,
    for every numeric encoding, and saving leaves the estimator as it was."""
    from skmmoe._persistence import TRUSTED_TYPES, _types_in_skops

    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "c": pd.Series(rng.choice(["a", "b", None], 80), dtype=object),
            "k": pd.Categorical(rng.choice(["u", "v"], 80)),
            "b": rng.random(80) < 0.5,
            "x": np.where(rng.random(80) < 0.1, np.nan, rng.normal(size=80)),
        }
    )
    for encoding in ("scaled", "quantile_embedding", "piecewise_linear+embedding"):
        est = MMOERegressor(**SMALL, numeric_encoding=encoding).fit(X, X["x"] > 0)
        skmmoe.save(est, tmp_path / "model.skmmoe")
        data = read_members(tmp_path / "model.skmmoe")["preprocessor.skops"]
        assert _types_in_skops(data) <= TRUSTED_TYPES
        encoder = est.preprocessor_.named_transformers_["categorical"]
        assert len(encoder._indexes) == 3  # the live lookup tables stay


# ------------------------------------------------------------ format 2 files
def _format_2_rows(rows: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city": pd.Series(rows["city"], dtype=object),
            "color": pd.Categorical(rows["color"]),
            "member": rows["member"],
            "age": pd.Series(rows["age"], dtype=float),
        }
    )


def _load_format_2(stem: str):
    with warnings.catch_warnings():  # a later skmmoe version warns
        warnings.simplefilter("ignore", skmmoe.InconsistentVersionWarning)
        return skmmoe.load(DATA / f"{stem}.skmmoe")


@pytest.mark.parametrize(
    "stem", ["format2_default", "format2_piecewise_linear_embedding"]
)
def test_a_format_2_file_loads_predicts_as_stored_and_saves_as_format_3(stem, tmp_path):
    """Files an earlier skmmoe wrote (tests/data: a model continued by
    partial_fit, and one with binned encodings) predict what they predicted
    then, up to the float32 rounding of another CPU's kernels, and save again
    in format 3, which predicts exactly as the loaded file."""
    expected = json.loads((DATA / f"{stem}.json").read_text())
    X = _format_2_rows(expected["rows"])
    with zipfile.ZipFile(DATA / f"{stem}.skmmoe") as archive:
        assert "weights.pt" in archive.namelist()
    loaded = _load_format_2(stem)
    pred = loaded.predict(X)
    assert list(pred[:, 0]) == expected["predict"]["bought"]
    assert_close_across_row_sets(pred[:, 1].astype(float), expected["predict"]["spend"])
    assert_close_across_row_sets(
        loaded.predict_proba(X)[0], expected["predict_proba_bought"]
    )
    assert loaded.n_epochs_ == expected["n_epochs"]
    assert (loaded._optimizer_state is not None) == (stem == "format2_default")

    path = tmp_path / "again.skmmoe"
    skmmoe.save(loaded, path)
    assert _meta(path)["format_version"] == 3
    extra = OPTIMIZER_MEMBERS if stem == "format2_default" else set()
    assert set(read_members(path)) == FORMAT_3_MEMBERS | extra
    again = skmmoe.load(path)
    _assert_fitted_attributes_equal(again, loaded)
    _assert_same_predictions(again, loaded, X)


def test_a_format_2_file_continues_training_as_its_format_3_copy(tmp_path):
    """The optimizer state of format 2 (optimizer.pt) comes through the re-save:
    both continue a stream identically."""
    rows = json.loads((DATA / "format2_default.json").read_text())["rows"]
    X = _format_2_rows(rows).iloc[:3]  # categories seen in fit
    Y = pd.DataFrame({"bought": ["yes", "no", "no"], "spend": [1.0, 2.0, 3.0]})
    old = _load_format_2("format2_default")
    skmmoe.save(old, tmp_path / "again.skmmoe")
    new = skmmoe.load(tmp_path / "again.skmmoe")
    old.partial_fit(X, Y)
    new.partial_fit(X, Y)
    assert new.history_[-1]["train_loss"] == old.history_[-1]["train_loss"]
    _assert_same_predictions(new, old, X)


@pytest.mark.parametrize("claims", [2, 3])
def test_a_file_claiming_the_other_format_is_refused(saved_file, tmp_path, claims):
    """A format-2 file edited to claim format 3 lacks format 3's members, and the
    other way round."""
    source = DATA / "format2_default.skmmoe" if claims == 3 else saved_file[0]
    meta = _meta(source)
    meta["format_version"] = claims
    path = tmp_path / "edited.skmmoe"
    _rewrite(source, path, **{"model.json": json.dumps(meta)})
    with pytest.raises(ValueError, match="lacks its member"):
        skmmoe.load(path)


# ------------------------------------------------------ the optimizer's state
def _assert_same_state(loaded, saved):
    """Nested states equal, with the same container and key types (a tuple stays
    a tuple, an int key an int) and tensors equal in dtype, shape and value."""
    assert type(loaded) is type(saved)
    if isinstance(saved, torch.Tensor):
        assert loaded.dtype == saved.dtype and loaded.device.type == "cpu"
        assert torch.equal(loaded, saved)
    elif isinstance(saved, dict):
        assert [type(k) for k in loaded] == [type(k) for k in saved]
        assert list(loaded) == list(saved)
        for key in saved:
            _assert_same_state(loaded[key], saved[key])
    elif isinstance(saved, list | tuple):
        assert len(loaded) == len(saved)
        for a, b in zip(loaded, saved):
            _assert_same_state(a, b)
    else:
        assert loaded == saved or (loaded != loaded and saved != saved)  # NaN


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "adagrad", "rmsprop"])
def test_the_optimizer_state_round_trips_exactly(
    numeric_classifier, tmp_path, optimizer
):
    """skmmoe's Adam keeps lists of tensors and floats, torch's optimizers dicts
    keyed by parameter index with tuples, None and bools: each comes back as it
    was, and within its bound (two tensors per weight)."""
    _, X, y = numeric_classifier
    est = MMOEClassifier(**SMALL, optimizer=optimizer).fit(X, y).partial_fit(X, y)
    path = tmp_path / "model.skmmoe"
    skmmoe.save(est, path)
    assert set(read_members(path)) == FORMAT_3_MEMBERS | OPTIMIZER_MEMBERS
    _assert_same_state(skmmoe.load(path)._optimizer_state, est._optimizer_state)


def test_a_fitted_model_has_no_optimizer_members(saved_file):
    assert set(read_members(saved_file[0])) == FORMAT_3_MEMBERS


@pytest.mark.parametrize("member", sorted(OPTIMIZER_MEMBERS))
def test_the_optimizer_members_are_checked_and_come_together(
    streamed_file, tmp_path, member
):
    content = read_members(streamed_file)
    content[member] = content[member][:-8] + b"\0" * 8
    path = tmp_path / "modified.skmmoe"
    path.write_bytes(archive(content, resign=False))
    with pytest.raises(ValueError, match=f"{member} does not match its checksum"):
        skmmoe.load(path)
    del content[member]
    path.write_bytes(archive(content, resign=True))
    with pytest.raises(ValueError, match=f"lacks its member {member}"):
        skmmoe.load(path)


# ------------------------------------------------ hostile files (issue 14, C1-C2)
def test_an_edited_model_json_fails_its_checksum(saved_file, tmp_path):
    meta = _meta(saved_file[0])
    meta["tasks"][0]["type"] = "binary"
    meta["history"][0]["train_loss"] = {"task_0": 0.0}
    path = tmp_path / "edited.skmmoe"
    _rewrite(saved_file[0], path, resign=False, **{"model.json": json.dumps(meta)})
    with pytest.raises(ValueError, match="model.json does not match its checksum"):
        skmmoe.load(path)


def test_a_missing_key_is_named(saved_file, tmp_path):
    meta = _meta(saved_file[0])
    del meta["tasks"][0]["classes"]
    path = tmp_path / "missing.skmmoe"
    _rewrite(saved_file[0], path, **{"model.json": json.dumps(meta)})
    with pytest.raises(ValueError, match="lacks the entry 'classes'"):
        skmmoe.load(path)


@pytest.mark.parametrize(
    "member",
    [
        "model.json",
        "network.safetensors",
        "preprocessor.skops",
        "optimizer.json",
        "optimizer.safetensors",
    ],
)
def test_a_member_that_inflates_past_its_bound_is_refused_early(
    streamed_file, tmp_path, member, monkeypatch
):
    """A zip bomb: 64 MiB of zeros deflate to about 64 KiB. The JSON members and
    the preprocessor are bounded by constants (1 MiB here), the tensors by the
    size of the network that model.json describes (about 1 MiB here, twice that
    for the optimizer's)."""
    from skmmoe import _persistence

    monkeypatch.setattr(_persistence, "MAX_JSON_BYTES", 2**20)
    monkeypatch.setattr(_persistence, "MAX_PREPROCESSOR_BYTES", 2**20)
    content = read_members(streamed_file)
    content[member] = b"\0" * (64 * 2**20)
    path = tmp_path / "bomb.skmmoe"
    path.write_bytes(archive(content, resign=True, compression=zipfile.ZIP_DEFLATED))
    assert path.stat().st_size < 2**20
    with pytest.raises(ValueError, match=f"{member} declares .* more than"):
        skmmoe.load(path)


def test_a_preprocessor_whose_own_members_inflate_past_the_bound_is_refused(
    saved_file, tmp_path, monkeypatch
):
    """The skops member is a zip too: its members' sizes together are bounded
    by MAX_PREPROCESSOR_BYTES, before skops reads any."""
    from skmmoe import _persistence

    monkeypatch.setattr(_persistence, "MAX_PREPROCESSOR_BYTES", 2**20)
    members = read_members(saved_file[0])
    schema, arrays = skops_schema(members["preprocessor.skops"])
    arrays["padding.npy"] = b"\0" * (8 * 2**20)
    inner = skops_member(schema, arrays, compression=zipfile.ZIP_DEFLATED)
    assert len(inner) < 2**20
    path = tmp_path / "bomb.skmmoe"
    _rewrite(saved_file[0], path, **{"preprocessor.skops": inner})
    with pytest.raises(ValueError, match="preprocessor.skops inflates beyond"):
        skmmoe.load(path)


def test_a_preprocessor_that_reads_its_arrays_again_and_again_is_refused(
    saved_file, tmp_path, monkeypatch
):
    """skops reads an array's data once for each object that refers to it: a
    crafted schema that refers to one array many times, under distinct object
    ids, would make load read it that many times. Those reads are bounded
    together."""
    from skmmoe import _persistence

    monkeypatch.setattr(_persistence, "MAX_PREPROCESSOR_BYTES", 2**20)
    members = read_members(saved_file[0])
    schema, arrays = skops_schema(members["preprocessor.skops"])
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(2**13))  # 64 KiB
    arrays["big.npy"] = buffer.getvalue()
    node = {
        "__class__": "ndarray",
        "__module__": "numpy",
        "__loader__": "NdArrayNode",
        "type": "numpy",
        "file": "big.npy",
    }
    schema["content"]["parameter"] = {
        "__class__": "list",
        "__module__": "builtins",
        "__loader__": "ListNode",
        "content": [{**node, "__id__": 10**9 + i} for i in range(20)],
        "__id__": 10**9 - 1,
    }
    path = tmp_path / "again.skmmoe"
    _rewrite(
        saved_file[0], path, **{"preprocessor.skops": skops_member(schema, arrays)}
    )
    with pytest.raises(ValueError, match="reads its arrays beyond"):
        skmmoe.load(path)
    # Under one object id, skops reads it once: within the bound, skops builds
    # it (and load refuses it then: a list is no preprocessor parameter).
    schema["content"]["parameter"]["content"] = [{**node, "__id__": 10**9}] * 20
    _rewrite(
        saved_file[0], path, **{"preprocessor.skops": skops_member(schema, arrays)}
    )
    with pytest.raises(ValueError, match="parameter is a list"):
        skmmoe.load(path)


# ------------------------------------------------------------ column labels
_TEXT_LABELS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
_SCALAR_LABELS = st.one_of(_TEXT_LABELS, st.integers(-(2**40), 2**40))
COLUMN_LABELS = st.sampled_from(["text", "int", "tuple", "mixed tuple"]).flatmap(
    lambda kind: st.lists(
        {
            "text": _TEXT_LABELS,
            "int": st.integers(-(2**40), 2**40),
            "tuple": st.tuples(_TEXT_LABELS, _TEXT_LABELS),
            "mixed tuple": st.tuples(_SCALAR_LABELS, st.integers(0, 9)),
        }[kind],
        min_size=3,
        max_size=3,
        unique=True,
    )
)


@functools.cache
def _label_data():
    rng = np.random.default_rng(5)
    X = pd.DataFrame(
        {
            0: rng.normal(size=60),
            1: rng.normal(size=60) * 100.0,
            2: rng.choice(["u", "v", "w"], 60),
        }
    )
    y = X[0] - 0.01 * X[1] + (X[2] == "u")
    return X, y


@settings(max_examples=25, deadline=None)
@given(labels=COLUMN_LABELS, order=st.permutations([0, 1, 2]))
def test_any_column_labels_are_matched_by_name_after_save_load_and_pickle(
    labels, order
):
    """Names with spaces, punctuation and any characters, ints, tuples (a
    MultiIndex's columns): a model saved and loaded, or pickled, matches
    reordered columns by their labels as the fitted one does. JSON turned
    tuples into lists, and the loaded model then matched by position."""
    X, y = _label_data()
    X = X.set_axis(
        pd.MultiIndex.from_tuples(labels) if isinstance(labels[0], tuple) else labels,
        axis=1,
    )
    est = MMOERegressor(**SMALL).fit(X, y)
    expected = est.predict(X)
    shuffled = X.iloc[:, order]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.skmmoe"
        skmmoe.save(est, path)
        loaded = skmmoe.load(path)
    unpickled = pickle.loads(pickle.dumps(est))
    for model in (est, loaded, unpickled):
        assert model._columns_in == list(X.columns)
        assert_array_equal(model.predict(shuffled), expected)


def test_a_column_label_json_cannot_hold_is_refused_by_name(tmp_path):
    X = pd.DataFrame({pd.Timestamp("2024-01-01"): [0.0, 1.0, 2.0, 3.0]})
    est = MMOERegressor(**SMALL).fit(X, [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="column label Timestamp"):
        skmmoe.save(est, tmp_path / "model.skmmoe")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------ atomic saves
def _write_steps():
    """The calls a save makes, in order, that can fail: each member's write (six
    after partial_fit, which keeps the optimizer's state in two), the flush to
    disk, and the rename over the old file."""
    return [("writestr", k) for k in range(6)] + [("fsync", 0), ("replace", 0)]


@pytest.mark.parametrize("step", _write_steps(), ids=lambda s: f"{s[0]}-{s[1]}")
def test_a_save_that_fails_at_any_stage_keeps_the_previous_file(
    numeric_classifier, saved_file, tmp_path, monkeypatch, step
):
    """Disk full or an interruption at any stage of a save: the file that was
    there is untouched, and nothing of the failed save is left beside it."""
    est, X, y = numeric_classifier
    path = tmp_path / "model.skmmoe"
    path.write_bytes(saved_file[1])
    before = path.read_bytes()
    name, at = step
    calls = {"n": 0}

    def fail_at(original):
        def call(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] - 1 == at:
                raise OSError(28, "No space left on device")
            return original(*args, **kwargs)

        return call

    if name == "writestr":
        monkeypatch.setattr(
            zipfile.ZipFile, "writestr", fail_at(zipfile.ZipFile.writestr)
        )
    else:
        monkeypatch.setattr(os, name, fail_at(getattr(os, name)))
    refit = clone(est).partial_fit(X, 1 - y)
    with pytest.raises(OSError, match="No space left"):
        skmmoe.save(refit, path)
    assert calls["n"] > at  # the failure happened where the step says
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.skmmoe"]
    assert_array_equal(skmmoe.load(path).predict(X), est.predict(X))


def test_a_save_keeps_the_replaced_files_mode_and_writes_through_a_link(
    numeric_classifier, tmp_path
):
    est, X, _ = numeric_classifier
    target = tmp_path / "models" / "model.skmmoe"
    target.parent.mkdir()
    skmmoe.save(est, target)
    target.chmod(0o640)
    link = tmp_path / "current.skmmoe"
    link.symlink_to(target)
    skmmoe.save(est, link)
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.skmmoe"]
    assert_array_equal(skmmoe.load(link).predict(X), est.predict(X))


def test_a_new_file_gets_the_mode_open_would_give_it(numeric_classifier, tmp_path):
    est, _, _ = numeric_classifier
    umask = os.umask(0o022)
    try:
        skmmoe.save(est, tmp_path / "model.skmmoe")
    finally:
        os.umask(umask)
    assert (tmp_path / "model.skmmoe").stat().st_mode & 0o777 == 0o644


def test_a_datetime_column_and_its_calendar_parts_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    seconds = np.sort(rng.integers(0, 90 * 86_400, 300))
    times = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, "s"))
    X = pd.DataFrame({"t": times, "x": rng.normal(size=300)})
    y = times.dt.hour.to_numpy() / 24.0 + X["x"].to_numpy()
    est = MMOERegressor(**SMALL).fit(X, y)
    skmmoe.save(est, tmp_path / "model.skmmoe")
    loaded = skmmoe.load(tmp_path / "model.skmmoe")
    assert_array_equal(loaded.predict(X), est.predict(X))
    assert [c.name for c in loaded.feature_columns_] == [
        c.name for c in est.feature_columns_
    ]
