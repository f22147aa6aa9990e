"""partial_fit: streaming chunks from an unfitted estimator, and continuing the
training of an estimator fitted by fit, restored by skmmoe.load or by joblib."""

import copy
import math
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import r2_score, roc_auc_score
from small_network import small

import skmmoe
from skmmoe import MMOEClassifier, MMOEEstimator


@pytest.fixture(scope="module")
def stream_data():
    """(X, Y, X_test, Y_test): 3000 and 1000 rows of a categorical column 'c' and
    numeric 'x', 'z'; a 0/1 task 'b' and a regression task 'r'."""
    rng = np.random.default_rng(7)
    n = 4000
    X = pd.DataFrame(
        {
            "c": rng.choice(list("abcdefgh"), n).astype(object),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    Y = pd.DataFrame(
        {
            "b": ((X.c.isin(list("abc"))) ^ (X.x > 0.5)).astype(np.int64),
            "r": np.sin(2 * X.x) + X.z + (X.c == "a") + 0.1 * rng.normal(size=n),
        }
    )
    return X.iloc[:3000], Y.iloc[:3000], X.iloc[3000:], Y.iloc[3000:]


def _quality(est, X, Y):
    proba = est.predict_proba(X)[0][:, 1]
    pred = est.predict(X)[:, 1].astype(float)
    return roc_auc_score(Y["b"], proba), r2_score(Y["r"], pred)


def test_partial_fit_streaming_reaches_single_fit_quality(stream_data):
    """Eight passes over 6 chunks of 500 rows come within 0.02 AUC and 0.05 R^2 of
    one fit of eight epochs on all 3000 rows."""
    X, Y, X_test, Y_test = stream_data
    params = small(epochs=1, batch_size=128, expert_dnn_hidden_units=(32,))
    full = MMOEEstimator(**{**params, "epochs": 8}).fit(X, Y)
    stream = MMOEEstimator(**params)
    for _ in range(8):
        for start in range(0, len(X), 500):
            stream.partial_fit(X.iloc[start : start + 500], Y.iloc[start : start + 500])
    auc_full, r2_full = _quality(full, X_test, Y_test)
    auc_stream, r2_stream = _quality(stream, X_test, Y_test)
    assert auc_full > 0.95 and r2_full > 0.8
    assert auc_stream >= auc_full - 0.02
    assert r2_stream >= r2_full - 0.05
    assert stream.n_epochs_ == 8 * 6
    assert [h["epoch"] for h in stream.history_] == list(range(1, 49))


def test_partial_fit_first_call_is_fit(stream_data):
    X, Y, X_test, _ = stream_data
    a = MMOEEstimator(**small()).partial_fit(X, Y)
    b = MMOEEstimator(**small()).fit(X, Y)
    assert_array_equal(a.predict_proba(X_test)[0], b.predict_proba(X_test)[0])


def test_a_later_chunk_without_a_task_s_labels_trains_the_others(stream_data):
    # A later chunk may hold no label of a task (a stream's, a dask partition's):
    # its loss is left out of that chunk, as zero weights leave it out.
    X, Y, X_test, _ = stream_data
    first = MMOEEstimator(**small(epochs=1)).partial_fit(X.iloc[:500], Y.iloc[:500])
    chunk_X, chunk_Y = X.iloc[500:1000], Y.iloc[500:1000].copy()
    zero_weight = np.column_stack([np.ones(500), np.zeros(500)])
    weighted = copy.deepcopy(first).partial_fit(chunk_X, chunk_Y, zero_weight)
    chunk_Y["r"] = np.nan
    missing = copy.deepcopy(first).partial_fit(chunk_X, chunk_Y)
    assert missing.n_epochs_ == 2
    assert_allclose(
        missing.predict_proba(X_test)[0], weighted.predict_proba(X_test)[0], rtol=1e-5
    )
    assert_allclose(
        missing.predict(X_test)[:, 1].astype(float),
        weighted.predict(X_test)[:, 1].astype(float),
        rtol=1e-5,
    )
    # The task without labels was not measured: NaN, not a perfect 0.0.
    assert math.isnan(missing.history_[-1]["train_loss"]["r"])
    assert math.isfinite(missing.history_[-1]["train_loss"]["b"])
    # No label at all, a regression task's column of None included: no step is
    # taken (zero gradients would still move the weights by Adam's momentum).
    before = missing.predict_proba(X_test)[0]
    unlabelled = pd.DataFrame({"b": [None] * 500, "r": [None] * 500}, dtype=object)
    assert missing.partial_fit(chunk_X, unlabelled).n_epochs_ == 3
    assert all(math.isnan(v) for v in missing.history_[-1]["train_loss"].values())
    assert_array_equal(missing.predict_proba(X_test)[0], before)


def test_partial_fit_unseen_categories_and_classes_argument(stream_data):
    X, Y, _, _ = stream_data
    est = MMOEEstimator(**small())
    first = X.c != "h"
    est.partial_fit(X[first], Y[first])
    assert est.feature_columns_[0].vocabulary_size == 8  # 7 seen + reserved
    with pytest.warns(UserWarning, match=r"'c' \(100%\).*did not see"):
        est.partial_fit(X[~first], Y[~first])  # 'h' goes to the reserved index
    assert np.isfinite(est.predict(X)[:, 1].astype(float)).all()

    y = np.where(X.x > 0, "pos", np.where(X.z > 1, "rare", "neg"))
    clf = MMOEClassifier(**small())
    common = y != "rare"
    with_classes = clf.partial_fit(X[common], y[common], classes=["neg", "pos", "rare"])
    assert list(with_classes.classes_) == ["neg", "pos", "rare"]
    clf.partial_fit(X[~common], y[~common])
    assert with_classes.predict_proba(X).shape == (len(X), 3)
    without = MMOEClassifier(**small()).partial_fit(X[common], y[common])
    with pytest.raises(ValueError, match="not seen in fit"):
        without.partial_fit(X[~common], y[~common])


def test_partial_fit_warns_only_when_a_chunk_holds_many_unknown_categories(
    stream_data,
):
    X, Y, _, _ = stream_data
    first = X.c != "h"
    est = MMOEEstimator(**small(epochs=1)).partial_fit(X[first], Y[first])
    chunk_x, chunk_y = X[first].iloc[:400].copy(), Y[first].iloc[:400]
    # 4% unknown (16 of 400 rows), and missing values, which are not unknown:
    # under the 5% threshold, no warning.
    chunk_x.iloc[:16, 0] = "h"
    chunk_x.iloc[16:200, 0] = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.partial_fit(chunk_x, chunk_y)
    chunk_x.iloc[:40, 0] = "new"  # 10% unknown
    with pytest.warns(UserWarning, match=r"'c' \(10%\).*FrozenEstimator") as record:
        est.partial_fit(chunk_x, chunk_y)
    assert record[0].filename == __file__  # points at the caller's line
    assert est.feature_columns_[0].vocabulary_size == 8  # the encoding is unchanged


def test_partial_fit_checks_tasks_and_features(stream_data):
    X, Y, _, _ = stream_data
    est = MMOEEstimator(**small()).partial_fit(X, Y)
    before = est.predict(X)
    with pytest.raises(ValueError, match="tasks"):
        est.partial_fit(X, Y[["r", "b"]])
    with pytest.raises(ValueError):
        est.partial_fit(X.drop(columns="z"), Y)
    assert_array_equal(est.predict(X), before)  # failed calls changed nothing


# ------------------------------------------- continuing a fitted estimator
def _fitted(how, X, Y):
    """An MMOEEstimator fitted on X, Y by fit, or by a first partial_fit call."""
    est = MMOEEstimator(**small(epochs=2))
    return est.fit(X, Y) if how == "fit" else est.partial_fit(X, Y)


def _assert_continues(est, X, Y):
    """est.partial_fit(X, Y) trains one epoch more: history_ grows by one record,
    the predictions change, the tasks and their classes stay."""
    names, types = list(est.task_names_), list(est.task_types_)
    classes = copy.deepcopy(est.classes_)
    history = copy.deepcopy(est.history_)
    n_epochs = est.n_epochs_
    assert n_epochs == len(history) >= 1
    proba = est.predict_proba(X)[0]
    spend = est.predict(X)[:, 1].astype(float)

    assert est.partial_fit(X, Y) is est

    assert est.n_epochs_ == n_epochs + 1
    assert len(est.history_) == n_epochs + 1
    assert est.history_[:n_epochs] == history
    record = est.history_[-1]
    assert record["epoch"] == n_epochs + 1
    assert set(record["train_loss"]) == set(names)
    assert all(np.isfinite(v) for v in record["train_loss"].values())
    assert est.task_names_ == names
    assert est.task_types_ == types
    assert isinstance(est.classes_, list) and len(est.classes_) == len(classes)
    for got, expected in zip(est.classes_, classes):
        if expected is None:
            assert got is None
        else:
            assert_array_equal(got, expected)
            assert got.dtype == expected.dtype

    new_proba = est.predict_proba(X)[0]
    new_pred = est.predict(X)
    assert new_proba.shape == proba.shape
    assert np.isfinite(new_proba).all()
    assert not np.allclose(new_proba, proba)
    assert not np.allclose(new_pred[:, 1].astype(float), spend)
    assert set(new_pred[:, 0]) <= set(classes[0])


def test_partial_fit_after_fit_continues_training(mixed_frame_xy):
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=2)).fit(X, Y)
    _assert_continues(est, X, Y)
    # And again: each call adds one more epoch.
    _assert_continues(est, X.iloc[:200], Y.iloc[:200])
    assert est.n_epochs_ == 4


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_partial_fit_after_load_continues_training(mixed_frame_xy, tmp_path, how):
    X, Y = mixed_frame_xy
    skmmoe.save(_fitted(how, X, Y), tmp_path / "model.skmmoe")
    loaded = skmmoe.load(tmp_path / "model.skmmoe")
    _assert_continues(loaded, X, Y)
    # The continued estimator saves and loads again.
    skmmoe.save(loaded, tmp_path / "continued.skmmoe")
    again = skmmoe.load(tmp_path / "continued.skmmoe")
    assert again.n_epochs_ == loaded.n_epochs_
    assert_array_equal(again.predict(X), loaded.predict(X))


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_partial_fit_after_load_equals_partial_fit_of_the_saved_model(
    mixed_frame_xy, tmp_path, how
):
    """A loaded model continues as the saved one would: after fit (both start a
    fresh optimizer) and after partial_fit (the file keeps the optimizer state)."""
    X, Y = mixed_frame_xy
    est = _fitted(how, X, Y)
    skmmoe.save(est, tmp_path / "model.skmmoe")
    loaded = skmmoe.load(tmp_path / "model.skmmoe").partial_fit(X, Y)
    est.partial_fit(X, Y)
    assert loaded.history_[-1]["train_loss"] == est.history_[-1]["train_loss"]
    assert_allclose(loaded.predict_proba(X)[0], est.predict_proba(X)[0], rtol=1e-6)
    assert_array_equal(loaded.predict(X)[:, 0], est.predict(X)[:, 0])


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_partial_fit_after_joblib_round_trip_continues_training(
    mixed_frame_xy, tmp_path, how
):
    X, Y = mixed_frame_xy
    est = _fitted(how, X, Y)
    joblib.dump(est, tmp_path / "model.joblib")
    restored = joblib.load(tmp_path / "model.joblib")
    _assert_continues(restored, X, Y)
    # The pickle carries everything partial_fit uses, the optimizer state included:
    # the restored estimator continues exactly as the original does.
    est.partial_fit(X, Y)
    assert restored.history_[-1]["train_loss"] == est.history_[-1]["train_loss"]
    assert_allclose(restored.predict_proba(X)[0], est.predict_proba(X)[0], rtol=1e-6)
    assert_array_equal(restored.predict(X)[:, 0], est.predict(X)[:, 0])


