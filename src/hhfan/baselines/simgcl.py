"""SimGCL (Yu, Yin, Xia, Chen, Cui & Nguyen, "Are Graph Augmentations Necessary? Simple Graph Contrastive
Learning for Recommendation", SIGIR 2022) — the original SimGCL, not its cheaper successor XSimGCL.

LightGCN propagation over the *training* user-video graph, ``E^(l) = Â E^(l-1)`` with
``Â = D^-1/2 A D^-1/2``; the representation used for ranking is the mean of layers ``1..L`` (SimGCL skips the
input embedding ``E^(0)`` in the final representation, unlike LightGCN). Two contrastive views come from
the same propagation with uniform noise added to every layer's output (SimGCL's noise-based augmentation)::

    E'^(l) = Â E'^(l-1) + Δ^(l),   Δ^(l) = ε · sign(E'^(l)) ⊙ normalize(U(0, 1)^d)   (per row: ‖Δ‖₂ = ε)

so a row moves by exactly ``ε`` and stays in its hyperoctant. The contrastive loss is InfoNCE over the
batch's unique users and (positive) videos, with cosine similarity and temperature ``τ`` (SimGCL's joint
loss)::

    L_cl = mean_i −log( exp(z'_iᵀz''_i / τ) / Σ_j exp(z'_iᵀz''_j / τ) )   (z = row-normalised view rows)
    L    = L_BPR + λ‖θ‖² + λ_cl (L_cl^user + L_cl^video)

``λ_cl L_cl`` is :meth:`SimGCL.aux_loss`; BPR and ``λ‖θ‖²`` are the shared trainer's. Each training step
propagates three times (once clean for BPR, once per view), as the authors' code does; XSimGCL would
reuse one noisy propagation for both and contrast a middle layer against the last.

Adaptations: embeddings start N(0, init_std) (the shared baseline setting; the authors' code uses Xavier
uniform); λ penalises the batch's layer-0 rows squared, as for LightGCN here (SELFRec: the unsquared norm of
the batch's propagated rows); in eval mode the views carry no noise (the aux loss is then deterministic).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hhfan.baselines.config import LayersConfig
from hhfan.model.base import FullGraphRecommender
from hhfan.model.contrast import info_nce
from hhfan.model.propagation import CachedAdjacency, bipartite_edge_index

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class SimGCLConfig(LayersConfig):
    """SimGCL: LightGCN size and layers plus the contrastive term.

    The authors' code (SELFRec ``conf/SimGCL.yaml`` and ``model/graph/SimGCL.py``): 64 dimensions, 2 layers,
    ``lambda`` 0.5, ``eps`` 0.1, temperature 0.2 (fixed in the code), Adam lr 1e-3, batch 2048, ``reg.lambda``
    1e-4, Xavier-uniform embeddings. These are the defaults here (the optimiser settings live in ``train``).

    Attributes:
        layers: propagation layers ``L`` (>= 1: the representation is the mean of layers 1..L).
        cl_weight: ``λ_cl``, weight of the InfoNCE term.
        eps: ``ε``, L2 norm of the noise added to every row of every layer's output in a view.
        temperature: ``τ`` of InfoNCE.
    """

    layers: int = 2
    cl_weight: float = 0.5
    eps: float = 0.1
    temperature: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layers < 1:
            raise ValueError(f"layers must be >= 1 (SimGCL averages layers 1..L), got {self.layers}")
        if not self.cl_weight >= 0:
            raise ValueError(f"cl_weight must be >= 0, got {self.cl_weight}")
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


def uniform_noise(x: Tensor, eps: float) -> Tensor:
    """SimGCL's perturbation of one layer's output: ``ε · sign(x) ⊙ normalize(U(0, 1))``, row norm ``ε``.

    Shapes: ``x [N, d]`` -> ``[N, d]`` (the noise only; ``x + uniform_noise(x, eps)`` is the perturbed layer).
    """
    return torch.sign(x) * F.normalize(torch.rand_like(x), dim=-1) * eps


class SimGCL(FullGraphRecommender):
    """SimGCL over training interactions ``(user[i], video[i])``; rows are users ``0..U-1`` then videos."""

    def __init__(self, num_users: int, num_videos: int, train_user: np.ndarray, train_video: np.ndarray,
                 config: SimGCLConfig | None = None) -> None:
        super().__init__()
        cfg = config or SimGCLConfig()
        self.cfg = cfg
        self.num_users, self.num_videos = num_users, num_videos
        self.emb = nn.Embedding(num_users + num_videos, cfg.dim)
        nn.init.normal_(self.emb.weight, 0.0, cfg.init_std)
        self.register_buffer("edge_index", bipartite_edge_index(train_user, train_video, num_users))
        self.adjacency = CachedAdjacency("sym")

    def encode(self, perturbed: bool) -> Tensor:
        """Mean of layers ``1..L``, ``[U + V, d]``; ``perturbed`` adds SimGCL's noise after every layer."""
        adj = self.adjacency(self.edge_index, self.num_users + self.num_videos)
        x, out = self.emb.weight, None
        for _ in range(self.cfg.layers):
            x = torch.sparse.mm(adj, x)
            if perturbed:
                x = x + uniform_noise(x, self.cfg.eps)
            out = x if out is None else out + x
        assert out is not None  # layers >= 1 (config)
        return out / self.cfg.layers

    def propagate(self) -> Tensor:
        """The clean representation used for ranking and BPR."""
        return self.encode(perturbed=False)

    def aux_loss(self, users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
        """``λ_cl (L_cl^user + L_cl^video)`` over the batch's unique users and positive videos (two noisy views;
        noise-free in eval mode). ``negatives`` are not used (InfoNCE's negatives are the other batch rows)."""
        noisy = self.training and self.cfg.eps > 0
        h1, h2 = self.encode(noisy), self.encode(noisy)
        u = torch.unique(users)
        v = torch.unique(positives) + self.num_users
        loss = info_nce(h1[u], h2[u], self.cfg.temperature) + info_nce(h1[v], h2[v], self.cfg.temperature)
        return self.cfg.cl_weight * loss

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """Layer-0 embeddings of the batch."""
        yield self.emb(users)
        yield self.emb(videos + self.num_users)


def build(ctx: BuildContext) -> SimGCL:
    """Registry entry (:mod:`hhfan.model.registry`): propagates over training interactions only."""
    return SimGCL(ctx.dataset.num_users, ctx.dataset.num_videos, ctx.train_user, ctx.train_video, ctx.config)
