"""The training loop (skmmoe._engine.training), directly and through the estimators."""

import copy
import itertools
import math
import types

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose
from sklearn.metrics import log_loss, r2_score
from small_network import small

from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor
from skmmoe._engine import optim as _optim
from skmmoe._engine import training as _training
from skmmoe._engine.network import MMOENetwork, predict_logits
from skmmoe._engine.optim import OPTIMIZERS
from skmmoe._engine.training import TrainConfig, TrainData, train
from skmmoe._tasks import BinaryTask, MulticlassTask, RegressionTask


# ------------------------------------------------ helpers for train() itself
def make_problem(n=64, seed=0):
    """Encoded inputs for one sparse feature (4 ids) and 3 dense ones, a binary
    task and a regression task, as the estimator would hand them to train()."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 4, (n, 1))
    dense = rng.normal(size=(n, 3)).astype(np.float32)
    y_binary = ((dense[:, 0] + (ids[:, 0] == 1)) > 0.3).astype(np.int64)
    y_regression = dense[:, 1] * 2.0 - dense[:, 2] + (ids[:, 0] == 2)
    missing = np.zeros(n, dtype=bool)
    tasks = [
        BinaryTask("click").fit(np.array([0, 1])),
        RegressionTask("time").fit(y_regression),
    ]
    targets = [
        torch.from_numpy(tasks[0].encode(y_binary, missing)),
        torch.from_numpy(tasks[1].encode(y_regression, missing)),
    ]
    data = TrainData(
        torch.from_numpy(ids), torch.from_numpy(dense), targets, [None, None]
    )
    return tasks, data


def make_network(tasks, seed=0, **kwargs):
    params = dict(
        dnn_activation="relu", dnn_dropout=0.0, dnn_use_bn=False, init_std=1e-4
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MMOENetwork(
            vocabulary_sizes=[4],
            embedding_dim=4,
            n_dense=3,
            output_dims=[t.output_dim for t in tasks],
            num_experts=2,
            expert_dnn_hidden_units=(8,),
            gate_dnn_hidden_units=(4,),
            tower_dnn_hidden_units=(4,),
            **{**params, **kwargs},
        )


def make_config(**overrides):
    """A TrainConfig of the training spec's fields, the runtime's and the call's,
    any of them overridden by name; with a validator, early stopping watches it."""
    from dataclasses import fields

    from skmmoe._engine.callbacks import fit_callbacks
    from skmmoe._engine.runtime import Runtime
    from skmmoe._params import TrainingSpec

    spec = dict(
        epochs=3,
        batch_size=1024,
        optimizer="adam",
        learning_rate=0.01,
        lr_schedule="constant",
        l2_reg_embedding=0.0,
        l2_reg_dnn=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        clip_grad_norm=None,
        precision="float32",
        device="cpu",
        gpus=None,
        n_jobs=None,
        n_workers=None,
        verbose=0,
        seed=0,
    )
    runtime = dict(
        device=torch.device("cpu"),
        device_ids=None,
        group=None,
        seed=0,
        autocast_dtype=None,
        threads=torch.get_num_threads(),
        adapt_threads=False,
        verbose=0,
    )
    call = dict(epochs=3, loss_weights=[1.0, 1.0], seed=0)
    for name, value in overrides.items():
        for part in (spec, runtime, call):
            if name in part:
                part[name] = value
        if name not in spec and name not in runtime:
            call[name] = value
    spec = TrainingSpec(**{f.name: spec[f.name] for f in fields(TrainingSpec)})
    call.setdefault(
        "callbacks",
        fit_callbacks(spec, validating=call.get("validate") is not None),
    )
    return TrainConfig(spec=spec, runtime=Runtime(**runtime), **call)


def parameters(network):
    return {k: v.detach().clone() for k, v in network.named_parameters()}


def distance(a, b):
    return math.sqrt(sum(float((a[k] - b[k]).pow(2).sum()) for k in a))


# ------------------------------------------------------ the loss semantics
def test_one_sgd_step_matches_the_hand_computed_loss():
    """Loss = sum_t loss_weight_t * weighted mean over samples of task t's loss,
    plus l2_reg_embedding * mean squared norm of the looked-up embeddings, plus
    l2_reg_dnn * sum of squared layer weights."""
    tasks, data = make_problem(n=48)
    rng = np.random.default_rng(1)
    w0 = torch.from_numpy(rng.uniform(0.2, 3.0, 48).astype(np.float32))
    w1 = torch.from_numpy((rng.random(48) < 0.7).astype(np.float32))
    data.weights = [w0, w1]
    loss_weights = [0.7, 1.3]
    l2_emb, l2_dnn, lr = 0.01, 0.001, 0.05

    network = make_network(tasks)
    reference = copy.deepcopy(network)
    reference.train()
    logits = reference(data.sparse, data.dense)
    bce = F.binary_cross_entropy_with_logits(
        logits[0][:, 0], data.targets[0], reduction="none"
    )
    se = (logits[1][:, 0] - data.targets[1]) ** 2
    task_losses = [(bce * w0).sum() / w0.sum(), (se * w1).sum() / w1.sum()]
    embeddings = reference.embedding.weight[data.sparse[:, 0]]
    layer_weights = [
        p
        for name, p in reference.named_parameters()
        if name.endswith("weight") and not name.startswith("embedding")
    ]
    loss = (
        loss_weights[0] * task_losses[0]
        + loss_weights[1] * task_losses[1]
        + l2_emb * embeddings.pow(2).sum() / 48
        + l2_dnn * sum(p.pow(2).sum() for p in layer_weights)
    )
    loss.backward()
    # The first step of momentum SGD is a plain gradient step.
    expected = {
        name: (p - lr * p.grad).detach() for name, p in reference.named_parameters()
    }

    result = train(
        network,
        tasks,
        data,
        make_config(
            epochs=1,
            optimizer="sgd",
            learning_rate=lr,
            loss_weights=loss_weights,
            l2_reg_embedding=l2_emb,
            l2_reg_dnn=l2_dnn,
        ),
    )
    got = parameters(network)
    assert set(got) == set(expected)
    for name in expected:
        assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-7, err_msg=name)
    # The history holds each task's weighted mean loss, without the L2 terms.
    record = result.history[0]["train_loss"]
    assert record["click"] == pytest.approx(task_losses[0].item(), rel=1e-5)
    assert record["time"] == pytest.approx(task_losses[1].item(), rel=1e-5)


def test_sample_weight_two_equals_a_duplicated_row():
    tasks, data = make_problem(n=40)
    weights = torch.ones(40)
    weights[[3, 17]] = 2.0
    weighted = TrainData(data.sparse, data.dense, data.targets, [weights, weights])
    rows = torch.cat([torch.arange(40), torch.tensor([3, 17])])
    duplicated = data.take(rows)

    config = make_config(epochs=8, batch_size=1024, learning_rate=0.01)
    net_weighted = make_network(tasks)
    net_duplicated = copy.deepcopy(net_weighted)
    train(net_weighted, tasks, weighted, config)
    train(net_duplicated, tasks, duplicated, config)

    out_weighted = predict_logits(net_weighted, data.sparse, data.dense)
    out_duplicated = predict_logits(net_duplicated, data.sparse, data.dense)
    untrained = predict_logits(make_network(tasks), data.sparse, data.dense)
    for a, b, c in zip(out_weighted, out_duplicated, untrained):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(a, c, atol=1e-3)


@pytest.mark.parametrize("scale", [2.0**-1000, 2.0**1000])
def test_sample_weights_count_relative_to_the_largest(scale):
    """The losses are weighted means, so only the weights' ratios matter: weights
    of any finite scale (here about 1e-301 and 1e301, far past float32's range)
    train as the same weights near 1, bit for bit (powers of 2 scale exactly)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] - X[:, 1]
    w = rng.uniform(0.5, 2.0, size=60)
    w = w / w.max()
    est = MMOERegressor(**small(epochs=3))
    expected = est.fit(X, y, sample_weight=w).predict(X)
    got = MMOERegressor(**small(epochs=3)).fit(X, y, sample_weight=w * scale)
    np.testing.assert_array_equal(got.predict(X), expected)


