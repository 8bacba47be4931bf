"""HHFAN: the hierarchical feature aggregation network of §III-E on RWSS neighbourhoods.

For a user or video ``v``: its sampled neighbours of each type ``t`` are transferred into ``R^d``
(Eq. 1) and aggregated per type by an LSTM (Eq. 2–3); the attribute groups (image, audio, text, tag,
user attributes — whichever the dataset has) are combined by self-attention with residual (Eq. 4–5);
the user group, the attribute summary and the video group are combined by neighbour-aware
attention (Eq. 6–7); pairs are scored by ``E_uᵀE_v`` (Eq. 8).

Choices where the paper is vague (all :class:`HHFANConfig` fields):

* ``x_v`` of users is a learned ID embedding; of videos a learned ID embedding plus a projection of
  the video's content features (``video_input``) — the paper says x_v "can be pre-trained or
  initialised using different techniques w.r.t. different types of nodes". Attribute nodes with
  features (codewords) use them; tags and user attributes use learned embeddings.
* ``include_self``: the node's own transferred embedding f(v) joins the candidates of Eq. (6). The
  paper's Eq. (6) lists only the three neighbour groups, but Eq. (7) conditions on v, and without
  f(v) a user's embedding is a function of its neighbours only. Default kept on validation: TikTok
  validation NDCG@20 0.024 with it vs 0.023 without (README, "Model choices").
* ``propagation``: the paper leaves x_v of users and videos open ("pre-trained or initialised using
  different techniques"). With ``propagation = L > 0`` the user and video inputs f(v) are smoothed
  over the training user-video graph before Eq. (2), LightGCN-style (``E ← mean of
  (D^-1/2 A D^-1/2)^l E, l = 0..L``, no extra parameters), so each sampled neighbour enters the LSTM
  with its collaborative context; gradients flow through the propagation (end-to-end, unlike a
  frozen ``pretrained_run``). 0 = the paper's plain inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from hhfan.graph.mhig import ATTRIBUTE_TYPES
from hhfan.model.base import Recommender
from hhfan.model.inputs import ModelInputs
from hhfan.model.layers import (
    AttributeSelfAttention,
    FeatureTransformer,
    IntraTypeAggregator,
    LayerMeanPropagation,
    NeighborAttention,
    bipartite_edge_index,
)


@dataclass(frozen=True)
class HHFANConfig:
    """HHFAN architecture settings, with the paper's ablations as flags.

    Attributes:
        dim: shared embedding size d (the paper reports 200-250; 64 is the CPU default here).
        aggregator: ``lstm`` (Eq. 3) or ``mean`` (ablation HHFAN-l).
        attribute_attention: Eq. (4)-(5) on; False = ablation HHFAN-a (equal weights).
        neighbor_attention: Eq. (6)-(7) on; False = ablation HHFAN-n (uniform α).
        include_self: the node's own f(v) is a 4th candidate of Eq. (6) (see module docstring).
        video_input: x_v of videos: ``id``, ``content`` or ``id+content``.
        pretrained_run: optional RUN_DIR of another model trained on the same data and split; its user and
            video embeddings become part of x_v (users: id + pre-trained; videos: + pre-trained next to
            content). Empty = none.
        id_embeddings: users and videos also get a free learned id embedding in x_v; False keeps x_v to
            features only (needs ``pretrained_run``), which overfits less on sparse data.
        init_std: N(0, init_std) initialisation (paper: 0.1); biases start at 0.
        init: ``normal`` — every weight N(0, init_std), as §IV-C says; ``xavier`` — embeddings
            N(0, init_std), but linear, LSTM and attention weights Xavier-uniform (keeps LSTM gates
            and attention logits in their working range at any d).
        negative_slope: LeakyReLU slope of Eq. (7).
        propagation: LightGCN-style smoothing layers of the user/video inputs over the training
            interactions before Eq. (2) (see module docstring); 0 = off.
        neighbor_dropout: during training, each sampled neighbour slot is dropped with this
            probability (remaining ones keep their RWSS order), a DropEdge-style regulariser against
            memorising fixed neighbourhoods; 0 = off (the paper), never applied at evaluation.
    """

    dim: int = 64
    aggregator: str = "lstm"
    attribute_attention: bool = True
    neighbor_attention: bool = True
    include_self: bool = True
    video_input: str = "id+content"
    init_std: float = 0.1
    init: str = "normal"
    negative_slope: float = 0.2
    pretrained_run: str = ""
    id_embeddings: bool = True
    propagation: int = 0
    neighbor_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.dim < 1 or self.propagation < 0:
            raise ValueError(f"dim must be >= 1 and propagation >= 0, got {self.dim}, {self.propagation}")
        if self.aggregator not in ("lstm", "mean"):
            raise ValueError(f"aggregator must be 'lstm' or 'mean', got {self.aggregator!r}")
        if self.video_input not in ("id", "content", "id+content"):
            raise ValueError(f"video_input must be id, content or id+content, got {self.video_input!r}")
        if self.init_std <= 0:
            raise ValueError("init_std must be > 0")
        if not self.id_embeddings and not self.pretrained_run:
            raise ValueError("id_embeddings=false needs pretrained_run (users would have no input at all)")
        if not 0.0 <= self.neighbor_dropout < 1.0:
            raise ValueError(f"neighbor_dropout must be in [0, 1), got {self.neighbor_dropout}")
        if self.init not in ("normal", "xavier"):
            raise ValueError(f"init must be normal or xavier, got {self.init!r}")


class NodeOutput(NamedTuple):
    """Final embeddings plus the attention weights that produced them (for explanations)."""

    emb: Tensor  # [B, d] Eq. (6)
    alpha: Tensor  # [B, C] Eq. (7) over (user group, attributes, video group[, self])
    attr_weights: Tensor  # [B, G, G] Eq. (4) attention among the attribute groups
    attr_present: Tensor  # [B, G]


class HHFAN(Recommender):
    """The HHFAN model over fixed RWSS neighbour tables (see module docstring)."""

    def __init__(self, inputs: ModelInputs, config: HHFANConfig | None = None) -> None:
        super().__init__()
        cfg = config or HHFANConfig()
        self.config = cfg
        self.num_users, self.num_videos = inputs.counts["user"], inputs.counts["video"]
        d = cfg.dim
        feats = dict(inputs.node_features)
        parts = [x for x in (inputs.video_content if cfg.video_input != "id" else None, inputs.video_pretrained)
                 if x is not None]
        video_feats = torch.cat(parts, dim=1) if parts else None
        if cfg.video_input == "content" and video_feats is None:
            raise ValueError("video_input='content' but the dataset has no video features")
        self.group_types = [t for t in inputs.neighbor_ids if inputs.counts[t] > 0]
        self.attr_types = [t for t in ATTRIBUTE_TYPES if t in self.group_types]
        self.transform = nn.ModuleDict()
        for t in dict.fromkeys(["user", "video", *self.group_types]):  # ordered: init must not depend on hashing
            if t == "video":
                learn = cfg.video_input != "content" and cfg.id_embeddings
                self.transform[t] = FeatureTransformer(inputs.counts[t], d, video_feats, learn)
            elif t == "user":
                self.transform[t] = FeatureTransformer(inputs.counts[t], d, inputs.user_pretrained, cfg.id_embeddings)
            else:
                f = feats.get(t)
                self.transform[t] = FeatureTransformer(inputs.counts[t], d, f, learn_ids=f is None)
        self.aggregate = nn.ModuleDict({t: IntraTypeAggregator(d, cfg.aggregator) for t in self.group_types})
        self.attr_attention = AttributeSelfAttention(d, cfg.attribute_attention)
        self.neighbor_attention = NeighborAttention(d, cfg.neighbor_attention, cfg.negative_slope)
        if cfg.propagation:
            if inputs.interactions is None:
                raise ValueError("propagation needs the training interactions (ModelInputs.interactions)")
            self.register_buffer("edge_index", bipartite_edge_index(inputs.interactions[0], inputs.interactions[1],
                                                                      self.num_users))
            self.smooth = LayerMeanPropagation()
        for t in self.group_types:
            self.register_buffer(f"nbr_{t}", inputs.neighbor_ids[t].long())
            self.register_buffer(f"mask_{t}", inputs.neighbor_mask[t])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, init_std) for every weight (§IV-C) or Xavier for non-embedding weights; zeros for biases."""
        for name, p in self.named_parameters():
            if name.endswith("bias") or ".bias_" in name:
                nn.init.zeros_(p)
            elif self.config.init == "xavier" and ".emb." not in name and p.dim() == 2:
                nn.init.xavier_uniform_(p)
            else:
                nn.init.normal_(p, 0.0, self.config.init_std)

    def _table(self, t: str, nodes: Tensor) -> tuple[Tensor, Tensor]:
        ids, mask = getattr(self, f"nbr_{t}")[nodes], getattr(self, f"mask_{t}")[nodes]
        p = self.config.neighbor_dropout
        if self.training and p > 0:
            mask = mask & (torch.rand(mask.shape, device=mask.device) >= p)
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # kept slots first, RWSS order
            ids, mask = ids.gather(1, order), mask.gather(1, order)
        return ids, mask

    def propagated_inputs(self) -> Tensor:
        """``[U + V, d]`` user then video f(v), smoothed over the training interactions (``propagation``)."""
        x = torch.cat([self.transform["user"](torch.arange(self.num_users, device=self.device)),
                       self.transform["video"](torch.arange(self.num_videos, device=self.device))])
        return self.smooth(x, self.edge_index, self.config.propagation)

    def nodes_forward(self, nodes: Tensor, table: Tensor | None = None) -> NodeOutput:
        """Embed start nodes (global ids: users ``0..U-1``, videos ``U..U+V-1``) with attention weights.

        ``table``: :meth:`propagated_inputs` computed by the caller (evaluation reuses one for every chunk);
        computed here when ``propagation`` is on and none is given.
        """
        is_user = nodes < self.num_users
        if table is None and self.config.propagation:
            table = self.propagated_inputs()
        if table is not None:
            self_emb = table[nodes]
        else:
            self_emb = torch.where(is_user.unsqueeze(-1),
                                   self.transform["user"](nodes.clamp(max=self.num_users - 1)),
                                   self.transform["video"]((nodes - self.num_users).clamp(min=0)))
        groups: dict[str, tuple[Tensor, Tensor]] = {}
        for t in self.group_types:
            ids, mask = self._table(t, nodes)
            if table is not None and t in ("user", "video"):
                f = table[ids + (self.num_users if t == "video" else 0)]
            else:
                f = self.transform[t](ids)  # Eq. (1)
            groups[t] = self.aggregate[t](f, mask)  # Eq. (2)-(3)
        b, d = nodes.shape[0], self.config.dim
        zeros, absent = self_emb.new_zeros(b, d), torch.zeros(b, dtype=torch.bool, device=nodes.device)
        if self.attr_types:
            x = torch.stack([groups[t][0] for t in self.attr_types], dim=1)
            present = torch.stack([groups[t][1] for t in self.attr_types], dim=1)
            e_attrs, w_attr = self.attr_attention(x, present)  # Eq. (4)-(5)
            attrs_present = present.any(dim=1)
        else:
            e_attrs, attrs_present = zeros, absent
            present, w_attr = absent.unsqueeze(1), self_emb.new_zeros(b, 1, 1)
        cands = [groups.get("user", (zeros, absent)), (e_attrs, attrs_present), groups.get("video", (zeros, absent))]
        if self.config.include_self:
            cands.append((self_emb, torch.ones_like(absent)))
        c_emb = torch.stack([c[0] for c in cands], dim=1)
        c_present = torch.stack([c[1] for c in cands], dim=1)
        emb, alpha = self.neighbor_attention(self_emb, c_emb, c_present)  # Eq. (6)-(7)
        return NodeOutput(emb, alpha, w_attr, present)

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``(E_u, E_v)`` for user and video index tensors (one pass over both)."""
        out = self.nodes_forward(torch.cat([users, videos + self.num_users])).emb
        return out[: users.shape[0]], out[users.shape[0] :]

    @torch.no_grad()
    def all_embeddings(self, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
        """Every user's and video's embedding in chunks of nodes, propagating the inputs (if on) only once."""
        table = self.propagated_inputs() if self.config.propagation else None
        nodes = torch.arange(self.num_users + self.num_videos, device=self.device)
        out = torch.cat([self.nodes_forward(nodes[s : s + batch_size], table).emb
                         for s in range(0, nodes.shape[0], batch_size)])
        return out[: self.num_users], out[self.num_users :]

    def candidate_names(self) -> list[str]:
        """Names of the Eq. (6) candidates, in the order of :attr:`NodeOutput.alpha`."""
        return ["users", "attributes", "videos"] + (["self"] if self.config.include_self else [])


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(np.prod(p.shape) for p in model.parameters() if p.requires_grad))
