"""NeuMF (He et al., WWW 2017, "Neural Collaborative Filtering"), with the video's content features.

Two branches with their own embeddings (NCF §3.4), fused by a final linear layer::

    φ_GMF = p_u^G ⊙ q_v^G                                          (GMF, NCF Eq. 9)
    φ_MLP = a_L(... a_1(W_1 [p_u^M ⊕ q_v^M] + b_1) ...)               (MLP tower, NCF Eq. 10; ReLU, dropout)
    ŷ_uv  = hᵀ [φ_GMF ⊕ φ_MLP] + b                                   (NeuMF, NCF Eq. 12)

The tower is ``config.mlp`` (hidden sizes, first layer first) with ``config.dropout`` after every
ReLU; both branches' embeddings have ``config.dim`` dimensions.

Differences from the paper, and why:

* **Loss**: NeuMF is trained with the pointwise log loss over sampled negatives (NCF Eq. 7); here
  the shared trainer's BPR loss (HHFAN Eq. 10) trains it like every other model, so that the
  comparison differs in the model only. ``ŷ_uv`` is the logit BPR compares.
* **Video attributes**: the HHFAN paper fed NeuMF the videos' attributes ("traditional models...
  take all attribute information of users and videos as input", §IV-B). When the dataset has
  modality features, the video's standardised features ``x_v`` are projected by a linear layer
  into the item side of the MLP branch: ``q_v^M = Q^M[v] + W_c x_v`` (``W_c ~ N(0, init_std²/F)``,
  so the projection starts on the scale of the id embeddings).
* No GMF/MLP pre-training (NCF §3.4.1): the paper reports NeuMF without pre-training too, and the
  HHFAN paper does not say it pre-trained.

NeuMF is not an inner-product model: :meth:`NeuMF.embed` returns per-node vectors ``[GMF ⊕ MLP]``
(``2·dim``) and :meth:`NeuMF.score` / :meth:`NeuMF.score_matrix` run the fusion. ``score_matrix``
computes the GMF part as one matrix product and the MLP tower over chunks of videos
(:class:`PairTower`), so its memory is bounded whatever the catalogue size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from hhfan.baselines.blocks import PairTower
from hhfan.baselines.config import TowerConfig
from hhfan.model.base import Recommender
from hhfan.model.inputs import video_content

if TYPE_CHECKING:
    from hhfan.model.inputs import NewVideoInputs
    from hhfan.model.registry import BuildContext

@dataclass(frozen=True)
class NeuMFConfig(TowerConfig):
    """NeuMF: embedding size, initialisation, and the MLP tower's ``dropout`` and ``mlp`` sizes."""


class NeuMF(Recommender):
    """GMF + MLP branches fused by a linear layer (module docstring); ``E = [GMF ⊕ MLP]`` per node."""

    content: Tensor | None

    def __init__(self, num_users: int, num_videos: int, content: np.ndarray | None = None,
                 config: NeuMFConfig | None = None) -> None:
        super().__init__()
        cfg = config or NeuMFConfig()
        d = self.dim = cfg.dim
        self.num_users, self.num_videos = num_users, num_videos
        self.user_gmf, self.video_gmf = nn.Embedding(num_users, d), nn.Embedding(num_videos, d)
        self.user_mlp, self.video_mlp = nn.Embedding(num_users, d), nn.Embedding(num_videos, d)
        for e in (self.user_gmf, self.video_gmf, self.user_mlp, self.video_mlp):
            nn.init.normal_(e.weight, 0.0, cfg.init_std)
        self.content_proj: nn.Linear | None = None
        self.register_buffer("content", None if content is None else torch.from_numpy(content), persistent=False)
        if content is not None:
            if content.ndim != 2 or content.shape[0] != num_videos:
                raise ValueError(f"content must be [num_videos={num_videos}, F], got {content.shape}")
            self.content_proj = nn.Linear(content.shape[1], d, bias=False)
            nn.init.normal_(self.content_proj.weight, 0.0, cfg.init_std / np.sqrt(content.shape[1]))
        self.tower = PairTower(d, d, cfg.mlp, cfg.dropout)
        self.fuse = nn.Linear(d + self.tower.out_dim, 1)  # h and b of Eq. (12)
        self.cold_start = None if content is None else (
            "its GMF and MLP id factors are zero (never trained): the MLP branch sees its projected content W_c x_v "
            "alone, and its GMF part is 0")

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``E_u = [p^G ⊕ p^M]``, ``E_v = [q^G ⊕ (q^M + W_c x_v)]``, each ``[n, 2·dim]``."""
        q_mlp = self.video_mlp(videos)
        if self.content is not None and self.content_proj is not None:
            q_mlp = q_mlp + self.content_proj(self.content[videos])
        eu = torch.cat([self.user_gmf(users), self.user_mlp(users)], dim=-1)
        return eu, torch.cat([self.video_gmf(videos), q_mlp], dim=-1)

    def score(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """``ŷ = hᵀ[φ_GMF ⊕ φ_MLP] + b`` for aligned rows (NCF Eq. 12)."""
        d = self.dim
        gmf = user_emb[:, :d] * video_emb[:, :d]  # NCF Eq. (9)
        mlp = self.tower(user_emb[:, d:], video_emb[:, d:])  # NCF Eq. (10)
        return self.fuse(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def score_matrix(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """``[B, 2d] x [N, 2d] -> [B, N]``: GMF as one product ``(p ⊙ h_G) Qᵀ``, the tower chunked over videos."""
        d = self.dim
        h_gmf, h_mlp = self.fuse.weight[0, :d], self.fuse.weight[0, d:]
        gmf = (user_emb[:, :d] * h_gmf) @ video_emb[:, :d].T
        mlp = self.tower.pair_matrix(user_emb[:, d:], video_emb[:, d:], lambda h: h @ h_mlp)
        return gmf + mlp + self.fuse.bias

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """Both branches' video id factors ``q^G``, ``q^M``."""
        yield self.video_gmf.weight, 0
        yield self.video_mlp.weight, 0

    def embed_new_videos(self, videos: NewVideoInputs) -> Tensor:
        """``[0 ⊕ W_c x_v]`` per new video (no id factors; the content projection), as a held-out video gets."""
        if self.content_proj is None or videos.content is None:
            return super().embed_new_videos(videos)
        x = videos.content.to(self.content_proj.weight.device)
        return torch.cat([x.new_zeros(x.shape[0], self.dim), self.content_proj(x)], dim=-1)

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's embeddings of both branches and every weight matrix (content projection, tower, fusion)."""
        yield self.user_gmf(users)
        yield self.user_mlp(users)
        yield self.video_gmf(videos)
        yield self.video_mlp(videos)
        if self.content_proj is not None:
            yield self.content_proj.weight
        yield from self.tower.weights()
        yield self.fuse.weight


def build(ctx: BuildContext) -> NeuMF:
    """Registry entry (:mod:`hhfan.baselines.registry`): content features when the dataset has them."""
    return NeuMF(ctx.dataset.num_users, ctx.dataset.num_videos, video_content(ctx.dataset), ctx.config)
