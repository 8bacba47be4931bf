"""Most-popular: every user gets the videos with the most training interactions (the sanity floor).

Fitted at construction from the training interactions; it has no trainable parameters, so the
trainer only validates and checkpoints it. As an inner-product model: ``E_u = [1]`` for every user
and ``E_v = [log(1 + n_v)]`` with ``n_v`` the video's training interaction count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from hhfan.baselines.config import NoConfig
from hhfan.model.base import Recommender

if TYPE_CHECKING:
    from hhfan.model.inputs import NewVideoInputs
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class PopConfig(NoConfig):
    """Most-popular has no hyperparameters."""


class MostPopular(Recommender):
    """Popularity ranking from training interaction counts."""

    popularity: Tensor
    cold_start = ("a video without training interactions has popularity 0: cold videos tie with each other, ranked "
                  "in the evaluation's seeded tie-breaking order (chance)")

    def __init__(self, num_users: int, num_videos: int, train_video: np.ndarray) -> None:
        super().__init__()
        self.num_users, self.num_videos = num_users, num_videos
        counts = np.bincount(np.asarray(train_video, dtype=np.int64), minlength=num_videos).astype(np.float32)
        self.register_buffer("popularity", torch.from_numpy(np.log1p(counts))[:, None])

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``([1] per user, [log(1 + n_v)] per video)``."""
        return torch.ones(users.shape[0], 1, device=self.popularity.device), self.popularity[videos]

    def embed_new_videos(self, videos: NewVideoInputs) -> Tensor:
        """``[log(1 + 0)] = [0]`` per new video: no training interaction, no popularity."""
        return self.popularity.new_zeros(videos.count, 1)


def build(ctx: BuildContext) -> MostPopular:
    """Registry entry (:mod:`hhfan.baselines.registry`)."""
    return MostPopular(ctx.dataset.num_users, ctx.dataset.num_videos, ctx.train_video)
