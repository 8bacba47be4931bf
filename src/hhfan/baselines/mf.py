"""BPR matrix factorisation (Rendle et al., UAI 2009): one free embedding per user and per video."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor, nn

from hhfan.baselines.config import EmbeddingConfig
from hhfan.model.base import Recommender

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class MFConfig(EmbeddingConfig):
    """BPR-MF: factor size ``dim`` and the N(0, init_std) initialisation."""


class BPRMF(Recommender):
    """``score(u, v) = p_uᵀ q_v``; the L2 term covers only the batch's embeddings (the usual BPR-MF practice)."""

    def __init__(self, num_users: int, num_videos: int, config: MFConfig | None = None) -> None:
        super().__init__()
        cfg = config or MFConfig()
        self.num_users, self.num_videos = num_users, num_videos
        self.user = nn.Embedding(num_users, cfg.dim)
        self.video = nn.Embedding(num_videos, cfg.dim)
        nn.init.normal_(self.user.weight, 0.0, cfg.init_std)
        nn.init.normal_(self.video.weight, 0.0, cfg.init_std)

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """Look up the user and video factors."""
        return self.user(users), self.video(videos)

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The factors of the batch's users and videos."""
        yield self.user(users)
        yield self.video(videos)


def build(ctx: BuildContext) -> BPRMF:
    """Registry entry (:mod:`hhfan.baselines.registry`)."""
    return BPRMF(ctx.dataset.num_users, ctx.dataset.num_videos, ctx.config)