def test_per_task_weights_only_touch_their_task():
    """Zero weights of task 0 on half the rows: the values of those labels do not
    matter, but task 1 still trains on every row."""
    tasks, data = make_problem(n=64)
    w0 = torch.ones(64)
    w0[::2] = 0.0
    data.weights = [w0, None]
    other = TrainData(
        data.sparse,
        data.dense,
        [torch.where(w0 > 0, data.targets[0], 1 - data.targets[0]), data.targets[1]],
        data.weights,
    )
    config = make_config(epochs=5, batch_size=16)
    net_a, net_b = make_network(tasks), make_network(tasks)
    train(net_a, tasks, data, config)
    train(net_b, tasks, other, config)
    for a, b in zip(
        predict_logits(net_a, data.sparse, data.dense),
        predict_logits(net_b, data.sparse, data.dense),
    ):
        assert torch.equal(a, b)


def test_train_loss_scale_does_not_depend_on_batch_size():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    Y = pd.DataFrame({"b": (X[:, 0] > 0).astype(int), "r": 10.0 * X[:, 1] + 50.0})
    # A learning rate this small leaves the network at its initial state.
    losses = []
    for batch_size in (8, 300):
        params = small(epochs=1, learning_rate=1e-9, batch_size=batch_size)
        est = MMOEEstimator(**params).fit(X, Y)
        losses.append(est.history_[0]["train_loss"])
    assert losses[0]["b"] == pytest.approx(losses[1]["b"], rel=1e-4)
    assert losses[0]["r"] == pytest.approx(losses[1]["r"], rel=1e-4)
    # The per-sample mean loss: log loss, and the squared error of the target
    # standardised for training.
    proba = est.predict_proba(X)[0]
    assert losses[1]["b"] == pytest.approx(log_loss(Y["b"], proba), rel=1e-4)
    pred = est.predict(X)[:, 1]
    mse_standardised = np.mean((pred - Y["r"]) ** 2) / Y["r"].var(ddof=0)
    assert losses[1]["r"] == pytest.approx(mse_standardised, rel=1e-4)


