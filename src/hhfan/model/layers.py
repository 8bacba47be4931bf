"""HHFAN's layers, one per concept of §III-E, each citing its equation of the HHFAN paper.

Shapes: ``B`` nodes being embedded, ``k`` sampled neighbours of one type, ``G`` groups, ``C`` candidates of
Eq. (6), ``d`` the shared embedding size (the paper uses one ``d`` for every stage, §III-E last paragraph).

Every layer owns a ``reset_parameters()`` that applies HHFAN's initialisation (§IV-C: N(0, 0.1), or Xavier
for dense weights, see :class:`Init`); the model calls it on each layer in a fixed order. Constructing a
layer leaves PyTorch's default initialisation in place, so building a layer never draws extra random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Init:
    """HHFAN's initialisation of one layer's parameters.

    Attributes:
        std: standard deviation of the normal initialisation (the paper: 0.1).
        scheme: ``normal`` — every weight N(0, std) (§IV-C); ``xavier`` — embedding tables N(0, std), dense
            weights Xavier-uniform. Biases always start at zero.
    """

    std: float = 0.1
    scheme: str = "normal"

    def __post_init__(self) -> None:
        if self.std <= 0 or self.scheme not in ("normal", "xavier"):
            raise ValueError(f"init needs std > 0 and scheme normal or xavier, got {self.std}, {self.scheme!r}")

    def embedding(self, weight: Tensor) -> None:
        """An id embedding table: N(0, std) under either scheme."""
        nn.init.normal_(weight, 0.0, self.std)

    def dense(self, weight: Tensor) -> None:
        """A dense (linear, LSTM, attention) weight matrix."""
        if self.scheme == "xavier" and weight.dim() == 2:
            nn.init.xavier_uniform_(weight)
        else:
            nn.init.normal_(weight, 0.0, self.std)

    def module(self, module: nn.Module) -> None:
        """Every parameter of ``module`` in registration order: names containing ``bias`` zero, others dense."""
        for name, p in module.named_parameters():
            if "bias" in name.rsplit(".", 1)[-1]:
                nn.init.zeros_(p)
            else:
                self.dense(p)


class FeatureTransformer(nn.Module):
    r"""HHFAN Eq. (1): a per-node-type fully connected layer into the shared space.

    .. math::
        f(v) = F_{\theta_x}(x_v)

    ``x_v`` is either a fixed feature vector (codeword centroids, video content) or a learned id embedding; in
    the latter case :math:`F_{\theta_x}` on a one-hot input *is* an embedding table, so types without features
    get ``nn.Embedding(count, d)`` and types with features get ``LeakyReLU(Linear(x))`` (both summed when a
    type has both).

    Args:
        count: nodes of this type.
        d: output size.
        features: optional fixed ``[count, f]`` features.
        learn_ids: also learn an id embedding per node.
        init: initialisation applied by :meth:`reset_parameters`.

    Shapes:
        - input: int64 type-local ids ``[*]``
        - output: ``[*, d]``
    """

    def __init__(self, count: int, d: int, features: Tensor | None = None, learn_ids: bool = True,
                 init: Init | None = None) -> None:
        super().__init__()
        if features is None and not learn_ids:
            raise ValueError("a node type needs features, learned ids, or both")
        self.count = count
        self.init = init or Init()
        self.emb = nn.Embedding(count, d) if learn_ids else None
        self.proj: nn.Linear | None = None
        if features is not None:
            if features.shape[0] != count:
                raise ValueError(f"features have {features.shape[0]} rows for {count} nodes")
            self.register_buffer("x", features.float())
            self.proj = nn.Linear(features.shape[1], d)

    def reset_parameters(self) -> None:
        """Id embeddings N(0, std); the projection by :meth:`Init.dense`, its bias zero."""
        if self.emb is not None:
            self.init.embedding(self.emb.weight)
        if self.proj is not None:
            self.init.module(self.proj)

    def forward(self, ids: Tensor) -> Tensor:
        """``ids`` int64 ``[...]`` type-local ids -> ``[..., d]`` transferred embeddings f(v)."""
        out: Tensor | None = self.emb(ids) if self.emb is not None else None
        if self.proj is not None:
            feat = F.leaky_relu(self.proj(self.x[ids]))  # type: ignore[index]
            out = feat if out is None else out + feat
        assert out is not None
        return out

    def content_only(self, x: Tensor | None, n: int) -> Tensor:
        """Eq. (1) for ``n`` nodes outside the table from their features ``x [n, f]`` alone (no id embedding).

        ``LeakyReLU(Linear(x))``; zeros ``[n, d]`` for a type without features. For a node of the table whose id
        row is zero this is exactly ``forward`` (the id part adds 0).
        """
        if self.proj is None or x is None:
            ref = self.emb.weight if self.emb is not None else None
            assert ref is not None
            return ref.new_zeros(n, ref.shape[1])
        return F.leaky_relu(self.proj(x.to(self.proj.weight.dtype)))

    def extra_repr(self) -> str:
        """Node count and which inputs the type has."""
        return f"count={self.count}, ids={self.emb is not None}, features={self.proj is not None}"


class IntraTypeAggregator(nn.Module):
    r"""HHFAN Eq. (2)–(3): aggregate the ``k`` sampled neighbours of one type into :math:`f^t(v)`.

    .. math::
        f^t(v) = \frac{1}{|N_t(v)|} \sum_{v' \in N_t(v)} \mathrm{LSTM}\{f(v')\}

    ``aggregator="lstm"`` (the paper): an LSTM runs over the neighbours in RWSS order (most frequently visited
    first) and the hidden states of the valid positions are averaged. ``aggregator="mean"`` (ablation HHFAN-l):
    the plain mean of the transferred embeddings. Invalid (masked) slots are a suffix (the sampler fills slots
    in order), so the LSTM's hidden states at valid positions never see padding. A node with no valid
    neighbour gets zeros and its group is reported absent.

    Args:
        d: embedding size.
        aggregator: ``lstm`` or ``mean``.
        init: initialisation applied by :meth:`reset_parameters`.

    Shapes:
        - input: neighbours ``[B, k, d]``, mask ``[B, k]`` bool
        - output: ``f^t [B, d]``, present ``[B]`` bool
    """

    def __init__(self, d: int, aggregator: str = "lstm", init: Init | None = None) -> None:
        super().__init__()
        if aggregator not in ("lstm", "mean"):
            raise ValueError(f"aggregator must be 'lstm' or 'mean', got {aggregator!r}")
        self.aggregator = aggregator
        self.init = init or Init()
        self.lstm = nn.LSTM(d, d, batch_first=True) if aggregator == "lstm" else None

    def reset_parameters(self) -> None:
        """LSTM weights by :meth:`Init.dense`, biases zero (nothing to do for ``mean``)."""
        if self.lstm is not None:
            self.init.module(self.lstm)

    def forward(self, neigh: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``neigh [B, k, d]``, ``mask [B, k]`` bool -> ``(f^t [B, d], present [B] bool)``."""
        h = neigh if self.lstm is None else self.lstm(neigh)[0]  # Eq. (3): LSTM hidden states
        m = mask.unsqueeze(-1).to(h.dtype)
        n = m.sum(dim=1)
        agg = (h * m).sum(dim=1) / n.clamp(min=1.0)  # Eq. (3): mean over |N_t(v)|
        return agg, n.squeeze(-1) > 0

    def extra_repr(self) -> str:
        """The aggregator (``mean`` is ablation HHFAN-l)."""
        return f"aggregator={self.aggregator}"


