"""Attaching a new video to a built M-HIG and running RWSS from it (DESIGN §8, HHFAN §III-C/§III-D).

A new upload has content (one feature vector per modality), maybe tags, and no interaction. It joins the
M-HIG exactly as the graph builder (:func:`hhfan.graph.mhig.build_graph`) joins a video of the dataset:

* **codeword links** — per modality, the ``graph.links_per_video`` nearest centroids of the modality's
  codebook (:func:`hhfan.graph.quantize.nearest_codewords`) after the standardisation the builder applied,
  i.e. with the *dataset's* column mean and standard deviation (:class:`Attacher` keeps them);
* **tag links** — its tags, by name, among the dataset's tags; a dataset without tags has a tag tree derived
  from the features, and the new video gets the derived leaf a dataset video with its features gets
  (:meth:`hhfan.graph.quantize.DerivedTagTree.assign`).

RWSS from the new node (:func:`sample_attached`) is an exact equivalent, for the new starts only, of the
compiled sampler (:func:`hhfan.graph.sampler.sample_neighbors`) on the graph augmented by that one node:
the same walk rules, restart coins, per-type quotas and top-k selection, and the same per-start RNG stream.
The augmented graph is never built: the walk runs on the base CSR and treats the new node as present.
Where the new node sits is given by a *key* node id:

* ``key = offset("video") + num_videos`` (what :mod:`hhfan.inductive` uses): the node is appended as the
  next video, so the augmented graph is the base graph with the new node inserted at that id and every
  later id (the attribute nodes) shifted by one. In the neighbour list of a linked attribute node the new
  node then sits after every user and video and before every attribute node, which is where the walk
  inserts it; the walk's RNG stream is the sampler's stream of start id ``key``. Type-local ids of the
  collected nodes do not change under the shift, so the returned tables index the base graph's nodes.
* ``key = v`` for a video ``v`` whose edges were all removed (an isolated node): the augmented graph is then
  the base graph with ``v``'s edges put back, and the walk is the sampler's walk from ``v`` (tested).

Each new video is attached *alone*: it never sees the other new videos of the same call, so its table
does not depend on how videos are batched, and two uploads with the same content and tags get the same
table (the video id plays no part).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from hhfan.data.dataset import Dataset
from hhfan.graph.mhig import MODALITY_NODE, NODE_TYPES, GraphConfig, HeteroGraph, fit_derived_tags
from hhfan.graph.quantize import DerivedTagTree, nearest_codewords
from hhfan.graph.sampler import (
    SamplerConfig,
    _Graph,
    _kernel_scalars,
    _mix64,
    _select_top_k,
    component_type_presence,
    compute_quotas,
    validate_graph,
)

__all__ = ["AttachedTables", "Attacher", "sample_attached"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW32 = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class _Standardiser:
    """Column statistics of :func:`hhfan.graph.quantize.standardise` over the dataset's videos."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> _Standardiser:
        x = np.asarray(x, dtype=np.float32)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0).astype(np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float32) - self.mean) / self.std).astype(np.float32)