def test_train_loss_with_missing_labels_is_the_mean_over_labelled_samples():
    tasks, data = make_problem(n=200)
    rng = np.random.default_rng(2)
    labelled = torch.from_numpy((rng.random(200) < 0.15).astype(np.float32))
    data.weights = [labelled, None]
    network = make_network(tasks)
    logits = predict_logits(network, data.sparse, data.dense)[0]
    bce = F.binary_cross_entropy_with_logits(
        logits[:, 0], data.targets[0], reduction="none"
    )
    expected = float((bce * labelled).sum() / labelled.sum())
    result = train(
        network, tasks, data, make_config(epochs=1, batch_size=4, learning_rate=1e-9)
    )
    assert result.history[0]["train_loss"]["click"] == pytest.approx(expected, rel=1e-3)


# ---------------------------------------------------------- early stopping
def test_early_stopping_history_and_stop():
    rng = np.random.default_rng(0)
    n = 300
    X = rng.normal(size=(n, 5))
    # Mostly noise: the validation loss stops improving after a few epochs.
    Y = pd.DataFrame(
        {
            "b": np.where(rng.random(n) < 0.5, "yes", "no"),
            "m": rng.integers(0, 3, n),
            "r": X[:, 0] + rng.normal(size=n),
        }
    )
    est = MMOEEstimator(
        **small(
            expert_dnn_hidden_units=(64,),
            tower_dnn_hidden_units=(32,),
            epochs=300,
            batch_size=32,
            learning_rate=0.02,
            early_stopping=True,
            n_iter_no_change=2,
        )
    ).fit(X, Y)
    assert est.task_types_ == ["binary", "multiclass", "regression"]
    assert est.n_epochs_ < 300
    objectives = [record["valid_objective"] for record in est.history_]
    assert est.best_epoch_ == int(np.argmin(objectives)) + 1
    assert est.n_epochs_ == est.best_epoch_ + 2
    for record in est.history_:
        valid = record["valid"]
        assert set(valid) == {"b", "m", "r"}
        assert set(valid["b"]) == {"roc_auc", "log_loss"}
        assert set(valid["m"]) == {"accuracy", "log_loss"}
        assert set(valid["r"]) == {"mse"}
        assert 0.0 <= valid["b"]["roc_auc"] <= 1.0
        assert 0.0 <= valid["m"]["accuracy"] <= 1.0
        # The objective is the mean validation loss; the regression loss is on
        # the standardised target.
        regression_loss = valid["r"]["mse"] / Y["r"].var(ddof=0)
        expected = (
            valid["b"]["log_loss"] + valid["m"]["log_loss"] + regression_loss
        ) / 3
        assert record["valid_objective"] == pytest.approx(expected, rel=1e-5)


def test_early_stopping_restores_the_best_weights():
    tasks, data = make_problem(n=160, seed=3)
    # Noisy labels so that the training rows are memorised quickly.
    flip = torch.from_numpy(np.random.default_rng(4).random(160) < 0.3)
    data.targets[0] = torch.where(flip, 1 - data.targets[0], data.targets[0])
    train_part, valid_part = (
        data.take(torch.arange(120)),
        data.take(torch.arange(120, 160)),
    )

    def validate(logits):
        loss = float(tasks[0].loss(logits[0], valid_part.targets[0]).mean())
        return {"click": {"log_loss": loss}}, loss

    network = make_network(tasks)
    config = make_config(
        epochs=300,
        batch_size=16,
        learning_rate=0.03,
        loss_weights=[1.0, 0.0],
        n_iter_no_change=3,
        validate=validate,
    )
    result = train(network, tasks, train_part, config, valid_part)
    objectives = [record["valid_objective"] for record in result.history]
    assert len(objectives) < 300
    assert result.best_epoch == int(np.argmin(objectives)) + 1
    assert len(objectives) == result.best_epoch + 3
    assert not network.training
    _, restored = validate(predict_logits(network, valid_part.sparse, valid_part.dense))
    assert restored == objectives[result.best_epoch - 1]
    assert restored < objectives[-1]