def test_model_file_keeps_the_optimizer_state_on_the_cpu(mixed_frame_xy, tmp_path):
    import zipfile

    X, Y = mixed_frame_xy
    streamed = _fitted("partial_fit", X, Y)
    skmmoe.save(streamed, tmp_path / "streamed.skmmoe")
    with zipfile.ZipFile(tmp_path / "streamed.skmmoe") as archive:
        assert "optimizer.safetensors" in archive.namelist()
    state = skmmoe.load(tmp_path / "streamed.skmmoe")._optimizer_state
    assert all(t.device.type == "cpu" for t in state["exp_avg"])
    fitted = _fitted("fit", X, Y)
    skmmoe.save(fitted, tmp_path / "fitted.skmmoe")
    with zipfile.ZipFile(tmp_path / "fitted.skmmoe") as archive:
        assert "optimizer.safetensors" not in archive.namelist()


def test_modified_optimizer_state_fails_the_checksum(mixed_frame_xy, tmp_path):
    import zipfile

    X, Y = mixed_frame_xy
    skmmoe.save(_fitted("partial_fit", X, Y), tmp_path / "model.skmmoe")
    with zipfile.ZipFile(tmp_path / "model.skmmoe") as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["optimizer.safetensors"] = members["optimizer.safetensors"][:-8] + b"\0" * 8
    with zipfile.ZipFile(tmp_path / "modified.skmmoe", "w") as target:
        for name, content in members.items():
            target.writestr(name, content)
    with pytest.raises(
        ValueError, match="optimizer.safetensors does not match its checksum"
    ):
        skmmoe.load(tmp_path / "modified.skmmoe")
