"""The MMoE network, torch only: embeddings, experts, gates, towers.

Shapes: B is the batch size, E the number of experts, T the number of tasks.

Experts and gates are computed batched rather than in a Python loop: every expert (and
every gate) reads the same input, so their first layers are one wide matmul, and their
later layers one batched matmul over the group. ``tests/test_network.py`` checks this
against the plain per-expert formulation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MMOENetwork", "predict_logits"]

# Inference runs in blocks of this many rows, the last one padded: each row then goes
# through matmuls of one shape, so its result does not depend on how many other rows
# are predicted with it (float32 kernels differ in the last bit between shapes).
PREDICT_BLOCK = 512


class _GroupedPReLU(nn.Module):
    """PReLU with one slope per group, as each expert of the reference has its own."""

    def __init__(self, n_groups: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full((n_groups, 1, 1), 0.25))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, 0.25)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, x, self.weight * x)


ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "linear": nn.Identity,
    "prelu": _GroupedPReLU,
}


def _make_activation(name: str, n_groups: int) -> nn.Module:
    if name == "prelu":
        return _GroupedPReLU(n_groups)
    return ACTIVATIONS[name]()


class GroupedLinear(nn.Module):
    """G independent linear layers evaluated at once.

    With ``shared_input=True`` every group reads the same input x of shape (B, in) and
    the layer is a single (in, G * out) matmul; otherwise x has shape (G, B, in) and the
    layer is one batched matmul. The output has shape (G, B, out) either way.

    Parameters
    ----------
    n_groups, in_features, out_features : int
    shared_input : bool
    bias : bool, default=True
    """

    def __init__(
        self,
        *,
        n_groups: int,
        in_features: int,
        out_features: int,
        shared_input: bool,
        bias: bool = True,
    ):
        super().__init__()
        self.n_groups = n_groups
        self.in_features = in_features
        self.out_features = out_features
        self.shared_input = shared_input
        if shared_input:
            self.weight = nn.Parameter(
                torch.empty(in_features, n_groups * out_features)
            )
        else:
            self.weight = nn.Parameter(torch.empty(n_groups, in_features, out_features))
        self.bias = (
            nn.Parameter(torch.empty(n_groups, 1, out_features)) if bias else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The default of nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def group_parameters(self, g: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight of shape (in, out) and bias of shape (out,) or None, of group g."""
        if self.shared_input:
            w = self.weight.view(self.in_features, self.n_groups, self.out_features)
            w = w[:, g, :]
        else:
            w = self.weight[g]
        return w, (self.bias[g, 0] if self.bias is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shared_input:
            if self.bias is not None:
                flat_bias = self.bias.reshape(1, -1)
                out = torch.addmm(flat_bias, x, self.weight)
            else:
                out = x @ self.weight
            return out.view(x.shape[0], self.n_groups, self.out_features).transpose(
                0, 1
            )
        if self.bias is not None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.bmm(x, self.weight)


class Dropout(nn.Dropout):
    """``nn.Dropout`` that draws its masks from ``generator`` when one is set
    (training sets the fit's own, so that fits in several threads do not share
    torch's global RNG), else from the global RNG. The masks are drawn as
    torch's CPU dropout draws them, so both give the same masks for the same
    generator state."""

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.generator is None or self.p == 0:
            return super().forward(x)
        keep = 1.0 - self.p
        noise = torch.empty_like(x).bernoulli_(keep, generator=self.generator)
        return x * noise.div_(keep)


class GroupedDNN(nn.Module):
    """G MLPs of the same widths: Linear -> BatchNorm (optional) -> activation ->
    dropout per layer, as DeepCTR's DNN.

    Input (B, in) when ``shared_input`` else (G, B, in); output (G, B, units[-1]).
    """

    def __init__(
        self,
        *,
        n_groups: int,
        in_features: int,
        hidden_units: Sequence[int],
        shared_input: bool,
        activation: str,
        dropout: float,
        use_bn: bool,
    ):
        super().__init__()
        self.n_groups = n_groups
        widths = [in_features, *hidden_units]
        self.linears = nn.ModuleList(
            GroupedLinear(
                n_groups=n_groups,
                in_features=widths[i],
                out_features=widths[i + 1],
                shared_input=shared_input and i == 0,
            )
            for i in range(len(hidden_units))
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(n_groups * w) if use_bn else nn.Identity()
            for w in hidden_units
        )
        self.activations = nn.ModuleList(
            _make_activation(activation, n_groups) for _ in hidden_units
        )
        self.dropout = Dropout(dropout) if dropout > 0 else nn.Identity()
        self.use_bn = use_bn
        self.out_features = widths[-1]

    def forward(
        self, x: torch.Tensor | None, first: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``first``: the first linear layer's output, when computed elsewhere (the
        network computes the experts' and gates' first layers in one matmul)."""
        layers = zip(self.linears, self.norms, self.activations)
        for i, (linear, norm, activation) in enumerate(layers):
            x = first if i == 0 and first is not None else linear(x)
            if self.use_bn:
                g, b, w = x.shape
                x = norm(x.transpose(0, 1).reshape(b, g * w))
                x = x.view(b, g, w).transpose(0, 1)
            if not torch.is_grad_enabled() and isinstance(activation, nn.ReLU):
                # Inference: nothing needs the values before the activation, and
                # in place saves allocating (and page-faulting) another output.
                x = torch.relu_(x)
            else:
                x = activation(x)
            x = self.dropout(x)
        if x is None:
            raise ValueError("GroupedDNN needs an input: x or first.")
        return x


class MMOENetwork(nn.Module):
    """Multi-gate Mixture-of-Experts (Ma et al., KDD 2018).

    input = [embeddings of the sparse ids, dense values]
    experts_e = expert MLP_e(input)                               e = 1..E
    gate_t = softmax(W_t gate MLP_t(input))                       t = 1..T
             (one gate for all tasks with ``shared_gate=True``: OMoE)
    logits_t = head_t(tower MLP_t(sum_e gate_t[e] * experts_e))

    Parameters
    ----------
    vocabulary_sizes : sequence of int
        Embedding rows per sparse feature (index 0 is the reserved unknown index).
    n_dense : int
        Number of dense inputs.
    output_dims : sequence of int
        Logits per task: 1 for binary and regression, n_classes for multiclass.
    embedding_dim, num_experts, expert_dnn_hidden_units, gate_dnn_hidden_units, \
shared_gate, tower_dnn_hidden_units, dnn_activation, dnn_dropout, dnn_use_bn, init_std
        As the estimators' parameters of the same names, which document them and
        check them (experts need at least one layer; gates and towers may be
        empty, a single linear map then).
    """

    def __init__(
        self,
        *,
        vocabulary_sizes: Sequence[int],
        n_dense: int,
        output_dims: Sequence[int],
        embedding_dim: int,
        num_experts: int,
        expert_dnn_hidden_units: Sequence[int],
        gate_dnn_hidden_units: Sequence[int],
        tower_dnn_hidden_units: Sequence[int],
        dnn_activation: str,
        dnn_dropout: float,
        dnn_use_bn: bool,
        init_std: float,
        shared_gate: bool = False,
    ):
        super().__init__()
        # The constructor's arguments, from which skmmoe.load rebuilds the network.
        self.config = {
            name: list(value) if isinstance(value, (list, tuple)) else value
            for name, value in locals().items()
            if name not in ("self", "__class__")
        }
        self.n_sparse = len(vocabulary_sizes)
        self.embedding_dim = embedding_dim
        self.n_dense = n_dense
        self.num_experts = num_experts
        self.n_tasks = len(output_dims)
        # Model files written before shared_gate existed rebuild with its default.
        self.n_gates = 1 if shared_gate else self.n_tasks
        self.init_std = init_std
        offsets = torch.zeros(self.n_sparse, dtype=torch.long)
        if self.n_sparse:
            offsets[1:] = torch.cumsum(torch.tensor(vocabulary_sizes[:-1]), 0)
        self.register_buffer("offsets", offsets)
        # One table for all features (rows offset per feature): one lookup per batch.
        self.embedding = nn.Embedding(max(sum(vocabulary_sizes), 1), embedding_dim)
        input_dim = self.n_sparse * embedding_dim + n_dense
        if input_dim == 0:
            raise ValueError("The network has no inputs: X yields no features.")

        common: dict[str, Any] = dict(
            activation=dnn_activation, dropout=dnn_dropout, use_bn=dnn_use_bn
        )
        self.experts = GroupedDNN(
            n_groups=num_experts,
            in_features=input_dim,
            hidden_units=expert_dnn_hidden_units,
            shared_input=True,
            **common,
        )
        self.gates = GroupedDNN(
            n_groups=self.n_gates,
            in_features=input_dim,
            hidden_units=gate_dnn_hidden_units,
            shared_input=True,
            **common,
        )
        self.gate_heads = GroupedLinear(
            n_groups=self.n_gates,
            in_features=self.gates.out_features,
            out_features=num_experts,
            shared_input=not gate_dnn_hidden_units,
            bias=False,
        )
        self.towers = GroupedDNN(
            n_groups=self.n_tasks,
            in_features=self.experts.out_features,
            hidden_units=tower_dnn_hidden_units,
            shared_input=False,
            **common,
        )
        self.heads = nn.ModuleList(
            nn.Linear(self.towers.out_features, d) for d in output_dims
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, mean=0.0, std=self.init_std)
        for module in self.modules():
            reset = getattr(module, "reset_parameters", None)
            if module is not self and callable(reset):
                if not isinstance(module, nn.Embedding):
                    reset()

    def embed(self, sparse: torch.Tensor) -> torch.Tensor:
        """Embeddings of shape (B, n_sparse, embedding_dim) of integer ids (B,
        n_sparse)."""
        # index_select's backward (a scatter-add) is about twice as fast on the CPU as
        # nn.Embedding's, which sorts the ids.
        offsets = cast(torch.Tensor, self.offsets)  # a buffer
        ids = (sparse + offsets).reshape(-1)
        looked_up = self.embedding.weight.index_select(0, ids)
        return looked_up.view(sparse.shape[0], self.n_sparse, self.embedding_dim)

    def _input(
        self, sparse: torch.Tensor, dense: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The network's input (B, n_sparse * embedding_dim + n_dense), and the
        embeddings it holds (None without sparse inputs)."""
        parts = []
        embedded = None
        if self.n_sparse:
            embedded = self.embed(sparse)
            parts.append(embedded.flatten(1))
        if self.n_dense:
            parts.append(dense)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return x, embedded

    def _gates(
        self, x: torch.Tensor | None, first: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Gate weights of shape (T, B, E); each row sums to 1. A shared gate's
        weights are repeated (a view) for every task."""
        hidden = self.gates(x, first) if len(self.gates.linears) else x
        gates = torch.softmax(self.gate_heads(hidden), dim=-1)
        return gates.expand(self.n_tasks, -1, -1)

    def _experts_and_gates(self, x: torch.Tensor):
        """Expert outputs (E, B, d) and gate weights (T, B, E).

        Experts and gates read the same input, so their first layers run as one
        matmul (x read once, one larger GEMM); each then goes on separately.
        """
        if not len(self.gates.linears):
            return self.experts(x), self._gates(x)
        expert_first = cast(GroupedLinear, self.experts.linears[0])
        gate_first = cast(GroupedLinear, self.gates.linears[0])
        weight = torch.cat([expert_first.weight, gate_first.weight], dim=1)
        # The first layers of experts and gates always have biases.
        expert_bias = cast(torch.Tensor, expert_first.bias)
        gate_bias = cast(torch.Tensor, gate_first.bias)
        bias = torch.cat([expert_bias.reshape(1, -1), gate_bias.reshape(1, -1)], dim=1)
        b = x.shape[0]
        # split(), not slicing: its backward concatenates the two gradients, where
        # slicing's would zero-fill a full-size gradient per slice.
        experts_first, gates_first = torch.addmm(bias, x, weight).split(
            [expert_first.weight.shape[1], gate_first.weight.shape[1]], dim=1
        )
        experts_first = experts_first.view(b, self.num_experts, -1).transpose(0, 1)
        gates_first = gates_first.view(b, self.n_gates, -1).transpose(0, 1)
        return self.experts(None, experts_first), self._gates(None, gates_first)

    def gate_weights(self, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """Gate weights of shape (B, T, E)."""
        return self._gates(self._input(sparse, dense)[0]).transpose(0, 1)

    def forward(
        self, sparse: torch.Tensor, dense: torch.Tensor, *, with_penalty: bool = False
    ):
        """Raw logits per task.

        Parameters
        ----------
        sparse : int32 or int64 tensor of shape (B, n_sparse)
        dense : FloatTensor of shape (B, n_dense)
        with_penalty : bool, default=False
            Also return :meth:`embedding_penalty` of this batch, from the same
            embedding lookup (training saves a second one).

        Returns
        -------
        logits : tuple of T tensors, the t-th of shape (B, output_dims[t])
        penalty : scalar tensor, only with ``with_penalty=True``
        """
        x, embedded = self._input(sparse, dense)
        experts, gates = self._experts_and_gates(x)  # (E, B, d), (T, B, E)
        mixed = torch.einsum("tbe,ebd->tbd", gates, experts)  # (T, B, d)
        towers = self.towers(mixed) if len(self.towers.linears) else mixed
        logits = tuple(head(towers[t]) for t, head in enumerate(self.heads))
        if not with_penalty:
            return logits
        if embedded is None:
            return logits, x.new_zeros(())
        return logits, _mean_squared_norm(embedded)

    def embedding_penalty(self, sparse: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the squared L2 norm of the looked-up embeddings."""
        if not self.n_sparse:
            return self.embedding.weight.new_zeros(())
        return _mean_squared_norm(self.embed(sparse))

    def dnn_weights(self) -> Iterator[torch.Tensor]:
        """Weights of the expert, gate and tower layers, the gates' final linear maps
        and the task heads (not biases, batch norm or PReLU slopes), which
        ``l2_reg_dnn`` penalises."""
        for module in self.modules():
            if isinstance(module, (GroupedLinear, nn.Linear)):
                yield module.weight


def _mean_squared_norm(embedded: torch.Tensor) -> torch.Tensor:
    """Mean over the batch (dim 0) of the squared L2 norm of each row's embeddings."""
    return embedded.pow(2).sum() / embedded.shape[0]


@torch.inference_mode()
def predict_logits(
    network: MMOENetwork,
    sparse: torch.Tensor,
    dense: torch.Tensor,
    *,
    block: int = PREDICT_BLOCK,
    method: str = "forward",
) -> list[torch.Tensor]:
    """Evaluate ``network`` (in eval mode) in padded blocks of ``block`` rows.

    Parameters
    ----------
    network : MMOENetwork
    sparse : LongTensor of shape (n, n_sparse)
    dense : FloatTensor of shape (n, n_dense)
    block : int
    method : {"forward", "gate_weights"}

    Returns
    -------
    list of tensors on the network's device: the logits per task for "forward";
    one (n, T, E) tensor for "gate_weights".
    """
    network.eval()
    fn = network.forward if method == "forward" else network.gate_weights
    n = sparse.shape[0]
    outs = []
    for start in range(0, n, block):
        s, d = sparse[start : start + block], dense[start : start + block]
        m = s.shape[0]
        if m < block:
            s = torch.cat([s, s.new_zeros(block - m, s.shape[1])])
            d = torch.cat([d, d.new_zeros(block - m, d.shape[1])])
        out = fn(s, d)
        outs.append([o[:m] for o in out] if isinstance(out, tuple) else [out[:m]])
    return [torch.cat([o[t] for o in outs]) for t in range(len(outs[0]))]
