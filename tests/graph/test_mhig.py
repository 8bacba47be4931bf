"""M-HIG construction: node/edge types, training-only edges, derived tag trees, I/O, PyG export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hhfan.data.dataset import DatasetError
from hhfan.data.split import TEST, TRAIN, VAL, SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.artifacts import GraphArtifacts, GraphBuildConfig, build_artifacts
from hhfan.graph.mhig import NODE_TYPES, GraphConfig, HeteroGraph, build_graph
from hhfan.graph.pyg import to_hetero_data
from hhfan.graph.sampler import SamplerConfig, trace_walk
from tests.conftest import tiny_dataset

SMALL = GraphConfig(codewords=3, links_per_video=2, derived_tags=4, seed=0)


def test_tiny_graph_types_and_counts() -> None:
    ds = tiny_dataset(with_split=True)
    split = make_split(ds, SplitConfig(kind="predefined", val_rate=0.0))
    g = build_graph(ds, split, SMALL)
    assert g.count("user") == 4 and g.count("video") == 6
    assert g.count("image") == 2 and g.count("audio") == 2 and g.count("text") == 0  # capped: 6 videos // 4
    assert g.count("tag") == 3 and not g.tag_tree_derived
    assert sorted(g.node_names["user_attr"].tolist()) == ["gender=f", "gender=m"]  # "" = unknown, no node
    e = g.edge_counts()
    assert e["interaction"] == int((split.part == TRAIN).sum())
    assert e["video_attr"] == 6 * 2 * 2 and e["video_tag"] == 6 and e["tag_tag"] == 1 and e["user_attr"] == 3
    assert g.indices.dtype == np.int32 and g.indptr.dtype == np.int64
    assert np.array_equal(np.diff(g.type_offsets), [g.count(t) for t in NODE_TYPES])
    # undirected: every edge is stored both ways
    src = np.repeat(np.arange(g.num_nodes), np.diff(g.indptr))
    fwd = set(zip(src.tolist(), g.indices.tolist(), strict=True))
    assert all((b, a) in fwd for a, b in fwd)


def _heldout_transitions(ds, split, art_graph: HeteroGraph, cfg: SamplerConfig) -> int:
    """Count walk moves that cross a validation/test interaction, over walks from every user and video."""
    held = ~split.mask(TRAIN)
    vo = art_graph.offset("video")
    bad = set(zip(ds.interactions.user[held].tolist(), (ds.interactions.video[held] + vo).tolist(), strict=True))
    bad |= {(b, a) for a, b in bad}
    hits = 0
    for s in range(vo + art_graph.count("video")):
        moves = trace_walk(art_graph.indptr, art_graph.indices, art_graph.node_type, art_graph.type_offsets, s,
                           cfg, type_names=list(NODE_TYPES))
        hits += sum((a, b) in bad for a, b in moves.tolist())
    return hits


def test_no_validation_or_test_interaction_is_reachable_by_any_walk() -> None:
    ds = generate(SynthConfig(num_users=60, num_videos=120, mean_interactions=12, seed=1))
    split = make_split(ds, SplitConfig(training_rate=0.7, val_rate=0.2, seed=0))
    assert (split.part == TEST).any() and (split.part == VAL).any()
    cfg = SamplerConfig(num_collect=60, seed=5)
    g = build_graph(ds, split, SMALL)
    assert _heldout_transitions(ds, split, g, cfg) == 0
    # The check has teeth: a graph wrongly built from all interactions is caught.
    leaky_split = replace(split, part=np.zeros_like(split.part))
    leaky = build_graph(ds, leaky_split, SMALL)
    assert _heldout_transitions(ds, split, leaky, cfg) > 0


def test_derived_tag_tree_when_dataset_has_no_tags() -> None:
    ds = tiny_dataset()
    ds = replace(ds, tag_names=np.empty(0, dtype=object), video_tags=np.empty((0, 2), np.int32),
                 tag_tree=np.empty((0, 2), np.int32))
    g = build_graph(ds, make_split(ds, SplitConfig(training_rate=0.5)), SMALL)
    assert g.tag_tree_derived and g.count("tag") > 0
    parents, children = g.tag_tree[:, 0], g.tag_tree[:, 1]
    assert len(set(children.tolist())) == len(children)  # each leaf has exactly one parent
    assert set(parents.tolist()).isdisjoint(children.tolist())  # two levels
    assert g.edge_counts()["video_tag"] == ds.num_videos  # every video gets its leaf tag
    assert "tag" in g.node_features


def test_tags_without_tree_get_derived_groups() -> None:
    ds = replace(tiny_dataset(), tag_tree=np.empty((0, 2), np.int32))
    g = build_graph(ds, make_split(ds, SplitConfig(training_rate=0.5)), SMALL)
    assert g.tag_tree_derived
    assert g.node_names["tag"][:3].tolist() == ["sport", "football", "music"]
    assert set(g.tag_tree[:, 1].tolist()) == {0, 1, 2}


def test_graph_save_load_and_corrupt_file(tmp_path: Path) -> None:
    ds = tiny_dataset()
    g = build_graph(ds, make_split(ds, SplitConfig(training_rate=0.5)), SMALL)
    g.save(tmp_path / "g.npz")
    back = HeteroGraph.load(tmp_path / "g.npz")
    assert np.array_equal(back.indices, g.indices) and back.fingerprint == g.fingerprint
    assert back.node_names["tag"].tolist() == g.node_names["tag"].tolist()
    (tmp_path / "bad.npz").write_bytes(b"\x00" * 10)
    with pytest.raises(DatasetError, match="not a readable hhfan graph"):
        HeteroGraph.load(tmp_path / "bad.npz")


def test_pyg_export_matches_graph() -> None:
    ds = tiny_dataset()
    g = build_graph(ds, make_split(ds, SplitConfig(training_rate=0.5)), SMALL)
    data = to_hetero_data(g, video_features=np.concatenate([ds.features[m] for m in ds.modalities], 1))
    assert data["user"].num_nodes == 4 and data["video"].x.shape == (6, 7)
    assert data["user", "interaction", "video"].edge_index.shape[1] == g.edge_counts()["interaction"]
    assert data["tag", "tag_tag", "tag"].edge_index.tolist() == [[0], [1]]
    assert ("video", "rev_interaction", "user") in data.edge_types


def test_artifacts_round_trip_and_fingerprint_guard(tmp_path: Path) -> None:
    ds = generate(SynthConfig(num_users=50, num_videos=100, mean_interactions=10))
    cfg = GraphBuildConfig(graph=SMALL, sampler=SamplerConfig(num_collect=50))
    art = build_artifacts(ds, cfg)
    art.save(tmp_path / "g")
    back = GraphArtifacts.load(tmp_path / "g")
    assert back.config == cfg and back.stats()["nodes"] == art.stats()["nodes"]
    assert np.array_equal(back.neighbors.ids["video"], art.neighbors.ids["video"])
    back.check(ds)
    with pytest.raises(DatasetError, match="different data"):
        back.check(tiny_dataset())
    (tmp_path / "g" / "neighbors.npz").unlink()
    with pytest.raises(DatasetError, match=r"neighbors\.npz is missing"):
        GraphArtifacts.load(tmp_path / "g")