class AttributeSelfAttention(nn.Module):
    r"""HHFAN Eq. (4)–(5): self-attention with residual over the attribute-group embeddings, then a sum.

    .. math::
        \mathrm{Attention}(X) = \mathrm{softmax}\left(\frac{X W^Q (X W^K)^\top}{\sqrt{d_K}}\right) X W^V + X,
        \qquad E^{attrs}_v = \sum_{\text{rows}} \mathrm{Attention}(X)

    over the groups present for a node (absent groups are masked out of the keys and the sum).
    ``enabled=False`` is the ablation HHFAN-a: every present group gets the same importance,
    :math:`E^{attrs}_v = \sum_g X_g`.

    Args:
        d: embedding size.
        enabled: attention on (False: HHFAN-a).
        init: initialisation applied by :meth:`reset_parameters`.

    Shapes:
        - input: groups ``[B, G, d]``, present ``[B, G]`` bool
        - output: ``E^attrs [B, d]``, weights ``[B, G, G]``
    """

    def __init__(self, d: int, enabled: bool = True, init: Init | None = None) -> None:
        super().__init__()
        self.enabled = enabled
        self.init = init or Init()
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.scale = 1.0 / math.sqrt(d)

    def reset_parameters(self) -> None:
        """``W^Q``, ``W^K``, ``W^V`` by :meth:`Init.dense`."""
        self.init.module(self)

    def forward(self, x: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """``x [B, G, d]``, ``present [B, G]`` -> ``(E^attrs [B, d], weights [B, G, G])``."""
        pm = present.unsqueeze(-1).to(x.dtype)
        if not self.enabled:
            g = present.shape[1]
            w = present.unsqueeze(1).expand(-1, g, -1).to(x.dtype)
            return (x * pm).sum(dim=1), w / w.sum(-1, keepdim=True).clamp(min=1.0)
        logits = self.q(x) @ self.k(x).transpose(1, 2) * self.scale  # Eq. (4)
        logits = logits.masked_fill(~present.unsqueeze(1), float("-inf"))
        w = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # rows of nodes without any group: 0
        out = w @ self.v(x) + x  # Eq. (4): residual
        return (out * pm).sum(dim=1), w  # Eq. (5)

    def extra_repr(self) -> str:
        """Whether the attention is on (off is ablation HHFAN-a)."""
        return f"enabled={self.enabled}"


class NeighborAttention(nn.Module):
    r"""HHFAN Eq. (6)–(7): attention over the node's group embeddings {users, attributes, videos}.

    .. math::
        \alpha_i = \mathrm{softmax}_i\, \mathrm{LeakyReLU}\left(u^\top [f(v) \oplus E_i]\right),
        \qquad E_v = \sum_i \alpha_i E_i

    where :math:`f(v)` is the node's own transferred embedding. ``enabled=False`` is HHFAN-n: uniform α over
    the present candidates. HetGNN's type attention has the same form and reuses this layer.

    Args:
        d: embedding size.
        enabled: attention on (False: HHFAN-n).
        negative_slope: LeakyReLU slope of Eq. (7).
        init: initialisation applied by :meth:`reset_parameters`.

    Shapes:
        - input: f(v) ``[B, d]``, candidates ``[B, C, d]``, present ``[B, C]`` bool
        - output: ``E_v [B, d]``, ``α [B, C]``
    """

    def __init__(self, d: int, enabled: bool = True, negative_slope: float = 0.2, init: Init | None = None) -> None:
        super().__init__()
        self.enabled = enabled
        self.init = init or Init()
        self.u = nn.Linear(2 * d, 1, bias=False)
        self.negative_slope = negative_slope

    def reset_parameters(self) -> None:
        """``u`` by :meth:`Init.dense`."""
        self.init.module(self)

    def forward(self, self_emb: Tensor, cands: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """``self_emb [B, d]``, ``cands [B, C, d]``, ``present [B, C]`` -> ``(E_v [B, d], α [B, C])``."""
        if self.enabled:
            pair = torch.cat([self_emb.unsqueeze(1).expand_as(cands), cands], dim=-1)
            logits = F.leaky_relu(self.u(pair).squeeze(-1), self.negative_slope)  # Eq. (7)
        else:
            logits = torch.zeros(present.shape, dtype=cands.dtype, device=cands.device)
        logits = logits.masked_fill(~present, float("-inf"))
        alpha = torch.softmax(logits, dim=-1).nan_to_num(0.0)
        return (alpha.unsqueeze(-1) * cands).sum(dim=1), alpha  # Eq. (6)

    def extra_repr(self) -> str:
        """Whether the attention is on (off is ablation HHFAN-n) and the LeakyReLU slope."""
        return f"enabled={self.enabled}, negative_slope={self.negative_slope}"
