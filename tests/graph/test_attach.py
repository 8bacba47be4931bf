"""Attaching new videos to an M-HIG: the builder's links, and RWSS from the new node exactly as the compiled sampler."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from hhfan.data.dataset import Dataset
from hhfan.data.split import SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.attach import Attacher, sample_attached
from hhfan.graph.mhig import ATTRIBUTE_TYPES, NODE_TYPES, GraphConfig, HeteroGraph, build_graph
from hhfan.graph.sampler import SamplerConfig, sample_neighbors

CFG = GraphConfig(codewords=8, links_per_video=2, derived_tags=8)
SAMPLER = SamplerConfig(num_collect=60, seed=3)


@pytest.fixture(scope="module")
def world() -> Dataset:
    return generate(SynthConfig(num_users=40, num_videos=80, mean_interactions=8, seed=4))


def _tagless(ds: Dataset) -> Dataset:
    empty = np.empty((0, 2), np.int32)
    return replace(ds, tag_names=np.empty(0, dtype=object), video_tags=empty, user_tags=empty, tag_tree=empty)


def _graph(ds: Dataset) -> HeteroGraph:
    return build_graph(ds, make_split(ds, SplitConfig(seed=1)), CFG)


def _video_attr_links(g: HeteroGraph, v: int) -> np.ndarray:
    node = g.offset("video") + v
    nb = g.indices[g.indptr[node]:g.indptr[node + 1]].astype(np.int64)
    return nb[np.isin(g.node_type[nb], [NODE_TYPES.index(t) for t in ATTRIBUTE_TYPES])]


@pytest.mark.parametrize("tags", ["real", "derived"])
def test_links_of_a_dataset_video_are_the_builders(world: Dataset, tags: str) -> None:
    ds = world if tags == "real" else _tagless(world)
    g = _graph(ds)
    att = Attacher(ds, g, CFG)
    vids = np.arange(ds.num_videos)
    feats = [{m: ds.features[m][v] for m in ds.modalities} for v in vids]
    names = [tuple(str(ds.tag_names[t]) for t in ds.video_tags[ds.video_tags[:, 0] == v, 1]) for v in vids]
    links = att.links(feats, names)
    for v in vids:
        assert np.array_equal(links[v], _video_attr_links(g, v)), v


def test_bad_new_videos_are_named(world: Dataset) -> None:
    att = Attacher(world, _graph(world), CFG)
    good = {m: world.features[m][0] for m in world.modalities}
    att.check_video(good, ("r0",))
    with pytest.raises(ValueError, match=r"unknown tag name\(s\) \['nope'\]"):
        att.check_video(good, ("r0", "nope"))
    with pytest.raises(ValueError, match="missing \\['visual'\\]"):
        att.check_video({m: x for m, x in good.items() if m != "visual"}, ())
    with pytest.raises(ValueError, match="shape"):
        att.check_video({**good, "visual": good["visual"][:3]}, ())
    with pytest.raises(ValueError, match="finite"):
        att.check_video({**good, "visual": np.full_like(good["visual"], np.nan)}, ())


def _augmented(g: HeteroGraph, links: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The CSR of ``g`` with one new video inserted after the last video (later ids shifted by one)."""
    p = g.offset("video") + g.count("video")
    n = g.num_nodes
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(g.indptr))
    dst = g.indices.astype(np.int64)
    shift = lambda x: np.where(x >= p, x + 1, x)  # noqa: E731
    new = shift(links)
    src = np.concatenate([shift(src), np.full(new.shape[0], p), new])
    dst = np.concatenate([shift(dst), new, np.full(new.shape[0], p)])
    adj = sp.csr_matrix((np.ones(src.shape[0], np.int8), (src, dst)), shape=(n + 1, n + 1))
    adj.sum_duplicates()
    vt = NODE_TYPES.index("video")
    offsets = g.type_offsets + (np.arange(len(g.type_offsets)) > vt)
    node_type = np.insert(g.node_type, p, vt).astype(np.int8)
    return adj.indptr.astype(np.int64), adj.indices.astype(np.int32), node_type, offsets.astype(np.int64), p


@pytest.mark.parametrize("scope", ["segment", "step"])
def test_new_node_walk_is_the_compiled_sampler_on_the_augmented_graph(world: Dataset, scope: str) -> None:
    g = _graph(world)
    att = Attacher(world, g, CFG)
    cfg = replace(SAMPLER, restart_scope=scope)
    rng = np.random.default_rng(0)
    for v in rng.choice(world.num_videos, 6, replace=False).tolist():
        feats = {m: world.features[m][v] + 0.1 for m in world.modalities}
        tags = tuple(str(world.tag_names[t]) for t in world.video_tags[world.video_tags[:, 0] == v, 1])
        links = att.links([feats], [tags])[0]
        got = att.sample([links], cfg)
        ip, ix, nt, off, p = _augmented(g, links)
        want = sample_neighbors(ip, ix, nt, off, NODE_TYPES, np.array([p]), cfg)
        assert set(got.ids) == set(want.ids)
        for t in want.ids:
            assert np.array_equal(got.ids[t], want.ids[t]) and np.array_equal(got.mask[t], want.mask[t]), (v, t)
        assert got.steps == want.steps


def test_isolated_video_keyed_by_its_id_walks_as_in_the_full_graph(world: Dataset) -> None:
    g = _graph(world)
    tables = sample_neighbors(g.indptr, g.indices, g.node_type, g.type_offsets, NODE_TYPES,
                              np.arange(g.offset("video"), g.offset("video") + g.count("video")), SAMPLER)
    for v in (0, 17, 79):
        node = g.offset("video") + v
        links = g.indices[g.indptr[node]:g.indptr[node + 1]].astype(np.int64)  # every edge, interactions too
        adj = sp.csr_matrix((np.ones_like(g.indices, dtype=np.int8), g.indices, g.indptr), shape=(g.num_nodes,) * 2)
        keep = np.ones(g.num_nodes, np.float64)
        keep[node] = 0
        d = sp.diags(keep)
        cut = (d @ adj @ d).tocsr()
        cut.sort_indices()
        g_cut = replace(g, indptr=cut.indptr.astype(np.int64), indices=cut.indices.astype(np.int32))
        got = sample_attached(g_cut, [links], SAMPLER, key=node)
        for t in tables.ids:
            assert np.array_equal(got.ids[t][0], tables.ids[t][v]) and np.array_equal(got.mask[t][0],
                                                                                        tables.mask[t][v]), (v, t)


def test_a_node_without_links_gets_empty_tables(world: Dataset) -> None:
    out = sample_attached(_graph(world), [np.empty(0, np.int64)], SAMPLER)
    assert all(not m.any() for m in out.mask.values()) and out.steps == 0
    with pytest.raises(ValueError, match="sorted"):
        sample_attached(_graph(world), [np.array([5, 3])], SAMPLER)
