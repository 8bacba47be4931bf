"""SemRec (Shi, Zhang, Kong, Huang, Wang, Yu and Wu, CIKM 2015, "Semantic Path based Personalized
Recommendation on Weighted Heterogeneous Information Network").

1. **PathSim under each user meta-path** of the *training* M-HIG (U-V-U, U-V-T-V-U, U-V-I-V-U, U-V-A-V-U,
   U-V-X-V-U, U-T-U, U-G-U where the dataset has those node types; :mod:`hhfan.baselines.metapath`):
   ``s^l(u, u') = 2 M^l_{uu'} / (M^l_{uu} + M^l_{u'u'})`` with the commuting matrix ``M^l = P^l P^lᵀ``.
   Only the ``top_k_similar`` most similar other users are kept per user and path (sparse ``S^l``).
2. **Path-wise votes**: ``r̂^l_uv = Σ_{u' ∈ N^l(u)} s^l(u, u') R_{u'v} / Σ_{u' ∈ N^l(u)} s^l(u, u')``, i.e. the
   row-normalised ``(S^l R)[u, v]`` with the binary training interaction matrix ``R``.
3. **Personalised weighted fusion** ``r̂_uv = Σ_l w_u^l r̂^l_uv`` with ``w_u = w_0 + δ_u``: a global weight
   vector ``w_0`` (SemRec's shared weights, initialised to ``1/|paths|``) plus a per-user deviation ``δ_u``
   (initialised to 0) whose L2 penalty pulls each user's weights toward the global vector.

Adaptations: our interactions are implicit, so the "weighted" meta-paths have weight 1 (SemRec's rating-level
path constraints collapse into one level) and ``R`` is binary. The paper learns the weights with a
regularised squared loss on ratings (its personalised variant pulls a user's weights toward those of
similar users); here the shared BPR trainer learns ``w_0`` and ``δ_u`` (L2 on the batch's ``δ_u`` and on
``w_0``), and weights are not constrained to be non-negative. Not an inner-product model: ``embed`` returns
``[u, w_u]`` per user and ``[v]`` per video (indices as exact float32 values) and :meth:`SemRec.score_matrix`
computes ``Σ_l w_u^l (S^l R)[u, :]`` chunk by chunk with scipy sparse products; nothing ``[users, videos]``
is ever stored; memory grows with ``|paths| · users · top_k`` (8 bytes each: 150 MB on TikTok at top_k 500),
plus a ``users x videos`` bitset of ``R`` (``R[u', v]`` lookups while training: 8 MB on TikTok, 2.5 MB on
ML-1M). Neighbours, votes and bitset are non-persistent buffers: the build recomputes them deterministically
from the training graph, so a checkpoint holds only ``w_0`` and ``δ``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from hhfan.baselines.config import check_positive
from hhfan.baselines.metapath import USER_PATHS, MetaPath, adjacency, available, half_commuting
from hhfan.model.base import Recommender

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

@dataclass(frozen=True)
class SemRecConfig:
    """SemRec.

    Attributes:
        top_k_similar: similar users kept per user and meta-path.
    """

    top_k_similar: int = 50

    def __post_init__(self) -> None:
        check_positive(self, "top_k_similar")


SIM_CHUNK = 1024
"""Users per chunk of the PathSim products (a ``[chunk, users]`` float32 block at a time)."""
DENSE_DENSITY = 0.01
"""``P^l`` is densified for the PathSim products when at least this fraction of it is non-zero."""
SCORE_CHUNK_ENTRIES = 1 << 22
"""``users x videos`` entries per chunk of :meth:`SemRec.score_matrix` (16 MB of float32)."""


def pathsim_topk(p: sp.csr_matrix, k: int, chunk: int = SIM_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` PathSim neighbours under ``M = P Pᵀ``: ids int64 ``[n, k]`` and similarities float32 ``[n, k]``.

    A user is never its own neighbour; ``k`` is capped at ``n - 1``; neighbours of similarity 0 may fill a
    row whose user has fewer similar users (they carry no vote).
    """
    n = p.shape[0]
    k = min(k, n - 1)
    diag = torch.from_numpy(np.asarray(p.multiply(p).sum(axis=1), dtype=np.float32).ravel())
    dense = torch.from_numpy(p.toarray()) if p.nnz >= DENSE_DENSITY * n * max(p.shape[1], 1) else None
    p_t = p.T.tocsr()
    ids = np.zeros((n, k), np.int64)
    sims = np.zeros((n, k), np.float32)
    for s in range(0, n, chunk):
        rows = torch.arange(s, min(n, s + chunk))
        m = dense[rows] @ dense.T if dense is not None else torch.from_numpy((p[s : s + chunk] @ p_t).toarray())
        sim = m.mul_(2.0).div_((diag[rows, None] + diag[None, :]).clamp_min_(1e-12))  # M_uu = 0 iff row u is 0
        sim[torch.arange(rows.shape[0]), rows] = -1.0  # never one's own neighbour
        val, top = torch.topk(sim, k, dim=1)
        ids[s : s + chunk] = top.numpy()
        sims[s : s + chunk] = val.clamp_min(0.0).numpy()
    return ids, sims


