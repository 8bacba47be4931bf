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
* A video without interactions (cold start: a held-out video of ``split.kind=cold``, or a new upload through
  :mod:`hhfan.inductive`) has no learned id: its id row is zeroed and never trained (held-out videos,
  :func:`~hhfan.model.base.hold_out_video_ids`) or omitted (:meth:`HHFAN.inductive_forward`), so its f(v) is
  the projection of its content alone and its embedding comes from Eq. (1)-(7) over its RWSS neighbourhood,
  which reaches the graph through its codeword and tag links only.

Three registered models share this module (:mod:`hhfan.model.registry`):

* ``hhfan`` (:class:`HHFANConfig`) is the paper's model as published: Eq. (1)–(10) as written, three
  candidates in Eq. (6), plain inputs, no neighbour dropout.
* ``hhfan-hybrid`` (:class:`HybridConfig`) is our variant. It adds three things the paper does not have
  (:class:`Extensions`): ``include_self``, the node's own transferred embedding f(v) as a fourth candidate
  of Eq. (6) (Eq. (7) conditions on v, but without f(v) a user's embedding is a function of its neighbours
  only); ``propagation``, LightGCN-style smoothing of the user and video inputs f(v) over the training
  user-video graph before Eq. (2) (``E ← mean of (D^-1/2 A D^-1/2)^l E, l = 0..L``, no extra parameters,
  end-to-end), so each sampled neighbour enters the LSTM with its collaborative context; and
  ``neighbor_dropout``, a DropEdge-style share of sampled neighbour slots dropped per training batch.
* ``hhfan-cold`` (:class:`ColdConfig`) is the hybrid trained to embed videos without interactions: a share of
  each batch's videos presented as cold (``cold_dropout``) and a content-plus-id score bias per video
  (``video_bias``).
* ``hhfan-cl`` (:mod:`hhfan.model.hhfan_cl`), another variant, builds on this class: a LightGCN view plus
  the Eq. (1)-(7) of this module as a residual, the two views contrasted.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from hhfan.graph.mhig import ATTRIBUTE_TYPES
from hhfan.model.base import ColdStartUnsupported, Recommender
from hhfan.model.inputs import ModelInputs, NewVideoInputs
from hhfan.model.layers import AttributeSelfAttention, FeatureTransformer, Init, IntraTypeAggregator, NeighborAttention
from hhfan.model.propagation import LayerMeanPropagation, bipartite_edge_index

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class Extensions:
    """What a variant adds to the paper's model; all off is the paper's HHFAN.

    Attributes:
        include_self: the node's own f(v) is a 4th candidate of Eq. (6).
        propagation: LightGCN-style smoothing layers of the user/video inputs over the training interactions
            before Eq. (2); 0 = off.
        neighbor_dropout: during training, each sampled neighbour slot is dropped with this probability
            (remaining ones keep their RWSS order); 0 = off, never applied at evaluation.
        residual: the final embedding is the node's own f(v) (propagated when ``propagation`` is on) plus
            ``γ`` times the Eq. (6) output, instead of the Eq. (6) output alone; ``γ`` is one learned scalar that
            starts at 0 (ReZero), so training starts from the collaborative view alone.
        cl_weight: weight of InfoNCE between f(v) and the Eq. (6) output of the batch's users and positive
            videos (``ContrastHHFAN.aux_loss`` of :mod:`hhfan.model.hhfan_cl`); 0 = off.
        cl_temperature: τ of that InfoNCE.
        exclude_targets: during training, a batch's positive pair ``(u, v)`` is hidden from the neighbour tables of
            ``u`` (its video slots holding ``v``) and of ``v`` (its user slots holding ``u``), so the edge being
            scored cannot be read off the endpoints' own neighbourhoods (DGL's link-prediction samplers exclude
            a minibatch's edges for the same reason); never at evaluation.
        collab_bpr: weight of a second BPR term on f(v) alone (the collaborative view scored by itself), so that
            view keeps learning as LightGCN does however well the residual already fits; 0 = off.
        distill: the heterogeneous view learns from the contrast alone, towards a fixed target: BPR reaches it
            only through ``γ`` (the residual adds it without gradient), its user and video neighbours and the
            Eq. (7) query are read from the collaborative table without gradient, and the contrast does not
            move the collaborative view. The collaborative view then trains as LightGCN does; the heterogeneous
            one is a content and neighbourhood mapper onto it (what embeds a video without interactions).
        cold_dropout: during training, each video embedded as a start node (a batch's positives and negatives) is
            presented as a video without interactions with this probability: f(v) of Eq. (1) from its content
            alone (the id row left out; divided by ``propagation + 1`` when that is on, as an isolated node's
            smoothed input is) and its user neighbour slots hidden. This is what a cold video looks like at
            evaluation, so the network learns to embed one (DropoutNet's item dropout, Volkovs et al., NeurIPS
            2017, applied to HHFAN's inputs); 0 = off, never at evaluation.
        video_bias: every video gets a score bias ``b(v) = wᵀx_v + b_id(v)``: a linear function of its content
            features (shared by all videos, so it carries to a video without interactions) plus a learned per-video
            term (zero and never trained for a held-out video; left out when ``cold_dropout`` presents the video as
            cold). Both start at 0. It enters Eq. (8) as one more embedding column: ``[E_u, 1]ᵀ[E_v, b(v)]``, so
            every scorer and index of inner products stays as it is. What it lets the model learn is which content
            is watched by many, which the inner product of Eq. (8) alone expresses only through a shared direction.
    """

    include_self: bool = False
    propagation: int = 0
    neighbor_dropout: float = 0.0
    residual: bool = False
    cl_weight: float = 0.0
    cl_temperature: float = 0.2
    exclude_targets: bool = False
    collab_bpr: float = 0.0
    distill: bool = False
    cold_dropout: float = 0.0
    video_bias: bool = False


