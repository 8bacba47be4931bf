"""RWSS: random walk with restart + stratified sampling (HHFAN §III-D).

From every start node a random walk with restart collects ``num_collect`` nodes under per-type
quotas; the collected nodes are grouped by type and the ``k_t`` most frequently visited nodes of
each type are kept.  The walk is a numba kernel parallel over start nodes; every start owns a
counter-based splitmix64 stream seeded from ``(seed, start global id)``, so the tables are
bit-identical for a seed whatever the thread count, chunk size or start order.

What the walk is (HHFAN §III-D, step 1): "Starting a fixed-length random walk from node v ... The
walk iteratively travels to the neighbors of current node or returns to the starting node with a
probability p.  The random walker runs until it successfully collects a fixed number of nodes."
The walk is therefore a sequence of *segments*, each a walk from the start of at most
``max_depth`` moves (the fixed length, the paper's "depth of sampling" of §IV-F, 2 to 14, 6
chosen).  The sentence does not say whether p applies per move or per fixed-length walk; the two
readings are :attr:`SamplerConfig.restart_scope`:

* ``"segment"`` (default) — p is the probability that a segment returns to the start before its
  ``max_depth``-th move; the other ``1 - p`` of the segments run the full fixed length.  The return
  is spread evenly over the moves: after each of moves 1 .. ``max_depth - 1`` the walk returns with
  probability ``q = 1 - (1 - p) ** (1 / (max_depth - 1))`` (:func:`move_restart_prob`), so a
  segment's length is a truncated geometric on ``1 .. max_depth`` with ``P(length = max_depth) = 1 - p``
  whatever the depth.  Chosen because it honours both halves of the sentence: the walk has a fixed
  length, and it returns early with probability p.  Depth then governs how far a neighbourhood
  reaches: at p = 0.5, half of all segments reach depth ``max_depth``; ``p = 0`` gives pure
  fixed-length segments.
* ``"step"`` — p per move, as in HetGNN's random walk with restart (whose description §III-D
  repeats), capped at ``max_depth`` moves; the sampler's behaviour before this option existed
  (bit-identical tables).  A segment reaches depth d with probability ``(1 - p) ** d``: at p = 0.5
  only 1/64 of the segments reach depth 6 and half of all moves are at depth 1, so ``max_depth``
  barely matters there.

Conventions (shared with the plain-Python oracle ``tests/graph/reference_walker.py``):

* a *step* is one iteration of the walk loop: either a restart (jump back to the start, depth 0)
  or a move along an edge.  The loop stops when every quota is full or after
  ``num_collect * max_steps_factor`` steps;
* a restart happens when the depth equals ``max_depth``, when the current node has degree 0, or on
  the restart coin: with probability :func:`move_restart_prob` at depths 1 .. ``max_depth - 1``
  (``"segment"``) or with probability ``restart_prob`` at every depth ``< max_depth`` (``"step"``);
  otherwise the walk moves to a uniform random neighbour;
* a moved-to node is collected iff it is not the start and its type's quota is not yet full.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["RESTART_SCOPES", "NeighborTables", "SamplerConfig", "default_k_per_type", "move_restart_prob",
           "sample_neighbors", "trace_walk"]

RESTART_SCOPES: tuple[str, ...] = ("segment", "step")
"""Accepted values of :attr:`SamplerConfig.restart_scope` (see the module docstring)."""

_FORMAT_VERSION = 2  # 2: the config records restart_scope; version-1 files were all "step"
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)


def default_k_per_type() -> dict[str, int]:
    """Default neighbours kept per node type (HHFAN §III-D: more users/videos than attributes)."""
    return {"user": 10, "video": 10, "image": 3, "audio": 3, "text": 3, "tag": 3, "user_attr": 3}


@dataclass(frozen=True)
class SamplerConfig:
    """Parameters of the RWSS sampler (HHFAN §III-D).

    The walk is a sequence of segments from the start, each at most ``max_depth`` moves long (the
    paper's "fixed-length random walk"); see the module docstring for the two readings of p.

    Attributes:
        restart_prob: the paper's p, in [0, 1).  With ``restart_scope="segment"``: the probability that a
            segment returns to the start before its ``max_depth``-th move (the other segments run the
            full length).  With ``"step"``: the probability of returning before each move.
        max_depth: the fixed length of a segment: the walk returns to the start after this many
            moves away from it (the paper's "depth of sampling", 2-14 in §IV-F, 6 chosen).
        restart_scope: ``"segment"`` (default; p per fixed-length segment, so the depth governs how
            far the neighbourhood reaches) or ``"step"`` (p per move, HetGNN's random walk with
            restart capped at ``max_depth``; the sampler's behaviour before this field existed).
        num_collect: total number of nodes (with repetition) collected per start node.
        k_per_type: neighbours kept per node type, keyed by type name; a type of the graph that is
            missing here gets k=0 (no table); names that are not graph types are ignored.
        max_steps_factor: hard bound, a walk stops after ``num_collect * max_steps_factor`` steps.
        seed: RNG seed (non-negative, < 2**64).
        num_threads: numba threads for the kernel; 0 keeps numba's current setting.
    """

    restart_prob: float = 0.5
    max_depth: int = 6
    restart_scope: str = "segment"
    num_collect: int = 200
    k_per_type: dict[str, int] = field(default_factory=default_k_per_type)
    max_steps_factor: int = 50
    seed: int = 0
    num_threads: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.restart_prob) < 1.0:
            raise ValueError(f"restart_prob must be in [0, 1), got {self.restart_prob!r}")
        if self.restart_scope not in RESTART_SCOPES:
            raise ValueError(f"restart_scope must be one of {RESTART_SCOPES}, got {self.restart_scope!r}")
        for name in ("max_depth", "num_collect", "max_steps_factor"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be an int in [0, 2**64), got {self.seed!r}")
        if not isinstance(self.num_threads, int) or self.num_threads < 0:
            raise ValueError(f"num_threads must be a non-negative int, got {self.num_threads!r}")
        if not isinstance(self.k_per_type, dict):
            raise ValueError(f"k_per_type must be a dict of type name -> k, got {self.k_per_type!r}")
        for name, k in self.k_per_type.items():
            if not isinstance(name, str) or not isinstance(k, int) or isinstance(k, bool) or k < 0:
                raise ValueError(f"k_per_type must map type names to ints >= 0, got {name!r}: {k!r}")
        object.__setattr__(self, "k_per_type", dict(self.k_per_type))  # private copy: stays frozen

    def __hash__(self) -> int:
        items = tuple(sorted(self.k_per_type.items()))
        return hash(tuple(items if f.name == "k_per_type" else getattr(self, f.name) for f in fields(self)))

    def k_for(self, type_names: Sequence[str]) -> np.ndarray:
        """k per type id (int64 [num_types]) for a graph whose types are ``type_names``."""
        return np.array([self.k_per_type.get(n, 0) for n in type_names], dtype=np.int64)


def move_restart_prob(config: SamplerConfig) -> float:
    """Probability of the restart coin before a move at depth >= 1 (the module docstring's q).

    ``"step"``: ``restart_prob`` itself (also at depth 0).  ``"segment"``: ``1 - (1 - p) ** (1 / (max_depth - 1))``,
    so that a segment survives the ``max_depth - 1`` coins of depths 1 .. ``max_depth - 1`` with probability
    ``1 - p``; 0 when ``max_depth == 1`` (a one-move segment has no move to cut short).
    """
    p = float(config.restart_prob)
    if config.restart_scope == "step":
        return p
    if config.max_depth == 1 or p == 0.0:
        return 0.0
    return 1.0 - (1.0 - p) ** (1.0 / (config.max_depth - 1))


def compute_quotas(k: np.ndarray, type_sizes: np.ndarray, num_collect: int) -> np.ndarray:
    """Per-type quotas (HHFAN §III-D): ``max(k_t, round(num_collect * k_t / sum_k))`` (round half
    up), 0 where ``k_t == 0`` or the type has no node; ``sum_k`` runs over the types with quota."""
    active = (k > 0) & (type_sizes > 0)
    sum_k = int(k[active].sum())
    quotas = np.zeros(len(k), dtype=np.int64)
    if sum_k:
        share = np.floor(num_collect * k[active] / sum_k + 0.5).astype(np.int64)
        quotas[active] = np.maximum(k[active], share)
    return quotas


# ----------------------------------------------------------------------------------------- kernels
@njit(cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _walk_one(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray, start: int, left: np.ndarray,
              restart_thr: np.uint64, coin_at_start: bool, max_depth: int, max_steps: int, seed: np.uint64,
              collected: np.ndarray, rec: np.ndarray) -> tuple[int, int, int]:
    """Walk from ``start`` until the quotas ``left`` (mutated) are full; fills ``collected`` and,
    when ``rec`` has rows, the (from, to) edge moves.  Returns (n_collected, steps, n_recorded).

    The restart coin (probability ``restart_thr / 2**32``) is tossed before every move at depth >= 1,
    and also at depth 0 when ``coin_at_start`` (the ``"step"`` scope)."""
    need = left.sum()
    if need == 0 or indptr[start + 1] == indptr[start]:
        return 0, 0, 0
    state = _mix64(_mix64(seed) ^ np.uint64(start))
    record = rec.shape[0] > 0
    cur, depth, steps, n, nrec = start, 0, 0, 0, 0
    while need > 0 and steps < max_steps:
        steps += 1
        deg = indptr[cur + 1] - indptr[cur]
        if depth >= max_depth or deg == 0:
            cur, depth = start, 0
            continue
        state += _GOLDEN
        z = _mix64(state)
        if (depth > 0 or coin_at_start) and (z & _LOW32) < restart_thr:  # low 32 bits: restart coin
            cur, depth = start, 0
            continue
        j = np.int64(((z >> np.uint64(32)) * np.uint64(deg)) >> np.uint64(32))  # high bits: neighbour
        nxt = int(indices[indptr[cur] + j])
        if record:
            rec[nrec, 0] = cur
            rec[nrec, 1] = nxt
            nrec += 1
        cur, depth = nxt, depth + 1
        if nxt != start:
            t = node_type[nxt]
            if left[t] > 0:
                left[t] -= 1
                need -= 1
                collected[n] = nxt
                n += 1
    return n, steps, nrec


@njit(cache=True)
def _select_top_k(collected: np.ndarray, node_type: np.ndarray, type_offsets: np.ndarray, k: np.ndarray,
                  k_off: np.ndarray, out_row: np.ndarray) -> None:
    """Write, per type t, the k_t most frequent nodes of ``collected`` as type-local ids into
    ``out_row[k_off[t]:k_off[t+1]]`` (ties: smaller id first; unused slots: -1)."""
    out_row[:] = -1
    if collected.shape[0] == 0:
        return
    ids = np.sort(collected)
    run_id = np.empty(ids.shape[0], np.int64)
    run_cnt = np.empty(ids.shape[0], np.int64)
    r = 0
    for i in range(ids.shape[0]):
        if i > 0 and ids[i] == ids[i - 1]:
            run_cnt[r - 1] += 1
        else:
            run_id[r] = ids[i]
            run_cnt[r] = 1
            r += 1
    a = 0
    while a < r:  # runs are sorted by global id, hence grouped by type
        t = node_type[run_id[a]]
        b = a
        while b < r and node_type[run_id[b]] == t:
            b += 1
        order = np.argsort(-run_cnt[a:b], kind="mergesort")  # stable: keeps ascending ids on ties
        for s in range(min(k[t], b - a)):
            out_row[k_off[t] + s] = run_id[a + order[s]] - type_offsets[t]
        a = b


@njit(parallel=True, cache=True)
def _rwss_kernel(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray, type_offsets: np.ndarray,
                 starts: np.ndarray, quotas: np.ndarray, k: np.ndarray, k_off: np.ndarray,
                 restart_thr: np.uint64, coin_at_start: bool, max_depth: int, max_steps: int, seed: np.uint64,
                 out_ids: np.ndarray, out_steps: np.ndarray) -> None:
    for i in prange(starts.shape[0]):
        left = quotas[i].copy()
        collected = np.empty(left.sum(), np.int64)
        no_rec = np.empty((0, 2), np.int64)
        n, steps, _ = _walk_one(indptr, indices, node_type, starts[i], left, restart_thr, coin_at_start,
                                max_depth, max_steps, seed, collected, no_rec)
        out_steps[i] = steps
        _select_top_k(collected[:n], node_type, type_offsets, k, k_off, out_ids[i])


@njit(cache=True)
def _trace_kernel(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray, start: int, quota: np.ndarray,
                  restart_thr: np.uint64, coin_at_start: bool, max_depth: int, max_steps: int,
                  seed: np.uint64) -> tuple[np.ndarray, np.ndarray, int]:
    left = quota.copy()
    collected = np.empty(left.sum(), np.int64)
    rec = np.empty((max(max_steps, 1), 2), np.int64)
    n, steps, nrec = _walk_one(indptr, indices, node_type, start, left, restart_thr, coin_at_start, max_depth,
                               max_steps, seed, collected, rec)
    return rec[:nrec].copy(), collected[:n].copy(), steps


# ------------------------------------------------------------------------------------- validation
def _check_array(name: str, arr: object, dtype: type, ndim: int = 1) -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != ndim:
        got = f"{arr.dtype}[{arr.ndim}d]" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise ValueError(f"{name} must be a {ndim}-d numpy {np.dtype(dtype)} array, got {got}")
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class _Graph:
    indptr: np.ndarray
    indices: np.ndarray
    node_type: np.ndarray
    type_offsets: np.ndarray
    type_names: tuple[str, ...]


def validate_graph(indptr: object, indices: object, node_type: object, type_offsets: object,
                   type_names: Sequence[str]) -> _Graph:
    """Check the CSR / typed-node contract of :func:`sample_neighbors`; raise ValueError if broken."""
    ip = _check_array("indptr", indptr, np.int64)
    ix = _check_array("indices", indices, np.int32)
    nt = _check_array("node_type", node_type, np.int8)
    to = _check_array("type_offsets", type_offsets, np.int64)
    n, names = nt.shape[0], tuple(type_names)
    if ip.shape[0] != n + 1 or ip[0] != 0 or ip[-1] != ix.shape[0] or np.any(np.diff(ip) < 0):
        raise ValueError(f"indptr must have {n + 1} non-decreasing entries from 0 to len(indices)")
    if ix.shape[0] and (ix.min() < 0 or ix.max() >= n):
        raise ValueError(f"indices must be node ids in [0, {n})")
    if len(names) != to.shape[0] - 1 or len(set(names)) != len(names) or not names:
        raise ValueError(f"type_names {names} must be distinct and match len(type_offsets) - 1")
    if to[0] != 0 or to[-1] != n or np.any(np.diff(to) < 0):
        raise ValueError(f"type_offsets must be non-decreasing from 0 to num_nodes={n}")
    if not np.array_equal(nt, np.repeat(np.arange(len(names), dtype=np.int8), np.diff(to))):
        raise ValueError("node_type does not match type_offsets (ids must be contiguous per type)")
    return _Graph(ip, ix, nt, to, names)


def _validate_starts(starts: object, num_nodes: int) -> np.ndarray:
    if not isinstance(starts, np.ndarray) or starts.ndim != 1 or starts.dtype.kind not in "iu":
        raise ValueError("starts must be a 1-d integer numpy array of global node ids")
    if starts.shape[0] and (starts.min() < 0 or starts.max() >= num_nodes):
        raise ValueError(f"starts must be global node ids in [0, {num_nodes})")
    return starts.astype(np.int64)


def component_type_presence(g: _Graph) -> tuple[np.ndarray, np.ndarray]:
    """(component label per node, node count per (component, type)) via scipy."""
    n, num_types = g.node_type.shape[0], len(g.type_names)
    adj = csr_matrix((np.ones(g.indices.shape[0], np.int8), g.indices, g.indptr), shape=(n, n))
    num_comp, labels = connected_components(adj, directed=True, connection="weak")
    counts = np.bincount(labels.astype(np.int64) * num_types + g.node_type, minlength=num_comp * num_types)
    return labels, counts.reshape(num_comp, num_types)


def start_quotas(g: _Graph, starts: np.ndarray, base: np.ndarray, labels: np.ndarray,
                 comp_counts: np.ndarray) -> np.ndarray:
    """Quotas per start [len(starts), num_types]: a type is dropped when the start's component has
    no node of it other than the start itself; an isolated start gets no quota at all."""
    present = comp_counts[labels[starts]].copy()
    present[np.arange(starts.shape[0]), g.node_type[starts]] -= 1
    quotas = np.where(present > 0, base[None, :], 0)
    quotas[g.indptr[starts + 1] == g.indptr[starts]] = 0
    return quotas.astype(np.int64)


def _kernel_scalars(cfg: SamplerConfig) -> tuple[np.uint64, bool, int, int, np.uint64]:
    thr = np.uint64(int(move_restart_prob(cfg) * 2.0**32))
    return thr, cfg.restart_scope == "step", cfg.max_depth, cfg.num_collect * cfg.max_steps_factor, np.uint64(cfg.seed)


# ---------------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class NeighborTables:
    """Sampled neighbours per start (HHFAN §III-D): ``ids[name]`` int32 [num_starts, k_t] of
    type-local ids (invalid slots hold 0), ``mask[name]`` bool, True where the slot is valid."""

    type_names: tuple[str, ...]
    starts: np.ndarray
    ids: dict[str, np.ndarray]
    mask: dict[str, np.ndarray]
    steps: int
    config: SamplerConfig

    def coverage(self) -> dict[str, float]:
        """Fraction of valid slots per type with a table."""
        return {n: float(m.mean()) if m.size else 0.0 for n, m in self.mask.items()}

    def save(self, path: Path) -> None:
        """Write one ``.npz`` atomically (temporary file in the same directory, then os.replace)."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(_FORMAT_VERSION), "type_names": np.array(self.type_names, dtype=str),
            "table_names": np.array(list(self.ids), dtype=str), "starts": self.starts,
            "steps": np.array(self.steps, np.int64), "config": np.array(json.dumps(asdict(self.config))),
        }
        for name in self.ids:
            arrays[f"ids/{name}"], arrays[f"mask/{name}"] = self.ids[name], self.mask[name]
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> NeighborTables:
        """Read a file written by :meth:`save`; raise ValueError if it is corrupt or inconsistent."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                version = int(z["format_version"])
                if version not in (1, _FORMAT_VERSION):
                    raise ValueError(f"unsupported format_version {version}")
                names = tuple(str(s) for s in z["type_names"])
                starts, steps = z["starts"], int(z["steps"])
                raw = json.loads(str(z["config"]))
                if version == 1:  # written before restart_scope existed: per-move restarts
                    raw["restart_scope"] = "step"
                config = SamplerConfig(**raw)
                ids = {str(n): z[f"ids/{n}"] for n in z["table_names"]}
                mask = {str(n): z[f"mask/{n}"] for n in z["table_names"]}
        except ValueError as exc:
            raise ValueError(f"corrupt neighbour-table file {path}: {exc}") from exc
        except Exception as exc:
            raise ValueError(f"corrupt neighbour-table file {path}: {type(exc).__name__}: {exc}") from exc
        if starts.dtype != np.int64 or starts.ndim != 1:
            raise ValueError(f"corrupt neighbour-table file {path}: bad starts array")
        for n in ids:
            k = config.k_per_type.get(n, 0)
            if n not in names or ids[n].dtype != np.int32 or mask[n].dtype != np.bool_ or \
                    ids[n].shape != (starts.shape[0], k) or mask[n].shape != ids[n].shape:
                raise ValueError(f"corrupt neighbour-table file {path}: bad table for type {n!r}")
        return cls(names, starts, ids, mask, steps, config)


# ------------------------------------------------------------------------------------- public API
def sample_neighbors(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray,
                     type_offsets: np.ndarray, type_names: Sequence[str], starts: np.ndarray,
                     config: SamplerConfig, progress: Callable[[int, int], None] | None = None,
                     *, chunk_size: int = 65_536) -> NeighborTables:
    """Run RWSS (HHFAN §III-D) from every node of ``starts`` and keep the top-k_t nodes per type.

    Starts are processed in chunks of ``chunk_size`` (``progress(done, total)`` is called after
    each); results do not depend on the chunk size, thread count or order of ``starts``.
    """
    g = validate_graph(indptr, indices, node_type, type_offsets, type_names)
    st = _validate_starts(starts, g.node_type.shape[0])
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    max_threads: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    if config.num_threads > max_threads:
        raise ValueError(f"num_threads={config.num_threads} exceeds NUMBA_NUM_THREADS={max_threads}")
    k = config.k_for(g.type_names)
    k_off = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    base = compute_quotas(k, np.diff(g.type_offsets), config.num_collect)
    labels, comp_counts = component_type_presence(g)
    thr, coin_at_start, max_depth, max_steps, seed = _kernel_scalars(config)
    out = np.empty((st.shape[0], int(k_off[-1])), np.int32)
    steps = np.zeros(st.shape[0], np.int64)
    prev_threads = numba.get_num_threads()
    prev_chunk = numba.set_parallel_chunksize(64)  # dynamic scheduling: walk lengths vary a lot
    try:
        if config.num_threads:
            numba.set_num_threads(config.num_threads)
        for lo in range(0, st.shape[0], chunk_size):
            hi = min(lo + chunk_size, st.shape[0])
            quotas = start_quotas(g, st[lo:hi], base, labels, comp_counts)
            _rwss_kernel(g.indptr, g.indices, g.node_type, g.type_offsets, st[lo:hi], quotas, k, k_off,
                         thr, coin_at_start, max_depth, max_steps, seed, out[lo:hi], steps[lo:hi])
            if progress is not None:
                progress(hi, st.shape[0])
    finally:
        numba.set_num_threads(prev_threads)
        numba.set_parallel_chunksize(prev_chunk)
    ids, mask = {}, {}
    for t, name in enumerate(g.type_names):
        if k[t] > 0:
            block = out[:, k_off[t]:k_off[t + 1]]
            mask[name] = block >= 0
            ids[name] = np.where(mask[name], block, 0).astype(np.int32)
    return NeighborTables(g.type_names, st, ids, mask, int(steps.sum()), config)


def _trace(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray, type_offsets: np.ndarray,
           start: int, config: SamplerConfig, type_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    g = validate_graph(indptr, indices, node_type, type_offsets, type_names)
    st = _validate_starts(np.array([start], np.int64), g.node_type.shape[0])
    base = compute_quotas(config.k_for(g.type_names), np.diff(g.type_offsets), config.num_collect)
    quota = start_quotas(g, st, base, *component_type_presence(g))[0]
    thr, coin_at_start, max_depth, max_steps, seed = _kernel_scalars(config)
    rec, collected, steps = _trace_kernel(g.indptr, g.indices, g.node_type, st[0], quota, thr, coin_at_start,
                                          max_depth, max_steps, seed)
    return rec, collected, int(steps)


def trace_walk(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray, type_offsets: np.ndarray,
               start: int, config: SamplerConfig, *, type_names: Sequence[str]) -> np.ndarray:
    """The (from, to) edge moves, int64 [n, 2], that :func:`sample_neighbors`' walk from ``start``
    takes (same RNG stream and rules, HHFAN §III-D).  Restarts are *omitted*: after a restart the
    next row simply starts again at ``start``, so every row is a real edge of the graph.  Meant for
    tests and debugging: it allocates a buffer of ``num_collect * max_steps_factor`` rows."""
    return _trace(indptr, indices, node_type, type_offsets, start, config, type_names)[0]
