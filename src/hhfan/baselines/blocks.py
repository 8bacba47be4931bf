"""Building blocks shared by several baselines (kept small: only what two or more models use).

* :class:`PairTower` — an MLP over ``[user part ⊕ video part]``, scored pairwise in bounded chunks (NeuMF, DeepFM);
* :func:`homogeneous_edge_index`, :func:`node_input_features`, :class:`NodeInput`, :func:`batch_l2_terms` — the
  M-HIG as one homogeneous graph with typed layer-0 inputs (GraphSAGE, PinSAGE);
* :func:`layer_mean`, :class:`TrainableModalities` — LightGCN's layer mean on a sparse adjacency and the
  authors' trainable per-modality feature tables with their projections (FREEDOM, BM3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from hhfan.graph.mhig import NODE_TYPES, HeteroGraph
from hhfan.model.base import Recommender
from hhfan.model.inputs import ModelInputs

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

PAIR_CHUNK_ENTRIES = 1 << 20
"""Upper bound on ``users x videos x hidden width`` activations one chunk of :meth:`PairTower.pair_matrix` holds.

4 MiB chunks stay in cache: scoring 1,024 users against TikTok's 6,710 videos took 10.2 s with
64 MiB chunks and 2.9 s with these (one thread)."""


class PairTower(nn.Module):
    """An MLP over the concatenation ``[a ⊕ b]`` of a user part and a video part (NeuMF's and DeepFM's towers).

    The first layer is split, ``W_1 [a ⊕ b] + b_1 = (W_a a + b_1) + W_b b``, so that scoring B users
    against N videos projects each side once and only the pairwise hidden activations are
    materialised, chunk by chunk. Layers: ``Linear -> ReLU -> Dropout`` per size of ``hidden``.
    """

    def __init__(self, user_dim: int, video_dim: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("the MLP tower needs at least one hidden layer (model.mlp)")
        self.user_in = nn.Linear(user_dim, hidden[0])
        self.video_in = nn.Linear(video_dim, hidden[0], bias=False)
        layers: list[nn.Module] = [nn.ReLU(), nn.Dropout(dropout)]
        for a, b in pairwise(hidden):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.out_dim, self.width = hidden[-1], max(hidden)
        for m in self.modules():
            if isinstance(m, nn.Linear):  # Glorot, as NCF's MLP layers
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, user_x: Tensor, video_x: Tensor) -> Tensor:
        """Aligned rows: ``[n, user_dim], [n, video_dim] -> [n, out_dim]``."""
        return self.body(self.user_in(user_x) + self.video_in(video_x))

    def pair_matrix(self, user_x: Tensor, video_x: Tensor, head: Callable[[Tensor], Tensor]) -> Tensor:
        """``head(tower(u_i, v_j))`` for every pair: ``[B, ·], [N, ·] -> [B, N]``, chunked over videos.

        ``head`` maps ``[..., out_dim]`` to ``[...]``; each chunk holds at most about
        :data:`PAIR_CHUNK_ENTRIES` hidden activations.
        """
        hu, hv = self.user_in(user_x), self.video_in(video_x)
        b, n = hu.shape[0], hv.shape[0]
        chunk = max(1, PAIR_CHUNK_ENTRIES // max(1, b * self.width))
        out = hu.new_empty(b, n)
        for s in range(0, n, chunk):
            out[:, s : s + chunk] = head(self.body(hu.unsqueeze(1) + hv[s : s + chunk].unsqueeze(0)))
        return out

    def weights(self) -> Iterator[Tensor]:
        """Weight matrices (no biases), for the L2 term."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                yield m.weight


def homogeneous_edge_index(graph: HeteroGraph) -> Tensor:
    """All edges of the M-HIG as one int64 ``[2, 2 * num_edges]`` edge_index over global node ids.

    Both directions of every undirected edge (the CSR already stores both); row 0 = source, row 1 = target.
    """
    src = np.repeat(np.arange(graph.num_nodes, dtype=np.int64), np.diff(graph.indptr))
    return torch.from_numpy(np.stack([src, graph.indices.astype(np.int64)]))


def node_input_features(ctx: BuildContext) -> dict[str, Tensor]:
    """Per-type input features: ``video`` = standardised concatenated modalities, attribute types = centroids."""
    inputs = ModelInputs.from_artifacts(ctx.artifacts, ctx.dataset)
    feats = dict(inputs.node_features)
    if inputs.video_content is not None:
        feats["video"] = inputs.video_content
    return feats


