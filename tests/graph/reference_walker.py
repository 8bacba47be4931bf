"""Plain-Python reference of the RWSS sampler (HHFAN §III-D): a test oracle, not part of the package.

Same semantics as :func:`hhfan.graph.sampler.sample_neighbors` (quotas, fixed-length segments of
``max_depth`` moves, the restart coin of either ``restart_scope``, step bound, top-k by frequency
with ties to the smaller id, component-based quota dropping) but a single ``random.Random(seed)``
stream and Python lists in the walk loop, so results match the compiled sampler statistically, not
bit for bit.  It is the semantic cross-check of ``tests/graph/test_sampler.py`` and the baseline of
the speed benchmark (``benchmarks/sampler.py`` imports it from here); graph validation, the
connected-component table and the per-move restart probability are shared with the sampler (they
are set-up, not part of the walk).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np

from hhfan.graph.sampler import (
    NeighborTables,
    SamplerConfig,
    component_type_presence,
    move_restart_prob,
    validate_graph,
)

__all__ = ["reference_sample"]


def _quotas(k: list[int], type_sizes: list[int], num_collect: int) -> list[int]:
    """max(k_t, round_half_up(num_collect * k_t / sum_k)); 0 for k_t == 0 or empty types."""
    active = [kt > 0 and size > 0 for kt, size in zip(k, type_sizes, strict=True)]
    sum_k = sum(kt for kt, a in zip(k, active, strict=True) if a)
    return [max(kt, int(num_collect * kt / sum_k + 0.5)) if a else 0 for kt, a in zip(k, active, strict=True)]


def reference_sample(indptr: np.ndarray, indices: np.ndarray, node_type: np.ndarray,
                     type_offsets: np.ndarray, type_names: Sequence[str], starts: np.ndarray,
                     config: SamplerConfig,
                     progress: Callable[[int, int], None] | None = None) -> NeighborTables:
    """RWSS (HHFAN §III-D) in plain Python; returns the same :class:`NeighborTables` layout."""
    g = validate_graph(indptr, indices, node_type, type_offsets, type_names)
    if not isinstance(starts, np.ndarray) or starts.ndim != 1 or starts.dtype.kind not in "iu":
        raise ValueError("starts must be a 1-d integer numpy array of global node ids")
    num_types, num_nodes = len(g.type_names), g.node_type.shape[0]
    if starts.shape[0] and (starts.min() < 0 or starts.max() >= num_nodes):
        raise ValueError(f"starts must be global node ids in [0, {num_nodes})")
    ip, ix, nt = g.indptr.tolist(), g.indices.tolist(), g.node_type.tolist()
    offsets = g.type_offsets.tolist()
    k = [config.k_per_type.get(name, 0) for name in g.type_names]
    base = _quotas(k, [offsets[t + 1] - offsets[t] for t in range(num_types)], config.num_collect)
    labels_arr, comp_counts_arr = component_type_presence(g)
    labels, comp_counts = labels_arr.tolist(), comp_counts_arr.tolist()
    rng = random.Random(config.seed)
    q, max_depth = move_restart_prob(config), config.max_depth
    coin_at_start = config.restart_scope == "step"  # "segment": no coin before a segment's first move
    max_steps = config.num_collect * config.max_steps_factor
    rows: list[list[list[int]]] = []
    total_steps = 0
    for done, start in enumerate(starts.tolist(), 1):
        present = list(comp_counts[labels[start]])
        present[nt[start]] -= 1
        left = [q if present[t] > 0 else 0 for t, q in enumerate(base)]
        need, collected, steps = sum(left), [], 0
        if ip[start + 1] == ip[start]:
            need = 0
        cur, depth = start, 0
        while need > 0 and steps < max_steps:
            steps += 1
            deg = ip[cur + 1] - ip[cur]
            if depth >= max_depth or deg == 0 or ((depth > 0 or coin_at_start) and rng.random() < q):
                cur, depth = start, 0
                continue
            cur = ix[ip[cur] + int(rng.random() * deg)]
            depth += 1
            if cur != start and left[nt[cur]] > 0:
                left[nt[cur]] -= 1
                need -= 1
                collected.append(cur)
        total_steps += steps
        freq: dict[int, int] = {}
        for node in collected:
            freq[node] = freq.get(node, 0) + 1
        by_type: list[list[int]] = [[] for _ in range(num_types)]
        for node in sorted(freq, key=lambda v: (-freq[v], v)):
            by_type[nt[node]].append(node - offsets[nt[node]])
        rows.append([by_type[t][: k[t]] for t in range(num_types)])
        if progress is not None and (done % 65_536 == 0 or done == starts.shape[0]):
            progress(done, starts.shape[0])
    ids, mask = {}, {}
    for t, name in enumerate(g.type_names):
        if k[t] > 0:
            ids[name] = np.zeros((len(rows), k[t]), np.int32)
            mask[name] = np.zeros((len(rows), k[t]), np.bool_)
            for i, row in enumerate(rows):
                ids[name][i, : len(row[t])] = row[t]
                mask[name][i, : len(row[t])] = True
    return NeighborTables(g.type_names, starts.astype(np.int64), ids, mask, total_steps, config)
