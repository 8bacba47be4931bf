"""The M-HIG as factorisation-machine fields, shared by FM_HIG (:mod:`hhfan.baselines.fm`) and DeepFM.

A user-video pair is a sparse feature vector ``x`` (the user's and the video's features), grouped into fields
(:class:`FeatureFields`):

* user side: ``user_id`` (one-hot), one field per categorical user-attribute column
  (``user_attr:<column>``, one-hot, from the M-HIG's user-attribute nodes; an unknown value has no
  feature) and ``user_tag`` (the user's tags, when the dataset has any);
* video side: ``video_id`` (one-hot), ``video_tag`` (the video's tag nodes in the M-HIG: real tags,
  or the derived ones where a dataset has none), ``codeword:<image|audio|text>`` (the nearest k-means
  codeword nodes the M-HIG links each video to, ``graph.links_per_video`` per modality) and
  ``content``, the standardised concatenated modality features as real-valued features.

Every categorical field of a row sums to 1: a one-hot field has ``x = 1``, a multi-valued field (several
tags, several codewords) gives each of its ``n`` values ``x = 1/n`` (libFM's normalisation of set-valued
features, Rendle, ACM TIST 2012, §2.2); the ``content`` field holds the standardised features divided by
``sqrt(F)``. :class:`FieldEmbedding` holds the FM parameters ``w_i`` and ``v_i`` of every feature.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from hhfan.graph.mhig import MODALITY_NODE
from hhfan.model.inputs import video_content

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class Field:
    """One categorical FM field of a side (users or videos).

    Attributes:
        name: readable name (``user_id``, ``user_attr:gender``, ``video_tag``, ``codeword:image``...).
        vocab: number of values of the field.
        pairs: int ``[m, 2]`` rows ``(row of the side, value in [0, vocab))`` that switch a value on.
    """

    name: str
    vocab: int
    pairs: np.ndarray


@dataclass(frozen=True)
class SideLayout:
    """The packed sparse features of every row (user or video) of one side.

    Attributes:
        index: int64 ``[rows, L]`` global feature id of every slot (0 in padding slots).
        value: float32 ``[rows, L]`` ``x_i`` of every slot (0 in padding slots); each field of a row sums to 1.
        slot_field: int64 ``[L]`` field of every slot (fields occupy contiguous slot ranges).
        field_names: names of the side's categorical fields, in slot order.
    """

    index: np.ndarray
    value: np.ndarray
    slot_field: np.ndarray
    field_names: tuple[str, ...]


def pack_fields(num_rows: int, fields: Sequence[Field], first_feature: int) -> tuple[SideLayout, int]:
    """Pack the fields of one side into padded ``[rows, L]`` slots; global feature ids start at ``first_feature``.

    Fields without any pair are dropped. Returns the layout and the next free feature id.
    """
    idx_cols: list[np.ndarray] = []
    val_cols: list[np.ndarray] = []
    slot_field: list[int] = []
    names: list[str] = []
    offset = first_feature
    for f in fields:
        pairs = np.unique(np.asarray(f.pairs, dtype=np.int64).reshape(-1, 2), axis=0)  # sorted by row
        if pairs.shape[0] == 0:
            continue
        rows, vals = pairs[:, 0], pairs[:, 1]
        if rows.min() < 0 or rows.max() >= num_rows or vals.min() < 0 or vals.max() >= f.vocab:
            raise ValueError(f"field {f.name!r}: pairs out of range (rows < {num_rows}, values < {f.vocab})")
        counts = np.bincount(rows, minlength=num_rows)
        width = int(counts.max())
        pos = np.arange(rows.shape[0]) - (np.cumsum(counts) - counts)[rows]
        idx = np.zeros((num_rows, width), dtype=np.int64)
        val = np.zeros((num_rows, width), dtype=np.float32)
        idx[rows, pos] = offset + vals
        val[rows, pos] = 1.0 / counts[rows]  # Σ x = 1 per field (one-hot: x = 1)
        idx_cols.append(idx)
        val_cols.append(val)
        slot_field += [len(names)] * width
        names.append(f.name)
        offset += f.vocab
    if not names:
        raise ValueError("a side needs at least one non-empty field (its id field)")
    layout = SideLayout(np.concatenate(idx_cols, axis=1), np.concatenate(val_cols, axis=1),
                        np.asarray(slot_field, dtype=np.int64), tuple(names))
    return layout, offset


@dataclass(frozen=True)
class FeatureFields:
    """The FM feature vector of every user and every video (see the module docstring).

    Attributes:
        user: packed categorical fields of the users (global feature ids ``[0, n_user_features)``).
        video: packed categorical fields of the videos (ids after the users').
        num_features: number of categorical features (rows of the embedding table).
        content: float32 ``[num_videos, F]`` real-valued ``content`` field (scaled standardised features), or None.
    """

    user: SideLayout
    video: SideLayout
    num_features: int
    content: np.ndarray | None

    @classmethod
    def build(cls, num_users: int, num_videos: int, user_fields: Sequence[Field], video_fields: Sequence[Field],
              content: np.ndarray | None = None) -> FeatureFields:
        """Pack both sides; ``content`` (standardised ``[num_videos, F]``) is scaled by ``1/sqrt(F)``."""
        user, nxt = pack_fields(num_users, user_fields, 0)
        video, total = pack_fields(num_videos, video_fields, nxt)
        if content is not None:
            if content.ndim != 2 or content.shape[0] != num_videos:
                raise ValueError(f"content must be [num_videos={num_videos}, F], got {content.shape}")
            content = (content / np.sqrt(content.shape[1])).astype(np.float32)
        return cls(user, video, total, content)

    @classmethod
    def from_context(cls, ctx: BuildContext) -> FeatureFields:
        """The paper's FM_HIG fields from the dataset and its M-HIG (built from training interactions only)."""
        ds, g = ctx.dataset, ctx.artifacts.graph
        nu, nv = ds.num_users, ds.num_videos
        user_fields = [Field("user_id", nu, np.stack([np.arange(nu)] * 2, axis=1))]
        if g.count("user_attr"):
            ua = g.edges_between("user", "user_attr")
            column = np.array([str(n).split("=", 1)[0] for n in g.node_names["user_attr"]])
            for col in dict.fromkeys(column.tolist()):  # one field per attribute column, graph order
                ids = np.flatnonzero(column == col)
                on = ua[np.isin(ua[:, 1], ids)]
                user_fields.append(Field(f"user_attr:{col}", ids.shape[0],
                                         np.stack([on[:, 0], np.searchsorted(ids, on[:, 1])], axis=1)))
        ntag = g.count("tag")
        if ntag:
            user_fields.append(Field("user_tag", ntag, g.edges_between("user", "tag")))
        video_fields = [Field("video_id", nv, np.stack([np.arange(nv)] * 2, axis=1))]
        if ntag:
            video_fields.append(Field("video_tag", ntag, g.edges_between("video", "tag")))
        for node in MODALITY_NODE.values():
            if g.count(node):
                video_fields.append(Field(f"codeword:{node}", g.count(node), g.edges_between("video", node)))
        return cls.build(nu, nv, user_fields, video_fields, video_content(ds))


class SideTerms(NamedTuple):
    """FM pieces of a batch of rows of one side.

    Attributes:
        fields: ``[n, num_fields, d]`` field embeddings ``Σ_{i∈field} v_i x_i`` (the ``content`` field last).
        linear: ``[n]`` ``Σ_i w_i x_i``.
        square: ``[n]`` ``Σ_i ‖v_i‖² x_i²``.
    """

    fields: Tensor
    linear: Tensor
    square: Tensor

    def own(self) -> Tensor:
        """``[n]`` the side's part of the FM without cross terms: linear + within-side pairs."""
        s = self.fields.sum(dim=1)
        return self.linear + 0.5 * (s.pow(2).sum(dim=-1) - self.square)


class FieldEmbedding(nn.Module):
    """FM parameters over :class:`FeatureFields`: ``v_i ∈ R^d`` and ``w_i`` per feature, and the bias ``w0``.

    Shared by FM and DeepFM. ``v_i ~ N(0, init_std)``; ``w_i`` and ``w0`` start at 0. The packed
    features are non-persistent buffers (rebuilt from the data and graph when a run is loaded).
    """

    user_index: Tensor
    user_value: Tensor
    user_slot_field: Tensor
    video_index: Tensor
    video_value: Tensor
    video_slot_field: Tensor
    content: Tensor | None

    def __init__(self, fields: FeatureFields, dim: int, init_std: float) -> None:
        super().__init__()
        self.dim = dim
        for side in ("user", "video"):
            layout: SideLayout = getattr(fields, side)
            self.register_buffer(f"{side}_index", torch.from_numpy(layout.index), persistent=False)
            self.register_buffer(f"{side}_value", torch.from_numpy(layout.value), persistent=False)
            self.register_buffer(f"{side}_slot_field", torch.from_numpy(layout.slot_field), persistent=False)
        self.v = nn.Embedding(fields.num_features, dim)
        self.w = nn.Embedding(fields.num_features, 1)
        nn.init.normal_(self.v.weight, 0.0, init_std)
        nn.init.zeros_(self.w.weight)
        self.bias = nn.Parameter(torch.zeros(()))
        self.content_v: nn.Linear | None = None
        self.content_w: nn.Linear | None = None
        content = None if fields.content is None else torch.from_numpy(fields.content)
        self.register_buffer("content", content, persistent=False)
        if fields.content is not None:
            f = fields.content.shape[1]
            self.content_v = nn.Linear(f, dim, bias=False)  # columns: v_i of the content features
            self.content_w = nn.Linear(f, 1, bias=False)
            nn.init.normal_(self.content_v.weight, 0.0, init_std)
            nn.init.zeros_(self.content_w.weight)
        self.num_user_fields = len(fields.user.field_names)
        self.num_video_fields = len(fields.video.field_names) + (fields.content is not None)

    def _categorical(self, index: Tensor, value: Tensor, slot_field: Tensor, num_fields: int) -> SideTerms:
        e = self.v(index) * value.unsqueeze(-1)  # [n, L, d]: v_i x_i per slot
        fields = e.new_zeros(index.shape[0], num_fields, self.dim).index_add(1, slot_field, e)
        linear = (self.w(index).squeeze(-1) * value).sum(dim=1)
        return SideTerms(fields, linear, e.pow(2).sum(dim=(1, 2)))

    def users(self, users: Tensor) -> SideTerms:
        """FM pieces of ``users`` (int64 ``[n]``)."""
        return self._categorical(self.user_index[users], self.user_value[users], self.user_slot_field,
                                 self.num_user_fields)

    def videos(self, videos: Tensor) -> SideTerms:
        """FM pieces of ``videos`` (int64 ``[n]``), the real-valued ``content`` field last."""
        t = self._categorical(self.video_index[videos], self.video_value[videos], self.video_slot_field,
                              self.num_video_fields - (self.content is not None))
        if self.content is None or self.content_v is None or self.content_w is None:
            return t
        x = self.content[videos]  # [n, F]
        e = self.content_v(x)  # Σ_i v_i x_i over the content features
        square = x.pow(2) @ self.content_v.weight.pow(2).sum(dim=0)  # Σ_i ‖v_i‖² x_i²
        return SideTerms(torch.cat([t.fields, e.unsqueeze(1)], dim=1), t.linear + self.content_w(x).squeeze(-1),
                         t.square + square)

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """``v_i`` and ``w_i`` rows of the ``video_id`` field: feature ``offset + v`` is video ``v``'s one-hot id."""
        first = self.video_index[:, 0]  # the video_id field is the video side's first field, one slot wide
        offset = int(first[0])
        if not torch.equal(first, torch.arange(first.shape[0], device=first.device) + offset):
            raise ValueError("the video side's first field is not the one-hot video_id field")
        yield self.v.weight, offset
        yield self.w.weight, offset

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """``v_i`` and ``w_i`` of the features the batch switches on, once each, and the content maps."""
        ui, vi = self.user_index[users], self.video_index[videos]
        on = torch.cat([ui[self.user_value[users] != 0], vi[self.video_value[videos] != 0]])
        feats = torch.unique(on)
        yield self.v(feats)
        yield self.w(feats)
        if self.content_v is not None and self.content_w is not None:
            yield self.content_v.weight
            yield self.content_w.weight
