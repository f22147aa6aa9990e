"""Tests of skmmoe._params: the hyper-parameters read once into typed specs."""

import inspect
from dataclasses import fields

import numpy as np
import pytest
import torch

from skmmoe import MMOEClassifier, MMOEEstimator
from skmmoe._engine.network import MMOENetwork
from skmmoe._params import (
    FeatureSpec,
    NetworkSpec,
    TargetSpec,
    TrainingSpec,
    read_params,
)


def test_read_params_gives_every_spec_the_estimators_values():
    est = MMOEEstimator(num_experts=4, expert_dnn_hidden_units=[32, 16], seed=7)
    specs = read_params(est)
    assert specs.network.num_experts == 4
    assert specs.network.expert_dnn_hidden_units == (32, 16)
    assert specs.training.seed == 7
    assert specs.training.device == "cpu"
    assert specs.training.precision == "float32"
    assert specs.targets.kind == "any"
    assert read_params(MMOEClassifier()).targets.kind == "classifier"
    assert specs.features.numeric_encoding == est.numeric_encoding


def test_every_spec_field_is_an_estimator_parameter_or_derived_from_them():
    params = set(MMOEEstimator().get_params())
    derived = {"kind"}
    for spec in (FeatureSpec, TargetSpec, NetworkSpec, TrainingSpec):
        for f in fields(spec):
            assert f.name in params or f.name in derived, (spec.__name__, f.name)


def test_network_spec_fields_are_the_networks_keyword_arguments():
    """A new network parameter needs its constraint, a NetworkSpec field and an
    MMOENetwork argument of the same name: nothing else maps it."""
    network_args = set(inspect.signature(MMOENetwork).parameters)
    data_args = {"vocabulary_sizes", "n_dense", "output_dims"}
    # The embedding tables, from the fitted features (FeatureEncoder.embedding_layout).
    data_args |= {"tables", "sparse_tables", "list_tables", "list_combiners"}
    assert {f.name for f in fields(NetworkSpec)} == network_args - data_args


def test_seed_none_draws_a_fresh_seed_per_fit():
    from skmmoe._engine.runtime import resolve_runtime

    spec = read_params(MMOEEstimator(seed=None)).training
    assert spec.seed is None
    seeds = {resolve_runtime(spec).seed for _ in range(5)}
    assert len(seeds) > 1
    assert resolve_runtime(read_params(MMOEEstimator(seed=7)).training).seed == 7


@pytest.mark.parametrize(
    "epochs, n, expected", [("auto", 100_000, 2), ("auto", 25_000, 6), (3, 10, 3)]
)
def test_epochs_for(epochs, n, expected):
    assert read_params(MMOEEstimator(epochs=epochs)).training.epochs_for(n) == expected


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(dnn_use_bn=True, batch_size=1), "batch_size >= 2"),
        (dict(precision="float16"), "float16"),
        (dict(device="tpu"), "not a device"),
        (dict(categorical_features=[0], preprocessor=None), None),
    ],
)
def test_cross_parameter_rules(params, match):
    """Rules over several parameters are read_params'; those over the machine
    (the device, its precision) the runtime's: both at the start of fit."""
    from skmmoe._engine.runtime import resolve_runtime

    est = MMOEEstimator(**params)
    if match is None:
        resolve_runtime(read_params(est).training)
        return
    with pytest.raises(ValueError, match=match):
        resolve_runtime(read_params(est).training)
    with pytest.raises(ValueError, match=match):
        est.fit(np.zeros((4, 2)), [0.0, 1.0, 2.0, 3.0])
    assert not hasattr(est, "network_")


def test_numeric_only_arrays():
    assert FeatureSpec("auto", None, 8, "scaled", 16).numeric_only
    assert not FeatureSpec([0], None, 8, "scaled", 16).numeric_only
    est = MMOEEstimator(categorical_features=[0])
    X = np.array([["a", 1.0], ["b", 2.0], ["a", 3.0]], dtype=object)
    est.set_params(epochs=1).fit(X, [0, 1, 0])
    assert not est._encoder.numeric_input


def test_weight_count_counts_the_networks_weights():
    spec = read_params(
        MMOEEstimator(
            num_experts=3,
            expert_dnn_hidden_units=(16, 8),
            gate_dnn_hidden_units=(4,),
            tower_dnn_hidden_units=(5,),
            embedding_dim=6,
        )
    ).network
    shapes = dict(vocabulary_sizes=[4, 7], n_dense=3, output_dims=[1, 3])
    net = MMOENetwork(**shapes, **{f.name: getattr(spec, f.name) for f in fields(spec)})
    weights = sum(p.numel() for n, p in net.named_parameters() if n.endswith("weight"))
    assert spec.weight_count([(4, 6), (7, 6)], 2 * 6 + 3, [1, 3]) == weights
    # Tables of other widths, one shared by a scalar and a list column.
    layout = dict(
        tables=[(4, 6), (9, 3)],
        sparse_tables=[0, 1],
        list_tables=[1],
        list_combiners=["sum"],
    )
    arguments = {f.name: getattr(spec, f.name) for f in fields(spec)}
    net = MMOENetwork(**shapes, **{**arguments, **layout})
    weights = sum(p.numel() for n, p in net.named_parameters() if n.endswith("weight"))
    assert spec.weight_count(layout["tables"], 6 + 3 + 3 + 3, [1, 3]) == weights


@pytest.mark.parametrize(
    "params", [dict(embedding_dim=2**40), dict(num_experts=2**30)], ids=str
)
def test_a_network_too_large_to_allocate_gives_its_size(params):
    X = np.column_stack([np.arange(40) % 4, np.arange(40.0)])
    est = MMOEClassifier(epochs=1, categorical_features=[0], **params)
    with pytest.raises(ValueError, match=r"does not fit in memory: about [\d,]+ "):
        est.fit(X, np.arange(40) % 2)
    assert not hasattr(est, "network_")


@pytest.mark.parametrize("device", ["cpu:0", torch.device("cpu", 0)], ids=str)
def test_an_indexed_cpu_device_is_the_cpu(device):
    from skmmoe._engine.runtime import resolve_runtime

    spec = read_params(MMOEEstimator(device=device)).training
    assert resolve_runtime(spec).device == torch.device("cpu")
