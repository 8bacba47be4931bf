"""The dataset directory format: round trip, and every bad-input case named with file/row/column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hhfan.data.dataset import Dataset, DatasetError, Interactions
from hhfan.data.io import DatasetDirError, read_dataset, validate_dir, write_dataset
from tests.conftest import tiny_dataset


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return write_dataset(tiny_dataset(with_split=True), tmp_path / "ds")


def _messages(path: Path) -> list[str]:
    return [str(p) for p in validate_dir(path)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_keeps_fingerprint(tmp_path: Path, fmt: str) -> None:
    ds = tiny_dataset(with_split=True)
    out = write_dataset(ds, tmp_path / "ds", fmt=fmt)
    assert validate_dir(out) == []
    back = read_dataset(out)
    assert back.fingerprint() == ds.fingerprint()
    assert back.num_tags == 3 and back.tag_tree.tolist() == [[0, 1]]
    assert back.user_attributes["gender"].tolist() == ["f", "m", "f", ""]


def test_write_refuses_existing_and_leaves_nothing_on_failure(tmp_path: Path, monkeypatch) -> None:
    ds = tiny_dataset()
    out = write_dataset(ds, tmp_path / "ds")
    with pytest.raises(FileExistsError):
        write_dataset(ds, out)

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(ds, tmp_path / "other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no half-written dir, no temp dir


def test_missing_file(tiny_dir: Path) -> None:
    (tiny_dir / "interactions.csv").unlink()
    msgs = _messages(tiny_dir)
    assert any(m.startswith("interactions.csv: missing") for m in msgs), msgs
    with pytest.raises(DatasetDirError, match=r"interactions\.csv"):
        read_dataset(tiny_dir)


def test_missing_column(tiny_dir: Path) -> None:
    df = pd.read_csv(tiny_dir / "interactions.csv", dtype=str).drop(columns=["video_id"])
    df.to_csv(tiny_dir / "interactions.csv", index=False)
    assert any("interactions.csv, column 'video_id': missing column" in m for m in _messages(tiny_dir))


def test_duplicate_ids_name_the_row(tiny_dir: Path) -> None:
    df = pd.read_csv(tiny_dir / "videos.csv", dtype=str, keep_default_na=False)
    df.loc[3, "video_id"] = "v1"
    df.to_csv(tiny_dir / "videos.csv", index=False)
    msgs = _messages(tiny_dir)
    assert any("videos.csv, row 5, column 'video_id': duplicate id" in m for m in msgs), msgs


def test_unknown_user_and_video(tiny_dir: Path) -> None:
    df = pd.read_csv(tiny_dir / "interactions.csv", dtype=str, keep_default_na=False)
    df.loc[0, "user_id"] = "ghost"
    df.loc[2, "video_id"] = "nope"
    df.to_csv(tiny_dir / "interactions.csv", index=False)
    msgs = _messages(tiny_dir)
    assert any("interactions.csv, row 2, column 'user_id': unknown user" in m for m in msgs), msgs
    assert any("interactions.csv, row 4, column 'video_id': unknown video" in m for m in msgs), msgs


def test_feature_rows_mismatch(tiny_dir: Path) -> None:
    np.save(tiny_dir / "features" / "visual.npy", np.zeros((5, 4), np.float32))
    assert any("features/visual.npy: has 5 rows but videos has 6" in m for m in _messages(tiny_dir))


def test_nan_and_inf_features(tiny_dir: Path) -> None:
    x = np.ones((6, 3), np.float32)
    x[2, 1], x[4, 0] = np.nan, np.inf
    np.save(tiny_dir / "features" / "acoustic.npy", x)
    msgs = _messages(tiny_dir)
    assert any("features/acoustic.npy, row 2: NaN or infinite" in m for m in msgs), msgs
    assert any("features/acoustic.npy, row 4: NaN or infinite" in m for m in msgs), msgs


def test_wrong_dtypes(tiny_dir: Path) -> None:
    np.save(tiny_dir / "features" / "visual.npy", np.array([["a"] * 4] * 6))
    df = pd.read_csv(tiny_dir / "interactions.csv", dtype=str, keep_default_na=False)
    df.loc[1, "timestamp"] = "yesterday"
    df.loc[3, "split"] = "holdout"
    df.to_csv(tiny_dir / "interactions.csv", index=False)
    msgs = _messages(tiny_dir)
    assert any("features/visual.npy: must be a 2-d numeric array" in m for m in msgs), msgs
    assert any("row 3, column 'timestamp': not an integer" in m for m in msgs), msgs
    assert any("row 5, column 'split': must be one of train, val, test" in m for m in msgs), msgs


def test_empty_dataset(tiny_dir: Path) -> None:
    pd.DataFrame({"user_id": [], "video_id": []}).to_csv(tiny_dir / "interactions.csv", index=False)
    assert any("no interactions: the dataset is empty" in m for m in _messages(tiny_dir))


def test_user_without_interactions(tiny_dir: Path) -> None:
    df = pd.read_csv(tiny_dir / "users.csv", dtype=str, keep_default_na=False)
    df.loc[len(df)] = ["lonely", "m"]
    df.to_csv(tiny_dir / "users.csv", index=False)
    assert any("users.csv, row 6, column 'user_id': user has no interactions" in m for m in _messages(tiny_dir))


def test_tag_tree_cycle(tiny_dir: Path) -> None:
    pd.DataFrame({"parent": ["sport", "football", "music"], "child": ["football", "music", "sport"]}).to_csv(
        tiny_dir / "tag_tree.csv", index=False)
    msgs = _messages(tiny_dir)
    assert any("tag_tree.csv: tag tree has a cycle" in m for m in msgs), msgs


def test_duplicate_interaction_pair(tiny_dir: Path) -> None:
    df = pd.read_csv(tiny_dir / "interactions.csv", dtype=str, keep_default_na=False)
    pd.concat([df, df.iloc[[0]]]).to_csv(tiny_dir / "interactions.csv", index=False)
    assert any("row 13, column 'video_id': duplicate (user_id, video_id)" in m for m in _messages(tiny_dir))


def test_validate_never_writes(tiny_dir: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in tiny_dir.rglob("*")}
    validate_dir(tiny_dir)
    assert {p: p.stat().st_mtime_ns for p in tiny_dir.rglob("*")} == before


def test_not_a_directory(tmp_path: Path) -> None:
    assert "not a directory" in _messages(tmp_path / "nope")[0]


def test_dataset_contract_in_code() -> None:
    ids = np.array(["a", "b"], dtype=object)
    vids = np.array(["x", "y"], dtype=object)
    ok = Interactions(np.array([0, 1], np.int32), np.array([0, 1], np.int32))
    with pytest.raises(DatasetError, match="float32"):
        Dataset("d", ids, vids, ok, features={"visual": np.zeros((2, 2))})
    with pytest.raises(DatasetError, match="no interactions"):
        Dataset("d", ids, vids, Interactions(np.array([0], np.int32), np.array([1], np.int32)))
    with pytest.raises(DatasetError, match="unknown video"):
        Dataset("d", ids, vids, Interactions(np.array([0, 1], np.int32), np.array([0, 5], np.int32)))
    with pytest.raises(DatasetError, match="cycle"):
        Dataset("d", ids, vids, ok, tag_names=np.array(["p", "q"], dtype=object),
                tag_tree=np.array([[0, 1], [1, 0]], np.int32))
    with pytest.raises(DatasetError, match="empty"):
        Dataset("d", np.empty(0, dtype=object), vids, ok)
