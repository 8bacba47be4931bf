"""HAN (Wang, Ji, Shi, Wang, Ye, Cui, Yu; WWW 2019, "Heterogeneous Graph Attention Network"), with PyG's ``HANConv``.

Meta-path graphs are built from the *training* M-HIG (``ctx.artifacts.graph``): for videos V-U-V (co-watched),
V-I-V / V-A-V / V-X-V (shared image / audio / text codeword) and V-T-V (shared tag); for users U-V-U (watched a
common video), U-T-U (shared tag) and U-P-U (shared user attribute, e.g. gender=F) — only those whose node types
and relations exist in the dataset. One HAN layer (``config.layers`` of them, stacked) computes, per node type φ
and meta-path Φ:

* ``h'_i = M_φ h_i`` (HAN Eq. 1, type-specific projection, ``HANConv.proj``);
* ``α^Φ_ij = softmax_{j ∈ N^Φ_i} LeakyReLU(a_Φᵀ [h'_i ‖ h'_j])`` per head (HAN Eq. 2-3, node-level attention);
* ``z^Φ_i = ‖_{heads} ReLU(Σ_j α^Φ_ij h'_j)`` (HAN Eq. 4-5; ``config.heads`` heads of ``dim / heads`` each);
* ``w_Φ = 1/|V_φ| Σ_i qᵀ tanh(W z^Φ_i + b)``, ``β_Φ = softmax_Φ(w_Φ)``, ``Z_i = Σ_Φ β_Φ z^Φ_i`` (HAN Eq. 7-9,
  semantic-level attention).

Adaptations (documented choices):

* Loss: the paper trains node classification with cross-entropy (HAN Eq. 10); here the shared BPR trainer
  ranks videos for users with ``score(u, v) = E_uᵀ E_v``.
* Inputs ``h_i``: free id embeddings for users and videos, plus a linear projection of the standardised,
  concatenated video modality features when the dataset has them (the paper uses bag-of-words features).
* Residual (:data:`RESIDUAL`): ``E = Z + h`` — the HANConv output is ReLU'd (non-negative), and a user and a
  video never meet in one meta-path graph, so the input embedding is added back (id-level collaborative signal).
* Neighbour cap: meta-path graphs of popular videos are nearly complete, so each node keeps only its
  ``config.num_neighbors * NEIGHBOR_FACTOR`` meta-path neighbours with the most path instances (ties broken at
  random, seeded by ``ctx.seed``), plus itself (the paper's ``N^Φ_i`` includes ``i``).
* PyG's HANConv uses ReLU where the paper writes σ for the node-level output, and LeakyReLU scores (GAT).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn
from torch_geometric.nn import HANConv

from hhfan.baselines.config import LayersConfig, check_dropout, check_positive
from hhfan.graph.mhig import NODE_TYPES, RELATIONS, HeteroGraph
from hhfan.graph.quantize import standardise
from hhfan.model.base import Recommender

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

@dataclass(frozen=True)
class HANConfig(LayersConfig):
    """HAN.

    Attributes:
        dropout: dropout inside the attention layers.
        heads: attention heads.
        num_neighbors: meta-path neighbours kept per node (times ``NEIGHBOR_FACTOR``).
    """

    dropout: float = 0.0
    heads: int = 4
    num_neighbors: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        check_dropout(self.dropout)
        check_positive(self, "heads", "num_neighbors")


NEIGHBOR_FACTOR = 2
"""Meta-path neighbours kept per node and meta-path = ``config.num_neighbors * NEIGHBOR_FACTOR``."""
RESIDUAL = True
"""Add the input embedding to the HAN output (see module docstring)."""
_CHUNK_CELLS = 1 << 23  # cells of the dense path-count block computed at once (~32 MB float32)

EdgeType = tuple[str, str, str]


def metapath_middles(graph: HeteroGraph, anchor: str) -> list[str]:
    """Middle types ``t`` of the meta-paths ``anchor-t-anchor`` that exist in ``graph`` (relation with edges)."""
    out = []
    for t in NODE_TYPES:
        related = (anchor, t) in RELATIONS or (t, anchor) in RELATIONS
        if t != anchor and related and graph.count(t) > 0 and graph.edges_between(anchor, t).shape[0] > 0:
            out.append(t)
    return out


def metapath_edges(pairs: np.ndarray, n: int, m: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Edge index ``[2, E]`` (row 0 = neighbour, row 1 = node) of the meta-path graph ``A-B-A``.

    Args:
        pairs: int ``[p, 2]`` type-local (A node, B node) links; duplicates count once.
        n, m: number of A and B nodes.
        k: neighbours kept per node: those with the most path instances (``(P Pᵀ)_ij``), ties at random.
        rng: source of the tie-breaking noise.

    Every node also gets a self-loop (HAN's ``N^Φ_i`` includes ``i``), so no node has an empty neighbourhood.
    """
    inc = sp.csr_matrix((np.ones(pairs.shape[0], np.float32), (pairs[:, 0], pairs[:, 1])), shape=(n, m))
    inc.data[:] = 1.0
    inc_t = inc.T.tocsr()
    kk = min(k, n)
    rows = max(1, _CHUNK_CELLS // max(n, 1))
    src, dst = [np.arange(n)], [np.arange(n)]
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        counts = (inc[lo:hi] @ inc_t).toarray()
        counts[np.arange(hi - lo), np.arange(lo, hi)] = 0.0  # the self-loop is added once, above
        score = counts + 0.5 * rng.random(counts.shape, dtype=np.float32)
        top = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
        keep = np.take_along_axis(counts, top, axis=1) > 0
        src.append(top[keep])
        dst.append(np.broadcast_to(np.arange(lo, hi)[:, None], top.shape)[keep])
    return np.stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64)


