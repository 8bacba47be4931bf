"""MMGCN (Wei, Wang, Nie, He, Hong & Chua, "MMGCN: Multi-modal Graph Convolution Network for Personalized
Recommendation of Micro-video", ACM MM 2019).

One user-video bipartite graph per modality ``m`` (the *training* interactions, both directions; all
modalities share its structure). Per modality, layer 0 is ``x^0 = normalize([u_m ; W_0 v_m])``: a free
user preference vector ``u_m`` and a linear projection of the video's standardised modality feature
``v_m`` (the official code's MLP), rows L2-normalised as in the official code. Each of the
``L = config.layers`` graph convolution layers (MMGCN Eqs. 1-5)::

    h_m       = LeakyReLU( mean_{j in N(i)} W_1 x_j )                   aggregation (mean of neighbours)
    x_hat_m   = LeakyReLU( W_2 x_i + b_2 ) + e_i                        transformed self + id embedding
    x_i'      = LeakyReLU( W_3 [h_m ; x_hat_m] + b_3 )                  combination (concat; COMBINE = "sum":
                                                                         LeakyReLU(W_3 h_m + b_3) + x_hat_m)

where ``e_i`` is the node's id embedding, shared by every modality. The modality-specific outputs are
SUMMED over modalities (``E_i = sum_m x_i^{L,m}``) and pairs are scored by the inner product.

Adaptations: BPR through the shared trainer (the paper also uses BPR); the modalities are those
present in ``dataset.features`` (TikTok: visual, acoustic; the synthetic world: visual, acoustic,
textual); the feature projection is one linear layer; the L2 term covers the batch's id embeddings
and user preferences (as in the official code), not the weights. Note: MMGCN's original code
normalises NDCG differently from ours; all numbers here come from our standard evaluator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import SimpleConv

from hhfan.baselines.config import LayersConfig
from hhfan.graph.quantize import standardise
from hhfan.model.base import FullGraphRecommender
from hhfan.model.propagation import CachedAdjacency, bipartite_edge_index

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

@dataclass(frozen=True)
class MMGCNConfig(LayersConfig):
    """MMGCN: embedding size, initialisation and ``layers`` of aggregation + combination."""


COMBINE = "concat"  # the combination layer: "concat" (W_3 [h ; x_hat]) or "sum" (W_3 h + x_hat), paper §3.2.2


class ModalityGCN(nn.Module):
    """The graph convolution branch of one modality: user preferences + projected video features."""

    features: Tensor

    def __init__(self, num_users: int, features: Tensor, dim: int, layers: int, init_std: float) -> None:
        super().__init__()
        self.preference = nn.Embedding(num_users, dim)
        nn.init.normal_(self.preference.weight, 0.0, init_std)
        self.register_buffer("features", features.float().contiguous(), persistent=False)  # derived from the data
        self.proj = nn.Linear(features.shape[1], dim)
        self.conv_w = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in range(layers))
        self.self_w = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        width = 2 * dim if COMBINE == "concat" else dim
        self.comb_w = nn.ModuleList(nn.Linear(width, dim) for _ in range(layers))
        self.mean = SimpleConv(aggr="sum")  # a sum over the row-normalised adjacency: the neighbour mean

    def forward(self, id_emb: Tensor, adj: Tensor) -> Tensor:
        """Modality-specific representations of every user then video, ``[U + V, d]``.

        ``adj``: the interaction graph's mean-normalised sparse ``adj_t`` (:class:`CachedAdjacency`).
        """
        x = F.normalize(torch.cat([self.preference.weight, self.proj(self.features)]), dim=1)
        for conv_w, self_w, comb_w in zip(self.conv_w, self.self_w, self.comb_w, strict=True):
            h = F.leaky_relu(self.mean(conv_w(x), adj))
            x_hat = F.leaky_relu(self_w(x)) + id_emb
            if COMBINE == "concat":
                x = F.leaky_relu(comb_w(torch.cat([h, x_hat], dim=1)))
            else:
                x = F.leaky_relu(comb_w(h)) + x_hat
        return x


class MMGCN(FullGraphRecommender):
    """Sum over modalities of per-modality GCN outputs; users are rows ``0..U-1``, videos next."""

    cold_start = ("its id embedding e_i is zero (never trained) and it has no interaction edge, so each modality "
                  "branch embeds it from its projected feature alone (the neighbour mean is 0)")

    def __init__(self, num_users: int, num_videos: int, modal_features: dict[str, Tensor], edge_index: Tensor,
                 config: MMGCNConfig | None = None) -> None:
        super().__init__()
        cfg = config or MMGCNConfig()
        if not modal_features:
            raise ValueError("MMGCN needs at least one modality in dataset.features")
        for m, x in modal_features.items():
            if x.shape[0] != num_videos:
                raise ValueError(f"{m} features have {x.shape[0]} rows, expected {num_videos} videos")
        self.num_users, self.num_videos = num_users, num_videos
        self.id_emb = nn.Embedding(num_users + num_videos, cfg.dim)
        nn.init.normal_(self.id_emb.weight, 0.0, cfg.init_std)
        self.register_buffer("edge_index", edge_index)
        self.adjacency = CachedAdjacency("mean")
        self.branches = nn.ModuleDict({m: ModalityGCN(num_users, x, cfg.dim, cfg.layers, cfg.init_std)
                                       for m, x in modal_features.items()})

    def propagate(self) -> Tensor:
        """``sum_m x^{L,m}`` for every user then video, ``[U + V, d]``."""
        adj = self.adjacency(self.edge_index, self.num_users + self.num_videos)
        out = [branch(self.id_emb.weight, adj) for branch in self.branches.values()]
        return torch.stack(out).sum(dim=0)

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' id embeddings ``e_i`` (rows ``U + v`` of the shared table)."""
        yield self.id_emb.weight, self.num_users

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's id embeddings and the batch users' preference vectors of every modality."""
        yield self.id_emb(users)
        yield self.id_emb(videos + self.num_users)
        for branch in self.branches.values():
            assert isinstance(branch, ModalityGCN)
            yield branch.preference(users)


def build(ctx: BuildContext) -> MMGCN:
    """Registry entry (:mod:`hhfan.baselines.registry`): one training-interaction graph, every dataset modality."""
    ds = ctx.dataset
    feats = {m: torch.from_numpy(standardise(ds.features[m])) for m in ds.modalities}
    edges = bipartite_edge_index(ctx.train_user, ctx.train_video, ds.num_users)
    return MMGCN(ds.num_users, ds.num_videos, feats, edges, ctx.config)
