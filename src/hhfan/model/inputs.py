"""What a model is built from: node counts, node features and RWSS neighbour tables, as tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hhfan.data.dataset import Dataset
from hhfan.graph.artifacts import GraphArtifacts
from hhfan.graph.mhig import NODE_TYPES
from hhfan.graph.quantize import standardise


def video_content(ds: Dataset) -> np.ndarray | None:
    """Standardised concatenation of the video's modality features, float32 ``[num_videos, F]`` (None if none)."""
    if not ds.modalities:
        return None
    return np.concatenate([standardise(ds.features[m]) for m in ds.modalities], axis=1).astype(np.float32)


@dataclass(frozen=True)
class ModelInputs:
    """Typed hand-over from the graph stage to the model stage.

    Attributes:
        counts: nodes per type (every name of :data:`NODE_TYPES`, 0 when absent).
        node_features: type -> float32 ``[count, f]`` features of attribute nodes that have them.
        video_content: float32 ``[num_videos, F]`` standardised concatenation of the video's modality
            features, or None when the dataset has none.
        neighbor_ids: type -> int64 ``[num_users + num_videos, k_t]`` type-local neighbour ids;
            rows are users ``0..U-1`` then videos.
        neighbor_mask: type -> bool, True where the slot holds a sampled neighbour.
        user_pretrained / video_pretrained: optional float32 ``[count, p]`` pre-trained x_v of users and
            videos (the paper: x_v "can be pre-trained"), e.g. another model's embeddings on the same split.
        interactions: int64 ``[2, m]`` (user, video) type-local pairs of the M-HIG's user-video edges, i.e.
            the *training* interactions (for ``HHFANConfig.propagation``); None when not collected.
    """

    counts: dict[str, int]
    node_features: dict[str, Tensor]
    video_content: Tensor | None
    neighbor_ids: dict[str, Tensor]
    neighbor_mask: dict[str, Tensor]
    user_pretrained: Tensor | None = None
    video_pretrained: Tensor | None = None
    interactions: Tensor | None = None

    @classmethod
    def from_artifacts(cls, art: GraphArtifacts, ds: Dataset) -> ModelInputs:
        """Collect the tensors of ``art`` (built from ``ds``; checked by fingerprint)."""
        art.check(ds)
        g, nb = art.graph, art.neighbors
        expected = np.arange(g.offset("video") + g.count("video"))
        if not np.array_equal(nb.starts, expected):
            raise ValueError("neighbour tables must cover every user then every video, in order")
        feats = video_content(ds)
        content = None if feats is None else torch.from_numpy(feats)
        return cls(
            counts={t: g.count(t) for t in NODE_TYPES},
            node_features={t: torch.from_numpy(np.asarray(f, np.float32)) for t, f in g.node_features.items()},
            video_content=content,
            neighbor_ids={t: torch.from_numpy(a.astype(np.int64)) for t, a in nb.ids.items()},
            neighbor_mask={t: torch.from_numpy(m) for t, m in nb.mask.items()},
            interactions=torch.from_numpy(g.edges_between("user", "video").T.astype(np.int64).copy()),
        )


@dataclass(frozen=True)
class NewVideoInputs:
    """What a model may embed a video outside its dataset from (:meth:`Recommender.embed_new_videos`).

    Built by :mod:`hhfan.inductive` for ``n`` new videos attached to the run's M-HIG (:mod:`hhfan.graph.attach`).

    Attributes:
        count: ``n``, the number of new videos.
        content: float32 ``[n, F]`` the videos' modality features standardised with the *dataset's* statistics and
            concatenated, exactly as :func:`video_content` does for the dataset's videos; None without modalities.
        links: attribute type (``image``, ``audio``, ``text``, ``tag``) -> per video, int64 type-local ids of the
            nodes it links to (its nearest codewords, its tags).
        neighbor_ids: type -> int64 ``[n, k_t]`` RWSS neighbours sampled from each new node (type-local ids).
        neighbor_mask: type -> bool ``[n, k_t]``, True where the slot holds a sampled neighbour.
    """

    count: int
    content: Tensor | None
    links: dict[str, list[Tensor]]
    neighbor_ids: dict[str, Tensor]
    neighbor_mask: dict[str, Tensor]
