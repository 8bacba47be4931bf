"""Training-set generation (§III-F): negatives, walk positives within τ, per-epoch determinism."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from hhfan.data.dataset import Dataset, Interactions
from hhfan.data.split import TRAIN, SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.mhig import GraphConfig, HeteroGraph, build_graph
from hhfan.train.triples import TrainingPairs, WalkPositives, epoch_triples, sample_negatives


@pytest.fixture(scope="module")
def setup():
    ds = generate(SynthConfig(num_users=80, num_videos=160, mean_interactions=12, seed=4))
    split = make_split(ds, SplitConfig(seed=0))
    m = split.mask(TRAIN)
    pairs = TrainingPairs(ds.interactions.user[m], ds.interactions.video[m], ds.num_users, ds.num_videos)
    return ds, split, pairs


def test_negatives_are_never_training_pairs(setup) -> None:
    _, _, pairs = setup
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(pairs.num_users), 50)
    neg = sample_negatives(pairs, users, 3, rng)
    assert neg.shape == (users.shape[0], 3)
    assert not pairs.contains(np.repeat(users, 3), neg.ravel()).any()
    assert pairs.contains(pairs.user, pairs.video).all()


def test_negatives_impossible_is_an_error() -> None:
    full = TrainingPairs(np.array([0, 0]), np.array([0, 1]), 1, 2)
    with pytest.raises(ValueError, match="could not sample negatives"):
        sample_negatives(full, np.array([0]), 1, np.random.default_rng(0))


def test_epoch_triples_deterministic_per_epoch(setup) -> None:
    _, _, pairs = setup
    a = epoch_triples(pairs, None, 2, seed=1, epoch=3)
    b = epoch_triples(pairs, None, 2, seed=1, epoch=3)
    c = epoch_triples(pairs, None, 2, seed=1, epoch=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])
    assert a[0].shape[0] == 2 * pairs.user.shape[0]
    assert pairs.contains(a[0], a[1]).all() and not pairs.contains(a[0], a[2]).any()


@pytest.fixture(scope="module")
def mhig(setup) -> HeteroGraph:
    ds, split, _ = setup
    return build_graph(ds, split, GraphConfig(codewords=8))


def _user_distances(g: HeteroGraph) -> np.ndarray:
    """Hop distances ``[num_users, num_videos]`` from every user to every video on ``g`` (scipy BFS)."""
    n = g.num_nodes
    adj = csr_matrix((np.ones(g.indices.shape[0]), g.indices, g.indptr), shape=(n, n))
    users = np.arange(g.count("user")) + g.offset("user")
    d = shortest_path(adj, unweighted=True, indices=users)
    return d[:, g.offset("video"):g.offset("video") + g.count("video")]


def _bipartite(tags: bool = False) -> tuple[HeteroGraph, TrainingPairs]:
    """A world whose M-HIG has user-video interaction edges only (no features, tags or attributes), or with
    ``tags`` also user-tag and video-tag edges (4 tags; user i and video j carry tag i % 4 and j % 4)."""
    rng = np.random.default_rng(0)
    nu, nv = 30, 40
    uv = {(int(u), int(v)) for u, v in zip(rng.integers(0, nu, 300), rng.integers(0, nv, 300), strict=True)}
    uv |= {(u, u % nv) for u in range(nu)} | {(v % nu, v) for v in range(nv)}
    u, v = (np.array(x, np.int32) for x in zip(*sorted(uv), strict=True))
    tag_kw = {}
    if tags:
        tag_kw = {"tag_names": np.array([f"t{i}" for i in range(4)], dtype=object),
                  "user_tags": np.stack([np.arange(nu), np.arange(nu) % 4], axis=1).astype(np.int32),
                  "video_tags": np.stack([np.arange(nv), np.arange(nv) % 4], axis=1).astype(np.int32)}
    ds = Dataset("bipartite", np.array([f"u{i}" for i in range(nu)], dtype=object),
                 np.array([f"v{i}" for i in range(nv)], dtype=object), Interactions(u, v), **tag_kw)
    split = make_split(ds, SplitConfig(seed=0))
    g = build_graph(ds, split)
    assert (g.num_edges == g.edge_counts()["interaction"] > 0) or tags
    m = split.mask(TRAIN)
    return g, TrainingPairs(ds.interactions.user[m], ds.interactions.video[m], nu, nv)


def test_walk_positives_config_is_checked(mhig: HeteroGraph) -> None:
    for bad in ({"tau": 1}, {"per_user": 0}, {"walks_per_positive": 0}, {"tau": True}):
        with pytest.raises(ValueError):
            WalkPositives(**{"graph": mhig, "tau": 3, "per_user": 5, **bad})  # type: ignore[arg-type]


def test_walk_positives_are_new_distinct_and_capped(setup, mhig: HeteroGraph) -> None:
    _, _, pairs = setup
    extra = WalkPositives(mhig, tau=3, per_user=5).sample(pairs, seed=0, epoch=0)
    assert extra.dtype == np.int64 and extra.ndim == 2 and extra.shape[1] == 2 and extra.shape[0] > 0
    assert not pairs.contains(extra[:, 0], extra[:, 1]).any()  # new positives only
    assert np.bincount(extra[:, 0]).max() <= 5
    assert np.unique(extra, axis=0).shape[0] == extra.shape[0]
    assert (np.diff(extra[:, 0]) >= 0).all()


def test_walk_positives_regenerated_per_epoch(setup, mhig: HeteroGraph) -> None:
    # §III-F: "for each iteration in the training phase, the above two steps are performed"
    _, _, pairs = setup
    walks = WalkPositives(mhig, tau=3, per_user=5)
    a, b = walks.sample(pairs, seed=1, epoch=2), walks.sample(pairs, seed=1, epoch=2)
    np.testing.assert_array_equal(a, b)  # the same (seed, epoch): the same positives, e.g. after --resume
    np.testing.assert_array_equal(a, WalkPositives(mhig, tau=3, per_user=5).sample(pairs, seed=1, epoch=2))
    before = numba.get_num_threads()
    try:  # the walks run in parallel over users, each on its own stream: the thread count does not matter
        numba.set_num_threads(1)
        np.testing.assert_array_equal(a, walks.sample(pairs, seed=1, epoch=2))
    finally:
        numba.set_num_threads(before)
    others = [walks.sample(pairs, seed=1, epoch=3), walks.sample(pairs, seed=2, epoch=2)]
    for c in others:
        assert not np.array_equal(a, c)
        overlap = len({tuple(r) for r in a.tolist()} & {tuple(r) for r in c.tolist()})
        assert overlap < 0.8 * a.shape[0]  # a fresh draw, not a reshuffle of one fixed set
    # the triples of an epoch carry that epoch's walk positives
    u, v, _ = epoch_triples(pairs, walks, 1, seed=1, epoch=2)
    extra_rows = ~pairs.contains(u, v)
    got = np.unique(np.stack([u[extra_rows], v[extra_rows]], axis=1), axis=0)
    np.testing.assert_array_equal(got, np.unique(a, axis=0))


@pytest.mark.parametrize("tau", [3, 4])
def test_walk_positives_lie_within_distance_tau(setup, mhig: HeteroGraph, tau: int) -> None:
    _, _, pairs = setup
    dist = _user_distances(mhig)
    extra = WalkPositives(mhig, tau=tau, per_user=50).sample(pairs, seed=0, epoch=0)
    d = dist[extra[:, 0], extra[:, 1]]
    assert extra.shape[0] > 0 and (d <= tau).all()
    assert (d == 3).any()  # within (not exactly) tau: at tau = 4, the videos 3 hops away too
    # no user-tag edges here: nothing is within 2 hops but the observed videos
    assert WalkPositives(mhig, tau=2, per_user=50).sample(pairs, seed=0, epoch=0).shape == (0, 2)


def test_tau_2_finds_videos_through_user_tags() -> None:
    g, pairs = _bipartite(tags=True)
    assert g.edge_counts()["user_tag"] > 0
    dist = _user_distances(g)
    extra = WalkPositives(g, tau=2, per_user=10).sample(pairs, seed=0, epoch=0)
    assert extra.shape[0] > pairs.num_users and (dist[extra[:, 0], extra[:, 1]] == 2).all()  # u -> tag -> v
    assert ((extra[:, 0] % 4) == (extra[:, 1] % 4)).all()  # the video carries one of the user's tags


def test_within_tau_on_a_user_video_graph() -> None:
    # On interaction edges only, a walk alternates user, video, user, video...: every unobserved video is at
    # an odd distance >= 3 of a user. tau = 2 (u -> v -> u') passes only observed videos, so it adds nothing;
    # tau = 3 finds the collaborative-filtering videos u -> v -> u' -> v'; and so does tau = 4, whose walks
    # end on a user (a walk kept only where it *ends* after exactly tau moves found nothing at any even tau).
    g, pairs = _bipartite()
    dist = _user_distances(g)
    assert WalkPositives(g, tau=2, per_user=10).sample(pairs, seed=0, epoch=0).shape == (0, 2)
    for tau in (3, 4):
        extra = WalkPositives(g, tau=tau, per_user=10).sample(pairs, seed=0, epoch=0)
        assert extra.shape[0] > pairs.num_users  # about every user gets some
        assert (dist[extra[:, 0], extra[:, 1]] == 3).all()  # the only distance <= 4 an unobserved video has


def test_negatives_never_contain_the_epochs_walk_positives(setup, mhig: HeteroGraph) -> None:
    _, _, pairs = setup
    walks = WalkPositives(mhig, tau=3, per_user=40)  # many extras: a uniform negative would often hit one
    for epoch in (0, 1):
        extra = walks.sample(pairs, seed=0, epoch=epoch)
        u, v, n = epoch_triples(pairs, walks, 3, seed=0, epoch=epoch)
        assert u.shape[0] == 3 * (pairs.user.shape[0] + extra.shape[0])
        avoid = TrainingPairs(np.concatenate([pairs.user, extra[:, 0]]), np.concatenate([pairs.video, extra[:, 1]]),
                              pairs.num_users, pairs.num_videos)
        assert not avoid.contains(u, n).any()
        assert avoid.contains(u, v).all()
        # without the walks, the same draw is made against the training pairs only
        u0, _, n0 = epoch_triples(pairs, None, 3, seed=0, epoch=epoch)
        assert not pairs.contains(u0, n0).any()


def test_a_negative_pool_keeps_held_out_videos_out_of_every_triple(setup, mhig: HeteroGraph) -> None:
    ds, _, pairs = setup
    held = np.arange(0, ds.num_videos, 5)  # as the cold-start split's cold videos
    keep = ~np.isin(pairs.video, held)
    pool = np.setdiff1d(np.arange(ds.num_videos), held)
    pooled = TrainingPairs(pairs.user[keep], pairs.video[keep], ds.num_users, ds.num_videos, negative_pool=pool)
    walks = WalkPositives(mhig, tau=3, per_user=5)
    seen_neg, seen_walk = set(), set()
    for epoch in range(3):
        _, v, n = epoch_triples(pooled, walks, 2, seed=1, epoch=epoch)
        assert not np.isin(n, held).any() and not np.isin(v, held).any()
        seen_neg |= set(n.tolist())
        seen_walk |= set(walks.sample(pooled, 1, epoch)[:, 1].tolist())
    assert seen_neg <= set(pool.tolist()) and len(seen_neg) > 0.8 * pool.shape[0]
    assert not seen_walk & set(held.tolist()) and seen_walk
    assert set(walks.sample(TrainingPairs(pairs.user[keep], pairs.video[keep], ds.num_users, ds.num_videos), 1, 0)
               [:, 1].tolist()) & set(held.tolist())  # without the pool the walks do find them
