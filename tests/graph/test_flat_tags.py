"""Flat tags without a tree: the derived parents, sparse where the tags are sparse (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from hhfan.data.dataset import Dataset, Interactions
from hhfan.data.split import SplitConfig, make_split
from hhfan.graph import quantize
from hhfan.graph.mhig import GraphConfig, build_graph


def flat_tags(num_videos: int = 600, num_tags: int = 400, topics: int = 16, features: bool = False,
              seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Videos tagged from one planted topic each (plus a stray tag now and then); returns the topic of each tag."""
    rng = np.random.default_rng(seed)
    tag_topic = rng.integers(0, topics, num_tags)
    video_topic = rng.integers(0, topics, num_videos)
    rows = set()
    for v in range(num_videos):
        pool = np.flatnonzero(tag_topic == video_topic[v])
        rows |= {(v, int(t)) for t in rng.choice(pool, min(4, pool.size), replace=False)}
        if rng.random() < 0.1:
            rows.add((v, int(rng.integers(0, num_tags))))
    vt = np.array(sorted(rows), dtype=np.int32)
    users = np.repeat(np.arange(100), 6)
    videos = np.array([rng.choice(np.flatnonzero(video_topic == u % topics), 1)[0] for u in users])
    keep = np.unique(users * num_videos + videos, return_index=True)[1]
    feats = {"visual": (np.eye(topics)[video_topic] + 0.1 * rng.normal(size=(num_videos, topics))).astype(np.float32)}
    ds = Dataset(name="flat", user_ids=np.array([f"u{i}" for i in range(100)], dtype=object),
                 video_ids=np.array([f"v{i}" for i in range(num_videos)], dtype=object),
                 interactions=Interactions(users[keep].astype(np.int32), videos[keep].astype(np.int32)),
                 features=feats if features else {},
                 tag_names=np.array([f"t{i}" for i in range(num_tags)], dtype=object), video_tags=vt,
                 tag_tree=np.empty((0, 2), dtype=np.int32))
    return ds, tag_topic


def _parents(tree: np.ndarray, num_tags: int) -> np.ndarray:
    leaf = tree[tree[:, 1] < num_tags]
    return leaf[np.argsort(leaf[:, 1]), 0]


def test_co_occurrence_grouping_never_densifies_and_recovers_the_planted_topics(monkeypatch: pytest.MonkeyPatch
                                                                                ) -> None:
    ds, topic = flat_tags()

    def dense(*_a: object, **_k: object) -> None:
        raise AssertionError("a sparse matrix was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array, sp.coo_array):
        monkeypatch.setattr(cls, "toarray", dense)
        monkeypatch.setattr(cls, "todense", dense)
    g = build_graph(ds, make_split(ds, SplitConfig(seed=0)), GraphConfig(derived_tag_parents=16))
    parents = _parents(g.tag_tree, ds.num_tags)
    assert g.tag_tree_derived and parents.shape == (ds.num_tags,)  # every tag under one derived parent
    assert set(g.node_names["tag"][ds.num_tags:].tolist()) == {f"derived:group{p}" for p in range(16)}
    assert adjusted_rand_score(topic, parents) > 0.6
    assert np.bincount(parents - parents.min()).max() < 4 * ds.num_tags / 16  # no group swallows the rest


def test_co_occurrence_grouping_is_seeded() -> None:
    ds, _ = flat_tags()
    split = make_split(ds, SplitConfig(seed=0))
    a = build_graph(ds, split, GraphConfig(seed=3)).tag_tree
    assert np.array_equal(a, build_graph(ds, split, GraphConfig(seed=3)).tag_tree)
    assert not np.array_equal(a, build_graph(ds, split, GraphConfig(seed=4)).tag_tree)


def test_group_sparse_profiles_edge_cases() -> None:
    one = sp.csr_matrix(np.array([[1.0, 0.0]]))
    assert quantize.group_sparse_profiles(one, 2, 0).tolist() == [0]
    same = sp.csr_matrix(np.ones((5, 4)))
    assert quantize.group_sparse_profiles(same, 3, 0).tolist() == [0] * 5  # one distinct row: one group
    empty_row = sp.csr_matrix(np.array([[0.0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 1, 0]]))
    g = quantize.group_sparse_profiles(empty_row, 2, 0)
    assert g.shape == (4,) and g[1] == g[3]


def test_feature_profiles_keep_the_dense_grouping() -> None:
    """With feature vectors the tags' profiles are [tags, feature dims] as before: the same tree (ML-1M's path)."""
    ds, _ = flat_tags(features=True)
    g = build_graph(ds, make_split(ds, SplitConfig(seed=0)), GraphConfig(seed=1))
    vt = ds.video_tags
    member = sp.csr_matrix((np.ones(vt.shape[0], np.float32), (vt[:, 1], vt[:, 0])), shape=(ds.num_tags,
                                                                                             ds.num_videos))
    sizes = np.maximum(np.asarray(member.sum(axis=1)).ravel(), 1.0)
    profiles = np.asarray(member @ quantize.standardise(ds.features["visual"])) / sizes[:, None]
    want = quantize.group_tags(profiles, round(np.sqrt(ds.num_tags)), 1)
    assert np.array_equal(np.unique(want, return_inverse=True)[1] + ds.num_tags, _parents(g.tag_tree, ds.num_tags))
