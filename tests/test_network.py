"""Tests of skmmoe._engine.network: shapes, the batched experts and gates
against a plain per-expert loop, activations, batch norm, init, blocked
prediction, penalties."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from small_network import assert_close_across_row_sets
from torch import nn

from skmmoe._engine.network import (
    ACTIVATIONS,
    GroupedLinear,
    MMOENetwork,
    Padded,
    _GroupedPReLU,
    predict_logits,
)


def make_network(
    *,
    vocabulary_sizes=(3, 5),
    embedding_dim=4,
    n_dense=2,
    output_dims=(1, 4),
    num_experts=3,
    expert_hidden_units=(8, 6),
    gate_hidden_units=(5,),
    tower_hidden_units=(7,),
    activation="relu",
    dropout=0.0,
    use_bn=False,
    init_std=1e-4,
    seed=0,
    shared_gate=False,
):
    # The module draws its init from the global RNG; fork it to leave other tests
    # unaffected.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MMOENetwork(
            vocabulary_sizes=list(vocabulary_sizes),
            embedding_dim=embedding_dim,
            n_dense=n_dense,
            output_dims=list(output_dims),
            num_experts=num_experts,
            expert_dnn_hidden_units=list(expert_hidden_units),
            gate_dnn_hidden_units=list(gate_hidden_units),
            tower_dnn_hidden_units=list(tower_hidden_units),
            dnn_activation=activation,
            dnn_dropout=dropout,
            dnn_use_bn=use_bn,
            init_std=init_std,
            shared_gate=shared_gate,
        )


def make_inputs(vocabulary_sizes, n_dense, n_rows=11, seed=0):
    rng = np.random.default_rng(seed)
    sparse = np.column_stack(
        [rng.integers(0, v, size=n_rows) for v in vocabulary_sizes]
        or [np.empty((n_rows, 0))]
    ).astype(np.int64)
    dense = rng.normal(size=(n_rows, n_dense)).astype(np.float32)
    return torch.from_numpy(sparse), torch.from_numpy(dense)


@pytest.fixture
def network():
    return make_network()


@pytest.fixture
def inputs():
    return make_inputs((3, 5), 2)


# ----------------------------------------------------------------- reference model
def _activate(module, g, h):
    """The activation of group g, applied to that group alone."""
    if isinstance(module, _GroupedPReLU):
        return torch.where(h >= 0, h, module.weight[g, 0, 0] * h)
    return module(h)


def _group_mlp(dnn, g, h):
    """Layer by layer: Linear -> activation -> dropout(0), for group g only."""
    for linear, activation in zip(dnn.linears, dnn.activations):
        w, b = linear.group_parameters(g)
        h = _activate(activation, g, h @ w + b)
    return h


def reference_forward(net, sparse, dense):
    """The plain per-expert / per-gate / per-tower MMoE, written from the paper."""
    blocks = []
    if net.n_sparse:
        offsets = np.concatenate([[0], np.cumsum(_vocabulary_sizes(net))[:-1]])
        ids = sparse + torch.as_tensor(offsets, dtype=torch.long)
        blocks.append(net.embedding.weight[ids].reshape(len(sparse), -1))
    if net.n_dense:
        blocks.append(dense)
    x = torch.cat(blocks, dim=1)

    experts = [_group_mlp(net.experts, e, x) for e in range(net.num_experts)]
    gates, logits = [], []
    for t in range(net.n_tasks):
        g = t if net.n_gates == net.n_tasks else 0  # OMoE: every task reads gate 0
        w, bias = net.gate_heads.group_parameters(g)
        assert bias is None
        gate = torch.softmax(_group_mlp(net.gates, g, x) @ w, dim=1)  # (B, E)
        gates.append(gate)
        mixture = sum(gate[:, e : e + 1] * experts[e] for e in range(net.num_experts))
        logits.append(net.heads[t](_group_mlp(net.towers, t, mixture)))
    return logits, torch.stack(gates, dim=1)


def _vocabulary_sizes(net):
    # Rebuild the sizes from the offsets and the table size, independently of how the
    # module computes offsets internally.
    offsets = net.offsets.tolist()
    total = net.embedding.num_embeddings
    return [b - a for a, b in zip(offsets, [*offsets[1:], total])]


# -------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    "vocabulary_sizes, n_dense",
    [((3, 5), 2), ((), 3), ((4,), 0)],
    ids=["sparse+dense", "dense-only", "sparse-only"],
)
@pytest.mark.parametrize("gate_hidden_units", [(), (5,)])
@pytest.mark.parametrize("tower_hidden_units", [(), (7, 3)])
def test_forward_shapes(
    vocabulary_sizes, n_dense, gate_hidden_units, tower_hidden_units
):
    output_dims = (1, 4, 1)
    net = make_network(
        vocabulary_sizes=vocabulary_sizes,
        n_dense=n_dense,
        output_dims=output_dims,
        gate_hidden_units=gate_hidden_units,
        tower_hidden_units=tower_hidden_units,
    )
    sparse, dense = make_inputs(vocabulary_sizes, n_dense, n_rows=6)
    out = net(sparse, dense)
    assert isinstance(out, tuple)
    assert [tuple(o.shape) for o in out] == [(6, d) for d in output_dims]
    assert all(torch.isfinite(o).all() for o in out)
    assert net.gate_weights(sparse, dense).shape == (6, len(output_dims), 3)


def test_network_without_inputs_raises():
    with pytest.raises(ValueError, match="no inputs"):
        make_network(vocabulary_sizes=(), n_dense=0)


# ------------------------------------------------- batched == per-expert loop
@pytest.mark.parametrize("activation", ["relu", "prelu", "tanh"])
@pytest.mark.parametrize(
    "gate_hidden_units, tower_hidden_units", [((5,), (7,)), ((), ()), ((6, 4), (3,))]
)
@pytest.mark.parametrize("shared_gate", [False, True], ids=["MMoE", "OMoE"])
def test_batched_experts_and_gates_match_per_expert_loop(
    activation, gate_hidden_units, tower_hidden_units, shared_gate
):
    net = make_network(
        activation=activation,
        gate_hidden_units=gate_hidden_units,
        tower_hidden_units=tower_hidden_units,
        shared_gate=shared_gate,
    )
    if activation == "prelu":
        # Distinct slopes per group, so that a mix-up of groups would show.
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, _GroupedPReLU):
                    module.weight.copy_(
                        torch.linspace(0.05, 0.6, module.weight.shape[0]).view(-1, 1, 1)
                    )
    sparse, dense = make_inputs((3, 5), 2)

    net.eval()
    with torch.no_grad():
        logits = net(sparse, dense)
        gates = net.gate_weights(sparse, dense)
        ref_logits, ref_gates = reference_forward(net, sparse, dense)
    for t in range(net.n_tasks):
        assert_allclose(logits[t].numpy(), ref_logits[t].numpy(), rtol=1e-5, atol=1e-5)
    assert_allclose(gates.numpy(), ref_gates.numpy(), rtol=1e-5, atol=1e-6)

    # In float64 the two formulations agree to rounding.
    net = net.double()
    with torch.no_grad():
        logits = net(sparse, dense.double())
        gates = net.gate_weights(sparse, dense.double())
        ref_logits, ref_gates = reference_forward(net, sparse, dense.double())
    for t in range(net.n_tasks):
        assert_allclose(
            logits[t].numpy(), ref_logits[t].numpy(), rtol=1e-12, atol=1e-12
        )
    assert_allclose(gates.numpy(), ref_gates.numpy(), rtol=1e-12, atol=1e-12)


def test_gate_weights_are_distributions_over_experts(network, inputs):
    with torch.no_grad():
        gates = network.gate_weights(*inputs).numpy()
    assert gates.shape == (11, 2, 3)
    assert (gates >= 0).all()
    assert_allclose(gates.sum(axis=-1), np.ones((11, 2)), rtol=1e-6)


@pytest.mark.parametrize("gate_hidden_units", [(), (5,)])
def test_shared_gate_is_one_gate_for_every_task(gate_hidden_units):
    omoe = make_network(gate_hidden_units=gate_hidden_units, shared_gate=True)
    mmoe = make_network(gate_hidden_units=gate_hidden_units)
    sparse, dense = make_inputs((3, 5), 2)
    with torch.no_grad():
        gates = omoe.gate_weights(sparse, dense).numpy()  # (B, T, E)
    assert gates.shape == (11, 2, 3)
    assert_array_equal(gates[:, 0], gates[:, 1])
    assert not np.allclose(gates[:, 0], 1 / 3)

    def n_gate_weights(net):
        return sum(
            p.numel() for p in [*net.gates.parameters(), *net.gate_heads.parameters()]
        )

    assert n_gate_weights(mmoe) == 2 * n_gate_weights(omoe) > 0
    assert omoe.config["shared_gate"] is True
    # A configuration written before the parameter existed builds MMoE's gates.
    config = {k: v for k, v in mmoe.config.items() if k != "shared_gate"}
    assert MMOENetwork(**config).n_gates == 2


def test_gates_depend_on_the_input(network, inputs):
    # Softmax of a gate head with all-zero input would be uniform; real inputs are not.
    with torch.no_grad():
        gates = network.gate_weights(*inputs).numpy()
    assert not np.allclose(gates, 1 / 3)
    assert not np.allclose(gates[0], gates[1])


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_builds_and_runs(activation, inputs):
    net = make_network(activation=activation)
    out = net(*inputs)
    assert [tuple(o.shape) for o in out] == [(11, 1), (11, 4)]
    assert all(torch.isfinite(o).all() for o in out)
    sum(o.sum() for o in out).backward()
    assert net.experts.linears[0].weight.grad is not None


def test_prelu_has_one_slope_per_group(inputs):
    net = make_network(activation="prelu", num_experts=3, output_dims=(1, 4))
    expert_slopes = [a.weight.shape for a in net.experts.activations]
    assert expert_slopes == [(3, 1, 1), (3, 1, 1)]
    assert [a.weight.shape for a in net.gates.activations] == [(2, 1, 1)]
    assert [a.weight.shape for a in net.towers.activations] == [(2, 1, 1)]
    assert_allclose(net.experts.activations[0].weight.detach().numpy(), 0.25)

    # Changing one expert's slope changes that expert's output alone.
    x, _ = net._input(*inputs)
    with torch.no_grad():
        before = net.experts(x).clone()
        net.experts.activations[1].weight[2] = 0.9
        after = net.experts(x)
    assert_array_equal(after[:2].numpy(), before[:2].numpy())
    assert not torch.equal(after[2], before[2])


# ------------------------------------------------------------------ batch norm
def test_batch_norm_train_and_eval(inputs):
    net = make_network(use_bn=True)
    sparse, dense = inputs
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
    # experts: 2 layers, gates: 1, towers: 1
    assert [m.num_features for m in norms] == [3 * 8, 3 * 6, 2 * 5, 2 * 7]

    net.train()
    out = net(sparse, dense)
    assert all(torch.isfinite(o).all() for o in out)
    assert all(m.num_batches_tracked.item() == 1 for m in norms)
    assert not torch.equal(norms[0].running_mean, torch.zeros(3 * 8))

    net.eval()
    with torch.no_grad():
        full = net(sparse, dense)
        head = net(sparse[:4], dense[:4])
        single = net(sparse[7:8], dense[7:8])
        shuffled_idx = torch.tensor([7, 0, 3])
        shuffled = net(sparse[shuffled_idx], dense[shuffled_idx])
    for t in range(2):
        assert_allclose(head[t].numpy(), full[t][:4].numpy(), rtol=1e-5, atol=1e-6)
        assert_allclose(single[t].numpy(), full[t][7:8].numpy(), rtol=1e-5, atol=1e-6)
        assert_allclose(
            shuffled[t].numpy(), full[t][shuffled_idx].numpy(), rtol=1e-5, atol=1e-6
        )


# ------------------------------------------------------------------------ init
def test_embedding_init_std():
    net = make_network(vocabulary_sizes=(4000, 6000), embedding_dim=16, init_std=0.05)
    weight = net.embedding.weight.detach().numpy()
    assert weight.shape == (10000, 16)
    assert_allclose(weight.std(), 0.05, rtol=0.02)
    assert abs(weight.mean()) < 0.05 * 0.02


def test_linear_init_within_pytorch_default_bounds():
    net = make_network(
        vocabulary_sizes=(50,), embedding_dim=8, n_dense=24, expert_hidden_units=(64,)
    )
    layers = [m for m in net.modules() if isinstance(m, (GroupedLinear, nn.Linear))]
    assert len(layers) == 1 + 1 + 1 + 1 + 2  # expert, gate, gate head, tower, 2 heads
    for layer in layers:
        bound = 1 / math.sqrt(layer.in_features)
        for param in (layer.weight, layer.bias):
            if param is None:
                continue
            values = param.detach().numpy()
            assert np.abs(values).max() <= bound
    # A wide layer fills its range (not a much narrower init).
    first = net.experts.linears[0].weight.detach().numpy()
    bound = 1 / math.sqrt(8 + 24)  # one embedding of width 8 and 24 dense
    assert np.abs(first).max() > 0.95 * bound
    assert_allclose(first.std(), bound / math.sqrt(3), rtol=0.05)


def test_reset_parameters_redraws_embeddings_and_linears(network):
    embedding = network.embedding.weight.detach().clone()
    expert = network.experts.linears[0].weight.detach().clone()
    network.reset_parameters()
    assert not torch.equal(network.embedding.weight, embedding)
    assert not torch.equal(network.experts.linears[0].weight, expert)
    assert network.embedding.weight.detach().abs().max().item() < 1e-3


def test_reset_parameters_resets_prelu_slopes():
    net = make_network(activation="prelu")
    with torch.no_grad():
        net.experts.activations[0].weight.fill_(0.9)
    net.reset_parameters()
    assert_allclose(net.experts.activations[0].weight.detach().numpy(), 0.25)


# ------------------------------------------------------------ predict_logits
@pytest.fixture
def blocked_setup():
    net = make_network(dropout=0.3)
    sparse, dense = make_inputs((3, 5), 2, n_rows=19, seed=1)
    return net, sparse, dense


@pytest.mark.parametrize(
    "rows", [[5], [18], [0, 18], list(range(3, 12)), [17, 2, 9, 9]]
)
def test_predict_logits_rows_do_not_depend_on_the_other_rows(blocked_setup, rows):
    net, sparse, dense = blocked_setup
    block = 8  # 19 rows: two full blocks and a padded one
    full = predict_logits(net, sparse, dense, block=block)
    sub = predict_logits(net, sparse[rows], dense[rows], block=block)
    assert len(full) == len(sub) == 2
    for t, dim in enumerate((1, 4)):
        assert full[t].shape == (19, dim)
        assert_close_across_row_sets(sub[t].numpy(), full[t][rows].numpy())


def test_predict_logits_default_block_and_gate_weights(blocked_setup):
    net, _, _ = blocked_setup
    sparse, dense = make_inputs((3, 5), 2, n_rows=600, seed=2)
    full = predict_logits(net, sparse, dense)
    single = predict_logits(net, sparse[599:], dense[599:])
    for t in range(2):
        assert_close_across_row_sets(single[t].numpy(), full[t][599:].numpy())

    (gates,) = predict_logits(net, sparse, dense, method="gate_weights")
    (gates_sub,) = predict_logits(
        net, sparse[[4, 555]], dense[[4, 555]], method="gate_weights"
    )
    assert gates.shape == (600, 2, 3)
    assert_close_across_row_sets(gates_sub.numpy(), gates[[4, 555]].numpy())
    assert_allclose(gates.sum(-1).numpy(), 1.0, rtol=1e-6)


def test_predict_logits_is_eval_mode_forward(blocked_setup):
    net, sparse, dense = blocked_setup
    net.train()
    out = predict_logits(net, sparse, dense, block=8)
    assert not net.training
    assert not any(o.requires_grad for o in out)
    # Dropout is off: the same as a plain eval forward, and repeatable.
    with torch.no_grad():
        expected = net(sparse, dense)
    again = predict_logits(net, sparse, dense, block=8)
    for t in range(2):
        assert_allclose(out[t].numpy(), expected[t].numpy(), rtol=1e-5, atol=1e-6)
        assert_array_equal(again[t].numpy(), out[t].numpy())


@pytest.mark.parametrize("use_bn", [False, True])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_inference_equals_the_autograd_forward(use_bn, activation):
    # Without autograd the ReLUs run in place; the results must not change.
    net = make_network(use_bn=use_bn, activation=activation)
    sparse, dense = make_inputs((3, 5), 2, n_rows=19, seed=3)
    net.eval()
    expected = net(sparse, dense)
    assert expected[0].requires_grad
    out = predict_logits(net, sparse, dense, block=8)
    for t in range(2):
        assert_allclose(
            out[t].numpy(), expected[t].detach().numpy(), rtol=1e-5, atol=1e-6
        )
    (gates,) = predict_logits(net, sparse, dense, block=8, method="gate_weights")
    assert_allclose(
        gates.numpy(),
        net.gate_weights(sparse, dense).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


# ------------------------------------------------------------------- penalties
def test_embedding_penalty_matches_hand_computation(network, inputs):
    sparse, _ = inputs
    table = network.embedding.weight.detach().numpy().astype(np.float64)
    ids = sparse.numpy() + np.array([0, 3])  # offsets of vocabularies (3, 5)
    expected = (table[ids] ** 2).sum() / len(ids)
    assert_allclose(network.embedding_penalty(sparse).item(), expected, rtol=1e-5)

    # The gradient reaches the looked-up rows only.
    network.embedding_penalty(sparse).backward()
    grad = network.embedding.weight.grad.numpy()
    unused = np.setdiff1d(np.arange(len(table)), ids.ravel())
    assert_array_equal(grad[unused], 0.0)


def test_embedding_penalty_without_sparse_inputs_is_zero():
    net = make_network(vocabulary_sizes=(), n_dense=3)
    sparse, _ = make_inputs((), 3, n_rows=4)
    penalty = net.embedding_penalty(sparse)
    assert penalty.shape == ()
    assert penalty.item() == 0.0


def test_dnn_weights_are_the_layer_weights_without_biases():
    net = make_network(use_bn=True, activation="prelu")
    weights = list(net.dnn_weights())
    expected = (
        [lin.weight for lin in net.experts.linears]
        + [lin.weight for lin in net.gates.linears]
        + [net.gate_heads.weight]
        + [lin.weight for lin in net.towers.linears]
        + [head.weight for head in net.heads]
    )
    assert {id(w) for w in weights} == {id(w) for w in expected}
    assert len(weights) == len(expected)
    excluded = {id(net.embedding.weight)}
    for module in net.modules():
        if getattr(module, "bias", None) is not None:
            excluded.add(id(module.bias))
        if isinstance(module, (nn.BatchNorm1d, _GroupedPReLU)):
            excluded.add(id(module.weight))
    assert not excluded & {id(w) for w in weights}


@pytest.mark.parametrize("combiner", ["mean", "sum", "max"])
def test_padded_lists_pool_as_the_ragged_ones(combiner):
    """The padded form the ONNX graph feeds (ids past a row's length are any
    valid id) pools as the ragged one: empty rows to zeros, a max over
    negative values too, a list sharing a scalar column's table."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MMOENetwork(
            vocabulary_sizes=[6, 4],
            embedding_dim=3,
            n_dense=1,
            output_dims=[1, 2],
            num_experts=2,
            expert_dnn_hidden_units=[5],
            gate_dnn_hidden_units=[],
            tower_dnn_hidden_units=[],
            dnn_activation="relu",
            dnn_dropout=0.0,
            dnn_use_bn=False,
            init_std=1.0,
            tables=[[6, 3], [4, 3], [9, 2]],
            sparse_tables=[0, 1],
            list_tables=[0, 2],
            list_combiners=[combiner, combiner],
        ).eval()
    sparse = torch.tensor([[1, 2], [0, 3], [5, 1], [2, 0]])
    dense = torch.randn(4, 1, generator=torch.Generator().manual_seed(1))
    rows = [[[1, 5, 5], [], [2], [0, 4]], [[8], [1, 2, 3, 7], [], []]]
    ragged, padded = [], []
    for column in rows:
        lengths = torch.tensor([len(r) for r in column])
        values = torch.tensor([i for r in column for i in r], dtype=torch.int32)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
        ragged.append((values, offsets))
        width = int(lengths.max())
        ids = torch.tensor([r + [1] * (width - len(r)) for r in column])
        padded.append(Padded(ids, lengths))
    expected = net(sparse, dense, ragged)
    for got, want in zip(net(sparse, dense, padded), expected):
        assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=1e-6)
    assert_allclose(net._pool_lists(padded)[1][2:].detach().numpy(), np.zeros((2, 2)))
