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
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "COMBINERS",
    "EmbeddingLayout",
    "MMOENetwork",
    "Padded",
    "Ragged",
    "predict_logits",
    "ragged_rows",
    "ragged_take",
]

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
        tables: Sequence[Sequence[int]] | None = None,
        sparse_tables: Sequence[int] | None = None,
        list_tables: Sequence[int] = (),
        list_combiners: Sequence[str] = (),
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
        self.layout = EmbeddingLayout.build(
            vocabulary_sizes,
            embedding_dim,
            tables,
            sparse_tables,
            list(zip(list_tables, list_combiners, strict=True)),
        )
        self.n_lists = len(self.layout.lists)
        # The tables of one width are one weight (rows offset per table), so that
        # the scalar ids of a width are one lookup per batch; the first width's
        # keeps the name and offsets buffer of the single table of model files
        # written before widths and lists existed.
        groups = self.layout.groups
        self.register_buffer("offsets", groups[0].column_offsets)
        self.embedding = nn.Embedding(groups[0].rows, groups[0].dim)
        self.more_embeddings = nn.ModuleList(
            nn.Embedding(g.rows, g.dim) for g in groups[1:]
        )
        for i, g in enumerate(groups[1:]):
            self.register_buffer(f"offsets_{i + 1}", g.column_offsets, persistent=False)
        self.sparse_gradients = False
        """Whether lookups give sparse gradients (set by training for tables a
        batch cannot cover: the optimizer then updates the rows looked up)."""
        input_dim = self.layout.width + n_dense
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
        for table in self.tables():
            nn.init.normal_(table.weight, mean=0.0, std=self.init_std)
        for module in self.modules():
            reset = getattr(module, "reset_parameters", None)
            if module is not self and callable(reset):
                if not isinstance(module, nn.Embedding):
                    reset()

    def tables(self) -> list[nn.Embedding]:
        """The embedding weights, one per width (see :class:`EmbeddingLayout`)."""
        return [self.embedding, *self.more_embeddings]

    def _lookup(self, weight: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if self.sparse_gradients:
            return F.embedding(ids, weight, sparse=True)
        # index_select's backward (a scatter-add) is about twice as fast on the
        # CPU as nn.Embedding's dense one, which sorts the ids.
        return weight.index_select(0, ids)

    def embed(self, sparse: torch.Tensor) -> torch.Tensor:
        """Embeddings of shape (B, n_sparse, embedding_dim) of integer ids (B,
        n_sparse), for a network whose scalar columns have one width."""
        return self._embed_groups(sparse)[0]

    def _embed_groups(self, sparse: torch.Tensor) -> list[torch.Tensor]:
        """Per width, the embeddings (B, columns of that width, width) of the
        scalar ids (B, n_sparse)."""
        out = []
        for g, (group, table) in enumerate(zip(self.layout.groups, self.tables())):
            if not group.columns:
                continue
            offsets = cast(
                torch.Tensor, getattr(self, f"offsets_{g}" if g else "offsets")
            )
            ids = sparse if group.all_columns else sparse[:, group.columns]
            looked_up = self._lookup(table.weight, (ids + offsets).reshape(-1))
            out.append(looked_up.view(sparse.shape[0], len(group.columns), group.dim))
        return out

    def _pool_lists(self, lists: Sequence[Ragged]) -> list[torch.Tensor]:
        """Each list column pooled to (B, width) by its combiner; an empty or
        missing list pools to zeros."""
        pooled = []
        tables = self.tables()
        for spec, column in zip(self.layout.lists, lists):
            weight = tables[spec.group].weight
            if isinstance(column, Padded):
                pooled.append(_pool_padded(weight, column, spec))
                continue
            values, offsets = column
            ids = values.long() + spec.offset
            if spec.combiner == "max":
                pooled.append(_max_pool(self._lookup(weight, ids), offsets))
            else:
                pooled.append(
                    F.embedding_bag(
                        ids,
                        weight,
                        offsets.long(),
                        mode=spec.combiner,
                        sparse=self.sparse_gradients,
                        include_last_offset=True,
                    )
                )
        return pooled

    def _input(
        self,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        lists: Sequence[Ragged] = (),
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The network's input (B, embeddings' width + n_dense), and the
        embeddings it holds (scalar columns' per width, then pooled lists)."""
        embedded: list[torch.Tensor] = []
        if self.n_sparse:
            embedded += self._embed_groups(sparse)
        if self.n_lists:
            if len(lists) != self.n_lists:
                raise ValueError(
                    f"The network takes {self.n_lists} list inputs, got {len(lists)}."
                )
            embedded += self._pool_lists(lists)
        parts = [e.flatten(1) for e in embedded]
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

    def gate_weights(
        self, sparse: torch.Tensor, dense: torch.Tensor, lists: Sequence[Ragged] = ()
    ) -> torch.Tensor:
        """Gate weights of shape (B, T, E)."""
        return self._gates(self._input(sparse, dense, lists)[0]).transpose(0, 1)

    def forward(
        self,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        lists: Sequence[Ragged] = (),
        *,
        with_penalty: bool = False,
    ):
        """Raw logits per task.

        Parameters
        ----------
        sparse : int32 or int64 tensor of shape (B, n_sparse)
        dense : FloatTensor of shape (B, n_dense)
        lists : sequence of (values, offsets), one per list column
            The list columns' ids, ragged: row i's ids are
            ``values[offsets[i]:offsets[i + 1]]`` (offsets of length B + 1);
            or :class:`Padded`, as the exported ONNX graph gives them.
        with_penalty : bool, default=False
            Also return :meth:`embedding_penalty` of this batch, from the same
            embedding lookup (training saves a second one).

        Returns
        -------
        logits : tuple of T tensors, the t-th of shape (B, output_dims[t])
        penalty : scalar tensor, only with ``with_penalty=True``
        """
        x, embedded = self._input(sparse, dense, lists)
        experts, gates = self._experts_and_gates(x)  # (E, B, d), (T, B, E)
        mixed = torch.einsum("tbe,ebd->tbd", gates, experts)  # (T, B, d)
        towers = self.towers(mixed) if len(self.towers.linears) else mixed
        logits = tuple(head(towers[t]) for t, head in enumerate(self.heads))
        if not with_penalty:
            return logits
        return logits, _mean_squared_norm(embedded, x)

    def embedding_penalty(
        self, sparse: torch.Tensor, lists: Sequence[Ragged] = ()
    ) -> torch.Tensor:
        """Mean over the batch of the squared L2 norm of the looked-up embeddings
        (a list column's: its pooled embedding)."""
        embedded = self._embed_groups(sparse) if self.n_sparse else []
        if self.n_lists:
            embedded += self._pool_lists(lists)
        return _mean_squared_norm(embedded, self.embedding.weight)

    def dnn_weights(self) -> Iterator[torch.Tensor]:
        """Weights of the expert, gate and tower layers, the gates' final linear maps
        and the task heads (not biases, batch norm or PReLU slopes), which
        ``l2_reg_dnn`` penalises."""
        for module in self.modules():
            if isinstance(module, (GroupedLinear, nn.Linear)):
                yield module.weight


def _mean_squared_norm(embedded: list[torch.Tensor], like: torch.Tensor):
    """Mean over the batch (dim 0) of the squared L2 norm of each row's
    embeddings; zero (of ``like``'s dtype and device) without any."""
    if not embedded:
        return like.new_zeros(())
    total = embedded[0].pow(2).sum()
    for e in embedded[1:]:
        total = total + e.pow(2).sum()
    return total / embedded[0].shape[0]


def _max_pool(looked_up: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The element-wise max of each row's embeddings (rows as ``offsets`` cut
    ``looked_up``), zeros for an empty row."""
    lengths = (offsets[1:] - offsets[:-1]).long()
    rows = torch.repeat_interleave(
        torch.arange(len(lengths), device=looked_up.device), lengths
    )
    out = looked_up.new_zeros(len(lengths), looked_up.shape[1])
    index = rows.unsqueeze(1).expand_as(looked_up)
    return out.scatter_reduce(0, index, looked_up, "amax", include_self=False)


def _pool_padded(weight: torch.Tensor, column: Padded, spec: _ListInput):
    """:meth:`MMOENetwork._pool_lists` of padded rows, with the ops of fixed
    shapes that an exported graph has (no ragged gather): every position
    looked up, those past a row's length masked out of the pooling."""
    ids, lengths = column
    b, width = ids.shape
    looked_up = weight.index_select(0, (ids.long() + spec.offset).reshape(-1))
    looked_up = looked_up.view(b, width, weight.shape[1])
    lengths = lengths.long()
    inside = torch.arange(width, device=ids.device) < lengths.unsqueeze(1)
    inside = inside.unsqueeze(2)
    if spec.combiner == "max":
        top = torch.where(inside, looked_up, float("-inf")).amax(dim=1)
        return torch.where(lengths.unsqueeze(1) > 0, top, 0.0)
    total = torch.where(inside, looked_up, 0.0).sum(dim=1)
    if spec.combiner == "sum":
        return total
    return total / lengths.clamp(min=1).unsqueeze(1).to(total.dtype)


Ragged = tuple[torch.Tensor, torch.Tensor]
"""A list column's ids of a batch: (values, offsets), row i's ids being
``values[offsets[i]:offsets[i + 1]]``."""


class Padded(NamedTuple):
    """A list column's ids of a batch padded to its longest row, as an ONNX
    graph takes them: row i's ids are ``ids[i, :lengths[i]]``; what lies past
    a row's length is any valid id and ignored. The network pools it as it
    pools the :data:`Ragged` form."""

    ids: torch.Tensor
    """(B, L) integer ids."""
    lengths: torch.Tensor
    """(B,) integer lengths, each at most L."""


COMBINERS = ("mean", "sum", "max")
"""How a list column's embeddings are pooled into one: DeepCTR's ``combiner``."""


@dataclass(frozen=True)
class _Group:
    """The tables of one width, stacked into one weight."""

    dim: int
    rows: int
    columns: tuple[int, ...]
    """The scalar columns looked up in it, in the order of the network's input."""
    column_offsets: torch.Tensor
    """Each of those columns' first row in the weight."""
    all_columns: bool
    """Whether ``columns`` are all the scalar columns, in order."""


@dataclass(frozen=True)
class _ListInput:
    group: int
    offset: int
    combiner: str


@dataclass(frozen=True)
class EmbeddingLayout:
    """Where each embedding input finds its rows: the distinct tables (a table
    shared by several columns is one table), stacked per width into one weight
    per width, in the order of the widths' first tables."""

    groups: tuple[_Group, ...]
    lists: tuple[_ListInput, ...]
    width: int
    """The embeddings' share of the network's input: the scalar columns' and the
    pooled lists' widths."""

    @classmethod
    def build(
        cls, vocabulary_sizes, embedding_dim, tables, sparse_tables, lists
    ) -> EmbeddingLayout:
        """``tables`` [(rows, width)] with ``sparse_tables`` (the table of each
        scalar column) and ``lists`` [(table, combiner)]; without ``tables``,
        one table of ``embedding_dim`` per scalar column, of its vocabulary
        size."""
        if tables is None:
            tables = [(int(v), int(embedding_dim)) for v in vocabulary_sizes]
            sparse_tables = list(range(len(tables)))
        tables = [(int(r), int(d)) for r, d in tables]
        sparse_tables = [int(t) for t in (sparse_tables or [])]
        if len(sparse_tables) != len(vocabulary_sizes):
            raise ValueError("sparse_tables needs one table per scalar column")
        if any(rows < 1 or dim < 1 for rows, dim in tables):
            raise ValueError(f"tables need rows and widths >= 1, got {tables}")
        used_tables = sparse_tables + [int(t) for t, _ in lists]
        if any(not 0 <= t < len(tables) for t in used_tables):
            raise ValueError(
                f"the columns' tables {used_tables} are not all among the "
                f"{len(tables)} tables"
            )
        for _, combiner in lists:
            if combiner not in COMBINERS:
                raise ValueError(
                    f"combiner must be one of {COMBINERS}, got {combiner!r}"
                )
        dims = list(dict.fromkeys(d for _, d in tables)) or [int(embedding_dim)]
        # Each table's first row in the weight of its width.
        starts, used = [], dict.fromkeys(dims, 0)
        for rows, dim in tables:
            starts.append(used[dim])
            used[dim] += rows
        groups = []
        for dim in dims:
            columns = tuple(
                i for i, t in enumerate(sparse_tables) if tables[t][1] == dim
            )
            offsets = torch.tensor(
                [starts[sparse_tables[i]] for i in columns], dtype=torch.long
            )
            groups.append(
                _Group(
                    dim=dim,
                    rows=max(used[dim], 1),
                    columns=columns,
                    column_offsets=offsets,
                    all_columns=columns == tuple(range(len(sparse_tables))),
                )
            )
        list_inputs = tuple(
            _ListInput(dims.index(tables[t][1]), starts[t], c) for t, c in lists
        )
        width = sum(tables[t][1] for t in sparse_tables)
        width += sum(tables[t][1] for t, _ in lists)
        return cls(tuple(groups), list_inputs, width)


def ragged_rows(ragged: Ragged, start: int, stop: int, pad: int = 0) -> Ragged:
    """Rows ``start:stop`` of a ragged column, followed by ``pad`` empty rows."""
    values, offsets = ragged
    first, last = offsets[start], offsets[stop]
    rows = offsets[start : stop + 1] - first
    if pad:
        rows = torch.cat([rows, rows[-1:].expand(pad)])
    return values[first:last], rows


def ragged_take(ragged: Ragged, index: torch.Tensor) -> Ragged:
    """The rows ``index`` of a ragged column, in that order."""
    values, offsets = ragged
    starts = offsets[index]
    lengths = offsets[index + 1] - starts
    new_offsets = torch.zeros(
        len(index) + 1, dtype=offsets.dtype, device=offsets.device
    )
    torch.cumsum(lengths, 0, out=new_offsets[1:])
    total = int(new_offsets[-1])
    # Each element's position: its row's start in the old values plus its
    # position within the row.
    within = torch.arange(total, device=values.device) - torch.repeat_interleave(
        new_offsets[:-1], lengths, output_size=total
    )
    positions = torch.repeat_interleave(starts, lengths, output_size=total) + within
    return values[positions], new_offsets


@torch.inference_mode()
def predict_logits(
    network: MMOENetwork,
    sparse: torch.Tensor,
    dense: torch.Tensor,
    lists: Sequence[Ragged] = (),
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
    lists : sequence of Ragged, one per list column, of n rows
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
        pad = block - m
        if pad:
            s = torch.cat([s, s.new_zeros(pad, s.shape[1])])
            d = torch.cat([d, d.new_zeros(pad, d.shape[1])])
        rows = [ragged_rows(r, start, start + m, pad) for r in lists]
        out = fn(s, d, rows)
        outs.append([o[:m] for o in out] if isinstance(out, tuple) else [out[:m]])
    return [torch.cat([o[t] for o in outs]) for t in range(len(outs[0]))]