def seen_bitset(interactions: sp.csr_matrix) -> np.ndarray:
    """Binary ``R`` as a bitset int64 ``[users, ceil(videos / 64)]``: bit ``v % 64`` of word ``v // 64``."""
    r = interactions.tocoo()
    words = (r.shape[1] + 63) // 64
    bits = np.zeros(r.shape[0] * words, np.uint64)
    cols = r.col.astype(np.uint64)
    np.bitwise_or.at(bits, r.row.astype(np.int64) * words + (cols >> np.uint64(6)).astype(np.int64),
                     np.left_shift(np.uint64(1), cols & np.uint64(63)))
    return bits.view(np.int64).reshape(r.shape[0], words)


class SemRec(Recommender):
    """``score(u, v) = Σ_l (w_0 + δ_u)^l · r̂^l_uv`` over the kept PathSim neighbours of each meta-path."""

    neighbors: Tensor
    vote_weights: Tensor
    seen_bits: Tensor

    def __init__(self, neighbors: np.ndarray, sims: np.ndarray, interactions: sp.csr_matrix,
                 paths: list[MetaPath] | None = None) -> None:
        super().__init__()
        num_paths, self.num_users, _ = neighbors.shape
        self.num_videos = interactions.shape[1]
        if max(self.num_users, self.num_videos) >= 1 << 24:
            raise ValueError("SemRec passes indices as float32 embeddings: at most 2^24 users and videos")
        self.paths = paths or []  # the meta-path of each slice
        tot = sims.sum(axis=2, keepdims=True)
        votes = np.divide(sims, tot, out=np.zeros_like(sims), where=tot > 0)  # normalised similarity weights
        self.register_buffer("neighbors", torch.from_numpy(neighbors.astype(np.int32)), persistent=False)
        self.register_buffer("vote_weights", torch.from_numpy(votes.astype(np.float32)), persistent=False)
        r = interactions.tocsr(copy=True)
        r.sum_duplicates()
        self.interactions = sp.csr_matrix((np.ones(r.nnz, np.float32), r.indices, r.indptr), shape=r.shape)
        self.register_buffer("seen_bits", torch.from_numpy(seen_bitset(self.interactions)), persistent=False)
        self.global_weight = nn.Parameter(torch.full((num_paths,), 1.0 / num_paths))
        self.user_weight = nn.Embedding(self.num_users, num_paths)
        nn.init.zeros_(self.user_weight.weight)

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``([u, w_u^1..w_u^L], [v])`` with ``w_u = w_0 + δ_u``; indices as float32 values."""
        w = self.global_weight[None, :] + self.user_weight(users)
        return torch.cat([users.to(w.dtype)[:, None], w], dim=1), videos.to(w.dtype)[:, None]

    def votes(self, users: Tensor, videos: Tensor) -> Tensor:
        """Path-wise normalised votes ``r̂^l_uv`` ``[B, L]`` of aligned ``(users[i], videos[i])`` pairs."""
        nb = self.neighbors[:, users]  # [L, B, k]
        word = self.seen_bits[nb, (videos >> 6)[None, :, None]]
        hit = ((word >> (videos & 63)[None, :, None]) & 1).to(self.vote_weights.dtype)  # R[neighbour, video]
        return (hit * self.vote_weights[:, users]).sum(-1).T

    def score(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """``Σ_l w_u^l r̂^l_uv`` for aligned rows of :meth:`embed`'s outputs."""
        users, videos = user_emb[:, 0].long(), video_emb[:, 0].long()
        return (user_emb[:, 1:] * self.votes(users, videos)).sum(-1)

    @torch.no_grad()
    def score_matrix(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """``[B, N]`` scores ``Σ_l w_u^l (S^l R)[u, v]``, by scipy sparse products over chunks of users."""
        users = user_emb[:, 0].long().cpu().numpy()
        w = user_emb[:, 1:].float().cpu().numpy()
        vids = video_emb[:, 0].long().cpu().numpy()
        nbr, vw = self.neighbors.cpu().numpy(), self.vote_weights.cpu().numpy()
        out = torch.empty(users.shape[0], vids.shape[0])
        step = max(1, SCORE_CHUNK_ENTRIES // max(self.num_videos, 1))
        for s in range(0, users.shape[0], step):
            u = users[s : s + step]
            nb = nbr[:, u]  # [L, b, k]
            data = w[s : s + step].T[:, :, None] * vw[:, u]
            rows = np.broadcast_to(np.arange(u.shape[0])[None, :, None], nb.shape)
            mix = sp.csr_matrix((data.ravel(), (rows.ravel(), nb.ravel())), shape=(u.shape[0], self.num_users))
            out[s : s + step] = torch.from_numpy((mix @ self.interactions).toarray()[:, vids])
        return out.to(user_emb.device)

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch users' deviations ``δ_u`` from the global weights (the pull toward ``w_0``) and ``w_0``."""
        yield self.user_weight(users)
        yield self.global_weight


def build(ctx: BuildContext) -> SemRec:
    """Registry entry (:mod:`hhfan.baselines.registry`): similarities and votes from the training M-HIG only."""
    g = ctx.artifacts.graph
    paths = available(g, USER_PATHS)
    if not paths:
        raise ValueError("SemRec needs training interactions (no U-V-U meta-path is available)")
    found = [pathsim_topk(half_commuting(g, p), ctx.config.top_k_similar) for p in paths]
    neighbors = np.stack([f[0] for f in found])
    sims = np.stack([f[1] for f in found])
    return SemRec(neighbors, sims, adjacency(g, "user", "video"), paths)