def test_no_validation_without_early_stopping():
    tasks, data = make_problem(n=50)
    result = train(make_network(tasks), tasks, data, make_config(epochs=2))
    assert result.best_epoch is None and not result.interrupted
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert all("valid" not in r and r["seconds"] >= 0 for r in result.history)


# --------------------------------------------------------------- divergence
def test_divergence_raises_and_keeps_previous_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = pd.DataFrame({"spend": X @ [1.0, 2.0, 3.0]})
    est = MMOERegressor(**small(epochs=3)).fit(X, y)
    expected = est.predict(X)
    est.set_params(optimizer="sgd", learning_rate=1e6)
    with pytest.raises(FloatingPointError) as info:
        est.fit(X, y)
    message = str(info.value)
    assert "'spend'" in message
    assert "epoch 1" in message
    assert "learning_rate" in message
    assert est.learning_rate == 1e6
    np.testing.assert_array_equal(est.predict(X), expected)
    assert est.n_epochs_ == 3


# ------------------------------------------------------- KeyboardInterrupt
def _interrupting_optimizer(after_steps):
    class Interrupting(torch.optim.Adam):
        steps = 0

        def step(self, closure=None):
            type(self).steps += 1
            if type(self).steps > after_steps:
                raise KeyboardInterrupt
            return super().step(closure)

    return lambda params, lr: Interrupting(params, lr=lr)


def test_keyboard_interrupt_keeps_the_weights(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    # 200 rows in batches of 64: 4 steps per epoch; the 11th step is in epoch 3.
    monkeypatch.setitem(_optim.OPTIMIZERS, "adam", _interrupting_optimizer(10))
    est = MMOEClassifier(**small(epochs=50))
    with pytest.warns(UserWarning, match="interrupted in epoch 3"):
        est.fit(X, y)
    assert est.n_epochs_ == 2 and len(est.history_) == 2
    proba = est.predict_proba(X)
    assert proba.shape == (200, 2) and np.isfinite(proba).all()


def test_keyboard_interrupt_in_first_epoch(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1]])
    monkeypatch.setitem(_optim.OPTIMIZERS, "adam", _interrupting_optimizer(1))
    est = MMOEEstimator(**small(task_types=("binary", "regression")))
    with pytest.warns(UserWarning, match="current weights"):
        est.fit(X, Y)
    assert est.n_epochs_ == 0 and est.history_ == []
    pred = est.predict(X)
    assert pred.shape == (200, 2)
    assert np.isfinite(pred[:, 1].astype(float)).all()


def test_keyboard_interrupt_with_early_stopping_keeps_best_weights(monkeypatch):
    tasks, data = make_problem(n=120)
    valid = data.take(torch.arange(100, 120))
    data = data.take(torch.arange(100))

    def validate(logits):
        loss = float(tasks[0].loss(logits[0], valid.targets[0]).mean())
        return {}, loss

    monkeypatch.setitem(_optim.OPTIMIZERS, "adam", _interrupting_optimizer(35))
    network = make_network(tasks)
    config = make_config(epochs=100, batch_size=10, validate=validate)
    with pytest.warns(UserWarning, match="best weights so far"):
        result = train(network, tasks, data, config, valid)
    assert result.interrupted
    assert len(result.history) == 3
    objectives = [r["valid_objective"] for r in result.history]
    _, restored = validate(predict_logits(network, valid.sparse, valid.dense))
    assert restored == min(objectives)


# -------------------------------------------------------------- optimizers
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_trains(optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = pd.DataFrame({"b": (X[:, 0] > 0).astype(int), "r": X[:, 1] - X[:, 2]})
    est = MMOEEstimator(
        **small(
            optimizer=optimizer,
            learning_rate=0.03,
            epochs=10,
            batch_size=32,
            lr_schedule="constant",  # the rate this test was set for, throughout
            numeric_encoding="scaled",  # standardised inputs suit plain SGD's step
        )
    ).fit(X, Y)
    losses = [[r["train_loss"][task] for r in est.history_] for task in ("b", "r")]
    for task_losses in losses:
        assert task_losses[-1] < 0.8 * task_losses[0], optimizer
        # Mostly downhill: at most a few epochs go up.
        assert np.sum(np.diff(task_losses) > 0) <= 3, optimizer


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="optimizer"):
        MMOEClassifier(optimizer="lbfgs").fit(np.zeros((4, 1)), [0, 1, 0, 1])


