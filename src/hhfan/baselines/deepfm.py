"""DeepFM (Guo et al., IJCAI 2017): an FM component and a deep component on shared field embeddings.

``ŷ = y_FM + y_DNN`` (DeepFM Eq. 1) where

* ``y_FM`` is the second-order FM of :mod:`hhfan.baselines.fm` over the same fields (user id, user
  attributes, user tags; video id, video tags, modality codewords, content), with the same
  :class:`~hhfan.baselines.fm.FieldEmbedding` (DeepFM Eq. 2);
* ``y_DNN`` is an MLP over the concatenation of the field embeddings ``e_f = Σ_{i∈f} v_i x_i``
  (DeepFM Eq. 3–6: one ``d``-vector per field, multi-valued fields averaged as in FM), hidden sizes
  ``config.mlp`` with ReLU and ``config.dropout``, and a linear output unit.

Trained with BPR by the shared trainer (DeepFM uses the pointwise log loss for CTR); ``ŷ`` is the
logit. The deep part does not decompose into an inner product: :meth:`DeepFM.embed` returns each
node's flattened field embeddings plus its own FM part (``[F_side·d + 1]``; users
``w0 + self(u)``, videos ``self(v)``), :meth:`DeepFM.score` runs FM + DNN on aligned rows and
:meth:`DeepFM.score_matrix` computes the FM part as one matrix product and the DNN chunked over
videos.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from hhfan.baselines.blocks import PairTower
from hhfan.baselines.config import TowerConfig
from hhfan.baselines.fields import FeatureFields, FieldEmbedding
from hhfan.model.base import Recommender

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class DeepFMConfig(TowerConfig):
    """DeepFM: embedding size, initialisation, and the MLP tower's ``dropout`` and ``mlp`` sizes."""


class DeepFM(Recommender):
    """FM + DNN over shared field embeddings (module docstring)."""

    cold_start = ("its video_id field embedding and weight are zero (never trained), in the FM and the DNN; its tag, "
                  "codeword and content fields remain")

    def __init__(self, num_users: int, num_videos: int, fields: FeatureFields, config: DeepFMConfig | None = None
                 ) -> None:
        super().__init__()
        cfg = config or DeepFMConfig()
        self.num_users, self.num_videos, self.dim = num_users, num_videos, cfg.dim
        self.fields = FieldEmbedding(fields, cfg.dim, cfg.init_std)
        self.tower = PairTower(self.fields.num_user_fields * cfg.dim, self.fields.num_video_fields * cfg.dim,
                               cfg.mlp, cfg.dropout)
        self.out = nn.Linear(self.tower.out_dim, 1)  # the DNN's output unit (DeepFM Eq. 6)

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``E_u = [e_1..e_Fu ⊕ w0 + self(u)]``, ``E_v = [e_1..e_Fv ⊕ self(v)]`` (flattened field embeddings)."""
        tu, tv = self.fields.users(users), self.fields.videos(videos)
        eu = torch.cat([tu.fields.flatten(1), (self.fields.bias + tu.own()).unsqueeze(-1)], dim=-1)
        return eu, torch.cat([tv.fields.flatten(1), tv.own().unsqueeze(-1)], dim=-1)

    def _split(self, emb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(flattened field embeddings, their sum [n, d], own FM part [n])`` of embedded rows."""
        flat = emb[:, :-1]
        return flat, flat.unflatten(1, (-1, self.dim)).sum(dim=1), emb[:, -1]

    def score(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """``y_FM + y_DNN`` for aligned rows."""
        fu, su, own_u = self._split(user_emb)
        fv, sv, own_v = self._split(video_emb)
        fm = own_u + own_v + (su * sv).sum(dim=-1)  # cross-side pairs: <s_u, s_v>
        return fm + self.out(self.tower(fu, fv)).squeeze(-1)

    def score_matrix(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """``[B, ·] x [N, ·] -> [B, N]``: the FM part as one product, the DNN chunked over videos."""
        fu, su, own_u = self._split(user_emb)
        fv, sv, own_v = self._split(video_emb)
        fm = su @ sv.T + own_u.unsqueeze(1) + own_v.unsqueeze(0)
        w, b = self.out.weight[0], self.out.bias[0]
        return fm + self.tower.pair_matrix(fu, fv, lambda h: h @ w + b)

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The ``video_id`` field's ``v_i`` and ``w_i`` (:meth:`FieldEmbedding.video_id_rows`)."""
        yield from self.fields.video_id_rows()

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's active feature vectors and weights, the content maps, and the DNN's weight matrices."""
        yield from self.fields.l2_terms(users, videos)
        yield from self.tower.weights()
        yield self.out.weight


def build(ctx: BuildContext) -> DeepFM:
    """Registry entry (:mod:`hhfan.baselines.registry`): the FM_HIG fields of :mod:`hhfan.baselines.fm`."""
    return DeepFM(ctx.dataset.num_users, ctx.dataset.num_videos, FeatureFields.from_context(ctx), ctx.config)
