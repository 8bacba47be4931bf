"""BM3 (Zhou, Zhou, Liu, Zeng, Miao, Wang, You & Jiang, "Bootstrap Latent Representations for Multi-modal
Recommendation", WWW 2023): bootstrapped multimodal self-supervision without negatives.

Online representations: LightGCN over the *training* user-video graph on ID embeddings, mean of layers
``0..L``, and each video's own ID embedding added once more (the authors' code)::

    [h_u ; h_v] = mean_{l=0..L} Â^l [e_u ; e_v],     h_v <- h_v + e_v
    h_v^m       = f_m(x_v^m)                         (one linear map per modality; x^m a trainable feature copy)

Targets are the online representations with dropout (ratio ``p``) and a stop-gradient; one shared predictor
``f_p`` (a linear layer) maps online representations before they are compared. With ``cos`` the cosine
similarity, over the batch's observed pairs ``(u, v)`` (BM3's multi-modal contrastive loss)::

    L_rec   = (1 − cos(f_p(h_u), sg(drop(h_v)))) + (1 − cos(f_p(h_v), sg(drop(h_u))))     graph reconstruction
    L_align = Σ_m 1 − cos(f_p(h_v^m), sg(drop(h_v)))                                     inter-modality alignment
    L_mask  = Σ_m 1 − cos(f_p(h_v^m), sg(drop(h_v^m)))                                   intra-modality (masked)
    L_BM3   = L_rec + reg_weight · (‖H_U‖_F + ‖H_V‖_F) / V + cl_weight · (L_align + L_mask)

each term averaged over the batch. No negative is ever used. Ranking scores are ``f_p(h_u)ᵀ f_p(h_v)``
(the authors' ``full_sort_predict``), so :meth:`BM3.embed` returns predictor outputs.

Adaptation: BM3's own loss has no BPR term, but every baseline here shares one trainer with BPR (and its λ on
the batch's layer-0 rows), so BM3 is trained on ``L_BPR + λ‖θ‖² + L_BM3``: ``L_BM3`` is
:meth:`BM3.aux_loss`, the BPR sees the predictor outputs that rank. Further: the modalities are those of
``dataset.features`` (TikTok: visual and acoustic; the authors' TikTok run also had text), their trainable
copies start from the standardised features (the authors': raw); ID embeddings start N(0, init_std) (the
authors': Xavier uniform); dropout masks are drawn on the batch's rows (the authors' on the full matrices,
so a row twice in a batch there shares one mask); in eval mode no dropout is applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hhfan.baselines.blocks import TrainableModalities, layer_mean
from hhfan.baselines.config import LayersConfig, check_dropout
from hhfan.graph.quantize import standardise
from hhfan.model.base import FullGraphRecommender
from hhfan.model.propagation import CachedAdjacency, bipartite_edge_index

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class BM3Config(LayersConfig):
    """BM3: LightGCN size and layers, the target dropout and the loss weights.

    The authors' code (MMRec ``src/configs/model/BM3.yaml``, ``src/models/bm3.py``): 64 dimensions,
    ``n_layers`` searched in {1, 2}, ``dropout`` in {0.3, 0.5}, ``reg_weight`` in {0.1, 0.01}, ``cl_weight``
    2.0, no negative sampling, Adam lr 1e-3, batch 2048, weight decay 0. The defaults here take the first
    value of each searched list; the TikTok preset takes the setting of the published TikTok run (2 layers,
    dropout 0.3, reg_weight 0; DA-MRS logs).

    Attributes:
        layers: LightGCN layers ``L``.
        dropout: ``p``, dropout ratio of the target views.
        reg_weight: weight of the (unsquared) Frobenius norm of all online user and video representations.
        cl_weight: weight of the modality losses ``L_align + L_mask``.
    """

    layers: int = 1
    dropout: float = 0.3
    reg_weight: float = 0.1
    cl_weight: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_dropout(self.dropout)
        for name in ("reg_weight", "cl_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def cosine_gap(online: Tensor, target: Tensor) -> Tensor:
    """``mean_i (1 − cos(online_i, target_i))``, the BYOL-style alignment loss of BM3 (``target`` detached).

    Shapes: ``online, target [n, d]`` -> scalar.
    """
    return 1.0 - F.cosine_similarity(online, target.detach(), dim=-1).mean()


class BM3(FullGraphRecommender):
    """BM3 over training interactions; rows are users ``0..U-1`` then videos."""

    edge_index: Tensor
    cold_start = ("its id embedding is zero (never trained) and it has no interaction edge, so its online "
                  "representation is 0 and every such video gets the same score f_p(0) (content shapes training "
                  "only, never the ranking)")

    def __init__(self, num_users: int, num_videos: int, modal_features: dict[str, Tensor], edge_index: Tensor,
                 config: BM3Config | None = None) -> None:
        super().__init__()
        cfg = config or BM3Config()
        for m, x in modal_features.items():
            if x.shape[0] != num_videos:
                raise ValueError(f"{m} features have {x.shape[0]} rows, expected {num_videos} videos")
        self.cfg = cfg
        self.num_users, self.num_videos = num_users, num_videos
        self.emb = nn.Embedding(num_users + num_videos, cfg.dim)
        nn.init.normal_(self.emb.weight, 0.0, cfg.init_std)
        self.predictor = nn.Linear(cfg.dim, cfg.dim)
        nn.init.xavier_normal_(self.predictor.weight)
        self.modalities = TrainableModalities(modal_features, cfg.dim, xavier=True)
        self.register_buffer("edge_index", edge_index)
        self.adjacency = CachedAdjacency("sym")

    def online(self) -> Tensor:
        """Online representations ``[h_u ; h_v]`` of every user then video, ``[U + V, d]`` (no predictor)."""
        adj = self.adjacency(self.edge_index, self.num_users + self.num_videos)
        h = layer_mean(adj, self.emb.weight, self.cfg.layers)
        own = torch.cat([h.new_zeros(self.num_users, h.shape[1]), self.emb.weight[self.num_users :]])
        return h + own  # h_v + e_v for videos, users unchanged

    def propagate(self) -> Tensor:
        """Ranking representations ``f_p([h_u ; h_v])``."""
        out: Tensor = self.predictor(self.online())
        return out

    def _target(self, x: Tensor) -> Tensor:
        """Stop-gradient dropout view (no dropout in eval mode)."""
        return F.dropout(x.detach(), self.cfg.dropout, training=self.training)

    def aux_loss(self, users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
        """``L_BM3`` on the batch's observed pairs ``(users[i], positives[i])``; ``negatives`` are never used."""
        cfg = self.cfg
        h = self.online()
        h_u, h_v = h[users], h[positives + self.num_users]
        t_u, t_v = self._target(h_u), self._target(h_v)
        loss = cosine_gap(self.predictor(h_u), t_v) + cosine_gap(self.predictor(h_v), t_u)  # L_rec
        if cfg.reg_weight:
            loss = loss + cfg.reg_weight * (h[: self.num_users].norm() + h[self.num_users :].norm()) / self.num_videos
        modal = h.new_zeros(())
        for m in self.modalities.modalities:
            f = self.modalities(m, positives)
            p = self.predictor(f)
            modal = modal + cosine_gap(p, t_v) + cosine_gap(p, self._target(f))  # L_align + L_mask
        return loss + cfg.cl_weight * modal

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' id embeddings ``e_v`` (rows ``U + v`` of the shared table)."""
        yield self.emb.weight, self.num_users

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """Layer-0 ID embeddings of the batch (the shared trainer's λ, for its BPR term)."""
        yield self.emb(users)
        yield self.emb(videos + self.num_users)


def build(ctx: BuildContext) -> BM3:
    """Registry entry (:mod:`hhfan.model.registry`): training interactions only, every dataset modality."""
    ds = ctx.dataset
    feats = {m: torch.from_numpy(standardise(ds.features[m])) for m in ds.modalities}
    edges = bipartite_edge_index(ctx.train_user, ctx.train_video, ds.num_users)
    return BM3(ds.num_users, ds.num_videos, feats, edges, ctx.config)