# ----------------------------------------------------------- gradient clip
def test_clip_grad_norm_bounds_the_updates():
    tasks, data = make_problem(n=64)
    lr, clip, epochs, batch_size = 0.1, 1e-3, 3, 16
    steps = epochs * 64 // batch_size
    initial = parameters(make_network(tasks))

    clipped = make_network(tasks)
    config = dict(
        epochs=epochs, batch_size=batch_size, optimizer="sgd", learning_rate=lr
    )
    train(clipped, tasks, data, make_config(**config, clip_grad_norm=clip))
    free = make_network(tasks)
    train(free, tasks, data, make_config(**config))

    moved_clipped = distance(parameters(clipped), initial)
    moved_free = distance(parameters(free), initial)
    # Each gradient has norm <= clip, so a momentum-0.9 buffer has norm <= 10 clip.
    bound = steps * lr * 10 * clip
    assert 0 < moved_clipped <= bound * (1 + 1e-4)
    assert moved_free > 10 * bound


def test_clip_grad_norm_through_the_estimator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X[:, 0] * 3.0
    est = MMOERegressor(**small(epochs=20, learning_rate=0.01, clip_grad_norm=1.0))
    est.fit(X, y)
    assert r2_score(y, est.predict(X)) > 0.8


# ----------------------------------------------------------- epochs="auto"
@pytest.mark.parametrize(
    "n, batch_size, expected",
    [
        (3000, 8, 2),  # 375 steps per epoch: the minimum of 2 epochs
        (800, 8, 3),  # 100 steps per epoch: 3 epochs reach 250 steps
        (200, 16, 20),  # 13 steps per epoch: 20 epochs reach 250 steps
        (100, 512, 200),  # one step per epoch: capped at 200 epochs
    ],
)
def test_auto_epochs(n, batch_size, expected):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] > 0).astype(int)
    params = small(
        expert_dnn_hidden_units=(4,),
        gate_dnn_hidden_units=(),
        tower_dnn_hidden_units=(),
        epochs="auto",
        batch_size=batch_size,
    )
    est = MMOEClassifier(**params).fit(X, y)
    assert est.n_epochs_ == expected
    steps = est.n_epochs_ * math.ceil(n / min(batch_size, n))
    assert steps >= 250 or est.n_epochs_ == 200


def test_auto_epochs_count_the_training_part_with_early_stopping():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(110, 2))
    y = (X[:, 0] > 0).astype(int)
    est = MMOEClassifier(
        **small(
            expert_dnn_hidden_units=(4,),
            epochs="auto",
            batch_size=50,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=1000,
        )
    ).fit(X, y)
    # 99 training rows in batches of 50: 2 steps per epoch, 125 epochs.
    assert est.n_epochs_ == 125


@pytest.mark.parametrize(
    "params, n_rows, streaming, expected",
    [
        ({}, 2_000, False, True),  # 63 planned epochs, 200 held-out rows
        ({}, 1_000, False, False),  # 100 held-out rows: too few to tell epochs apart
        ({}, 63_000, False, True),  # 124 steps an epoch: 3 epochs planned
        ({}, 64_000, False, False),  # 2 epochs planned: nothing to stop
        ({}, 5_000, True, False),  # partial_fit
        ({"epochs": 10}, 5_000, False, False),  # the user's epochs
        ({"validation_fraction": 0.2}, 1_000, False, True),
        ({"early_stopping": True}, 100, True, True),
        ({"early_stopping": False}, 5_000, False, False),
    ],
)
def test_early_stopping_auto_is_on_for_fits_of_many_passes(
    params, n_rows, streaming, expected
):
    from skmmoe._params import read_params

    training = read_params(MMOEEstimator(**params)).training
    assert training.early_stopping_for(n_rows, streaming) is expected


def test_early_stopping_auto_holds_out_rows_in_fit_not_in_partial_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_500, 4))
    y = X[:, 0] + rng.normal(scale=3.0, size=2_500)  # a noisy target
    params = small(epochs="auto", batch_size=512, n_iter_no_change=2)
    fitted = MMOERegressor(**params).fit(X, y)
    assert all("valid" in record for record in fitted.history_)
    # 2,250 training rows: 5 steps an epoch, 50 epochs planned; it stops early.
    assert fitted.n_epochs_ < 50
    streamed = MMOERegressor(**params).partial_fit(X, y)
    assert all("valid" not in record for record in streamed.history_)
    off = MMOERegressor(**params, early_stopping=False).fit(X, y)
    assert off.n_epochs_ == 50 and all("valid" not in r for r in off.history_)


