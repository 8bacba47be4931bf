"""HERec (Shi, Hu, Zhao and Yu, IEEE TKDE 2019, "Heterogeneous Information Network Embedding for Recommendation").

1. **Meta-path walks** (:func:`hhfan.baselines.metapath.metapath_walks`) over the *training* M-HIG: user paths
   U-V-U, U-V-T-V-U, U-V-I-V-U, U-V-A-V-U, U-V-X-V-U, U-T-U, U-G-U and video paths V-U-V, V-T-V, V-I-V,
   V-A-V, V-X-V, each kept where the dataset has its node types (T tag, I image, A audio, X text codeword
   nodes, G user attribute). Walks keep only the nodes of the start type (HERec's filtering);
   ``walks_per_node`` walks per node, each ``walk_length`` *kept* nodes long, seeded by the run's seed; a
   step never enters a node from which the path cannot go on (e.g. a video without training users in
   U-V-T-V-U), so walks do not die at cold videos.
2. **Skip-gram with negative sampling per meta-path**, computed in closed form: SGNS with ``k`` negatives
   implicitly factorises the shifted PMI matrix of the window co-occurrences (Levy & Goldberg, NIPS 2014),
   so each path's embedding is the rank-``dim`` truncated SVD ``U √Σ`` of
   ``SPPMI(i, j) = max(log(#(i,j) / (#i · P_0.75(j))) - log k, 0)`` over pairs at most ``window`` apart in
   the filtered walks (``k`` = :data:`NEGATIVES`, word2vec's 0.75-smoothed context distribution), with
   rows scaled to unit norm. Chosen over a torch SGNS because it is deterministic given the seed, takes
   seconds instead of minutes on a shared CPU, and runs again whenever a run is loaded. ``pretrain_epochs``
   sets the power iterations of the randomised SVD (the factorisation's optimisation effort). The
   embeddings ``e^l`` are buffers, not parameters.
3. **Personalised non-linear fusion** ``e_u = σ(Σ_l w_u^l (M^l e_u^l + b^l))`` (and the same for videos with
   their own ``w_v, M, b``), with ``M^l`` initialised to the identity and ``w^l`` to ``1/|paths|``.
4. **Extended MF** ``r̂_uv = x_uᵀ y_v + α e_uᵀ γ_v + β e_vᵀ γ_u`` (α = :data:`ALPHA`, β = :data:`BETA`), written
   exactly as the inner product of ``E_u = [x_u, α e_u, γ_u]`` and ``E_v = [y_v, γ_v, β e_v]``.

Adaptations: the original minimises squared error on explicit ratings; here the shared BPR trainer ranks
observed against sampled videos (implicit data), with the L2 term on the batch's ``x, y, γ, w`` rows and
the fusion matrices. Word2vec's SGNS is replaced by its exact matrix-factorisation counterpart (above).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.extmath import randomized_svd
from torch import Tensor, nn

from hhfan.baselines.config import EmbeddingConfig, check_positive
from hhfan.baselines.metapath import USER_PATHS, VIDEO_PATHS, MetaPath, available, metapath_walks
from hhfan.graph.mhig import HeteroGraph
from hhfan.model.base import Recommender

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

@dataclass(frozen=True)
class HERecConfig(EmbeddingConfig):
    """HERec.

    Attributes:
        walk_length: meta-path walk length.
        walks_per_node: walks started per node.
        window: skip-gram context window.
        pretrain_epochs: epochs of the meta-path embedding stage (0: closed form only).
    """

    walk_length: int = 20
    walks_per_node: int = 10
    window: int = 3
    pretrain_epochs: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "walk_length", "walks_per_node", "window")
        if self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be >= 0, got {self.pretrain_epochs}")


NEGATIVES = 5
"""Negatives ``k`` of the SGNS the SPPMI factorisation stands for (shift ``log k``; word2vec's default)."""
CONTEXT_SMOOTHING = 0.75
"""Exponent of word2vec's smoothed context (noise) distribution."""
ALPHA = 1.0
"""Weight α of the user's fused meta-path embedding in the extended MF."""
BETA = 1.0
"""Weight β of the video's fused meta-path embedding in the extended MF."""


def cooccurrence(walks: np.ndarray, n: int, window: int) -> sp.csr_matrix:
    """Symmetric counts ``#(i, j)`` of nodes at most ``window`` apart in ``walks`` (``[W, L]``, -1 padded)."""
    rows, cols = [], []
    for o in range(1, min(window, walks.shape[1] - 1) + 1):
        a, b = walks[:, :-o].ravel(), walks[:, o:].ravel()
        ok = (a >= 0) & (b >= 0)
        rows += [a[ok], b[ok]]
        cols += [b[ok], a[ok]]
    r = np.concatenate(rows) if rows else np.empty(0, np.int64)
    c = np.concatenate(cols) if cols else np.empty(0, np.int64)
    m = sp.csr_matrix((np.ones(r.shape[0], np.float32), (r, c)), shape=(n, n))
    m.sum_duplicates()
    return m


def sppmi(counts: sp.csr_matrix, negatives: int = NEGATIVES, smoothing: float = CONTEXT_SMOOTHING) -> sp.csr_matrix:
    """Shifted positive PMI ``max(log(#(i,j) / (#i · P_s(j))) - log k, 0)`` of a co-occurrence matrix."""
    m = counts.tocoo()
    row_tot = np.asarray(counts.sum(axis=1)).ravel()
    ctx = row_tot**smoothing  # symmetric counts: a node's context count equals its word count
    p_ctx = ctx / max(ctx.sum(), 1e-12)
    val = np.log(m.data) - np.log(row_tot[m.row]) - np.log(p_ctx[m.col]) - np.log(negatives)
    keep = val > 0
    out = sp.csr_matrix((val[keep].astype(np.float32), (m.row[keep], m.col[keep])), shape=counts.shape)
    return out


def factorise(matrix: sp.csr_matrix, dim: int, n_iter: int, seed: int) -> np.ndarray:
    """Rank-``dim`` embedding ``U √Σ`` of ``matrix`` by randomised SVD, rows scaled to unit norm (zero rows stay 0)."""
    n = matrix.shape[0]
    out = np.zeros((n, dim), np.float32)
    k = min(dim, n - 1)
    if matrix.nnz == 0 or k < 1:
        return out
    u, s, _ = randomized_svd(matrix, n_components=k, n_iter=n_iter, random_state=seed)
    e = u * np.sqrt(s)[None, :]
    norm = np.linalg.norm(e, axis=1, keepdims=True)
    out[:, :k] = e / np.where(norm > 0, norm, 1.0)
    return out


def path_embeddings(graph: HeteroGraph, paths: list[MetaPath], cfg: HERecConfig, seed: int) -> np.ndarray:
    """Per-path node embeddings ``[len(paths), count(start type), dim]``: walks, then SPPMI + SVD."""
    out = []
    for i, path in enumerate(paths):
        rng = np.random.default_rng([seed, i, len(path), len(path[0])])
        walks = metapath_walks(graph, path, cfg.walks_per_node, cfg.walk_length, rng)
        counts = cooccurrence(walks, graph.count(path[0]), cfg.window)
        out.append(factorise(sppmi(counts), cfg.dim, cfg.pretrain_epochs, seed + i))
    return np.stack(out)


class Fusion(nn.Module):
    """HERec's personalised non-linear fusion ``σ(Σ_l w_i^l (M^l e_i^l + b^l))`` of fixed per-path embeddings."""

    emb: Tensor

    def __init__(self, path_emb: np.ndarray) -> None:
        super().__init__()
        num_paths, n, d = path_emb.shape
        self.register_buffer("emb", torch.from_numpy(np.ascontiguousarray(path_emb, dtype=np.float32)))
        self.weight = nn.Embedding(n, num_paths)
        nn.init.constant_(self.weight.weight, 1.0 / num_paths)
        self.matrix = nn.Parameter(torch.eye(d).repeat(num_paths, 1, 1))
        self.bias = nn.Parameter(torch.zeros(num_paths, d))

    def forward(self, idx: Tensor) -> Tensor:
        """Fused embeddings ``[len(idx), d]`` of nodes ``idx``."""
        e = torch.einsum("lbd,led->lbe", self.emb[:, idx], self.matrix) + self.bias[:, None, :]
        return torch.sigmoid((self.weight(idx).T[:, :, None] * e).sum(0))


class HERec(Recommender):
    """Extended MF with fused meta-path embeddings: ``E_u = [x_u, α e_u, γ_u]``, ``E_v = [y_v, γ_v, β e_v]``."""

    cold_start = ("its free factors y_v and γ_v are zero (never trained), so it is scored by β γ_uᵀ e_v: its meta-path "
                  "embedding (V-T-V, V-I-V, V-A-V, V-X-V walks; V-U-V has none) fused with the initial uniform path "
                  "weights 1/|paths| (a video outside the triples never updates its own)")

    def __init__(self, user_path_emb: np.ndarray, video_path_emb: np.ndarray, config: HERecConfig | None = None,
                 paths: tuple[list[MetaPath], list[MetaPath]] = ([], [])) -> None:
        super().__init__()
        cfg = config or HERecConfig()
        self.user_paths, self.video_paths = paths  # the meta-paths behind each slice of the embeddings
        self.num_users, self.num_videos = user_path_emb.shape[1], video_path_emb.shape[1]
        self.user_fusion, self.video_fusion = Fusion(user_path_emb), Fusion(video_path_emb)
        fused = user_path_emb.shape[2]
        self.x = nn.Embedding(self.num_users, cfg.dim)
        self.y = nn.Embedding(self.num_videos, cfg.dim)
        self.gamma_u = nn.Embedding(self.num_users, fused)  # pairs with the video's fused embedding
        self.gamma_v = nn.Embedding(self.num_videos, fused)  # pairs with the user's fused embedding
        for emb in (self.x, self.y, self.gamma_u, self.gamma_v):
            nn.init.normal_(emb.weight, 0.0, cfg.init_std)

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``([x_u, α e_u, γ_u], [y_v, γ_v, β e_v])``: their inner product is HERec's extended MF."""
        eu = torch.cat([self.x(users), ALPHA * self.user_fusion(users), self.gamma_u(users)], dim=1)
        ev = torch.cat([self.y(videos), self.gamma_v(videos), BETA * self.video_fusion(videos)], dim=1)
        return eu, ev

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' free factors ``y_v`` and ``γ_v``."""
        yield self.y.weight, 0
        yield self.gamma_v.weight, 0

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's free factors and fusion weights, and the (shared) fusion matrices and biases."""
        yield from (self.x(users), self.gamma_u(users), self.user_fusion.weight(users))
        yield from (self.y(videos), self.gamma_v(videos), self.video_fusion.weight(videos))
        for f in (self.user_fusion, self.video_fusion):
            yield f.matrix
            yield f.bias


def build(ctx: BuildContext) -> HERec:
    """Registry entry (:mod:`hhfan.baselines.registry`): walks and embeddings from the training M-HIG only."""
    g = ctx.artifacts.graph
    user_paths, video_paths = available(g, USER_PATHS), available(g, VIDEO_PATHS)
    if not user_paths or not video_paths:
        raise ValueError("HERec needs training interactions (no U-V-U / V-U-V meta-path is available)")
    eu = path_embeddings(g, user_paths, ctx.config, ctx.seed)
    ev = path_embeddings(g, video_paths, ctx.config, ctx.seed + 7919)
    return HERec(eu, ev, ctx.config, (user_paths, video_paths))
