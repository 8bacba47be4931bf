"""HHFAN's layers, one per concept of §III-E, each citing its equation.

Shapes: ``B`` nodes being embedded, ``k`` sampled neighbours of one type, ``G`` groups, ``d`` the
shared embedding size (the paper uses one ``d`` for every stage, §III-E last paragraph).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import degree, to_torch_csr_tensor


class FeatureTransformer(nn.Module):
    """Eq. (1): ``f(v) = F_θx(x_v)`` — a per-node-type fully connected layer into the shared space ``R^d``.

    ``x_v`` is either a fixed feature vector (codeword centroids, video content) or a learned ID
    embedding; in the latter case ``F_θx`` on a one-hot input *is* an embedding table, so types
    without features get ``nn.Embedding(count, d)`` and types with features get
    ``LeakyReLU(Linear(x))``.
    """

    def __init__(self, count: int, d: int, features: Tensor | None = None, learn_ids: bool = True) -> None:
        super().__init__()
        if features is None and not learn_ids:
            raise ValueError("a node type needs features, learned ids, or both")
        self.count = count
        self.emb = nn.Embedding(count, d) if learn_ids else None
        self.proj: nn.Linear | None = None
        if features is not None:
            if features.shape[0] != count:
                raise ValueError(f"features have {features.shape[0]} rows for {count} nodes")
            self.register_buffer("x", features.float())
            self.proj = nn.Linear(features.shape[1], d)

    def forward(self, ids: Tensor) -> Tensor:
        """``ids`` int64 ``[...]`` type-local ids -> ``[..., d]`` transferred embeddings f(v)."""
        out: Tensor | None = self.emb(ids) if self.emb is not None else None
        if self.proj is not None:
            feat = F.leaky_relu(self.proj(self.x[ids]))  # type: ignore[index]
            out = feat if out is None else out + feat
        assert out is not None
        return out


class IntraTypeAggregator(nn.Module):
    """Eq. (2)–(3): aggregate the ``k`` sampled neighbours of one type into ``f^t(v)``.

    ``aggregator="lstm"`` (the paper): an LSTM runs over the neighbours in RWSS order (most
    frequently visited first) and the hidden states of the valid positions are averaged, Eq. (3).
    ``aggregator="mean"`` (ablation HHFAN-l): the plain mean of the transferred embeddings.
    Invalid (masked) slots are a suffix — the sampler fills slots in order — so the LSTM's hidden
    states at valid positions never see padding. A node with no valid neighbour gets zeros and its
    group is reported absent.
    """

    def __init__(self, d: int, aggregator: str = "lstm") -> None:
        super().__init__()
        if aggregator not in ("lstm", "mean"):
            raise ValueError(f"aggregator must be 'lstm' or 'mean', got {aggregator!r}")
        self.aggregator = aggregator
        self.lstm = nn.LSTM(d, d, batch_first=True) if aggregator == "lstm" else None

    def forward(self, neigh: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``neigh [B, k, d]``, ``mask [B, k]`` bool -> ``(f^t [B, d], present [B] bool)``."""
        h = neigh if self.lstm is None else self.lstm(neigh)[0]  # Eq. (3): LSTM hidden states
        m = mask.unsqueeze(-1).to(h.dtype)
        n = m.sum(dim=1)
        agg = (h * m).sum(dim=1) / n.clamp(min=1.0)  # Eq. (3): mean over |N_t(v)|
        return agg, n.squeeze(-1) > 0