# --------------------------------------------------------------- batch norm
def test_batch_norm_with_a_trailing_batch_of_one_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(33, 3))
    y = (X[:, 0] > 0).astype(int)
    est = MMOEClassifier(**small(batch_size=32, epochs=3, dnn_use_bn=True)).fit(X, y)
    assert est.n_epochs_ == 3
    assert all(np.isfinite(r["train_loss"]["task_0"]) for r in est.history_)
    assert np.isfinite(est.predict_proba(X)).all()


def test_batch_norm_trailing_row_is_folded_into_the_previous_batch():
    tasks, data = make_problem(n=33)
    network = make_network(tasks, dnn_use_bn=True)
    result = train(network, tasks, data, make_config(epochs=2, batch_size=16))
    assert len(result.history) == 2
    assert all(math.isfinite(v) for v in result.history[-1]["train_loss"].values())


# --------------------------------------------------------------- TrainData
def test_train_data_take_and_to():
    tasks, data = make_problem(n=10)
    data.weights = [torch.arange(10.0), None]
    part = data.take(torch.tensor([2, 5]))
    assert len(part) == 2
    assert part.weights[0].tolist() == [2.0, 5.0] and part.weights[1] is None
    assert torch.equal(part.dense, data.dense[[2, 5]])
    moved = data.to(torch.device("cpu"))
    assert torch.equal(moved.sparse, data.sparse) and moved.weights[1] is None


def test_multiclass_task_trains_through_train():
    rng = np.random.default_rng(0)
    tasks, data = make_problem(n=90)
    labels = rng.integers(0, 3, 90)
    multiclass = MulticlassTask("kind").fit(labels)
    tasks = [tasks[0], multiclass]
    data.targets[1] = torch.from_numpy(multiclass.encode(labels, np.zeros(90, bool)))
    result = train(
        make_network(tasks), tasks, data, make_config(epochs=10, batch_size=30)
    )
    first, last = result.history[0]["train_loss"], result.history[-1]["train_loss"]
    assert last["kind"] < first["kind"]
    assert first["kind"] == pytest.approx(math.log(3), rel=0.3)


