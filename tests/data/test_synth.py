"""Tests of the synthetic world generator: determinism, sizes, planted structure, validation, I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hhfan.data.dataset import Dataset, find_tag_cycle
from hhfan.data.io import read_dataset, write_dataset
from hhfan.data.synth import SynthConfig, generate

CFG = SynthConfig(num_users=800, num_videos=1500, seed=3)


@pytest.fixture(scope="module")
def world() -> Dataset:
    return generate(CFG)


def primary_leaf(ds: Dataset, cfg: SynthConfig = CFG) -> np.ndarray:
    """Leaf topic (0..num_leaves-1) of every video: its first ``video_tags`` row."""
    vt = ds.video_tags
    _, first = np.unique(vt[:, 0], return_index=True)
    b0, b1, _ = cfg.tag_branching
    return vt[first, 1] - (b0 + b0 * b1)


def test_deterministic_in_seed(world: Dataset) -> None:
    assert generate(CFG).fingerprint() == world.fingerprint()
    other = generate(SynthConfig(num_users=800, num_videos=1500, seed=4))
    assert other.fingerprint() != world.fingerprint()


def test_sizes_and_types(world: Dataset) -> None:
    assert world.name == "synthetic" and world.synthetic
    assert world.num_users == 800 and world.num_videos == 1500
    assert world.user_ids[0] == "u0" and world.video_ids[-1] == "v1499"
    assert {m: f.shape for m, f in world.features.items()} == {
        "visual": (1500, 64), "acoustic": (1500, 32), "textual": (1500, 48)}
    assert all(f.dtype == np.float32 for f in world.features.values())
    it = world.interactions
    assert it.user.dtype == np.int32 and it.video.dtype == np.int32 and it.timestamp.dtype == np.int64
    assert it.split is None and world.video_texts is None
    assert world.num_tags == 4 + 12 + 36
    assert set(world.user_attributes) == {"gender", "age", "region"}
    # every video has exactly one primary leaf, and every leaf topic has videos
    assert np.unique(primary_leaf(world)).shape[0] == 36
    assert np.unique(world.video_tags[:, 0]).shape[0] == 1500


def test_interaction_counts(world: Dataset) -> None:
    counts = np.bincount(world.interactions.user, minlength=world.num_users)
    assert counts.min() >= 1
    assert (counts >= CFG.min_interactions).mean() > 0.95
    assert 0.8 * CFG.mean_interactions < counts.mean() < 1.2 * CFG.mean_interactions
    assert counts.max() <= CFG.num_videos // 2


def test_timestamps_increase_per_user(world: Dataset) -> None:
    it = world.interactions
    assert (np.diff(it.user) >= 0).all()  # grouped by user
    same = np.diff(it.user) == 0
    assert (np.diff(it.timestamp)[same] > 0).all()
    no_ts = generate(SynthConfig(num_users=50, num_videos=100, timestamps=False))
    assert no_ts.interactions.timestamp is None


def test_features_cluster_by_leaf_topic(world: Dataset) -> None:
    leaf = primary_leaf(world)
    rng = np.random.default_rng(0)
    for m, f in world.features.items():
        x = f / np.linalg.norm(f, axis=1, keepdims=True)
        a, b = rng.integers(0, 1500, (2, 4000))
        random_cos = (x[a] * x[b]).sum(1).mean()
        same = leaf[a][:, None] == leaf[None, :]
        b2 = np.array([rng.choice(np.flatnonzero(s)) for s in same[:500]])
        same_cos = (x[a[:500]] * x[b2]).sum(1).mean()
        assert same_cos > random_cos + 0.3, (m, same_cos, random_cos)


def test_sibling_topics_are_closer_than_other_roots(world: Dataset) -> None:
    leaf = primary_leaf(world)
    x = world.features["visual"]
    centroids = np.stack([x[leaf == t].mean(0) for t in range(36)])
    c = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    sim = c @ c.T
    root = np.arange(36) // 9
    same_root = (root[:, None] == root[None, :]) & ~np.eye(36, dtype=bool)
    assert sim[same_root].mean() > sim[root[:, None] != root[None, :]].mean() + 0.2


def test_users_concentrate_on_interest_topics(world: Dataset) -> None:
    it = world.interactions
    leaf = primary_leaf(world)[it.video]
    per = np.bincount(it.user.astype(np.int64) * 36 + leaf, minlength=world.num_users * 36).reshape(-1, 36)
    top3 = np.sort(per, axis=1)[:, -3:].sum(1) / per.sum(1)
    assert top3.mean() > 0.6
    # region carries signal: it usually matches the root the user interacts with most
    roots = per.reshape(-1, 4, 9).sum(2).argmax(1)
    region = np.array([int(r[3:]) for r in world.user_attributes["region"]])
    assert (region == roots).mean() > 0.5


def test_popularity_is_heavy_tailed(world: Dataset) -> None:
    per_video = np.sort(np.bincount(world.interactions.video, minlength=world.num_videos))[::-1]
    assert per_video[: world.num_videos // 10].sum() / per_video.sum() > 0.3


def test_tag_tree_has_three_levels(world: Dataset) -> None:
    tt, names = world.tag_tree, world.tag_names
    assert find_tag_cycle(tt, world.num_tags) is None
    parent = dict(zip(tt[:, 1].tolist(), tt[:, 0].tolist(), strict=True))  # one parent per child
    depth = {t: 0 if t not in parent else 1 + (parent[t] in parent) for t in range(world.num_tags)}
    assert sorted(set(depth.values())) == [0, 1, 2]
    for child, par in parent.items():
        assert names[child].rsplit(".", 1)[0] == names[par]
    assert [str(n) for n in names[[0, 4, 16]]] == ["r0", "r0.m0", "r0.m0.l0"]
    # video tags are leaves or mids, never roots
    assert (world.video_tags[:, 1] >= 4).all()


def test_progress_and_small_modalities() -> None:
    calls: list[tuple[int, int]] = []
    cfg = SynthConfig(num_users=30, num_videos=40, dims={"visual": 8}, noise={"visual": 0.1},
                      tag_branching=(2, 2, 2), mean_interactions=5, min_interactions=1)
    ds = generate(cfg, progress=lambda d, n: calls.append((d, n)))
    assert calls[-1] == (30, 30)
    assert ds.modalities == ("visual",) and ds.features["visual"].shape == (40, 8)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_users": 0}, "num_users"),
    ({"num_videos": 10}, "leaf topics"),
    ({"seed": -1}, "seed"),
    ({"mean_interactions": 0}, "mean_interactions"),
    ({"min_interactions": 0}, "min_interactions"),
    ({"num_videos": 40, "min_interactions": 30}, "num_videos // 2"),
    ({"tag_branching": (2, 0, 2)}, "tag_branching"),
    ({"interest_topics": 0}, "interest_topics"),
    ({"exploration": 1.5}, "exploration"),
    ({"popularity_exponent": -1.0}, "popularity_exponent"),
    ({"dims": {"video": 8}}, "unknown modality"),
    ({"dims": {"visual": 0}}, "dims"),
    ({"dims": {"visual": 8}, "noise": {}}, "noise"),
])
def test_config_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SynthConfig(**kwargs)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_read_round_trip(tmp_path: Path, fmt: str) -> None:
    ds = generate(SynthConfig(num_users=120, num_videos=200, seed=7))
    back = read_dataset(write_dataset(ds, tmp_path / "world", fmt=fmt))
    assert back.synthetic and back.name == "synthetic"
    assert back.fingerprint() == ds.fingerprint()


@pytest.mark.slow
def test_medium_world_runs() -> None:
    calls: list[int] = []
    ds = generate(SynthConfig(num_users=20_000, num_videos=40_000, seed=1),
                  progress=lambda d, n: calls.append(d))
    assert calls[-1] == 20_000
    counts = np.bincount(ds.interactions.user, minlength=20_000)
    assert counts.min() >= 1 and 0.8 * 40 < counts.mean() < 1.2 * 40