def metapath_graphs(graph: HeteroGraph, k: int, seed: int) -> dict[EdgeType, np.ndarray]:
    """Capped meta-path graphs of users and videos, keyed ``(anchor, "anchor-mid-anchor", anchor)``."""
    rng = np.random.default_rng(seed)
    out: dict[EdgeType, np.ndarray] = {}
    for anchor in ("user", "video"):
        for mid in metapath_middles(graph, anchor):
            pairs = graph.edges_between(anchor, mid)
            name = f"{anchor}-{mid}-{anchor}"
            out[(anchor, name, anchor)] = metapath_edges(pairs, graph.count(anchor), graph.count(mid), k, rng)
    return out


class HAN(Recommender):
    """HAN over meta-path graphs of users and videos, scored by inner product (see module docstring)."""

    cold_start = ("its id embedding is zero (never trained): its projected content, attended over the V-I-V, V-A-V, "
                  "V-X-V and V-T-V meta-path graphs (V-U-V has no edge of it)")

    def __init__(self, num_users: int, num_videos: int, metapaths: dict[EdgeType, np.ndarray],
                 video_content: Tensor | None = None, config: HANConfig | None = None) -> None:
        super().__init__()
        cfg = config or HANConfig()
        d = cfg.dim
        if d % cfg.heads:
            raise ValueError(f"HAN needs dim divisible by heads, got dim={d}, heads={cfg.heads}")
        if cfg.layers < 1:
            raise ValueError("HAN needs layers >= 1")
        for t in ("user", "video"):
            if not any(et[0] == t for et in metapaths):
                raise ValueError(f"no meta-path graph for {t}s (no training interactions?)")
        self.num_users, self.num_videos = num_users, num_videos
        self.user_emb = nn.Embedding(num_users, d)
        self.video_emb = nn.Embedding(num_videos, d)
        nn.init.normal_(self.user_emb.weight, 0.0, cfg.init_std)
        nn.init.normal_(self.video_emb.weight, 0.0, cfg.init_std)
        self.content: nn.Linear | None = None
        if video_content is not None:
            self.register_buffer("video_x", video_content.float())
            self.content = nn.Linear(video_content.shape[1], d)
        self.edge_types = list(metapaths)
        for i, et in enumerate(self.edge_types):
            self.register_buffer(f"metapath_{i}", torch.from_numpy(metapaths[et]))
        metadata = (["user", "video"], self.edge_types)
        self.convs = nn.ModuleList(HANConv(d, d, metadata, heads=cfg.heads, dropout=cfg.dropout)
                                   for _ in range(cfg.layers))

    def inputs(self) -> dict[str, Tensor]:
        """Input features ``h`` per node type: id embeddings (+ projected video content)."""
        xv = self.video_emb.weight
        if self.content is not None:
            xv = xv + self.content(self.video_x)
        return {"user": self.user_emb.weight, "video": xv}

    def edge_index_dict(self) -> dict[EdgeType, Tensor]:
        """The meta-path graphs as HANConv's ``edge_index_dict``."""
        return {et: getattr(self, f"metapath_{i}") for i, et in enumerate(self.edge_types)}

    def propagate(self) -> tuple[Tensor, Tensor]:
        """Final ``(E_users, E_videos)`` of every node: HAN layers (HAN Eq. 1-9), plus the input if :data:`RESIDUAL`."""
        x = self.inputs()
        h, edges = x, self.edge_index_dict()
        for conv in self.convs:
            h = conv(h, edges)
        if RESIDUAL:
            h = {t: h[t] + x[t] for t in x}
        return h["user"], h["video"]

    @torch.no_grad()
    def semantic_attention(self) -> dict[str, Tensor]:
        """β_Φ (HAN Eq. 8) of the last layer per node type, in the order of its meta-paths in :attr:`edge_types`."""
        h, edges = self.inputs(), self.edge_index_dict()
        attn: dict[str, Tensor] = {}
        for conv in self.convs:
            h, attn = conv(h, edges, return_semantic_attention_weights=True)
        return attn

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """Propagate once over the full meta-path graphs, then pick the batch's rows."""
        eu, ev = self.propagate()
        return eu[users], ev[videos]

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' input id embeddings."""
        yield self.video_emb.weight, 0

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """The batch's id embeddings (as LightGCN/BPR-MF)."""
        yield self.user_emb(users)
        yield self.video_emb(videos)

    @torch.no_grad()
    def all_embeddings(self, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
        """One propagation for everyone."""
        return self.propagate()


def build(ctx: BuildContext) -> HAN:
    """Registry entry (:mod:`hhfan.baselines.registry`): meta-paths from the training-only M-HIG."""
    ds = ctx.dataset
    k = ctx.config.num_neighbors * NEIGHBOR_FACTOR
    metapaths = metapath_graphs(ctx.artifacts.graph, k, ctx.seed)
    content = None
    if ds.modalities:
        content = torch.from_numpy(np.concatenate([standardise(ds.features[m]) for m in ds.modalities], axis=1))
    return HAN(ds.num_users, ds.num_videos, metapaths, content, ctx.config)
