"""Split properties: per-user holdout rates, every user keeps training data, determinism, fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hhfan.data.dataset import DatasetError
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
    assert np.array_equal(test_u, expected_test)
    overall = s.counts()["test"] / len(world.interactions)
    assert abs(overall - (1 - rate)) < 0.02
    assert s.counts()["val"] > 0


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
