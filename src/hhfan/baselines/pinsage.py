"""PinSAGE (Ying, He, Chen, Eksombatchai, Hamilton & Leskovec, "Graph Convolutional Neural Networks for
Web-Scale Recommender Systems", KDD 2018).

Importance-based neighbourhoods (§3.2, :func:`importance_neighbors`): from every user and video,
``config.walks_per_node`` uniform random walks of ``config.walk_length`` steps run over the whole
training M-HIG (every node type and relation can be traversed: interactions, codewords, tags, user
attributes...), seeded by the run's seed. Only visits to *user and video* nodes are counted (the
start itself excluded): they are the nodes PinSAGE embeds, as pins are in the paper, while attribute
nodes play the part of Pinterest's boards (walk intermediates). ``N(u)`` = the ``config.num_neighbors``
most visited users/videos (ties: smaller id), with weights ``alpha_uv`` = visit counts L1-normalised over
``N(u)``; a node whose walks reach no user/video has an empty neighbourhood (``n_u = 0``).

Each of the ``L = config.layers`` convolutions (Algorithm 1, importance pooling)::

    n_u = sum_{v in N(u)} alpha_uv ReLU(Q h_v + q)
    z_u = ReLU(W [h_u ; n_u] + w)
    h_u' = z_u / ||z_u||_2

and the final dense head (Algorithm 2, lines 17-19) ``E_u = G_2 ReLU(G_1 h_u^L + g)``; score = inner product.
With ``config.skip`` the head reads ``h_u^0 + h_u^L`` instead of ``h_u^L``, the skip connection of DGL's
reference PinSAGE example (``h_item_dst + sage(blocks, h_item)``): without it the stacked
dense + ReLU + normalise layers wash out the id embeddings on MovieLens-1M and the model stays at the
popularity level (training loss flat at 0.39; README, "MovieLens-1M side by side").
Input ``h_u^0`` = free id embedding (+ a linear projection of the standardised video modality features
for videos; the paper's input is the pin's visual/text features), via the shared
:class:`~hhfan.baselines.graphsage.NodeInput`.

Adaptations: full-graph propagation over users and videos (every node's fixed neighbourhood, once
per ``embed`` call) instead of producer/consumer minibatches; BPR loss (the shared trainer) instead
of the max-margin loss with hard negatives; no curriculum; ``config.dropout`` on each layer's input;
the L2 term covers the batch's id embeddings and every weight matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hhfan.baselines.blocks import NodeInput, batch_l2_terms, node_input_features
from hhfan.baselines.config import LayersConfig, check_dropout, check_positive
from hhfan.model.base import FullGraphRecommender

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

@dataclass(frozen=True)
class PinSAGEConfig(LayersConfig):
    """PinSAGE.

    Attributes:
        dropout: dropout on every layer's input.
        num_neighbors: importance neighbours kept per node (top visit counts).
        walk_length: length of the random walks that count visits.
        walks_per_node: walks started per node.
        skip: add the layer-0 input to the last convolution's output before the dense head (the skip
            connection of DGL's reference PinSAGE example, needed on dense data such as ML-1M).
    """

    dropout: float = 0.0
    num_neighbors: int = 10
    walk_length: int = 20
    walks_per_node: int = 10
    skip: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_dropout(self.dropout)
        check_positive(self, "num_neighbors", "walk_length", "walks_per_node")


WALK_CHUNK = 65_536  # start nodes whose walks are simulated together (bounds memory)


def importance_neighbors(indptr: np.ndarray, indices: np.ndarray, num_targets: int, top: int,
                         walks_per_node: int, walk_length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``top`` nodes by random-walk visit count for every target node ``0..num_targets-1``.

    Walks move to a uniform random neighbour of the CSR graph ``(indptr, indices)`` (a walk at a
    node without neighbours stays there); only visits to nodes ``< num_targets`` other than the start
    are counted. Returns ``(ids int64 [num_targets, top], weights float32 [num_targets, top])``:
    neighbours by decreasing count (ties: smaller id) and their counts L1-normalised per row;
    unused slots have id 0 and weight 0. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    deg = np.diff(indptr)
    ids = np.zeros((num_targets, top), np.int64)
    weights = np.zeros((num_targets, top), np.float32)
    for lo in range(0, num_targets if indices.size else 0, WALK_CHUNK):
        origin = np.repeat(np.arange(lo, min(lo + WALK_CHUNK, num_targets), dtype=np.int64), walks_per_node)
        cur = origin.copy()
        keys = []
        for _ in range(walk_length):
            d = deg[cur]
            step = np.minimum((rng.random(cur.shape[0]) * d).astype(np.int64), np.maximum(d - 1, 0))
            moved = d > 0
            cur = np.where(moved, indices[np.where(moved, indptr[cur] + step, 0)].astype(np.int64), cur)
            hit = moved & (cur < num_targets) & (cur != origin)
            keys.append(origin[hit] * num_targets + cur[hit])
        uniq, cnt = np.unique(np.concatenate(keys), return_counts=True)
        start, node = uniq // num_targets, uniq % num_targets
        order = np.lexsort((node, -cnt, start))  # by start, then count descending, then id
        start, node, cnt = start[order], node[order], cnt[order]
        first = np.searchsorted(start, start, side="left")
        rank = np.arange(start.shape[0]) - first
        keep = rank < top
        ids[start[keep], rank[keep]] = node[keep]
        weights[start[keep], rank[keep]] = cnt[keep]
    total = weights.sum(axis=1, keepdims=True)
    return ids, weights / np.where(total > 0, total, 1.0)


class PinSAGE(FullGraphRecommender):
    """PinSAGE over users (rows ``0..U-1``) and videos (rows ``U..U+V-1``) with fixed importance neighbourhoods."""

    neighbor_ids: Tensor
    neighbor_weights: Tensor
    cold_start = ("its id embedding is zero (never trained): h^0 = P x_v, pooled with importance neighbours that "
                  "walks reach through its codeword and tag nodes")

    def __init__(self, counts: dict[str, int], features: dict[str, Tensor], neighbor_ids: Tensor,
                 neighbor_weights: Tensor, config: PinSAGEConfig | None = None) -> None:
        super().__init__()
        cfg = config or PinSAGEConfig()
        self.num_users, self.num_videos = counts["user"], counts["video"]
        n = self.num_users + self.num_videos
        if neighbor_ids.shape != neighbor_weights.shape or neighbor_ids.shape[0] != n:
            raise ValueError(f"neighbour tables must be [{n}, T], got {tuple(neighbor_ids.shape)}")
        self.dropout, self.skip = cfg.dropout, cfg.skip
        self.input = NodeInput(counts, features, cfg.dim, cfg.init_std, types=("user", "video"))
        self.register_buffer("neighbor_ids", neighbor_ids.long())
        self.register_buffer("neighbor_weights", neighbor_weights.float())
        d = cfg.dim
        self.q = nn.ModuleList(nn.Linear(d, d) for _ in range(cfg.layers))
        self.w = nn.ModuleList(nn.Linear(2 * d, d) for _ in range(cfg.layers))
        self.g1, self.g2 = nn.Linear(d, d), nn.Linear(d, d, bias=False)

    def convolve(self, h: Tensor, layer: int) -> Tensor:
        """One CONVOLVE step (Algorithm 1) for every node: importance pooling, concat, dense + ReLU, L2 norm."""
        m = F.relu(self.q[layer](h))
        n = torch.einsum("nt,ntd->nd", self.neighbor_weights, m[self.neighbor_ids])
        z = F.relu(self.w[layer](torch.cat([h, n], dim=1)))
        return F.normalize(z, dim=1)

    def propagate(self) -> Tensor:
        """Final embeddings of every user then video, ``[U + V, d]`` (with ``skip``: head of ``h^0 + h^L``)."""
        h0 = h = self.input()
        for layer in range(len(self.q)):
            h = self.convolve(F.dropout(h, self.dropout, self.training), layer)
        return self.g2(F.relu(self.g1(h0 + h if self.skip else h)))

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' id embeddings of :class:`NodeInput` (rows ``U + v``)."""
        yield self.input.emb.weight, self.num_users

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's id embeddings and every weight matrix (not the full id table)."""
        return batch_l2_terms(self, self.input, users, videos)


def build(ctx: BuildContext) -> PinSAGE:
    """Registry entry (:mod:`hhfan.baselines.registry`): walks over the training-only M-HIG, seeded by ``ctx.seed``."""
    g, cfg = ctx.artifacts.graph, ctx.config
    counts = {"user": g.count("user"), "video": g.count("video")}
    ids, w = importance_neighbors(g.indptr, g.indices, counts["user"] + counts["video"], cfg.num_neighbors,
                                  cfg.walks_per_node, cfg.walk_length, ctx.seed)
    return PinSAGE(counts, node_input_features(ctx), torch.from_numpy(ids), torch.from_numpy(w), cfg)