class AttributeSelfAttention(nn.Module):
    """Eq. (4)–(5): self-attention with residual over the attribute-group embeddings, then a sum.

    ``Attention(X) = softmax(X W^Q (X W^K)^T / sqrt(d_K)) X W^V + X`` (Eq. 4) and
    ``E^attrs_v = Σ_rows Attention(X)`` (Eq. 5), over the groups present for a node (absent
    groups are masked out of the keys and the sum). ``enabled=False`` is the ablation HHFAN-a:
    every present group gets the same importance, ``E^attrs_v = Σ_g X_g``.
    """

    def __init__(self, d: int, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.scale = 1.0 / math.sqrt(d)

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


class NeighborAttention(nn.Module):
    """Eq. (6)–(7): attention over the node's group embeddings {users, attributes, videos}.

    ``α_i = softmax_i LeakyReLU(uᵀ [f(v) ⊕ E_i])`` (Eq. 7) and ``E_v = Σ_i α_i E_i`` (Eq. 6), where
    ``f(v)`` is the node's own transferred embedding. ``enabled=False`` is HHFAN-n: uniform α over the
    present candidates.
    """

    def __init__(self, d: int, enabled: bool = True, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.enabled = enabled
        self.u = nn.Linear(2 * d, 1, bias=False)
        self.negative_slope = negative_slope

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


def bipartite_edge_index(user: np.ndarray | Tensor, video: np.ndarray | Tensor, num_users: int) -> Tensor:
    """Interactions as an int64 ``[2, 2n]`` edge_index over ids ``users 0..U-1, videos U..``, both directions."""
    u = torch.as_tensor(user, dtype=torch.int64)
    v = torch.as_tensor(video, dtype=torch.int64) + num_users
    return torch.stack([torch.cat([u, v]), torch.cat([v, u])])


def sparse_adjacency(edge_index: Tensor, num_nodes: int, norm: str) -> Tensor:
    """``edge_index [2, E]`` (source, target) -> PyG's ``adj_t`` as a torch sparse CSR ``[N, N]`` (row = target).

    ``norm="sym"``: ``D^-1/2 A D^-1/2`` (LightGCN / ``gcn_norm`` without self loops); ``norm="mean"``: row
    ``i`` averages its in-neighbours (a repeated edge counts as often as it appears). Message passing
    with a sum aggregation over this matrix is one sparse-dense product, about ten times faster on CPU
    than PyG's gather/scatter path over ``edge_index`` (``benchmarks/train.py``), with the same result.
    """
    if norm == "sym":
        edge_index, weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=False)
    elif norm == "mean":
        weight = 1.0 / degree(edge_index[1], num_nodes).clamp(min=1.0)[edge_index[1]]
    else:
        raise ValueError(f"norm must be 'sym' or 'mean', got {norm!r}")
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is stable
        warnings.simplefilter("ignore", UserWarning)
        return to_torch_csr_tensor(edge_index.flip(0), weight, size=(num_nodes, num_nodes))


class CachedAdjacency(nn.Module):
    """:func:`sparse_adjacency` of a model's ``edge_index`` buffer, built once per device and content.

    Holds no parameters or buffers (checkpoints keep only ``edge_index``); the cache is rebuilt when the
    edge tensor moves device or is written in place (``load_state_dict``).
    """

    def __init__(self, norm: str) -> None:
        super().__init__()
        self.norm = norm
        self._key: tuple[int, str, int, int] | None = None
        self._adj: Tensor | None = None

    def forward(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        """The normalised sparse ``adj_t`` ``[num_nodes, num_nodes]`` for ``edge_index``."""
        key = (edge_index.data_ptr(), str(edge_index.device), edge_index._version, num_nodes)
        if self._adj is None or key != self._key:
            self._adj, self._key = sparse_adjacency(edge_index, num_nodes, self.norm), key
        return self._adj


class LayerMeanPropagation(nn.Module):
    """LightGCN's propagation: ``mean_{l=0..L} (D^-1/2 A D^-1/2)^l x`` with PyG's ``LGConv`` (no parameters).

    Serves LightGCN itself and HHFAN's optional input smoothing (``HHFANConfig.propagation``). The
    normalised adjacency is a cached sparse matrix (:class:`CachedAdjacency`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = LGConv(normalize=False)
        self.adjacency = CachedAdjacency("sym")

    def forward(self, x: Tensor, edge_index: Tensor, layers: int) -> Tensor:
        """``x [N, d]`` -> mean of the ``layers + 1`` layer outputs ``[N, d]``."""
        adj = self.adjacency(edge_index, x.shape[0])
        out = x
        for _ in range(layers):
            x = self.conv(x, adj)
            out = out + x
        return out / (layers + 1)
