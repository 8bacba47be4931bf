"""Meta-path machinery shared by the meta-path baselines (HERec, SemRec), built from the training M-HIG.

A meta-path is a tuple of node types of :data:`hhfan.graph.mhig.NODE_TYPES`, e.g. ``("user", "video",
"tag", "video", "user")`` (U-V-T-V-U). Every hop reads the typed adjacency of the *training* M-HIG
(:func:`adjacency`), so no validation or test interaction can appear in a path. Letters used in names:
U user, V video, I image, A audio, X text, T tag, G user attribute (HERec's "group").

* :func:`available` keeps the candidate paths whose every relation has at least one edge on this dataset
  (TikTok has no text, user attributes or user tags; ML-1M has no image/audio nodes ...);
* :func:`half_commuting` gives ``P`` with the commuting matrix ``M = P Pᵀ`` of a symmetric path (PathSim);
* :func:`metapath_walks` draws meta-path guided random walks (vectorised over all walks, one numpy step per
  hop) and keeps only the nodes of the start type (HERec's filtering).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from hhfan.graph.mhig import HeteroGraph

MetaPath = tuple[str, ...]

LETTERS: dict[str, str] = {"user": "U", "video": "V", "image": "I", "audio": "A", "text": "X", "tag": "T",
                           "user_attr": "G"}

USER_PATHS: tuple[MetaPath, ...] = (
    ("user", "video", "user"),
    ("user", "video", "tag", "video", "user"),
    ("user", "video", "image", "video", "user"),
    ("user", "video", "audio", "video", "user"),
    ("user", "video", "text", "video", "user"),
    ("user", "tag", "user"),
    ("user", "user_attr", "user"),
)
"""Candidate user meta-paths (symmetric), most informative first."""

VIDEO_PATHS: tuple[MetaPath, ...] = (
    ("video", "user", "video"),
    ("video", "tag", "video"),
    ("video", "image", "video"),
    ("video", "audio", "video"),
    ("video", "text", "video"),
)
"""Candidate video meta-paths (symmetric)."""


def path_name(path: MetaPath) -> str:
    """Short name of a meta-path, e.g. ``"UVTVU"``."""
    return "".join(LETTERS[t] for t in path)


def adjacency(graph: HeteroGraph, a: str, b: str) -> sp.csr_matrix:
    """Binary float32 adjacency ``[count(a), count(b)]`` of the training M-HIG relation between types a and b."""
    e = graph.edges_between(a, b)
    m = sp.csr_matrix((np.ones(e.shape[0], np.float32), (e[:, 0], e[:, 1])), shape=(graph.count(a), graph.count(b)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def available(graph: HeteroGraph, candidates: tuple[MetaPath, ...]) -> list[MetaPath]:
    """The candidate paths whose every hop is a relation with at least one edge in ``graph``."""
    return [p for p in candidates
            if all(adjacency(graph, a, b).nnz > 0 for a, b in pairwise(p))]


def half_commuting(graph: HeteroGraph, path: MetaPath) -> sp.csr_matrix:
    """``P = A_{t0 t1} ... A_{t(h-1) th}`` over the first half of a symmetric path, so that ``M = P Pᵀ``.

    ``M[x, y]`` counts the path instances between x and y (PathSim's commuting matrix).
    """
    if len(path) % 2 == 0 or tuple(reversed(path)) != path:
        raise ValueError(f"{path_name(path)} is not a symmetric meta-path")
    half = len(path) // 2
    p = adjacency(graph, path[0], path[1])
    for a, b in pairwise(path[1 : half + 1]):
        p = (p @ adjacency(graph, a, b)).tocsr()
    return p


def metapath_walks(graph: HeteroGraph, path: MetaPath, walks_per_node: int, walk_length: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Meta-path guided walks, filtered to the start type: int64 ``[W, walk_length]`` type-local ids, -1 padded.

    ``walks_per_node`` walks start at every node of type ``path[0]`` that has a neighbour of type ``path[1]``;
    each step moves to a uniform neighbour of the type the (cyclically repeated) path prescribes, among the
    neighbours from which the path can go on (dead ends pruned beforehand), and the walk records the node
    every time the path returns to its start type, until ``walk_length`` nodes (the start included) are
    recorded. A walk that still gets stuck stops (the rest of its row is -1). All walks advance together:
    one vectorised numpy step per hop.
    """
    if path[0] != path[-1]:
        raise ValueError(f"{path_name(path)} must start and end with the same node type to be repeated")
    hops = [adjacency(graph, a, b) for a, b in pairwise(path)]
    for _ in range(len(hops)):  # drop edges into nodes where the path cannot go on (fixpoint)
        for i in range(len(hops)):
            can_go_on = (np.diff(hops[(i + 1) % len(hops)].indptr) > 0).astype(np.float32)
            hops[i] = (hops[i] @ sp.diags(can_go_on)).tocsr()
            hops[i].eliminate_zeros()
    first = hops[0]
    starts = np.flatnonzero(np.diff(first.indptr) > 0)
    cur = np.repeat(starts, walks_per_node).astype(np.int64)
    out = np.full((cur.shape[0], walk_length), -1, dtype=np.int64)
    out[:, 0] = cur
    for step in range(1, walk_length):
        for adj in hops:
            alive = cur >= 0
            deg = np.zeros_like(cur)
            deg[alive] = adj.indptr[cur[alive] + 1] - adj.indptr[cur[alive]]
            alive &= deg > 0
            nxt = np.full_like(cur, -1)
            pick = adj.indptr[cur[alive]] + rng.integers(0, deg[alive])
            nxt[alive] = adj.indices[pick]
            cur = nxt
        out[:, step] = cur
    return out