@dataclass(frozen=True)
class HHFANConfig:
    """The paper's HHFAN (registry name ``hhfan``), with the paper's ablations as flags.

    Attributes:
        dim: shared embedding size d (the paper reports 200-250; 64 is the CPU default here).
        aggregator: ``lstm`` (Eq. 3) or ``mean`` (ablation HHFAN-l).
        attribute_attention: Eq. (4)-(5) on; False = ablation HHFAN-a (equal weights).
        neighbor_attention: Eq. (6)-(7) on; False = ablation HHFAN-n (uniform α).
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
    """

    dim: int = 64
    aggregator: str = "lstm"
    attribute_attention: bool = True
    neighbor_attention: bool = True
    video_input: str = "id+content"
    init_std: float = 0.1
    init: str = "normal"
    negative_slope: float = 0.2
    pretrained_run: str = ""
    id_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if self.aggregator not in ("lstm", "mean"):
            raise ValueError(f"aggregator must be 'lstm' or 'mean', got {self.aggregator!r}")
        if self.video_input not in ("id", "content", "id+content"):
            raise ValueError(f"video_input must be id, content or id+content, got {self.video_input!r}")
        if self.init_std <= 0:
            raise ValueError("init_std must be > 0")
        if not self.id_embeddings and not self.pretrained_run:
            raise ValueError("id_embeddings=false needs pretrained_run (users would have no input at all)")
        if self.init not in ("normal", "xavier"):
            raise ValueError(f"init must be normal or xavier, got {self.init!r}")

    def extensions(self) -> Extensions:
        """What this config adds to the paper's model: nothing."""
        return Extensions()