class NodeInput(nn.Module):
    """Layer-0 node vectors ``h_i^0 = e_i + P_t x_i`` for the nodes of ``types`` (in global-id order).

    ``types`` must be a prefix of :data:`NODE_TYPES` (e.g. ``("user", "video")``), so row ``i`` of the
    output is global node ``i``.
    """

    def __init__(self, counts: dict[str, int], features: dict[str, Tensor], dim: int, init_std: float,
                 types: Sequence[str] = NODE_TYPES) -> None:
        super().__init__()
        if tuple(types) != NODE_TYPES[: len(types)]:
            raise ValueError(f"types must be a prefix of {NODE_TYPES}, got {tuple(types)}")
        self.types = tuple(types)
        self.counts = [counts[t] for t in self.types]
        self.emb = nn.Embedding(sum(self.counts), dim)
        nn.init.normal_(self.emb.weight, 0.0, init_std)
        self.proj = nn.ModuleDict()
        for t, n in zip(self.types, self.counts, strict=True):
            if n and t in features:
                x = features[t].float()
                if x.shape[0] != n:
                    raise ValueError(f"{t} features have {x.shape[0]} rows, the graph has {n} {t} nodes")
                self.register_buffer(f"x_{t}", x.contiguous(), persistent=False)  # derived from the data
                self.proj[t] = nn.Linear(x.shape[1], dim)

    def forward(self) -> Tensor:
        """``[sum(counts), dim]``: id embeddings plus the projected features of the typed blocks that have them."""
        parts = []
        start = 0
        for t, n in zip(self.types, self.counts, strict=True):
            block = self.emb.weight[start : start + n]
            if t in self.proj:
                block = block + self.proj[t](getattr(self, f"x_{t}"))
            parts.append(block)
            start += n
        return torch.cat(parts)


def batch_l2_terms(model: Recommender, node_input: NodeInput, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
    """L2 terms of a model built on :class:`NodeInput`: the batch's id embeddings, then every other parameter."""
    yield node_input.emb(users)
    yield node_input.emb(videos + model.num_users)
    yield from (p for p in model.parameters() if p is not node_input.emb.weight)


def layer_mean(adj: Tensor, x: Tensor, layers: int) -> Tensor:
    r"""LightGCN's layer combination on a normalised sparse ``adj [N, N]`` (FREEDOM, BM3).

    .. math::
        \bar{E} = \frac{1}{L + 1} \sum_{l=0}^{L} \hat{A}^l E

    Shapes: ``x [N, d]`` -> ``[N, d]``; one ``torch.sparse.mm`` per layer.
    """
    out = x
    for _ in range(layers):
        x = torch.sparse.mm(adj, x)
        out = out + x
    return out / (layers + 1)


class TrainableModalities(nn.Module):
    """Per modality ``m``: a trainable copy ``X_m`` of the videos' features and a linear map ``f_m`` into the
    model's space (FREEDOM and BM3: the authors' ``nn.Embedding.from_pretrained(feat, freeze=False)`` and
    ``nn.Linear``).

    ``X_m`` starts at the (standardised) features and is trained with everything else; ``f_m(X_m[v])`` is
    video ``v``'s modality representation. ``xavier`` initialises the maps' weights Xavier-normal (BM3's code),
    otherwise PyTorch's default (FREEDOM's code).

    Shapes: ``forward(m, videos [n])`` -> ``[n, dim]``.
    """

    def __init__(self, features: dict[str, Tensor], dim: int, xavier: bool) -> None:
        super().__init__()
        if not features:
            raise ValueError("needs at least one modality in dataset.features")
        self.tables = nn.ParameterDict({m: nn.Parameter(x.float().clone()) for m, x in features.items()})
        self.maps = nn.ModuleDict({m: nn.Linear(x.shape[1], dim) for m, x in features.items()})
        if xavier:
            for lin in self.maps.values():
                assert isinstance(lin, nn.Linear)
                nn.init.xavier_normal_(lin.weight)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names, in dataset order."""
        return tuple(self.tables)

    def forward(self, m: str, videos: Tensor) -> Tensor:
        """``f_m(X_m[videos])``."""
        out: Tensor = self.maps[m](self.tables[m][videos])
        return out
