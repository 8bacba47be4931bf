"""Export an M-HIG to PyTorch Geometric's ``HeteroData``, for users who bring their own PyG models.

No model of this package needs it (they read the CSR adjacency and RWSS tables directly, which is faster on CPU);
it is the documented bridge to the PyG ecosystem, tested against the graph edge for edge.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from hhfan.graph.mhig import NODE_TYPES, RELATIONS, HeteroGraph


def to_hetero_data(graph: HeteroGraph, video_features: np.ndarray | None = None) -> HeteroData:
    """Build a ``HeteroData`` with one node store per non-empty type and both directions of every relation.

    Args:
        graph: the M-HIG.
        video_features: optional float ``[num_videos, d]`` matrix (e.g. the concatenated modalities)
            stored as ``data["video"].x``; attribute nodes with features (codewords, derived tags)
            get theirs from ``graph.node_features``.

    Edge types are ``(a, relation, b)`` and ``(b, "rev_" + relation, a)``; tag-tree edges are
    ``("tag", "tag_tag", "tag")`` stored parent -> child and ``("tag", "rev_tag_tag", "tag")``.
    """
    data = HeteroData()
    for t in NODE_TYPES:
        n = graph.count(t)
        if n == 0:
            continue
        data[t].num_nodes = n
        if t in graph.node_features:
            data[t].x = torch.from_numpy(np.ascontiguousarray(graph.node_features[t]))
    if video_features is not None:
        if video_features.shape[0] != graph.count("video"):
            raise ValueError(f"video_features has {video_features.shape[0]} rows, graph has "
                             f"{graph.count('video')} videos")
        data["video"].x = torch.from_numpy(np.ascontiguousarray(video_features, dtype=np.float32))
    for (a, b), rel in RELATIONS.items():
        if graph.count(a) == 0 or graph.count(b) == 0:
            continue
        pairs = graph.tag_tree if a == b == "tag" else graph.edges_between(a, b)
        if pairs.shape[0] == 0:
            continue
        ei = torch.from_numpy(pairs.T.astype(np.int64).copy())
        data[a, rel, b].edge_index = ei
        data[b, f"rev_{rel}", a].edge_index = ei.flip(0)
    return data
