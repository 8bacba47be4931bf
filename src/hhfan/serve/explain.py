"""Why a video is recommended, per answer: watched -> tag/attribute -> candidate paths (HHFAN §IV-G).

The definitions are the case study's (:mod:`hhfan.explain`, ``hhfan experiment case-study``), so the service
and the case study give one meaning: for a user and a candidate ``c``, every path ``w -> a -> c`` of the
*training* M-HIG where ``w`` is a video the user watched in training and ``a`` an attribute node (tag,
image/audio/text codeword) of a type the model embeds (:func:`hhfan.explain.attribute_types`), with

.. math::

    r(v, a) = \\frac{\\exp\\langle E_v, f(a)\\rangle}{\\sum_{a' \\in A(v)} \\exp\\langle E_v, f(a')\\rangle},
    \\qquad \\mathrm{relevance}(w \\to a \\to c) = r(w, a)\\, r(c, a)

for HHFAN (``relevance_kind = "affinity"``: ``E_v`` the video's final embedding, Eq. 6, ``f(a)`` the
attribute's transferred input, Eq. 1) and ``r(v, a) = 1 / |A(v)|`` for models that embed no attribute node
(``"uniform"``); :data:`hhfan.explain.RELEVANCE` states both. Paths are ranked by relevance (ties: watched
video, attribute type, attribute), and each carries ``walk_probability = 1/deg(w) · 1/deg(a)``.

Why the service does not call :func:`hhfan.explain.explain` itself: that function embeds the whole catalogue
on every call and ranks the run's videos only, while an answer here must take a few milliseconds, rank the
service's catalogue (posted videos included) and exclude the service's seen-set. So this module finds the
same paths from the embeddings the service already holds, caching ``r(v, ·)`` per video (a video's
embedding never changes while the service runs); ``tests/serve`` checks that both give the same paths.

Which attributes a video has: for the run's videos, its attribute neighbours in the M-HIG (built from the
training split only; no validation or test interaction is ever a path). For a posted video, the links
:class:`hhfan.graph.attach.Attacher` gives it, the ones :mod:`hhfan.inductive` embedded it with: its tags by
name (or the derived leaf of its features), and per modality the ``links_per_video`` nearest codewords of its
features standardised with the dataset's column statistics. Posted interactions change a user's seen-set,
not the watched side of a path (which explains the embedding the run computed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hhfan.explain import VIDEO_ATTRIBUTE_TYPES, attribute_types
from hhfan.graph.mhig import NODE_TYPES, HeteroGraph
from hhfan.model.hhfan import HHFAN
from hhfan.runner import Run

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
        walk_probability: ``1/deg(watched) * 1/deg(attribute)`` in the training M-HIG.
    """

    watched: int
    attribute: int
    relevance: float
    watched_weight: float
    candidate_weight: float
    walk_probability: float


def run_video_attributes(graph: HeteroGraph, video: int) -> np.ndarray:
    """Global ids of the attribute nodes (:data:`hhfan.explain.VIDEO_ATTRIBUTE_TYPES`) run video ``video`` links to."""
    node = graph.offset("video") + video
    nbrs = graph.indices[graph.indptr[node] : graph.indptr[node + 1]].astype(np.int64)
    codes = [NODE_TYPES.index(t) for t in VIDEO_ATTRIBUTE_TYPES]
    return nbrs[np.isin(graph.node_type[nbrs], codes)]


class PathExplainer:
    """Finds and scores the paths of one answer (module docstring).

    Args:
        run: the served run (its M-HIG, and its model: an :class:`~hhfan.model.hhfan.HHFAN` gives affinities).
    """

    def __init__(self, run: Run) -> None:
        graph, model = run.artifacts.graph, run.model
        self.graph = graph
        types = attribute_types(run)
        self.usable_type = np.isin(np.arange(len(NODE_TYPES)), [NODE_TYPES.index(t) for t in types])
        self.degree = np.diff(graph.indptr)
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
        e = embedding.numpy()[: self.attr_emb.shape[1]]  # E_v without a video_bias column
        logits = self.attr_emb[attrs - self.lo].astype(np.float64) @ e.astype(np.float64)
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

    def watched_index(self, watched: list[int], attrs: Callable[[int], np.ndarray],
                      embedding: Callable[[int], Tensor]) -> dict[int, list[tuple[int, float]]]:
        """``attribute id -> [(watched row, r(watched, attribute))]`` over a user's watched run videos."""
        by_attr: dict[int, list[tuple[int, float]]] = {}
        for w in watched:
            ids, weights = self.video_weights(w, attrs, embedding)
            for a, r in zip(ids.tolist(), weights.tolist(), strict=True):
                by_attr.setdefault(a, []).append((w, r))
        return by_attr

    def paths(self, by_attr: dict[int, list[tuple[int, float]]], candidate: int, attrs: Callable[[int], np.ndarray],
              embedding: Callable[[int], Tensor], top: int = 3) -> tuple[list[ExplainedPath], int]:
        """The ``top`` strongest paths from the watched videos of ``by_attr`` (:meth:`watched_index`) to
        ``candidate`` (module docstring's order), and how many there are in all."""
        ids, weights = self.video_weights(candidate, attrs, embedding)
        v0 = self.graph.offset("video")
        found: list[tuple[tuple[float, int, str, int], ExplainedPath]] = []
        for a, r_c in zip(ids.tolist(), weights.tolist(), strict=True):
            kind, local = self.type_of(a)
            for w, r_w in by_attr.get(a, ()):
                walk = 1.0 / float(self.degree[v0 + w]) / float(self.degree[a])
                found.append(((-r_w * r_c, w, kind, local), ExplainedPath(w, a, r_w * r_c, r_w, r_c, walk)))
        found.sort(key=lambda x: x[0])
        return [p for _, p in found[: max(top, 0)]], len(found)

    def type_of(self, node: int) -> tuple[str, int]:
        """``(type name, type-local id)`` of global node ``node``."""
        t = NODE_TYPES[int(self.graph.node_type[node])]
        return t, node - self.graph.offset(t)
