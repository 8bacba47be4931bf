"""LightGCN (He et al., SIGIR 2020) with PyTorch Geometric's ``LGConv`` on the training user-video graph.

``E^(l+1) = D^-1/2 A D^-1/2 E^(l)`` over the bipartite graph of training interactions only, final
embedding = mean of layers 0..L; only the layer-0 embeddings are parameters, and the L2 term covers
the batch's layer-0 embeddings (as in the paper's code).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor, nn

from hhfan.baselines.config import LayersConfig
from hhfan.model.base import FullGraphRecommender
from hhfan.model.propagation import LayerMeanPropagation, bipartite_edge_index

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class LightGCNConfig(LayersConfig):
    """LightGCN: embedding size, initialisation and propagation ``layers``."""


class LightGCN(FullGraphRecommender):
    """LightGCN over training interactions ``(user[i], video[i])``."""

    def __init__(self, num_users: int, num_videos: int, train_user: np.ndarray, train_video: np.ndarray,
                 config: LightGCNConfig | None = None) -> None:
        super().__init__()
        cfg = config or LightGCNConfig()
        self.num_users, self.num_videos, self.layers = num_users, num_videos, cfg.layers
        self.emb = nn.Embedding(num_users + num_videos, cfg.dim)
        nn.init.normal_(self.emb.weight, 0.0, cfg.init_std)
        self.register_buffer("edge_index", bipartite_edge_index(train_user, train_video, num_users))
        self.smooth = LayerMeanPropagation()

    def propagate(self) -> Tensor:
        """Mean of the layer outputs, ``[num_users + num_videos, d]``."""
        return self.smooth(self.emb.weight, self.edge_index, self.layers)

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """Layer-0 embeddings of the batch."""
        yield self.emb(users)
        yield self.emb(videos + self.num_users)


def build(ctx: BuildContext) -> LightGCN:
    """Registry entry (:mod:`hhfan.baselines.registry`): propagates over training interactions only."""
    return LightGCN(ctx.dataset.num_users, ctx.dataset.num_videos, ctx.train_user, ctx.train_video, ctx.config)
