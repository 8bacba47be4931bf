"""Split properties: per-user holdout rates, every user keeps training data, determinism, fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hhfan.data.dataset import Dataset, DatasetError, Interactions
from hhfan.data.split import TEST, TRAIN, VAL, Split, SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from tests.conftest import tiny_dataset


@pytest.fixture(scope="module")
def world():
    return generate(SynthConfig(num_users=300, num_videos=600, seed=3))


@pytest.mark.parametrize("rate", [0.8, 0.6, 0.4])
def test_random_holdout_rates_and_training_kept(world, rate: float) -> None:
    s = make_split(world, SplitConfig(training_rate=rate, val_rate=0.1, seed=1))
    user = world.interactions.user
    n_u = np.bincount(user, minlength=world.num_users)
    train_u = np.bincount(user[s.mask(TRAIN)], minlength=world.num_users)
    test_u = np.bincount(user[s.mask(TEST)], minlength=world.num_users)
    assert (train_u >= 1).all()
    expected_test = np.minimum(np.rint((1 - rate) * n_u), n_u - 1)
    rounded = expected_test >= 1  # a light user (rounds to 0) gives 0 or 1: test_light_users_held_out_at_the_rate
    assert np.array_equal(test_u[rounded], expected_test[rounded]) and (test_u[~rounded] <= 1).all()
    overall = s.counts()["test"] / len(world.interactions)
    assert abs(overall - (1 - rate)) < 0.02
    assert s.counts()["val"] > 0


def _users_with(counts: np.ndarray) -> Dataset:
    """A dataset whose user ``u`` has ``counts[u]`` interactions with distinct videos."""
    user = np.repeat(np.arange(counts.shape[0]), counts).astype(np.int32)
    video = (np.arange(user.shape[0]) % 1000).astype(np.int32)
    return Dataset(name="counts", user_ids=np.array([f"u{i}" for i in range(counts.shape[0])], dtype=object),
                   video_ids=np.array([f"v{i}" for i in range(1000)], dtype=object),
                   interactions=Interactions(user, video))


def _rounded_only(user: np.ndarray, eligible: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """The holdout before light users were drawn: plain ``round(rate * n_u)`` (the reference for heavy data)."""
    rows = np.flatnonzero(eligible)
    u = user[rows]
    order = np.lexsort((rng.random(rows.shape[0]), u))
    rows, u = rows[order], u[order]
    n_u = np.bincount(u, minlength=int(user.max()) + 1)
    k_u = np.minimum(np.rint(rate * n_u).astype(np.int64), np.maximum(n_u - 1, 0))
    rank = np.arange(rows.shape[0]) - np.concatenate([[0], np.cumsum(n_u)[:-1]])[u]
    out = np.zeros(user.shape[0], dtype=bool)
    out[rows[rank < k_u[u]]] = True
    return out


def test_light_users_held_out_at_the_rate_in_expectation() -> None:
    # 20,000 users with 3 interactions (TikTok's shape): test takes round(0.6) = 1, leaving 2 for train + val,
    # where round(0.1 * 2) = 0 would leave validation empty; each now gives one with probability 0.2
    ds = _users_with(np.full(20_000, 3))
    s = make_split(ds, SplitConfig(training_rate=0.8, val_rate=0.1, seed=0))
    user = ds.interactions.user
    val_u = np.bincount(user[s.mask(VAL)], minlength=20_000)
    assert (np.bincount(user[s.mask(TEST)], minlength=20_000) == 1).all()
    assert (np.bincount(user[s.mask(TRAIN)], minlength=20_000) >= 1).all()
    assert set(np.unique(val_u).tolist()) == {0, 1}
    assert abs(val_u.mean() - 0.2) < 0.015  # 4,000 expected; a binomial's std is 57
    # users of 2 interactions: round(0.2 * 2) = 0 for test, so one is held out with probability 0.4
    two = _users_with(np.full(20_000, 2))
    t = make_split(two, SplitConfig(training_rate=0.8, val_rate=0.0, seed=0))
    assert abs(t.counts()["test"] / 20_000 - 0.4) < 0.015
    assert (np.bincount(two.interactions.user[t.mask(TRAIN)], minlength=20_000) >= 1).all()


def test_without_light_users_the_split_is_plain_rounding() -> None:
    # every user with >= 20 interactions (MovieLens-1M's shape: its lightest user has 17): bit-identical to the
    # rounding-only rule, so every split of such data made before light users were drawn is unchanged
    counts = np.random.default_rng(1).integers(17, 60, size=500)
    ds = _users_with(counts)
    for seed in (0, 1, 2):
        s = make_split(ds, SplitConfig(training_rate=0.8, val_rate=0.1, seed=seed))
        rng, user = np.random.default_rng(seed), ds.interactions.user
        part = np.zeros(user.shape[0], dtype=np.int8)
        part[_rounded_only(user, np.ones_like(part, dtype=bool), 0.2, rng)] = TEST
        part[_rounded_only(user, part == TRAIN, 0.1, rng)] = VAL
        assert np.array_equal(s.part, part)


def test_same_seed_same_split_and_different_seed_differs(world) -> None:
    a = make_split(world, SplitConfig(seed=7))
    b = make_split(world, SplitConfig(seed=7))
    c = make_split(world, SplitConfig(seed=8))
    assert np.array_equal(a.part, b.part)
    assert not np.array_equal(a.part, c.part)


def test_predefined_split_kept_and_val_carved_when_missing() -> None:
    ds = tiny_dataset(with_split=True)
    s = make_split(ds, SplitConfig(kind="predefined", val_rate=0.0))
    assert np.array_equal(s.part, ds.interactions.split)
    no_val = ds.interactions.split.copy()
    no_val[no_val == VAL] = TRAIN
    from dataclasses import replace

    ds2 = replace(ds, interactions=replace(ds.interactions, split=no_val))
    s2 = make_split(ds2, SplitConfig(kind="predefined", val_rate=0.5))
    assert (s2.part[no_val == TEST] == TEST).all()
    assert (s2.part == VAL).sum() > 0


def test_predefined_without_split_is_an_error() -> None:
    with pytest.raises(DatasetError, match="no predefined split"):
        make_split(tiny_dataset(), SplitConfig(kind="predefined"))


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.2, 1.5])
def test_training_rate_outside_open_interval(rate: float) -> None:
    with pytest.raises(ValueError, match="training_rate must be strictly between 0 and 1"):
        SplitConfig(training_rate=rate)


def test_save_load_and_fingerprint_check(tmp_path: Path, world) -> None:
    s = make_split(world, SplitConfig(seed=2))
    s.save(tmp_path / "split.npz")
    back = Split.load(tmp_path / "split.npz")
    assert np.array_equal(back.part, s.part) and back.config == s.config
    back.check(world)
    with pytest.raises(DatasetError, match="fingerprint"):
        back.check(tiny_dataset())
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not a readable hhfan split"):
        Split.load(tmp_path / "bad.npz")


# ------------------------------------------------------------------------------------------- cold split


def test_cold_split_holds_every_interaction_of_each_cold_video_out_of_training(world) -> None:
    cfg = SplitConfig(kind="cold", cold_rate=0.2, training_rate=0.8, val_rate=0.1, seed=4)
    s = make_split(world, cfg)
    video, user = world.interactions.video, world.interactions.user
    assert s.cold_videos.shape == (round(0.2 * world.num_videos),) and s.is_cold
    assert np.array_equal(s.cold_videos, np.unique(s.cold_videos))
    cold = s.cold_rows(video)
    assert not (s.part[cold] == TRAIN).any()
    parts = {int(v): set(s.part[video == v].tolist()) for v in s.cold_videos}
    assert all(len(p) <= 1 for p in parts.values())  # all of a cold video's interactions in one part
    val_v = [v for v, p in parts.items() if p == {VAL}]
    test_v = [v for v, p in parts.items() if p == {TEST}]
    assert abs(len(val_v) - len(test_v)) <= 2 and len(val_v) + len(test_v) >= 0.9 * len(parts)
    assert np.array_equal(np.flatnonzero(s.video_is_cold(world.num_videos)), s.cold_videos)
    # the warm interactions are split per user as kind=random does
    n_u = np.bincount(user[~cold], minlength=world.num_users)
    test_u = np.bincount(user[~cold & (s.part == TEST)], minlength=world.num_users)
    expected = np.minimum(np.rint(0.2 * n_u), np.maximum(n_u - 1, 0))
    assert np.array_equal(test_u[expected >= 1], expected[expected >= 1]) and (test_u[expected == 0] <= 1).all()
    assert (np.bincount(user[s.mask(TRAIN)], minlength=world.num_users)[n_u > 0] >= 1).all()
    assert s.counts()["cold_videos"] == s.cold_videos.shape[0]
    again = make_split(world, cfg)
    assert np.array_equal(again.part, s.part) and np.array_equal(again.cold_videos, s.cold_videos)
    other = make_split(world, SplitConfig(kind="cold", seed=5))
    assert not np.array_equal(other.cold_videos, s.cold_videos)


def test_cold_split_save_load_keeps_the_cold_videos(tmp_path: Path, world) -> None:
    s = make_split(world, SplitConfig(kind="cold", seed=1))
    s.save(tmp_path / "split.npz")
    back = Split.load(tmp_path / "split.npz")
    assert np.array_equal(back.cold_videos, s.cold_videos) and back.config == s.config
    warm = make_split(world, SplitConfig(seed=1))
    warm.save(tmp_path / "warm.npz")
    assert not Split.load(tmp_path / "warm.npz").is_cold and "cold_videos" not in warm.counts()


def test_cold_rate_checked() -> None:
    for rate in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="cold_rate must be strictly between 0 and 1"):
            SplitConfig(kind="cold", cold_rate=rate)
    with pytest.raises(ValueError, match="split kind must be one of"):
        SplitConfig(kind="frozen")
    with pytest.raises(DatasetError, match="at least 2 cold videos"):
        make_split(tiny_dataset(), SplitConfig(kind="cold", cold_rate=0.05))


def test_no_walk_reaches_a_cold_video_through_an_interaction(world) -> None:
    from hhfan.graph.artifacts import GraphBuildConfig, build_artifacts
    from hhfan.graph.mhig import NODE_TYPES, GraphConfig
    from hhfan.graph.sampler import SamplerConfig, trace_walk

    small = generate(SynthConfig(num_users=80, num_videos=160, mean_interactions=10, seed=3))
    sampler = SamplerConfig(num_collect=60)
    art = build_artifacts(small, GraphBuildConfig(SplitConfig(kind="cold", seed=2), GraphConfig(codewords=8), sampler))
    g, cold = art.graph, art.split.cold_videos
    cold_nodes = set((cold + g.offset("video")).tolist())
    is_user = g.node_type == 0
    # no user-video edge of the M-HIG touches a cold video (its attribute and tag links are kept)
    uv = g.edges_between("user", "video")
    assert not np.isin(uv[:, 1], cold).any()
    assert all(g.indptr[c + 1] > g.indptr[c] for c in cold_nodes)
    reached = 0
    for start in range(0, g.offset("video") + g.count("video"), 3):
        moves = trace_walk(g.indptr, g.indices, g.node_type, g.type_offsets, start, sampler, type_names=NODE_TYPES)
        into_cold = np.isin(moves[:, 1], list(cold_nodes))
        reached += int(into_cold.sum())
        assert not (into_cold & is_user[moves[:, 0]]).any()  # never from a user straight into a cold video
        assert not (np.isin(moves[:, 0], list(cold_nodes)) & is_user[moves[:, 1]]).any()
    assert reached > 0  # walks do reach cold videos, through codewords and tags
    video_rows = art.neighbors.ids["video"][: small.num_users][art.neighbors.mask["video"][: small.num_users]]
    assert np.isin(video_rows, cold).any()  # users' RWSS neighbourhoods include cold videos (content links)
