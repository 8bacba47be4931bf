"""HetGNN (Zhang, Song, Huang, Swami, Chawla; KDD 2019, "Heterogeneous Graph Neural Network").

For a user or video ``v`` (``C_v`` its heterogeneous contents, ``N_t(v)`` its sampled neighbours of type ``t``):

* (1) sampling: random walks with restart, neighbours grouped by type, the top-k most visited per type. The RWSS
  tables of ``ctx.artifacts.neighbors`` are exactly that (HHFAN reuses HetGNN's sampler); each type is capped
  at ``config.num_neighbors`` (most visited first);
* (2) content encoder (NN-1, HetGNN Eq. 2): ``f1(v) = 1/|C_v| Σ_i [LSTM→{FC_t(x_i)} ⊕ LSTM←{FC_t(x_i)}]``, one Bi-LSTM
  (``dim/2`` per direction) per node type over the node's contents;
* (3) per-type neighbour aggregation (NN-2, HetGNN Eq. 3-4): ``f2^t(v) = 1/|N_t(v)| Σ_{v' ∈ N_t(v)} [LSTM→{f1(v')} ⊕
  LSTM←{f1(v')}]``, one Bi-LSTM per neighbour type over the neighbours in table order (most visited first);
* (4) type attention (NN-3, HetGNN Eq. 5-6): ``E_v = α^{v,v} f1(v) + Σ_t α^{v,t} f2^t(v)`` with
  ``α^{v,i} = softmax_i LeakyReLU(uᵀ [f_i ⊕ f1(v)])`` over ``{f1(v)} ∪ {f2^t(v)}`` (types without any
  neighbour of ``v`` are masked out). This is :class:`hhfan.model.layers.NeighborAttention`, imported.

Adaptations (documented choices):

* Loss: HetGNN's graph-context skip-gram over random-walk triples (HetGNN Eq. 7-9) is replaced by the shared BPR
  trainer on user-video pairs, ``score(u, v) = E_uᵀ E_v``; the L2 term covers the batch's user/video id
  embeddings.
* Contents ``C_v``: users — a free id embedding (their attributes and tags are neighbour types of the M-HIG);
  videos — a free id embedding plus one linear projection per standardised modality feature (visual, acoustic,
  textual); image/audio/text codewords and derived tags — a projection of their centroid feature; other
  attribute nodes (real tags, user attributes) — a free id embedding.
* Output scale: every ``E_v`` is multiplied by one learned scalar ``γ`` (initialised to :data:`INIT_SCALE`).
  ``E_v`` is a convex mix of mean-pooled LSTM hidden states, bounded in ``(-1, 1)^d``, which caps the BPR
  logits and slowed training markedly (tiny synthetic world, 3 seeds: best validation NDCG@20 0.107 without,
  0.123 with); ``γ`` changes no ranking.
* Content embeddings of all nodes are computed once per :meth:`HetGNN.embed` call (full-graph), then gathered.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from hhfan.baselines.config import EmbeddingConfig, check_positive
from hhfan.data.dataset import MODALITIES
from hhfan.graph.mhig import NODE_TYPES
from hhfan.graph.quantize import standardise
from hhfan.model.base import Recommender
from hhfan.model.layers import NeighborAttention

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

@dataclass(frozen=True)
class HetGNNConfig(EmbeddingConfig):
    """HetGNN.

    Attributes:
        num_neighbors: RWSS neighbours kept per type (most visited first).
    """

    num_neighbors: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "num_neighbors")


INIT_SCALE = 3.0
"""Initial value of the learned output scale ``γ`` (see module docstring)."""


class ContentEncoder(nn.Module):
    """NN-1 (HetGNN Eq. 2): Bi-LSTM over a node's contents (id embedding and/or projected features), mean-pooled."""

    def __init__(self, count: int, d: int, features: list[Tensor], learn_ids: bool, init_std: float) -> None:
        super().__init__()
        if not features and not learn_ids:
            raise ValueError("a node type needs features, learned ids, or both")
        self.count = count
        self.emb: nn.Embedding | None = None
        if learn_ids:
            self.emb = nn.Embedding(count, d)
            nn.init.normal_(self.emb.weight, 0.0, init_std)
        self.proj = nn.ModuleList(nn.Linear(f.shape[1], d) for f in features)
        for i, f in enumerate(features):
            self.register_buffer(f"x{i}", f.float())
        self.lstm = nn.LSTM(d, d // 2, batch_first=True, bidirectional=True)

    def forward(self) -> Tensor:
        """``f1`` of every node of the type, ``[count, d]``."""
        parts = [] if self.emb is None else [self.emb.weight]
        parts += [p(getattr(self, f"x{i}")) for i, p in enumerate(self.proj)]
        return self.lstm(torch.stack(parts, dim=1))[0].mean(dim=1)


class NeighborBiLSTM(nn.Module):
    """NN-2 (HetGNN Eq. 3-4): Bi-LSTM over one type's neighbours, hidden states mean-pooled over the valid slots.

    The two directions are two one-directional LSTMs (``dim/2`` each, what ``nn.LSTM(bidirectional=True)``
    holds); the backward one reads each row's valid prefix reversed, so no direction ever sees padding at a
    valid position (what sequence packing does, without its sort and copies).
    """

    def __init__(self, d: int) -> None:
        super().__init__()
        self.fwd = nn.LSTM(d, d // 2, batch_first=True)
        self.bwd = nn.LSTM(d, d // 2, batch_first=True)

    def forward(self, neigh: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``neigh [B, k, d]``, ``mask [B, k]`` (valid slots a prefix) -> ``(f2^t [B, d], present [B])``."""
        lengths = mask.sum(dim=1, keepdim=True)
        pos = torch.arange(neigh.shape[1], device=neigh.device)
        rev = torch.where(pos < lengths, lengths - 1 - pos, pos).unsqueeze(-1)  # reverses the prefix; an involution
        hf = self.fwd(neigh)[0]
        hb = self.bwd(neigh.gather(1, rev.expand_as(neigh)))[0]
        h = torch.cat([hf, hb.gather(1, rev.expand_as(hb))], dim=-1) * mask.unsqueeze(-1).to(neigh.dtype)
        return h.sum(dim=1) / lengths.clamp(min=1).to(h.dtype), lengths.squeeze(1) > 0


class HetGNN(Recommender):
    """HetGNN over fixed RWSS neighbour tables (rows: users then videos), scored by inner product."""

    cold_start = ("the id content of its C_v is a zero vector (never trained) in the Bi-LSTM's input; its modality "
                  "features and its RWSS neighbours (codewords, tags, and what they reach) remain")

    def __init__(self, counts: dict[str, int], contents: dict[str, list[Tensor]], neighbor_ids: dict[str, Tensor],
                 neighbor_mask: dict[str, Tensor], config: HetGNNConfig | None = None) -> None:
        super().__init__()
        cfg = config or HetGNNConfig()
        d = cfg.dim
        if d % 2:
            raise ValueError(f"HetGNN's Bi-LSTMs need an even dim, got {d}")
        self.num_users, self.num_videos = counts["user"], counts["video"]
        self.group_types = [t for t in NODE_TYPES if t in neighbor_ids and counts[t] > 0]
        self.encoders = nn.ModuleDict()
        for t in dict.fromkeys(["user", "video", *self.group_types]):
            feats = contents.get(t, [])
            self.encoders[t] = ContentEncoder(counts[t], d, feats, t in ("user", "video") or not feats, cfg.init_std)
        self.aggregators = nn.ModuleDict({t: NeighborBiLSTM(d) for t in self.group_types})
        self.type_attention = NeighborAttention(d)
        self.log_scale = nn.Parameter(torch.tensor(math.log(INIT_SCALE)))
        for t in self.group_types:
            ids, mask = neighbor_ids[t], neighbor_mask[t]
            if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
                raise ValueError(f"neighbour table of {t!r} has a valid slot after an empty one")
            cap = min(ids.shape[1], cfg.num_neighbors)
            self.register_buffer(f"nbr_{t}", ids[:, :cap].long().contiguous())
            self.register_buffer(f"mask_{t}", mask[:, :cap].contiguous())

    def contents(self) -> dict[str, Tensor]:
        """``f1`` (HetGNN Eq. 2) of every node of every type the model uses."""
        return {t: enc() for t, enc in self.encoders.items()}

    def nodes_forward(self, nodes: Tensor, f1: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(γ E [B, d], α [B, 1 + #types])`` of start nodes (users ``0..U-1``, videos ``U..``), HetGNN Eq. 3-6."""
        is_user = (nodes < self.num_users).unsqueeze(-1)
        self_emb = torch.where(is_user, f1["user"][nodes.clamp(max=self.num_users - 1)],
                               f1["video"][(nodes - self.num_users).clamp(min=0)])
        cands, present = [self_emb], [torch.ones(nodes.shape[0], dtype=torch.bool, device=nodes.device)]
        for t in self.group_types:
            ids, mask = getattr(self, f"nbr_{t}")[nodes], getattr(self, f"mask_{t}")[nodes]
            agg, pres = self.aggregators[t](f1[t][ids], mask)
            cands.append(agg)
            present.append(pres)
        emb, alpha = self.type_attention(self_emb, torch.stack(cands, dim=1), torch.stack(present, dim=1))
        return emb * self.log_scale.exp(), alpha

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """Content encoders once over all nodes, then neighbour aggregation and type attention for the batch."""
        out = self.nodes_forward(torch.cat([users, videos + self.num_users]), self.contents())[0]
        return out[: users.shape[0]], out[users.shape[0] :]

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' id content of NN-1 (:class:`ContentEncoder` ``emb``)."""
        enc = self.encoders["video"]
        assert isinstance(enc, ContentEncoder)
        if enc.emb is not None:
            yield enc.emb.weight, 0

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's user and video id embeddings."""
        for t, idx in (("user", users), ("video", videos)):
            enc = self.encoders[t]
            assert isinstance(enc, ContentEncoder)
            if enc.emb is not None:
                yield enc.emb(idx)

    @torch.no_grad()
    def all_embeddings(self, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
        """Content encoders once, then the start nodes in chunks of ``batch_size``."""
        f1 = self.contents()
        nodes = torch.arange(self.num_users + self.num_videos, device=self.device)
        out = torch.cat([self.nodes_forward(nodes[s : s + batch_size], f1)[0]
                         for s in range(0, nodes.shape[0], batch_size)])
        return out[: self.num_users], out[self.num_users :]


def build(ctx: BuildContext) -> HetGNN:
    """Registry entry (:mod:`hhfan.baselines.registry`): RWSS tables of the training-only M-HIG."""
    ds, g, nb = ctx.dataset, ctx.artifacts.graph, ctx.artifacts.neighbors
    if not np.array_equal(nb.starts, np.arange(ds.num_users + ds.num_videos)):
        raise ValueError("neighbour tables must cover every user then every video, in order")
    contents: dict[str, list[Tensor]] = {
        "video": [torch.from_numpy(standardise(ds.features[m])) for m in MODALITIES if m in ds.features]}
    for t, f in g.node_features.items():
        contents[t] = [torch.from_numpy(np.asarray(f, np.float32))]
    return HetGNN({t: g.count(t) for t in NODE_TYPES}, contents,
                  {t: torch.from_numpy(a) for t, a in nb.ids.items()},
                  {t: torch.from_numpy(m) for t, m in nb.mask.items()}, ctx.config)
