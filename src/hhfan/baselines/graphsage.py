"""GraphSAGE (Hamilton, Ying & Leskovec, "Inductive Representation Learning on Large Graphs", NeurIPS 2017).

The M-HIG (built from *training* interactions only) is treated as ONE homogeneous graph: every node
type (users, videos, image/audio/text codewords, tags, user attributes) and every relation, each
undirected edge in both directions, exactly the CSR adjacency of :class:`~hhfan.graph.mhig.HeteroGraph`.

Input of node ``i`` of type ``t`` (:class:`NodeInput`)::

    h_i^0 = e_i + P_t x_i          (e_i: free id embedding; P_t x_i only where type t has features)

where ``x_i`` is the standardised concatenation of a video's modality features, or the codeword /
derived-tag centroid of an attribute node (``graph.node_features``). Each of the ``L = config.layers``
layers is PyG's ``SAGEConv`` with the mean aggregator (Eq. 1 / Algorithm 1 with "mean"; computed as a
sum over the row-normalised sparse adjacency, :class:`~hhfan.model.layers.CachedAdjacency`)::

    h_i^l = W_1 h_i^{l-1} + W_2 mean_{j in N(i)} h_j^{l-1}      (W . CONCAT(h_i, h_N(i)), written as two matrices)

with dropout (``config.dropout``) on every layer's input and ReLU between layers; users and videos
are scored by the inner product of their layer-L outputs.

Adaptations: full-graph propagation (all neighbours, once per ``embed`` call) instead of sampled
fixed-size neighbourhoods, which is exact and cheap at our sizes; BPR loss (the shared trainer)
instead of the unsupervised random-walk loss; no per-layer L2 normalisation (Algorithm 1, line 7)
and no activation after the last layer, so the inner product is not bounded to [-1, 1] (the paper's
normalisation was no better on TikTok validation); the L2 term covers the batch's id embeddings
and every weight matrix (not the whole id table).

The graph helpers here (:func:`homogeneous_edge_index`, :class:`NodeInput`) are shared with
:mod:`hhfan.baselines.pinsage`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import SAGEConv

from hhfan.baselines.config import BaselineConfig
from hhfan.graph.mhig import NODE_TYPES, HeteroGraph
from hhfan.model.base import FullGraphRecommender, Recommender
from hhfan.model.inputs import ModelInputs
from hhfan.model.layers import CachedAdjacency

if TYPE_CHECKING:
    from hhfan.baselines.registry import BuildContext


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


class GraphSAGE(FullGraphRecommender):
    """Mean-aggregator GraphSAGE over the homogeneous training M-HIG; users are rows ``0..U-1``, videos next."""

    def __init__(self, counts: dict[str, int], features: dict[str, Tensor], edge_index: Tensor,
                 config: BaselineConfig | None = None) -> None:
        super().__init__()
        cfg = config or BaselineConfig()
        self.num_users, self.num_videos = counts["user"], counts["video"]
        self.dropout = cfg.dropout
        self.input = NodeInput(counts, features, cfg.dim, cfg.init_std)
        self.register_buffer("edge_index", edge_index)
        self.adjacency = CachedAdjacency("mean")
        # "sum" over the row-normalised adjacency is the mean aggregator, as one sparse product
        self.convs = nn.ModuleList(SAGEConv(cfg.dim, cfg.dim, aggr="sum") for _ in range(cfg.layers))

    def propagate(self) -> Tensor:
        """Layer-L output of every node, ``[num_nodes, d]``."""
        x = self.input()
        adj = self.adjacency(self.edge_index, x.shape[0])
        for i, conv in enumerate(self.convs):
            x = F.dropout(x, self.dropout, self.training)
            x = conv(x, adj)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x


    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's id embeddings and every weight matrix (not the full id table)."""
        return batch_l2_terms(self, self.input, users, videos)


def build(ctx: BuildContext) -> GraphSAGE:
    """Registry entry (:mod:`hhfan.baselines.registry`): the training-only M-HIG as one homogeneous graph."""
    g = ctx.artifacts.graph
    counts = {t: g.count(t) for t in NODE_TYPES}
    return GraphSAGE(counts, node_input_features(ctx), homogeneous_edge_index(g), ctx.config)