@dataclass(frozen=True)
class HybridConfig(HHFANConfig):
    """``hhfan-hybrid``: the paper's HHFAN plus a self candidate, input propagation and neighbour dropout.

    Attributes (besides :class:`HHFANConfig`'s; see :class:`Extensions`):
        include_self: f(v) joins Eq. (6) as a 4th candidate.
        propagation: input smoothing layers before Eq. (2).
        neighbor_dropout: share of sampled neighbour slots dropped per training batch.
    """

    include_self: bool = True
    propagation: int = 3
    neighbor_dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.propagation < 0:
            raise ValueError(f"propagation must be >= 0, got {self.propagation}")
        if not 0.0 <= self.neighbor_dropout < 1.0:
            raise ValueError(f"neighbor_dropout must be in [0, 1), got {self.neighbor_dropout}")

    def extensions(self) -> Extensions:
        """The three additions, as configured."""
        return Extensions(self.include_self, self.propagation, self.neighbor_dropout)


@dataclass(frozen=True)
class ColdConfig(HybridConfig):
    """``hhfan-cold``: HHFAN-hybrid trained to embed videos without interactions (``cold_dropout``, DropoutNet-style).

    Attributes (besides :class:`HybridConfig`'s; see :class:`Extensions`):
        cold_dropout: share of a batch's start videos presented as cold (content-only f(v), no user neighbours).
        video_bias: a content-plus-id score bias per video, one more embedding column (Eq. 8).
    """

    cold_dropout: float = 0.5
    video_bias: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.cold_dropout < 1.0:
            raise ValueError(f"cold_dropout must be in [0, 1), got {self.cold_dropout}")

    def extensions(self) -> Extensions:
        """The hybrid's three additions plus the cold simulation and the score bias."""
        return replace(super().extensions(), cold_dropout=self.cold_dropout, video_bias=self.video_bias)


COLD_START = ("its RWSS neighbourhood on the training M-HIG (codeword and tag links, no interaction) and its content "
              "through Eq. (1)-(7); the id row of Eq. (1) is zero and never trained")
"""How HHFAN embeds a video without interactions (:attr:`Recommender.cold_start`)."""


class NodeOutput(NamedTuple):
    """Final embeddings plus the attention weights that produced them (for explanations)."""

    emb: Tensor  # [B, d] Eq. (6) (+ f(v) with the residual)
    alpha: Tensor  # [B, C] Eq. (7) over (user group, attributes, video group[, self])
    attr_weights: Tensor  # [B, G, G] Eq. (4) attention among the attribute groups
    attr_present: Tensor  # [B, G]
    own: Tensor | None = None  # [B, d] f(v) (propagated when that is on)
    neighborhood: Tensor | None = None  # [B, d] Eq. (6) alone


