"""HHFAN-cl (registry name ``hhfan-cl``): our second variant of HHFAN, built for LightGCN's cost class.

A collaborative view, the propagated input ``c(v)`` (LightGCN's layer mean over id embeddings,
``propagation`` layers), plus HHFAN's heterogeneous view ``h(v)``: Eq. (1)-(7) over the RWSS neighbourhood with
the mean aggregator of Eq. (3) (the paper's HHFAN-l) and three Eq. (6) candidates, added as a residual
(``E_v = c(v) + γ h(v)``, one learned ``γ`` from 0, so training starts as LightGCN), and InfoNCE between the two
views of the batch's users and positive videos (``cl_weight``, ``cl_temperature``; cosine, in-batch negatives),
so the neighbourhood of attributes, tags and codewords is pulled towards what interactions say and back.

What it adds to the paper's model are :class:`~hhfan.model.hhfan.Extensions` of the shared
:class:`~hhfan.model.hhfan.HHFAN` class (``residual``, ``cl_weight``, ``exclude_targets``, ``collab_bpr``, ``distill``;
``propagation`` and ``neighbor_dropout`` as in ``hhfan-hybrid``), plus λ on the batch's id rows as for
LightGCN (:meth:`ContrastHHFAN.l2_terms`).
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from hhfan.model.contrast import info_nce
from hhfan.model.hhfan import HHFAN, Extensions, HHFANConfig, NodeOutput, model_inputs
from hhfan.model.layers import FeatureTransformer

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class ContrastConfig(HHFANConfig):
    """``hhfan-cl``: a LightGCN collaborative view plus HHFAN's heterogeneous view (residual), contrasted.

    Defaults: the mean aggregator (HHFAN-l: the LSTM of Eq. 3 is 83% of an HHFAN step, and this variant is
    meant to cost a small multiple of LightGCN), three LightGCN layers, both views contrasted with weight 0.1,
    and ``video_input="id"``: the collaborative view is LightGCN's over id embeddings alone, so at the start
    (``γ = 0``) the model *is* LightGCN; content enters through the heterogeneous view (codeword nodes carry
    the features, tags their embeddings).

    Attributes (besides :class:`HHFANConfig`'s; see :class:`Extensions`):
        propagation: LightGCN layers of the collaborative view (>= 1).
        neighbor_dropout: share of sampled neighbour slots dropped per training batch.
        cl_weight: weight of the InfoNCE between the two views.
        cl_temperature: its temperature τ.
        exclude_targets: hide each training batch's positive edges from their endpoints' neighbour tables.
        collab_bpr: weight of BPR on the collaborative view alone.
        distill: the heterogeneous view learns from the contrast alone, towards the collaborative view held fixed.
    """

    aggregator: str = "mean"
    video_input: str = "id"
    propagation: int = 3
    neighbor_dropout: float = 0.0
    cl_weight: float = 0.1
    cl_temperature: float = 0.2
    exclude_targets: bool = False
    collab_bpr: float = 0.0
    distill: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.propagation < 1:
            raise ValueError(f"propagation must be >= 1 (the collaborative view), got {self.propagation}")
        if not 0.0 <= self.neighbor_dropout < 1.0:
            raise ValueError(f"neighbor_dropout must be in [0, 1), got {self.neighbor_dropout}")
        if not self.cl_weight >= 0:
            raise ValueError(f"cl_weight must be >= 0, got {self.cl_weight}")
        if not self.cl_temperature > 0:
            raise ValueError(f"cl_temperature must be > 0, got {self.cl_temperature}")
        if not self.collab_bpr >= 0:
            raise ValueError(f"collab_bpr must be >= 0, got {self.collab_bpr}")

    def extensions(self) -> Extensions:
        """Propagation, the residual and the contrast, as configured (no self candidate)."""
        return Extensions(False, self.propagation, self.neighbor_dropout, True, self.cl_weight, self.cl_temperature,
                          self.exclude_targets, self.collab_bpr, self.distill)


class ContrastHHFAN(HHFAN):
    """``hhfan-cl`` (:class:`ContrastConfig`): HHFAN with the residual of two views, their InfoNCE as its aux loss,
    and λ on the batch's rows as for LightGCN (the collaborative view *is* LightGCN)."""

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``(E_u, E_v)``; a training pass keeps its two views for :meth:`aux_loss` of the same batch."""
        nodes = torch.cat([users, videos + self.num_users])
        out = self.nodes_forward(nodes)
        if self.training and (self.ext.cl_weight > 0 or self.ext.collab_bpr > 0):  # aux_loss reads them
            self.__dict__["_views"] = (nodes, out)  # a plain attribute: not state, replaced by the next embed
        return out.emb[: users.shape[0]], out.emb[users.shape[0] :]

    def aux_loss(self, users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor | None:
        """``cl_weight · (InfoNCE_users + InfoNCE_videos)`` between f(v) and the Eq. (6) output, plus
        ``collab_bpr ·`` BPR of the triples scored by f(v) alone.

        InfoNCE runs over the batch's unique users and unique positive videos; each node's other view is its
        positive, the other rows of the batch its negatives. Reuses the views of the :meth:`embed` call of the
        same batch (the trainer embeds the unique users and the unique positives and negatives), else computes
        them. None (nothing added) when both weights are 0.
        """
        e = self.ext
        if e.cl_weight <= 0 and e.collab_bpr <= 0:
            return None
        uu, u_inv = torch.unique(users, return_inverse=True)
        vv, v_inv = torch.unique(torch.cat([positives, negatives]), return_inverse=True)
        nodes = torch.cat([uu, vv + self.num_users])
        cached = self.__dict__.pop("_views", None)
        same = cached is not None and cached[0].shape == nodes.shape and bool(torch.equal(cached[0], nodes))
        out: NodeOutput = cached[1] if same else self.nodes_forward(nodes)
        assert out.own is not None and out.neighborhood is not None
        n_u, loss = uu.shape[0], out.own.new_zeros(())
        if e.cl_weight > 0:
            rows = torch.cat([torch.arange(n_u, device=nodes.device),
                              n_u + torch.searchsorted(vv, torch.unique(positives))])
            own, nbr = out.own[rows], out.neighborhood[rows]
            if e.distill:  # a fixed target: the contrast moves the heterogeneous view only
                own = own.detach()
            tau = e.cl_temperature
            loss = loss + e.cl_weight * (info_nce(own[:n_u], nbr[:n_u], tau) + info_nce(own[n_u:], nbr[n_u:], tau))
        if e.collab_bpr > 0:
            c_u, c_v = out.own[u_inv], out.own[n_u + v_inv]
            c_pos, c_neg = c_v[: positives.shape[0]], c_v[positives.shape[0] :]
            diff = (c_u * c_pos).sum(-1) - (c_u * c_neg).sum(-1)
            loss = loss - e.collab_bpr * torch.nn.functional.logsigmoid(diff).mean()
        return loss

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's rows of the user and video id embeddings (as LightGCN's λ); other weights are not penalised."""
        for t, rows in (("user", users), ("video", videos)):
            emb = typing.cast(FeatureTransformer, self.transform[t]).emb
            if emb is not None:
                yield emb(rows)


def build(ctx: BuildContext) -> ContrastHHFAN:
    """Registry entry of ``hhfan-cl`` (:mod:`hhfan.model.registry`)."""
    return ContrastHHFAN(model_inputs(ctx), ctx.config)
