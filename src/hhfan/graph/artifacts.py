"""Everything the model stage needs from data + graph, built in one call and kept in one directory.

``GRAPH_DIR`` layout (written by ``hhfan graph build``)::

    split.npz       per-interaction part codes + split config + data fingerprint
    graph.npz       the M-HIG (CSR, node types, attribute-node features, names, tag tree)
    neighbors.npz   RWSS neighbour tables [num_users + num_videos, k_t] per type, with masks
    graph.json      resolved config, statistics and timings (human-readable)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hhfan.config import from_dict, to_dict
from hhfan.data.atomic import atomic_dir
from hhfan.data.dataset import Dataset, DatasetError
from hhfan.data.split import Split, SplitConfig, make_split
from hhfan.graph.mhig import NODE_TYPES, GraphConfig, HeteroGraph, build_graph
from hhfan.graph.sampler import NeighborTables, SamplerConfig, sample_neighbors


@dataclass(frozen=True)
class GraphBuildConfig:
    """Split, M-HIG and sampler settings of one ``hhfan graph build`` (each a frozen sub-config)."""

    split: SplitConfig = field(default_factory=SplitConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)


@dataclass(frozen=True)
class GraphArtifacts:
    """A split, the M-HIG built from its training part, and the RWSS tables of every user and video."""

    split: Split
    graph: HeteroGraph
    neighbors: NeighborTables
    config: GraphBuildConfig
    timings: dict[str, float]

    def stats(self) -> dict[str, Any]:
        """Node counts per type, edge counts per relation, degree quantiles, split sizes, table coverage."""
        g = self.graph
        deg = np.diff(g.indptr)
        return {
            "nodes": {t: g.count(t) for t in NODE_TYPES},
            "edges": g.edge_counts(),
            "num_nodes": g.num_nodes,
            "num_edges": g.num_edges,
            "degree_quantiles": {q: float(np.quantile(deg, q / 100)) for q in (0, 50, 90, 99, 100)},
            "isolated_nodes": int((deg == 0).sum()),
            "tag_tree_derived": g.tag_tree_derived,
            "split": self.split.counts(),
            "walk_steps": self.neighbors.steps,
            "table_coverage": self.neighbors.coverage(),
            "fingerprint": g.fingerprint,
        }

    def save(self, out: Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> None:
        """Write the GRAPH_DIR atomically: it appears only when every file is complete.

        ``out`` follows :func:`hhfan.data.outputs.check_dir_output`: never one of ``inputs`` (or inside
        or around one); an existing one is replaced only with ``overwrite`` and only if it is a graph
        directory hhfan wrote (marker file).
        """
        with atomic_dir(Path(out), "graph", overwrite=overwrite, inputs=inputs) as tmp:
            self.split.save(tmp / "split.npz")
            self.graph.save(tmp / "graph.npz")
            self.neighbors.save(tmp / "neighbors.npz")
            meta = {"config": to_dict(self.config), "stats": self.stats(), "timings": self.timings}
            (tmp / "graph.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path) -> GraphArtifacts:
        """Read a GRAPH_DIR; missing or damaged files are a clear :class:`DatasetError`."""
        path = Path(path)
        if not path.is_dir():
            raise DatasetError(f"{path}: not a folder; give a GRAPH_DIR written by `hhfan graph build` "
                               "(or a run's graph/)")
        for name in ("split.npz", "graph.npz", "neighbors.npz", "graph.json"):
            if not (path / name).exists():
                raise DatasetError(f"{path}: {name} is missing; rebuild with `hhfan graph build`")
            if not (path / name).is_file():
                raise DatasetError(f"{path / name}: not a regular file; rebuild with `hhfan graph build`")
        config, timings = _read_meta(path / "graph.json")
        try:
            neighbors = NeighborTables.load(path / "neighbors.npz")
        except ValueError as e:
            raise DatasetError(f"{e}; rebuild with `hhfan graph build`") from e
        split = Split.load(path / "split.npz")
        graph = HeteroGraph.load(path / "graph.npz")
        if split.fingerprint != graph.fingerprint:
            raise DatasetError(f"{path}: split and graph were built from different data; rebuild")
        return cls(split, graph, neighbors, config, timings)

    def check(self, ds: Dataset) -> None:
        """Raise :class:`DatasetError` unless these artifacts were built from ``ds``."""
        self.split.check(ds)


def _read_meta(path: Path) -> tuple[GraphBuildConfig, dict[str, float]]:
    """The resolved config and timings of ``graph.json``; anything unreadable is a :class:`DatasetError`."""
    fix = "rebuild with `hhfan graph build`"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot be read ({e}); {fix}") from e
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}, line {e.lineno}: invalid JSON ({e.msg}); {fix}") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise DatasetError(f"{path}: not an hhfan graph.json (expected an object with a 'config' object); {fix}")
    try:
        config = from_dict(GraphBuildConfig, meta["config"])
    except ValueError as e:  # ConfigError included
        raise DatasetError(f"{path}: its config is invalid ({e}); {fix}") from e
    raw = meta.get("timings", {})
    timings = {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)} if isinstance(raw, dict) else {}
    return config, timings


def build_artifacts(ds: Dataset, config: GraphBuildConfig | None = None,
                    say: Callable[[str], None] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> GraphArtifacts:
    """Split ``ds``, build its M-HIG from the training part and sample neighbours of every user and video."""
    cfg = config or GraphBuildConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    split = make_split(ds, cfg.split)
    timings["split_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = build_graph(ds, split, cfg.graph, progress=say)
    timings["graph_s"] = time.perf_counter() - t0
    if say:
        say(f"sampling neighbours of {ds.num_users + ds.num_videos:,} users and videos")
    t0 = time.perf_counter()
    starts = np.arange(graph.offset("video") + graph.count("video"), dtype=np.int64)
    tables = sample_neighbors(graph.indptr, graph.indices, graph.node_type, graph.type_offsets,
                              list(NODE_TYPES), starts, cfg.sampler, progress=progress)
    timings["sample_s"] = time.perf_counter() - t0
    return GraphArtifacts(split, graph, tables, cfg, timings)