class HHFAN(Recommender):
    """The HHFAN model over fixed RWSS neighbour tables (see module docstring).

    ``config`` is :class:`HHFANConfig` (the paper's model) or a variant's config; what the variant adds is
    ``config.extensions()``.
    """

    def __init__(self, inputs: ModelInputs, config: HHFANConfig | None = None) -> None:
        super().__init__()
        cfg = config or HHFANConfig()
        self.config, self.ext = cfg, cfg.extensions()
        self.num_users, self.num_videos = inputs.counts["user"], inputs.counts["video"]
        d = cfg.dim
        init = Init(cfg.init_std, cfg.init)
        feats = dict(inputs.node_features)
        parts = [x for x in (inputs.video_content if cfg.video_input != "id" else None, inputs.video_pretrained)
                 if x is not None]
        video_feats = torch.cat(parts, dim=1) if parts else None
        if cfg.video_input == "content" and video_feats is None:
            raise ValueError("video_input='content' but the dataset has no video features")
        self.group_types = [t for t in inputs.neighbor_ids if inputs.counts[t] > 0]
        if not any(bool(inputs.neighbor_mask[t].any()) for t in self.group_types):
            raise ValueError("HHFAN needs RWSS neighbours, but every neighbour table is empty; check "
                             "sampler.k_per_type")
        self.attr_types = [t for t in ATTRIBUTE_TYPES if t in self.group_types]
        self.transform = nn.ModuleDict()
        for t in dict.fromkeys(["user", "video", *self.group_types]):  # ordered: init must not depend on hashing
            if t == "video":
                learn = cfg.video_input != "content" and cfg.id_embeddings
                self.transform[t] = FeatureTransformer(inputs.counts[t], d, video_feats, learn, init)
            elif t == "user":
                self.transform[t] = FeatureTransformer(inputs.counts[t], d, inputs.user_pretrained, cfg.id_embeddings,
                                                       init)
            else:
                f = feats.get(t)
                self.transform[t] = FeatureTransformer(inputs.counts[t], d, f, learn_ids=f is None, init=init)
        self.aggregate = nn.ModuleDict({t: IntraTypeAggregator(d, cfg.aggregator, init) for t in self.group_types})
        self.attr_attention = AttributeSelfAttention(d, cfg.attribute_attention, init)
        self.neighbor_attention = NeighborAttention(d, cfg.neighbor_attention, cfg.negative_slope, init)
        if self.ext.propagation:
            if inputs.interactions is None:
                raise ValueError("propagation needs the training interactions (ModelInputs.interactions)")
            self.register_buffer("edge_index", bipartite_edge_index(inputs.interactions[0], inputs.interactions[1],
                                                                      self.num_users))
            self.smooth = LayerMeanPropagation()
        for t in self.group_types:
            self.register_buffer(f"nbr_{t}", inputs.neighbor_ids[t].long())
            self.register_buffer(f"mask_{t}", inputs.neighbor_mask[t])
        if self.ext.residual:
            self.gate = nn.Parameter(torch.zeros(()))  # γ of the residual (ReZero: starts at 0)
        if self.ext.video_bias:
            if video_feats is None:
                raise ValueError("model.video_bias needs video content features (video_input id+content or content)")
            self.bias_content = nn.Linear(video_feats.shape[1], 1)
            self.bias_id = nn.Embedding(self.num_videos, 1)
        self.cold_start = None if cfg.pretrained_run else COLD_START
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each layer's own :meth:`reset_parameters`, in a fixed order (§IV-C initialisation)."""
        for transform in self.transform.values():
            typing.cast(FeatureTransformer, transform).reset_parameters()
        for aggregate in self.aggregate.values():
            typing.cast(IntraTypeAggregator, aggregate).reset_parameters()
        self.attr_attention.reset_parameters()
        self.neighbor_attention.reset_parameters()
        if self.ext.residual:
            nn.init.zeros_(self.gate)
        if self.ext.video_bias:  # b(v) = 0 at the start: training begins as the model without it
            nn.init.zeros_(self.bias_content.weight)
            nn.init.zeros_(self.bias_content.bias)
            nn.init.zeros_(self.bias_id.weight)

    def extra_repr(self) -> str:
        """The ablation flags and what a variant adds, so ``print(model)`` shows which model this is."""
        c, e = self.config, self.ext
        return (f"dim={c.dim}, aggregator={c.aggregator}, attribute_attention={c.attribute_attention}, "
                f"neighbor_attention={c.neighbor_attention}, video_input={c.video_input}, "
                f"include_self={e.include_self}, propagation={e.propagation}, "
                f"neighbor_dropout={e.neighbor_dropout}"
                + (f", residual=True, cl_weight={e.cl_weight}, cl_temperature={e.cl_temperature}, "
                   f"exclude_targets={e.exclude_targets}, collab_bpr={e.collab_bpr}, distill={e.distill}"
                   if e.residual else "")
                + (f", cold_dropout={e.cold_dropout}" if e.cold_dropout else "")
                + (", video_bias=True" if e.video_bias else ""))

    def start_batch(self, users: Tensor, positives: Tensor, negatives: Tensor) -> None:
        """Keep the batch's positive pairs as keys ``u · V + v`` when ``exclude_targets`` is on (see :meth:`_table`)."""
        if self.ext.exclude_targets:
            self.__dict__["_targets"] = torch.unique(users * self.num_videos + positives)

    def _table(self, t: str, nodes: Tensor, cold: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ids, mask = getattr(self, f"nbr_{t}")[nodes], getattr(self, f"mask_{t}")[nodes]
        if cold is not None and t == "user":  # a video presented as cold has no interaction, so no user slot
            mask = mask & ~cold.unsqueeze(1)
        targets: Tensor | None = self.__dict__.get("_targets")
        if self.training and targets is not None and t in ("user", "video"):
            n = nodes.unsqueeze(1)
            if t == "video":  # a user's video slots holding one of its batch positives
                keys, own = n * self.num_videos + ids, n < self.num_users
            else:  # a video's user slots holding one of its batch users
                keys, own = ids * self.num_videos + (n - self.num_users), n >= self.num_users
            mask = mask & ~(own & torch.isin(keys, targets))
        p = self.ext.neighbor_dropout
        if self.training and p > 0:
            mask = mask & (torch.rand(mask.shape, device=mask.device) >= p)
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # kept slots first, RWSS order
            ids, mask = ids.gather(1, order), mask.gather(1, order)
        return ids, mask

    def propagated_inputs(self) -> Tensor:
        """``[U + V, d]`` user then video f(v), smoothed over the training interactions (``propagation``)."""
        x = torch.cat([self.transform["user"](torch.arange(self.num_users, device=self.device)),
                       self.transform["video"](torch.arange(self.num_videos, device=self.device))])
        return self.smooth(x, self.edge_index, self.ext.propagation)

    def nodes_forward(self, nodes: Tensor, table: Tensor | None = None) -> NodeOutput:
        """Embed start nodes (global ids: users ``0..U-1``, videos ``U..U+V-1``) with attention weights.

        ``table``: :meth:`propagated_inputs` computed by the caller (evaluation reuses one for every chunk);
        computed here when ``propagation`` is on and none is given.
        """
        is_user = nodes < self.num_users
        if table is None and self.ext.propagation:
            table = self.propagated_inputs()
        if table is not None:
            self_emb = table[nodes]
        else:
            self_emb = torch.where(is_user.unsqueeze(-1),
                                   self.transform["user"](nodes.clamp(max=self.num_users - 1)),
                                   self.transform["video"]((nodes - self.num_users).clamp(min=0)))
        cold = None
        if self.training and self.ext.cold_dropout > 0:
            cold = ~is_user & (torch.rand(nodes.shape, device=nodes.device) < self.ext.cold_dropout)
            x = getattr(self.transform["video"], "x", None)
            videos = (nodes - self.num_users).clamp(min=0)
            content = self._content_inputs(None if x is None else x[videos], nodes.shape[0])
            self_emb = torch.where(cold.unsqueeze(-1), content, self_emb)
        out = self._from_neighbors(self_emb, lambda t: self._table(t, nodes, cold), table)
        if not self.ext.video_bias:
            return out
        videos = (nodes - self.num_users).clamp(min=0)
        transform = typing.cast(FeatureTransformer, self.transform["video"])
        id_term = self.bias_id(videos)
        if cold is not None:  # a video presented as cold has no learned id term either
            id_term = id_term.masked_fill(cold.unsqueeze(-1), 0.0)
        bias = self.bias_content(transform.x[videos]) + id_term  # type: ignore[index]
        column = torch.where(is_user.unsqueeze(-1), torch.ones_like(bias), bias)  # [E_u, 1]ᵀ[E_v, b(v)]
        return out._replace(emb=torch.cat([out.emb, column], 1))

    def _content_inputs(self, x: Tensor | None, n: int) -> Tensor:
        """f(v) of ``n`` videos from their content ``x`` alone (Eq. 1 without the id row), as a video without
        interactions has it: divided by ``propagation + 1`` when that is on (an isolated node's smoothed input)."""
        out = typing.cast(FeatureTransformer, self.transform["video"]).content_only(x, n)
        return out / (self.ext.propagation + 1) if self.ext.propagation else out

    def _from_neighbors(self, self_emb: Tensor, lookup: Callable[[str], tuple[Tensor, Tensor]],
                        table: Tensor | None) -> NodeOutput:
        """Eq. (1)-(7) for nodes whose own f(v) is ``self_emb`` and whose RWSS rows of type t are ``lookup(t)``."""
        groups: dict[str, tuple[Tensor, Tensor]] = {}
        for t in self.group_types:
            ids, mask = lookup(t)
            if table is not None and t in ("user", "video"):
                src = table.detach() if self.ext.distill else table
                f = src[ids + (self.num_users if t == "video" else 0)]
            else:
                f = self.transform[t](ids)  # Eq. (1)
            groups[t] = self.aggregate[t](f, mask)  # Eq. (2)-(3)
        b, d = self_emb.shape[0], self.config.dim
        zeros, absent = self_emb.new_zeros(b, d), torch.zeros(b, dtype=torch.bool, device=self_emb.device)
        if self.attr_types:
            x = torch.stack([groups[t][0] for t in self.attr_types], dim=1)
            present = torch.stack([groups[t][1] for t in self.attr_types], dim=1)
            e_attrs, w_attr = self.attr_attention(x, present)  # Eq. (4)-(5)
            attrs_present = present.any(dim=1)
        else:
            e_attrs, attrs_present = zeros, absent
            present, w_attr = absent.unsqueeze(1), self_emb.new_zeros(b, 1, 1)
        cands = [groups.get("user", (zeros, absent)), (e_attrs, attrs_present), groups.get("video", (zeros, absent))]
        if self.ext.include_self:
            cands.append((self_emb, torch.ones_like(absent)))
        c_emb = torch.stack([c[0] for c in cands], dim=1)
        c_present = torch.stack([c[1] for c in cands], dim=1)
        query = self_emb.detach() if self.ext.distill else self_emb
        emb, alpha = self.neighbor_attention(query, c_emb, c_present)  # Eq. (6)-(7)
        final = self_emb + self.gate * (emb.detach() if self.ext.distill else emb) if self.ext.residual else emb
        return NodeOutput(final, alpha, w_attr, present, self_emb, emb)

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``(E_u, E_v)`` for user and video index tensors (one pass over both)."""
        out = self.nodes_forward(torch.cat([users, videos + self.num_users])).emb
        return out[: users.shape[0]], out[users.shape[0] :]

    @torch.no_grad()
    def all_embeddings(self, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
        """Every user's and video's embedding in chunks of nodes, propagating the inputs (if on) only once."""
        table = self.propagated_inputs() if self.ext.propagation else None
        nodes = torch.arange(self.num_users + self.num_videos, device=self.device)
        out = torch.cat([self.nodes_forward(nodes[s : s + batch_size], table).emb
                         for s in range(0, nodes.shape[0], batch_size)])
        return out[: self.num_users], out[self.num_users :]

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """Every parameter, embedding tables included, at every step (λ‖θ‖² of HHFAN Eq. 10 over all of θ)."""
        yield from self.parameters()

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The learned id part of the videos' x_v in Eq. (1) (``FeatureTransformer.emb``), when there is one."""
        emb = typing.cast(FeatureTransformer, self.transform["video"]).emb
        if emb is not None:
            yield emb.weight, 0
        if self.ext.video_bias:
            yield self.bias_id.weight, 0

    @torch.no_grad()
    def inductive_forward(self, content: Tensor | None, neighbor_ids: dict[str, Tensor],
                          neighbor_mask: dict[str, Tensor]) -> NodeOutput:
        """Eq. (1)-(7) for videos outside the model's tables: their content and RWSS rows, no id embedding.

        ``f(v)`` is Eq. (1) on the content alone (:meth:`FeatureTransformer.content_only`; zeros when
        ``video_input="id"``). With ``propagation`` (the hybrid variant) a video without interactions is an isolated
        node of the interaction graph, so its smoothed input is ``f(v) / (L + 1)`` (layers 1..L contribute 0), as
        :meth:`propagated_inputs` gives a held-out video of the dataset. Its neighbours are embedded as in
        :meth:`nodes_forward` (evaluation mode: no neighbour dropout). A held-out video of the dataset (zero id
        row) with its own RWSS rows gets exactly its :meth:`nodes_forward` embedding.

        Args:
            content: float32 ``[n, F]`` standardised concatenated modality features (the dataset's layout).
            neighbor_ids / neighbor_mask: per group type, ``[n, k_t]`` type-local ids and validity.
        """
        if self.cold_start is None:
            raise ColdStartUnsupported("HHFAN with model.pretrained_run takes another model's embedding of each video "
                                       "as input, which a video without interactions does not have")
        n = next(iter(neighbor_ids.values())).shape[0] if neighbor_ids else (0 if content is None else content.shape[0])
        self_emb = self._content_inputs(None if content is None else content.to(self.device), n)  # Eq. (1)
        table = self._cached_propagation() if self.ext.propagation else None
        ids = {t: neighbor_ids[t].to(self.device).long() for t in self.group_types}
        mask = {t: neighbor_mask[t].to(self.device) for t in self.group_types}
        out = self._from_neighbors(self_emb, lambda t: (ids[t], mask[t]), table)
        if not self.ext.video_bias:
            return out
        assert content is not None  # video_bias needs content features, and so the upload has them
        bias = self.bias_content(content.to(self.device, self.bias_content.weight.dtype))  # no id term: a new video
        return out._replace(emb=torch.cat([out.emb, bias], 1))

    def _cached_propagation(self) -> Tensor:
        """:meth:`propagated_inputs`, recomputed only when a parameter changed (in place: a step, a load) or moved.

        New videos arrive one request at a time in a service; the smoothing runs over every user and video, so it
        is kept between calls for the same weights (no gradient: only :meth:`inductive_forward` uses it).
        """
        key = tuple((p.data_ptr(), p._version) for p in self.parameters())
        cached: tuple[tuple[tuple[int, int], ...], Tensor] | None = getattr(self, "_propagation_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self.propagated_inputs())
            self.__dict__["_propagation_cache"] = cached  # a plain attribute: not a buffer, not in the state dict
        return cached[1]

    def embed_new_videos(self, videos: NewVideoInputs) -> Tensor:
        """Inductive embeddings ``[n, d]`` of new videos (:meth:`inductive_forward`)."""
        return self.inductive_forward(videos.content, videos.neighbor_ids, videos.neighbor_mask).emb

    def candidate_names(self) -> list[str]:
        """Names of the Eq. (6) candidates, in the order of :attr:`NodeOutput.alpha`."""
        return ["users", "attributes", "videos"] + (["self"] if self.ext.include_self else [])


def build(ctx: BuildContext) -> HHFAN:
    """Registry entry of ``hhfan`` and ``hhfan-hybrid`` (:mod:`hhfan.model.registry`): HHFAN on the run's RWSS tables.

    With ``pretrained_run``, the other run's embeddings are loaded through ``ctx.pretrained`` (which checks that
    it used the same split); loading draws random numbers, so the weights are seeded after it.
    """
    return HHFAN(model_inputs(ctx), ctx.config)


def model_inputs(ctx: BuildContext) -> ModelInputs:
    """The :class:`ModelInputs` of an HHFAN-family model (``ctx.config`` an :class:`HHFANConfig`), with another run's
    embeddings loaded when ``pretrained_run`` is set (then torch is seeded again, as the weights come next)."""
    cfg = ctx.config
    if not isinstance(cfg, HHFANConfig):
        raise TypeError(f"HHFAN needs an HHFANConfig, got {type(cfg).__name__}")
    inputs = ModelInputs.from_artifacts(ctx.artifacts, ctx.dataset)
    if cfg.pretrained_run:
        if ctx.pretrained is None:
            raise ValueError("model.pretrained_run needs a way to load another run (BuildContext.pretrained)")
        eu, ev = ctx.pretrained(Path(cfg.pretrained_run))
        inputs = replace(inputs, user_pretrained=eu, video_pretrained=ev)
        torch.manual_seed(ctx.seed)
    return inputs


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(np.prod(p.shape) for p in model.parameters() if p.requires_grad))
