"""GraphSAGE (Hamilton, Ying & Leskovec, "Inductive Representation Learning on Large Graphs", NeurIPS 2017).

The M-HIG (built from *training* interactions only) is treated as ONE homogeneous graph: every node
type (users, videos, image/audio/text codewords, tags, user attributes) and every relation, each
undirected edge in both directions, exactly the CSR adjacency of :class:`~hhfan.graph.mhig.HeteroGraph`.

Input of node ``i`` of type ``t`` (:class:`NodeInput`)::

    h_i^0 = e_i + P_t x_i          (e_i: free id embedding; P_t x_i only where type t has features)

where ``x_i`` is the standardised concatenation of a video's modality features, or the codeword /
derived-tag centroid of an attribute node (``graph.node_features``). Each of the ``L = config.layers``
layers is PyG's ``SAGEConv`` with the mean aggregator (GraphSAGE Eq. 1 / Algorithm 1 with "mean"; computed as a
sum over the row-normalised sparse adjacency, :class:`~hhfan.model.propagation.CachedAdjacency`)::

    h_i^l = W_1 h_i^{l-1} + W_2 mean_{j in N(i)} h_j^{l-1}      (W . CONCAT(h_i, h_N(i)), written as two matrices)

with dropout (``config.dropout``) on every layer's input and ReLU between layers; users and videos
are scored by the inner product of their layer-L outputs.

Adaptations: full-graph propagation (all neighbours, once per ``embed`` call) instead of sampled
fixed-size neighbourhoods, which is exact and cheap at our sizes; BPR loss (the shared trainer)
instead of the unsupervised random-walk loss; no per-layer L2 normalisation (Algorithm 1, line 7)
and no activation after the last layer, so the inner product is not bounded to [-1, 1] (the paper's
normalisation was no better on TikTok validation); the L2 term covers the batch's id embeddings
and every weight matrix (not the whole id table).

The graph helpers it is built on (:mod:`hhfan.baselines.blocks`) are shared with :mod:`hhfan.baselines.pinsage`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import SAGEConv

from hhfan.baselines.blocks import NodeInput, batch_l2_terms, homogeneous_edge_index, node_input_features
from hhfan.baselines.config import LayersConfig, check_dropout
from hhfan.graph.mhig import NODE_TYPES
from hhfan.model.base import FullGraphRecommender
from hhfan.model.propagation import CachedAdjacency

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class GraphSAGEConfig(LayersConfig):
    """GraphSAGE.

    Attributes:
        dropout: dropout on every layer's input.
    """

    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_dropout(self.dropout)


class GraphSAGE(FullGraphRecommender):
    """Mean-aggregator GraphSAGE over the homogeneous training M-HIG; users are rows ``0..U-1``, videos next."""

    cold_start = ("its id embedding e_i is zero (never trained): h^0 = P x_v, propagated over the training M-HIG, "
                  "which it joins through its codeword and tag edges")

    def __init__(self, counts: dict[str, int], features: dict[str, Tensor], edge_index: Tensor,
                 config: GraphSAGEConfig | None = None) -> None:
        super().__init__()
        cfg = config or GraphSAGEConfig()
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


    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' id embeddings ``e_i`` of :class:`NodeInput` (rows ``U + v``)."""
        yield self.input.emb.weight, self.num_users

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's id embeddings and every weight matrix (not the full id table)."""
        return batch_l2_terms(self, self.input, users, videos)


def build(ctx: BuildContext) -> GraphSAGE:
    """Registry entry (:mod:`hhfan.baselines.registry`): the training-only M-HIG as one homogeneous graph."""
    g = ctx.artifacts.graph
    counts = {t: g.count(t) for t in NODE_TYPES}
    return GraphSAGE(counts, node_input_features(ctx), homogeneous_edge_index(g), ctx.config)
