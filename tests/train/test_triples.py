"""Training-set generation (§III-F): negatives, walk positives within τ, per-epoch determinism."""

from __future__ import annotations

import numpy as np
import pytest

from hhfan.data.split import TRAIN, SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.mhig import GraphConfig, build_graph
from hhfan.train.triples import TrainingPairs, epoch_triples, sample_negatives, walk_positives


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
    empty = np.empty((0, 2), np.int64)
    a = epoch_triples(pairs, empty, 2, seed=1, epoch=3)
    b = epoch_triples(pairs, empty, 2, seed=1, epoch=3)
    c = epoch_triples(pairs, empty, 2, seed=1, epoch=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])
    assert a[0].shape[0] == 2 * pairs.user.shape[0]
    assert pairs.contains(a[0], a[1]).all() and not pairs.contains(a[0], a[2]).any()


def test_walk_positives_tau(setup) -> None:
    ds, split, pairs = setup
    g = build_graph(ds, split, GraphConfig(codewords=8))
    assert walk_positives(g, pairs, tau=1, per_user=5, seed=0).shape == (0, 2)
    extra = walk_positives(g, pairs, tau=3, per_user=5, seed=0)
    assert extra.shape[0] > 0 and extra.shape[1] == 2
    assert not pairs.contains(extra[:, 0], extra[:, 1]).any()  # new positives only
    assert np.bincount(extra[:, 0]).max() <= 5
    assert np.unique(extra, axis=0).shape[0] == extra.shape[0]
