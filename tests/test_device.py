"""Devices: device and gpus resolved at fit (CUDA where there is none, unknown
names, 'auto'), precision, and pickles of a network trained off the CPU, which hold
CPU tensors and load on a machine without CUDA."""

import pickle
import types

import numpy as np
import pytest
import torch
from estimator_helpers import assert_same_proba, private_copy
from numpy.testing import assert_array_equal
from sklearn.metrics import r2_score
from small_network import small

from skmmoe import MMOEClassifier, MMOEEstimator


# ------------------------------------------------------------- device and gpus
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize(
    "device_params", [{"device": "cuda"}, {"device": "cuda:0"}, {"gpus": [0]}]
)
def test_cuda_without_cuda_raises_at_fit(numeric_binary_regression, device_params):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**small(epochs=1), **device_params)
    with pytest.raises(ValueError, match="CUDA"):
        est.fit(X, y)
    assert not hasattr(est, "network_")


def test_unknown_device_raises_and_auto_works(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    with pytest.raises(ValueError, match="bogus"):
        MMOEClassifier(**small(epochs=1, device="bogus")).fit(X, y)
    est = MMOEClassifier(**small(epochs=1, device="auto")).fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(est.network_.parameters()).device.type == expected
    assert est.predict(X).shape == (len(X),)
    est = MMOEClassifier(**small(epochs=1, device=torch.device("cpu"))).fit(X, y)
    assert est.predict(X).shape == (len(X),)


# ------------------------------------------------------------------- precision
def test_float16_precision_needs_cuda(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**small(epochs=1, precision="float16", device="cpu"))
    with pytest.raises(ValueError, match="float16"):
        est.fit(X, y)
    assert not hasattr(est, "network_")


def test_bfloat16_precision_trains_on_the_cpu(mixed_frame_xy):
    X, Y = mixed_frame_xy
    params = small(epochs=20, learning_rate=0.01)
    est = MMOEEstimator(**params, precision="bfloat16").fit(X, Y)
    full = MMOEEstimator(**params).fit(X, Y)
    assert est.n_epochs_ == 20
    assert all(
        np.isfinite(v) for record in est.history_ for v in record["train_loss"].values()
    )
    # Only the forward pass is cast: the weights stay float32.
    assert all(p.dtype == torch.float32 for p in est.network_.parameters())
    proba = est.predict_proba(X)[0]
    assert np.isfinite(proba).all()
    pred, pred_full = est.predict(X), full.predict(X)
    assert np.mean(pred[:, 0] == Y["bought"].to_numpy()) > 0.9
    r2 = r2_score(Y["spend"], pred[:, 1].astype(float))
    r2_full = r2_score(Y["spend"], pred_full[:, 1].astype(float))
    assert r2 > 0.8 and r2 > r2_full - 0.05


# ----------------------------------------------- pickles of a network off the CPU
def test_getstate_holds_cpu_tensors(fitted_mixed_estimator):
    est = private_copy(fitted_mixed_estimator[0])
    state = est.__getstate__()
    assert "_fit_device" not in state
    assert all(p.device.type == "cpu" for p in state["network_"].parameters())
    assert all(t.device.type == "cpu" for t in state["network_"].state_dict().values())


def _cuda_network_state(est, monkeypatch):
    """est.__getstate__() as if its network were on cuda:0."""
    network_class = type(est.network_)

    def parameters_on_cuda(self, recurse=True):
        yield types.SimpleNamespace(device=torch.device("cuda", 0))

    with monkeypatch.context() as patch:
        patch.setattr(network_class, "parameters", parameters_on_cuda)
        return dict(est.__getstate__())


def test_getstate_of_a_network_off_the_cpu_pickles_a_cpu_copy(
    fitted_mixed_estimator, monkeypatch
):
    est = private_copy(fitted_mixed_estimator[0])
    network = est.network_
    weights = {k: v.clone() for k, v in network.state_dict().items()}
    state = _cuda_network_state(est, monkeypatch)

    assert state["_fit_device"] == "cuda:0"
    assert state["network_"] is not network
    assert state["network_"].state_dict().keys() == weights.keys()
    for name, tensor in state["network_"].state_dict().items():
        assert tensor.device.type == "cpu"
        assert_array_equal(tensor.numpy(), weights[name].numpy())


def test_getstate_of_a_network_off_the_cpu_leaves_the_estimator_alone(
    fitted_mixed_estimator, monkeypatch
):
    est = private_copy(fitted_mixed_estimator[0])
    network = est.network_
    _cuda_network_state(est, monkeypatch)
    assert est.network_ is network
    assert not hasattr(est, "_fit_device")


def test_model_fitted_on_cuda_loads_on_a_cpu_only_machine(
    fitted_mixed_estimator, monkeypatch
):
    est, X, _ = fitted_mixed_estimator
    state = dict(private_copy(est).__getstate__())
    state["_fit_device"] = "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    restored = type(est).__new__(type(est))
    restored.__setstate__(state)

    assert not hasattr(restored, "_fit_device")
    assert all(p.device.type == "cpu" for p in restored.network_.parameters())
    assert_array_equal(restored.predict(X), est.predict(X))
    assert_same_proba(restored.predict_proba(X), est.predict_proba(X))


def test_model_pickled_off_the_cpu_round_trips_on_a_cpu_only_machine(
    fitted_mixed_estimator, monkeypatch
):
    est, X, _ = fitted_mixed_estimator
    state = _cuda_network_state(private_copy(est), monkeypatch)
    payload = pickle.dumps(state)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = type(est).__new__(type(est))
    restored.__setstate__(pickle.loads(payload))
    assert all(p.device.type == "cpu" for p in restored.network_.parameters())
    assert_array_equal(restored.predict(X), est.predict(X))