# ------------------------------------------------------- learning-rate schedule
def _record_learning_rates(monkeypatch):
    rates = []
    step = _optim.Adam.step

    def recording_step(self):
        rates.append(self.param_groups[0]["lr"])
        step(self)

    monkeypatch.setattr(_optim.Adam, "step", recording_step)
    return rates


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_fit_follows_the_lr_schedule_over_every_step(schedule, monkeypatch):
    rates = _record_learning_rates(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(int)
    params = small(epochs=3, batch_size=16, learning_rate=0.01, lr_schedule=schedule)
    MMOEClassifier(**params).fit(X, y)
    expected = [0.01 * _optim.lr_factor(schedule, s, 12) for s in range(12)]
    assert_allclose(rates, expected)


def test_partial_fit_chunks_after_the_first_train_at_the_constant_rate(monkeypatch):
    rates = _record_learning_rates(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(int)
    est = MMOEClassifier(**small(epochs=2, batch_size=32, learning_rate=0.01))
    est.partial_fit(X, y)  # the first call fits as fit does: decaying
    assert_allclose(rates, [0.01, 0.0075, 0.005, 0.0025])
    rates.clear()
    est.partial_fit(X, y)
    assert_allclose(rates, [0.01, 0.01])


def test_unknown_lr_schedule_is_rejected():
    with pytest.raises(ValueError, match="lr_schedule"):
        MMOEClassifier(lr_schedule="step").fit(np.zeros((4, 1)), [0, 1, 0, 1])


@pytest.mark.parametrize("streaming", [False, True])
def test_divergence_in_the_last_step_is_caught(streaming):
    """The loss is summed before each step's update, so a step that blows the
    weights up at the very end of training must be caught by the weights."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = pd.DataFrame({"a": (X[:, 0] > 0).astype(int), "b": X[:, 1]})
    est = MMOEEstimator(**small(epochs=1, batch_size=300)).fit(X, Y)
    expected = est.predict(X)
    est.set_params(learning_rate=1e20, lr_schedule="constant")
    with pytest.raises(FloatingPointError, match="became NaN or infinite in the last"):
        if streaming:
            est.partial_fit(X, Y)  # one batch: its update is the last step
        else:
            est.fit(X, Y)
    np.testing.assert_array_equal(est.predict(X), expected)


# ---------------------------------------------------------------- threads
def _threads_used(monkeypatch, step_seconds, n_steps, probe=3):
    """The thread count a ThreadTuner (2 threads, probes of 3, runs of 10) uses
    at each step when a step takes ``step_seconds[threads]`` seconds, or
    ``step_seconds(threads, step)`` (a fake clock)."""
    from skmmoe._engine import threads as _threads

    seconds = step_seconds if callable(step_seconds) else (lambda t, i: step_seconds[t])
    clock = {"now": 0.0}
    fake_time = types.SimpleNamespace(perf_counter=lambda: clock["now"])
    monkeypatch.setattr(_threads, "time", fake_time)
    monkeypatch.setattr(_threads.torch, "set_num_threads", lambda n: None)
    tuner = _threads.ThreadTuner(2, adaptive=True, probe=probe, run=10)
    used = []
    for step in range(n_steps):
        tuner.before_step()
        used.append(tuner._current)
        clock["now"] += seconds(tuner._current, step)
        tuner.after_step()
    return used


def test_thread_tuner_falls_back_to_one_thread_when_it_is_faster(monkeypatch):
    # Two threads slow; probes of 5 steps.
    used = _threads_used(monkeypatch, {1: 0.01, 2: 0.2}, 60, probe=5)
    # 5 one-thread probe steps, three slow two-thread steps cut the probe short,
    # then one thread for the run of 10 steps, and the next probe.
    assert used[:8] == [1] * 5 + [2] * 3
    assert set(used[8:18]) == {1}
    two_thread_runs = [len(list(g)) for t, g in itertools.groupby(used) if t == 2]
    assert two_thread_runs == [3] * len(two_thread_runs)
    assert used.count(2) < 0.2 * len(used)


def test_thread_tuner_keeps_the_threads_when_they_are_faster(monkeypatch):
    used = _threads_used(monkeypatch, {1: 0.015, 2: 0.01}, 200)
    # Each time two threads win again, the next probe comes about twice as late.
    starts = [i for i in range(len(used)) if used[i] == 1 and used[i - 1] != 1]
    gaps = np.diff(starts)
    assert len(starts) >= 3 and all(b > 1.5 * a for a, b in zip(gaps, gaps[1:]))
    assert used.count(1) == 3 * len(starts)


def test_thread_tuner_returns_to_the_threads_when_the_load_goes(monkeypatch):
    # Two threads are 10x slower for the first 100 steps (a busy neighbour),
    # then 1.5x faster (alone).
    used = _threads_used(
        monkeypatch, lambda t, i: 0.01 if t == 1 else (0.1 if i < 100 else 0.0067), 600
    )
    # While two threads are slow, only the probes use them (3 steps each time,
    # with ever longer runs of one thread between); when the load goes, two
    # threads come back within a probe and stay.
    assert used[:100].count(2) <= 15
    assert used[-100:].count(2) >= 90


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("speedup", [0.95, 1.0, 1.5])
def test_thread_tuner_schedule_does_not_follow_clock_noise(monkeypatch, seed, speedup):
    """Unless one thread is clearly faster, the steps that probe with one thread
    are fixed by the step count: timings that wobble by +-8% (two threads 5%
    slower to 1.5x faster) give the same schedule as steady ones, so fits with
    one seed run the same steps with the same threads."""
    steady = _threads_used(monkeypatch, {1: 0.01, 2: 0.01 / speedup}, 300)
    noise = np.random.default_rng(seed).uniform(0.92, 1.08, size=(3, 300))
    noisy = _threads_used(
        monkeypatch,
        lambda t, i: noise[t, i] * (0.01 if t == 1 else 0.01 / speedup),
        300,
    )
    assert noisy == steady
    assert steady.count(1) < 0.1 * len(steady)


def test_default_fits_with_one_seed_are_identical_under_a_noisy_clock(monkeypatch):
    """Two default fits whose step timings differ (a noisy fake clock) use the
    same threads at every step and give the same model, bit for bit, also with
    batch normalisation, whose statistics may round differently with two
    threads."""
    from skmmoe._engine import threads as _threads

    X = np.random.default_rng(0).normal(size=(400, 4))
    y = X[:, 0] + X[:, 1] ** 2
    predictions, schedules = [], []
    real_set = torch.set_num_threads
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        clock = {"now": 0.0}

        def perf_counter(clock=clock, rng=rng):
            clock["now"] += rng.uniform(0.010, 0.012)
            return clock["now"]

        used = []

        def set_num_threads(n, used=used):
            used.append(n)
            real_set(n)

        fake_time = types.SimpleNamespace(perf_counter=perf_counter)
        monkeypatch.setattr(_threads, "time", fake_time)
        monkeypatch.setattr(_threads.torch, "set_num_threads", set_num_threads)
        est = MMOERegressor(**small(epochs=4, batch_size=32, dnn_use_bn=True))
        predictions.append(est.fit(X, y).predict(X))
        schedules.append(used)
    assert schedules[0] == schedules[1]
    np.testing.assert_array_equal(predictions[0], predictions[1])


@pytest.mark.parametrize("n_jobs, expected", [(1, 1), (3, 3), (-1, None)])
def test_n_jobs_sets_the_training_threads_and_restores_them(
    n_jobs, expected, monkeypatch
):
    from skmmoe._engine import threads as _threads

    seen = []
    real_epoch = _training._Run.epoch

    def spy(self, epoch):
        seen.append(torch.get_num_threads())
        return real_epoch(self, epoch)

    monkeypatch.setattr(_training._Run, "epoch", spy)
    before = torch.get_num_threads()
    X = np.random.default_rng(0).normal(size=(64, 3))
    MMOEClassifier(**small(epochs=2, n_jobs=n_jobs)).fit(X, (X[:, 0] > 0) * 1)
    assert seen == [expected or _threads.max_threads(-1)] * 2
    assert torch.get_num_threads() == before


def test_threadpool_limits_are_respected():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X = np.random.default_rng(0).normal(size=(64, 3))
    est = MMOEClassifier(**small(epochs=1))
    with threadpoolctl.threadpool_limits(1):
        from skmmoe._engine.threads import max_threads

        assert max_threads(None) == 1
        est.fit(X, (X[:, 0] > 0) * 1)


@pytest.mark.parametrize("n_jobs, adaptive", [(None, True), (2, False), (1, False)])
def test_only_the_default_measures_the_thread_count(n_jobs, adaptive, monkeypatch):
    """An int n_jobs keeps one thread count, whatever the load."""
    seen = []
    real_start = _training._Run.start

    def spy(*args, **kwargs):
        run = real_start(*args, **kwargs)
        seen.append(run.tuner.adaptive)
        return run

    monkeypatch.setattr(_training._Run, "start", spy)
    X = np.random.default_rng(0).normal(size=(64, 3))
    MMOEClassifier(**small(epochs=1, n_jobs=n_jobs)).fit(X, (X[:, 0] > 0) * 1)
    assert seen == [adaptive and torch.get_num_threads() > 1]


# --------------------------------------- validation rows without a task's labels
def _validation_rows(X, Y, fraction: float, seed: int) -> np.ndarray:
    from skmmoe._params import TargetSpec
    from skmmoe._targets import make_targets, validation_split

    spec = TargetSpec(
        task_types=None,
        task_names=None,
        class_weight=None,
        loss_weights=None,
        kind="any",
    )
    return validation_split(make_targets(Y, None, X, spec), fraction, seed)[1]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_a_task_with_no_labelled_validation_row_is_nan_not_a_perfect_zero(kind):
    """A task whose labels are all missing among the validation rows was
    reported with a validation loss of 0.0; it is NaN (nothing measured), and
    early stopping watches the other tasks' losses alone."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    labels = {
        "binary": np.where(X[:, 1] > 0, "u", "v"),
        "multiclass": np.array(["p", "q", "r"])[np.argmax(X, axis=1)],
        "regression": X[:, 1] * 3.0,
    }[kind]
    Y = pd.DataFrame({"watched": X[:, 0] > 0, "other": labels})
    valid = _validation_rows(X, Y, 0.1, seed=5)
    Y["other"] = Y["other"].astype(object)
    Y.loc[valid, "other"] = None  # labelled in training rows only
    est = MMOEEstimator(
        **small(epochs=4), early_stopping=True, validation_fraction=0.1, seed=5
    ).fit(X, Y)
    for record in est.history_:
        assert all(math.isnan(v) for v in record["valid"]["other"].values())
        assert all(math.isfinite(v) for v in record["valid"]["watched"].values())
        assert record["valid_objective"] == pytest.approx(
            record["valid"]["watched"]["log_loss"]
        )


def test_validation_rows_without_any_label_are_refused():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 2))
    Y = pd.DataFrame({"a": X[:, 0] * 2.0, "b": X[:, 1] - 1.0})
    valid = _validation_rows(X, Y, 0.2, seed=1)
    Y.loc[valid] = np.nan
    est = MMOEEstimator(**small(), early_stopping=True, validation_fraction=0.2)
    with pytest.raises(ValueError, match="none of the 20 validation rows has a label"):
        est.set_params(seed=1).fit(X, Y)
    assert not hasattr(est, "network_")
