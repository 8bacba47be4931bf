"""FM_HIG: a factorisation machine (Rendle, ICDM 2010) on the M-HIG's attribute fields (HHFAN §IV-B).

Textbook second-order FM over a sparse feature vector ``x`` (Rendle 2010, Eq. 1)::

    ŷ(x) = w0 + Σ_i w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j

where ``x`` is the concatenation of the user's and the video's features, grouped into fields
(:class:`~hhfan.baselines.fields.FeatureFields`, shared with :mod:`hhfan.baselines.deepfm`):

* user side: ``user_id`` (one-hot), one field per categorical user-attribute column
  (``user_attr:<column>``, one-hot, from the M-HIG's user-attribute nodes; an unknown value has no
  feature) and ``user_tag`` (the user's tags, when the dataset has any);
* video side: ``video_id`` (one-hot), ``video_tag`` (the video's tag nodes in the M-HIG: real tags,
  or the derived ones where a dataset has none), ``codeword:<image|audio|text>`` (the nearest k-means
  codeword nodes the M-HIG links each video to, ``graph.links_per_video`` per modality) and
  ``content``, the standardised concatenated modality features as real-valued features.

Choices (the paper only says it feeds "heterogeneous information as context features" to FM):

* every categorical field of a row sums to 1: a one-hot field has ``x = 1``, a multi-valued field
  (several tags, several codewords) gives each of its ``n`` values ``x = 1/n`` — libFM's
  normalisation of set-valued features (Rendle, ACM TIST 2012, §2.2), i.e. the field embedding is the
  *average* of its value vectors; user and video tags are different fields (separate vocabularies);
* the ``content`` field holds the standardised features divided by ``sqrt(F)`` (F = total feature
  dimension), so its norm is about 1 like the other fields'; its ``v_i`` are the columns of a linear
  projection ``F -> d``, its ``w_i`` a linear map ``F -> 1``;
* the tag hierarchy (tag-tag edges) is not expanded into ancestor features.

**Inner-product form.** The FM splits exactly into user-only, video-only and cross terms. With
``s_u = Σ_{i∈user} v_i x_i`` (the sum of the user's field vectors), ``s_v`` likewise, and the
within-side part ``self(S) = Σ_{i∈S} w_i x_i + ½(‖Σ_{i∈S} v_i x_i‖² − Σ_{i∈S} ‖v_i‖² x_i²)``::

    ŷ(u, v) = w0 + self(user) + self(video) + <s_u, s_v>
            = <E_u, E_v>,  E_u = [s_u, 1, w0 + self(user)],  E_v = [s_v, self(video), 1]

so :class:`FM` is an inner-product model (``d + 2`` dimensions), ranked by ``E_u E_vᵀ`` like BPR-MF.
Under BPR and for ranking, ``w0`` and the user-only part are the same for every video of a user and
cancel; they are kept so that the score is the textbook FM.

Trained with BPR by the shared trainer (FM_HIG in the paper; libFM would use a pointwise loss).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from hhfan.baselines.config import EmbeddingConfig
from hhfan.baselines.fields import FeatureFields, FieldEmbedding
from hhfan.model.base import Recommender

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class FMConfig(EmbeddingConfig):
    """FM_HIG: the field-vector size ``dim`` and the N(0, init_std) initialisation."""


class FM(Recommender):
    """FM_HIG as an inner-product model: ``E_u = [s_u, 1, w0 + self(u)]``, ``E_v = [s_v, self(v), 1]``."""

    cold_start = ("its video_id feature's v_i and w_i are zero (never trained); its tag, codeword and content fields "
                  "remain")

    def __init__(self, num_users: int, num_videos: int, fields: FeatureFields, config: FMConfig | None = None
                 ) -> None:
        super().__init__()
        cfg = config or FMConfig()
        self.num_users, self.num_videos = num_users, num_videos
        self.fields = FieldEmbedding(fields, cfg.dim, cfg.init_std)

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``([n_u, d + 2], [n_v, d + 2])`` whose inner products are the FM scores (module docstring)."""
        tu, tv = self.fields.users(users), self.fields.videos(videos)
        ones_u = torch.ones_like(tu.linear).unsqueeze(-1)
        ones_v = torch.ones_like(tv.linear).unsqueeze(-1)
        eu = torch.cat([tu.fields.sum(dim=1), ones_u, (self.fields.bias + tu.own()).unsqueeze(-1)], dim=-1)
        ev = torch.cat([tv.fields.sum(dim=1), tv.own().unsqueeze(-1), ones_v], dim=-1)
        return eu, ev

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The ``video_id`` field's ``v_i`` and ``w_i`` (:meth:`FieldEmbedding.video_id_rows`)."""
        yield from self.fields.video_id_rows()

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's active feature vectors and weights (see :meth:`FieldEmbedding.l2_terms`)."""
        yield from self.fields.l2_terms(users, videos)


def build(ctx: BuildContext) -> FM:
    """Registry entry (:mod:`hhfan.baselines.registry`): fields from the dataset and the training-only M-HIG."""
    return FM(ctx.dataset.num_users, ctx.dataset.num_videos, FeatureFields.from_context(ctx), ctx.config)
