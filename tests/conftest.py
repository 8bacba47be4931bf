"""Shared fixtures: tiny datasets built in code, and the location of the real data (skip when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hhfan.data.dataset import Dataset, Interactions

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """``../shared/data`` next to the repository (or $HHFAN_SHARED_DATA)."""
    return Path(os.environ.get("HHFAN_SHARED_DATA", REPO.parent / "shared" / "data"))


def tiny_dataset(with_split: bool = False) -> Dataset:
    """4 users, 6 videos, 2 modalities, tags with a tree, user attributes; every user >= 2 interactions."""
    rng = np.random.default_rng(0)
    pairs = np.array([[0, 0], [0, 1], [0, 2], [1, 1], [1, 3], [2, 2], [2, 4], [2, 5], [3, 0], [3, 5], [3, 4]])
    split = np.array([0, 0, 2, 0, 2, 0, 1, 2, 0, 0, 2], dtype=np.int8) if with_split else None
    return Dataset(
        name="tiny",
        user_ids=np.array(["u0", "u1", "u2", "u3"], dtype=object),
        video_ids=np.array([f"v{i}" for i in range(6)], dtype=object),
        interactions=Interactions(pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32),
                                  timestamp=np.arange(11, dtype=np.int64), split=split),
        features={"visual": rng.normal(size=(6, 4)).astype(np.float32),
                  "acoustic": rng.normal(size=(6, 3)).astype(np.float32)},
        tag_names=np.array(["sport", "football", "music"], dtype=object),
        video_tags=np.array([[0, 1], [1, 1], [2, 2], [3, 0], [4, 2], [5, 1]], dtype=np.int32),
        tag_tree=np.array([[0, 1]], dtype=np.int32),
        user_attributes={"gender": np.array(["f", "m", "f", ""], dtype=object)},
        video_texts=np.array(["a", "b", "c", "d", "e", "f"], dtype=object),
    )


@pytest.fixture
def tiny() -> Dataset:
    """The tiny in-code dataset."""
    return tiny_dataset()


@pytest.fixture
def real_data() -> Path:
    """Path of ../shared/data; skips the test cleanly when it is absent."""
    path = shared_data()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def synthetic_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A written synthetic dataset directory (200 users, 400 videos, features, tags), shared by the run tests."""
    from hhfan.data.io import write_dataset
    from hhfan.data.synth import SynthConfig, generate

    ds = generate(SynthConfig(num_users=200, num_videos=400, mean_interactions=25, seed=5))
    return write_dataset(ds, tmp_path_factory.mktemp("world") / "data")