class Attacher:
    """What the graph builder knew about the dataset, kept to attach new videos to its M-HIG.

    Built once per (dataset, graph): the dataset's per-modality standardisation, the codebooks (the graph's
    codeword-node features), the tag vocabulary or the derived tag tree, and the graph's connected
    components (for the sampler's per-type quotas).

    Args:
        ds: the dataset the graph was built from.
        graph: its M-HIG (built from the training interactions).
        config: the graph settings the M-HIG was built with (``links_per_video``, derived-tag settings).
    """

    def __init__(self, ds: Dataset, graph: HeteroGraph, config: GraphConfig) -> None:
        if graph.count("video") != ds.num_videos:
            raise ValueError(f"the graph has {graph.count('video')} videos but the dataset {ds.num_videos}")
        self.graph, self.config = graph, config
        self.modalities = ds.modalities
        self.dims = {m: int(ds.features[m].shape[1]) for m in self.modalities}
        self.scalers = {m: _Standardiser.fit(ds.features[m]) for m in self.modalities}
        self.codebooks = {m: graph.node_features[MODALITY_NODE[m]] for m in self.modalities
                          if graph.count(MODALITY_NODE[m])}
        self.tag_index = {str(n): i for i, n in enumerate(ds.tag_names.tolist())}
        self.derived: DerivedTagTree | None = fit_derived_tags(ds, config) if graph.count("tag") else None
        self._g = validate_graph(graph.indptr, graph.indices, graph.node_type, graph.type_offsets, NODE_TYPES)
        self._labels, self._comp_counts = component_type_presence(self._g)

    @property
    def append_key(self) -> int:
        """The key of a node appended as the next video (see the module docstring)."""
        return self.graph.offset("video") + self.graph.count("video")

    def check_video(self, features: dict[str, np.ndarray], tags: Sequence[str], name: str = "video") -> None:
        """Raise ValueError naming what is wrong with one new video's features or tags."""
        missing = [m for m in self.modalities if m not in features]
        extra = [m for m in features if m not in self.modalities]
        if missing or extra:
            raise ValueError(f"{name}: features must give exactly the dataset's modalities {list(self.modalities)}"
                             + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else ""))
        for m in self.modalities:
            x = np.asarray(features[m])
            if x.shape != (self.dims[m],):
                raise ValueError(f"{name}: features[{m!r}] must have shape ({self.dims[m]},), got {x.shape}")
            if x.dtype.kind not in "fiu" or not np.isfinite(x.astype(np.float64)).all():
                raise ValueError(f"{name}: features[{m!r}] must be finite numbers")
        unknown = [t for t in tags if t not in self.tag_index]
        if unknown:
            known = "this dataset has no tags" if not self.tag_index else f"{len(self.tag_index)} known tags"
            raise ValueError(f"{name}: unknown tag name(s) {unknown} ({known})")

    def standardised(self, features: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Per modality, the new videos' features ``[n, d_m]`` standardised as the graph builder did."""
        return {m: self.scalers[m].apply(np.stack([np.asarray(f[m], np.float32) for f in features]))
                for m in self.modalities}

    def links(self, features: Sequence[dict[str, np.ndarray]], tags: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Global ids (sorted, int64) of the nodes each new video links to: codewords and tags."""
        n = len(features)
        if len(tags) != n:
            raise ValueError("features and tags must describe the same videos")
        if n == 0:
            return []
        std = self.standardised(features)
        parts: list[list[np.ndarray]] = [[] for _ in range(n)]
        for m, cents in self.codebooks.items():
            near = nearest_codewords(std[m], cents, self.config.links_per_video)
            off = self.graph.offset(MODALITY_NODE[m])
            for i in range(n):
                parts[i].append(near[i].astype(np.int64) + off)
        tag_off = self.graph.offset("tag")
        if self.derived is not None:
            x = np.concatenate([std[m] for m in self.modalities], axis=1)
            leaf = self.derived.assign(x)
            for i in range(n):
                parts[i].append(np.array([tag_off + int(leaf[i])], np.int64))
        else:
            for i in range(n):
                parts[i].append(np.array([tag_off + self.tag_index[t] for t in tags[i]], np.int64))
        return [np.unique(np.concatenate(p)) if p else np.empty(0, np.int64) for p in parts]

    def sample(self, links: Sequence[np.ndarray], config: SamplerConfig, key: int | None = None) -> AttachedTables:
        """RWSS from each new node (:func:`sample_attached`), keyed by :attr:`append_key` unless ``key`` is given."""
        return _sample(self._g, self._labels, self._comp_counts, links, config,
                       self.append_key if key is None else key)


@dataclass(frozen=True, eq=False)
class AttachedTables:
    """RWSS neighbour rows of new nodes: ``ids[type]`` int32 ``[n, k_t]`` type-local ids (0 where invalid),
    ``mask[type]`` bool, as :class:`hhfan.graph.sampler.NeighborTables`; ``steps`` walk steps in all."""

    ids: dict[str, np.ndarray]
    mask: dict[str, np.ndarray]
    steps: int


@njit(cache=True)
def _walk_attached(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray, links: np.ndarray, key: int,
                   left: np.ndarray, restart_thr: np.uint64, coin_at_start: bool, max_depth: int, max_steps: int,
                   seed: np.uint64, collected: np.ndarray) -> tuple[int, int]:
    """:func:`hhfan.graph.sampler._walk_one` from a node that is not in the CSR (``-1`` here): its neighbours
    are ``links`` (sorted), and in the list of each linked node it sits before the first neighbour ``>= key``."""
    need = left.sum()
    if need == 0 or links.shape[0] == 0:
        return 0, 0
    state = _mix64(_mix64(seed) ^ np.uint64(key))
    cur, depth, steps, n = -1, 0, 0, 0
    while need > 0 and steps < max_steps:
        steps += 1
        pos = -1
        if cur < 0:
            deg = links.shape[0]
        else:
            lo, hi = indptr[cur], indptr[cur + 1]
            deg = hi - lo
            li = np.searchsorted(links, cur)
            if li < links.shape[0] and links[li] == cur:
                pos = int(np.searchsorted(indices[lo:hi], key))  # neighbours with a smaller id come first
                deg += 1
        if depth >= max_depth or deg == 0:
            cur, depth = -1, 0
            continue
        state += _GOLDEN
        z = _mix64(state)
        if (depth > 0 or coin_at_start) and (z & _LOW32) < restart_thr:
            cur, depth = -1, 0
            continue
        j = np.int64(((z >> np.uint64(32)) * np.uint64(deg)) >> np.uint64(32))
        if cur < 0:
            nxt = int(links[j])
        elif pos < 0 or j < pos:
            nxt = int(indices[indptr[cur] + j])
        elif j == pos:
            nxt = -1  # back to the new node: the start, never collected
        else:
            nxt = int(indices[indptr[cur] + j - 1])
        cur, depth = nxt, depth + 1
        if nxt >= 0:
            t = node_type[nxt]
            if left[t] > 0:
                left[t] -= 1
                need -= 1
                collected[n] = nxt
                n += 1
    return n, steps


@njit(parallel=True, cache=True)
def _attached_kernel(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray, type_offsets: np.ndarray,
                     link_ptr: np.ndarray, link_ids: np.ndarray, key: int, quotas: np.ndarray, k: np.ndarray,
                     k_off: np.ndarray, restart_thr: np.uint64, coin_at_start: bool, max_depth: int, max_steps: int,
                     seed: np.uint64, out_ids: np.ndarray, out_steps: np.ndarray) -> None:
    for i in prange(link_ptr.shape[0] - 1):
        left = quotas[i].copy()
        collected = np.empty(left.sum(), np.int64)
        n, steps = _walk_attached(indptr, indices, node_type, link_ids[link_ptr[i]:link_ptr[i + 1]], key, left,
                                  restart_thr, coin_at_start, max_depth, max_steps, seed, collected)
        out_steps[i] = steps
        _select_top_k(collected[:n], node_type, type_offsets, k, k_off, out_ids[i])


def _sample(g: _Graph, labels: np.ndarray, comp_counts: np.ndarray, links: Sequence[np.ndarray],
            config: SamplerConfig, key: int) -> AttachedTables:
    n_nodes = g.node_type.shape[0]
    if not 0 <= key <= n_nodes:
        raise ValueError(f"key must be a node id in [0, {n_nodes}], got {key}")
    for lk in links:
        if lk.ndim != 1 or (lk.size and (lk.min() < 0 or lk.max() >= n_nodes or np.any(np.diff(lk) <= 0))):
            raise ValueError("links must be sorted, distinct global node ids of the base graph")
    k = config.k_for(g.type_names)
    k_off = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    sizes = np.diff(g.type_offsets)
    sizes[g.type_names.index("video")] += 1  # the augmented graph has one more video
    base = compute_quotas(k, sizes, config.num_collect)
    quotas = np.zeros((len(links), len(g.type_names)), np.int64)
    for i, lk in enumerate(links):
        if lk.size:  # the new node's component: the union of its links' components (the node itself excluded)
            present = comp_counts[np.unique(labels[lk])].sum(axis=0)
            quotas[i] = np.where(present > 0, base, 0)
    link_ptr = np.concatenate([[0], np.cumsum([lk.shape[0] for lk in links])]).astype(np.int64)
    link_ids = np.concatenate([*links, np.empty(0, np.int64)]).astype(np.int64)
    thr, coin_at_start, max_depth, max_steps, seed = _kernel_scalars(config)
    out = np.empty((len(links), int(k_off[-1])), np.int32)
    steps = np.zeros(len(links), np.int64)
    prev_threads = numba.get_num_threads()
    try:
        if config.num_threads:
            numba.set_num_threads(config.num_threads)
        _attached_kernel(g.indptr, g.indices, g.node_type, g.type_offsets, link_ptr, link_ids, int(key), quotas, k,
                         k_off, thr, coin_at_start, max_depth, max_steps, seed, out, steps)
    finally:
        numba.set_num_threads(prev_threads)
    ids, mask = {}, {}
    for t, name in enumerate(g.type_names):
        if k[t] > 0:
            block = out[:, k_off[t]:k_off[t + 1]]
            mask[name] = block >= 0
            ids[name] = np.where(mask[name], block, 0).astype(np.int32)
    return AttachedTables(ids, mask, int(steps.sum()))


def sample_attached(graph: HeteroGraph, links: Sequence[np.ndarray], config: SamplerConfig,
                    key: int | None = None) -> AttachedTables:
    """RWSS (HHFAN §III-D) from new nodes attached to ``graph`` through ``links`` (see the module docstring).

    Args:
        graph: the base M-HIG.
        links: per new node, the sorted global ids of the base nodes it links to.
        config: the run's sampler settings (quotas, depth, restart, seed).
        key: where the new node sits; default: appended as the next video (``offset("video") + num_videos``).

    Returns:
        The neighbour rows the compiled sampler would give each new node on the graph augmented by it alone.
    """
    g = validate_graph(graph.indptr, graph.indices, graph.node_type, graph.type_offsets, NODE_TYPES)
    labels, comp_counts = component_type_presence(g)
    return _sample(g, labels, comp_counts, links, config,
                   graph.offset("video") + graph.count("video") if key is None else key)
