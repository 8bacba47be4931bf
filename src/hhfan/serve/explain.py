"""Why a video is recommended: watched -> tag/attribute -> candidate paths (the paper's case study, HHFAN §IV-G).

For a user and a candidate video, every path ``w - a - c`` of the *training* M-HIG is found where ``w`` is a
video the user watched in training, ``a`` an attribute node (tag, image/audio/text codeword) and ``c`` the
candidate; the strongest paths are returned with their relevance.

Relevance follows the case study, which highlights "the (unnormalized) relevance probability between videos
and tags", here normalised per video (the definition of the case-study module in progress, ``hhfan.explain``,
so the service and the case study give one meaning):

.. math::

    r(v, a) = \\frac{\\exp\\langle E_v, f(a)\\rangle}{\\sum_{a' \\in A(v)} \\exp\\langle E_v, f(a')\\rangle},
    \\qquad \\mathrm{relevance}(w \\to a \\to c) = r(w, a)\\, r(c, a)

with ``E_v`` the video's final embedding (Eq. 6; for a posted video, its inductive embedding), ``f(a)`` the
attribute node's transferred input (Eq. 1, the same space) and ``A(v)`` the video's attribute neighbours of
the types the model embeds (``relevance_kind = "affinity"``). A path is strong when both videos' embeddings
lean on that attribute. Models that embed no attribute node (every baseline) get ``r(v, a) = 1 / |A(v)|``
(``relevance_kind = "uniform"``).

Which attributes a video has: for the run's videos, its attribute neighbours in the M-HIG (built from the
training split only; no validation or test interaction is ever a path). For a posted video,
:class:`AttributeLinker` places it as the graph builder placed the run's videos: its tags by name, and per
modality the ``links_per_video`` nearest codewords of its features standardised with the run's column
statistics.

This module is the service's own path search; it uses the training edges only (posted interactions change a
user's seen-set, not the watched side of a path, which explains the embedding the run computed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hhfan.data.dataset import Dataset
from hhfan.graph.mhig import MODALITY_NODE, NODE_TYPES, GraphConfig, HeteroGraph
from hhfan.graph.quantize import nearest_codewords
from hhfan.model.base import Recommender
from hhfan.model.hhfan import HHFAN

VIDEO_ATTRIBUTE_TYPES: tuple[str, ...] = ("image", "audio", "text", "tag")
"""Attribute node types a video links to in the M-HIG (user attributes link users only)."""

CACHE_ROWS = 200_000
"""Videos whose ``r(v, ·)`` :class:`PathExplainer` keeps (then it starts over)."""


@dataclass(frozen=True)
class ExplainedPath:
    """One path ``watched - attribute - candidate`` and its relevance.

    Attributes:
        watched: catalogue row of the watched video.
        attribute: global node id of the attribute node.
        relevance: ``watched_weight * candidate_weight`` (module docstring).
        watched_weight: ``r(watched, attribute)``.
        candidate_weight: ``r(candidate, attribute)``.
    """

    watched: int
    attribute: int
    relevance: float
    watched_weight: float
    candidate_weight: float


class AttributeLinker:
    """Attribute nodes of a new video: its tags by name, its codewords by nearest-centroid (module docstring).

    Args:
        dataset: the run's dataset (column statistics of every modality, the tag names).
        graph: the run's M-HIG.
        config: the run's graph config (``links_per_video``).
    """

    def __init__(self, dataset: Dataset, graph: HeteroGraph, config: GraphConfig) -> None:
        self.graph = graph
        self.links = config.links_per_video
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for m in dataset.modalities:
            x = np.asarray(dataset.features[m], dtype=np.float32)
            std = x.std(axis=0)
            self.stats[m] = (x.mean(axis=0), np.where(std > 0, std, 1.0).astype(np.float32))
        names = graph.node_names.get("tag", np.empty(0, dtype=object))
        self.tag_of = {} if graph.tag_tree_derived and not dataset.num_tags else {
            str(n): i for i, n in enumerate(names.tolist()) if not str(n).startswith("derived:")}

    def known_tag(self, tag: str) -> bool:
        """Whether ``tag`` names a tag node of the run's graph."""
        return tag in self.tag_of

    def link(self, features: Mapping[str, np.ndarray], tags: Sequence[str]) -> np.ndarray:
        """Global ids (int64, sorted, unique) of the attribute nodes a video with these features and tags links to."""
        g = self.graph
        out: list[int] = [g.offset("tag") + self.tag_of[t] for t in tags if t in self.tag_of]
        for m, x in features.items():
            node = MODALITY_NODE.get(m)
            if node is None or m not in self.stats or node not in g.node_features or not g.count(node):
                continue
            mean, std = self.stats[m]
            z = ((np.asarray(x, dtype=np.float32).reshape(1, -1) - mean) / std).astype(np.float32)
            near = nearest_codewords(z, g.node_features[node], self.links)[0]
            out.extend(int(g.offset(node) + j) for j in near.tolist())
        return np.unique(np.asarray(out, dtype=np.int64))


def run_video_attributes(graph: HeteroGraph, video: int) -> np.ndarray:
    """Global ids of the attribute nodes (:data:`VIDEO_ATTRIBUTE_TYPES`) run video ``video`` links to."""
    node = graph.offset("video") + video
    nbrs = graph.indices[graph.indptr[node] : graph.indptr[node + 1]].astype(np.int64)
    codes = [NODE_TYPES.index(t) for t in VIDEO_ATTRIBUTE_TYPES]
    return nbrs[np.isin(graph.node_type[nbrs], codes)]


class PathExplainer:
    """Finds and scores the paths of one answer (module docstring).

    Args:
        graph: the run's M-HIG (node types and names).
        model: the run's model; an :class:`~hhfan.model.hhfan.HHFAN` gives attribute affinities.
    """

    def __init__(self, graph: HeteroGraph, model: Recommender) -> None:
        self.graph = graph
        types = [t for t in VIDEO_ATTRIBUTE_TYPES if graph.count(t)]
        self.hhfan = isinstance(model, HHFAN)
        if isinstance(model, HHFAN):
            types = [t for t in types if t in model.transform]
        self.usable_type = np.isin(np.arange(len(NODE_TYPES)), [NODE_TYPES.index(t) for t in types])
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.lo = min((graph.offset(t) for t in VIDEO_ATTRIBUTE_TYPES), default=0)
        hi = max((graph.offset(t) + graph.count(t) for t in VIDEO_ATTRIBUTE_TYPES), default=0)
        self.attr_emb: np.ndarray | None = None
        if isinstance(model, HHFAN):
            table = np.zeros((max(hi - self.lo, 0), model.config.dim), np.float32)
            with torch.no_grad():
                for t in types:
                    ids = torch.arange(graph.count(t), device=model.device)
                    rows = slice(graph.offset(t) - self.lo, graph.offset(t) - self.lo + graph.count(t))
                    table[rows] = model.transform[t](ids).float().cpu().numpy()  # Eq. (1)
            self.attr_emb = table

    @property
    def relevance_kind(self) -> str:
        """``affinity`` (HHFAN: softmax of ``<E_v, f(a)>`` over the video's attributes) or ``uniform``."""
        return "affinity" if self.attr_emb is not None else "uniform"

    def name(self, node: int) -> tuple[str, str]:
        """``(type, readable name)`` of global node ``node`` (a tag's name, ``visual#12`` for a codeword)."""
        t = NODE_TYPES[int(self.graph.node_type[node])]
        names = self.graph.node_names.get(t)
        local = node - self.graph.offset(t)
        return t, str(names[local]) if names is not None and local < len(names) else f"{t}#{local}"

    def usable(self, attrs: np.ndarray) -> np.ndarray:
        """The attribute ids of ``attrs`` that paths may go through (types the model embeds)."""
        return attrs[self.usable_type[self.graph.node_type[attrs]]] if attrs.size else attrs

    def weights(self, attrs: np.ndarray, embedding: Tensor) -> np.ndarray:
        """``r(v, a)`` for a video's usable attributes ``attrs`` and its embedding ``E_v`` (module docstring)."""
        if attrs.size == 0:
            return np.empty(0, np.float64)
        if self.attr_emb is None:
            return np.full(attrs.shape[0], 1.0 / attrs.shape[0])
        logits = self.attr_emb[attrs - self.lo].astype(np.float64) @ embedding.numpy().astype(np.float64)
        w = np.exp(logits - logits.max())
        return np.asarray(w / w.sum())

    def video_weights(self, row: int, attrs: Callable[[int], np.ndarray],
                      embedding: Callable[[int], Tensor]) -> tuple[np.ndarray, np.ndarray]:
        """``(usable attribute ids, r(row, ·))`` of catalogue row ``row``, cached (a row's embedding never changes)."""
        hit = self._cache.get(row)
        if hit is None:
            a = self.usable(attrs(row))
            hit = (a, self.weights(a, embedding(row)))
            if len(self._cache) >= CACHE_ROWS:
                self._cache.clear()
            self._cache[row] = hit
        return hit

    def watched_index(self, watched: Sequence[int], attrs: Callable[[int], np.ndarray],
                      embedding: Callable[[int], Tensor]) -> dict[int, list[tuple[int, float]]]:
        """``attribute id -> [(watched row, r(watched, attribute))]`` over a user's watched videos."""
        by_attr: dict[int, list[tuple[int, float]]] = {}
        for w in watched:
            ids, weights = self.video_weights(w, attrs, embedding)
            for a, r in zip(ids.tolist(), weights.tolist(), strict=True):
                by_attr.setdefault(a, []).append((w, r))
        return by_attr

    def paths(self, by_attr: dict[int, list[tuple[int, float]]], candidate: int, attrs: Callable[[int], np.ndarray],
              embedding: Callable[[int], Tensor], top: int = 3) -> tuple[list[ExplainedPath], int]:
        """The ``top`` strongest paths from the watched videos of ``by_attr`` (:meth:`watched_index`) to
        ``candidate``, strongest first (ties: watched row, then attribute id), and how many there are in all."""
        ids, weights = self.video_weights(candidate, attrs, embedding)
        found: list[ExplainedPath] = []
        for a, r_c in zip(ids.tolist(), weights.tolist(), strict=True):
            for w, r_w in by_attr.get(a, ()):
                found.append(ExplainedPath(w, a, r_w * r_c, r_w, r_c))
        found.sort(key=lambda p: (-p.relevance, p.watched, p.attribute))
        return found[: max(top, 0)], len(found)
