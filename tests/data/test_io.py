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


# ------------------------------------------------------------------- hostile and careless inputs (issue 18)
def _edit_csv(path: Path, **cells: tuple[int, str]) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col, (row, value) in cells.items():
        df.loc[row, col] = value
    df.to_csv(path, index=False)


def _parquet_dir(tmp_path: Path) -> Path:
    return write_dataset(tiny_dataset(with_split=True), tmp_path / "pq", fmt="parquet")


def test_parquet_null_id_is_a_problem_with_row_and_column(tmp_path: Path) -> None:
    d = _parquet_dir(tmp_path)
    df = pd.read_parquet(d / "interactions.parquet")
    df["video_id"] = df["video_id"].astype(object)
    df.loc[2, "video_id"] = None
    df.to_parquet(d / "interactions.parquet", index=False)
    msgs = _messages(d)
    assert "interactions.parquet, row 3, column 'video_id': null value; every row needs one" in msgs, msgs


def test_parquet_null_attribute_is_unknown_like_an_empty_csv_cell(tmp_path: Path) -> None:
    d = _parquet_dir(tmp_path)
    df = pd.read_parquet(d / "users.parquet")
    df.loc[0, "gender"] = None
    df.to_parquet(d / "users.parquet", index=False)
    assert validate_dir(d) == []
    assert read_dataset(d).user_attributes["gender"].tolist() == ["", "m", "f", ""]


def test_timestamps_above_2_53_are_exact(tiny_dir: Path) -> None:
    _edit_csv(tiny_dir / "interactions.csv", timestamp=(0, str(2**53 + 1)))
    _edit_csv(tiny_dir / "interactions.csv", timestamp=(1, str(2**63 - 1)))
    ts = read_dataset(tiny_dir).interactions.timestamp
    assert ts is not None and int(ts[0]) == 2**53 + 1 and int(ts[1]) == 2**63 - 1


def test_timestamps_beyond_int64_are_refused_not_wrapped(tiny_dir: Path) -> None:
    _edit_csv(tiny_dir / "interactions.csv", timestamp=(1, str(2**63)))
    msgs = _messages(tiny_dir)
    assert any("row 3, column 'timestamp': beyond the int64 range ('9223372036854775808')" in m for m in msgs), msgs


def test_parquet_timestamps_exact_or_refused(tmp_path: Path) -> None:
    d = _parquet_dir(tmp_path)
    df = pd.read_parquet(d / "interactions.parquet")
    df["timestamp"] = df["timestamp"].astype(np.int64)
    df.loc[0, "timestamp"] = 2**53 + 1
    df.to_parquet(d / "interactions.parquet", index=False)
    ts = read_dataset(d).interactions.timestamp
    assert ts is not None and int(ts[0]) == 2**53 + 1
    df["timestamp"] = df["timestamp"].astype(np.uint64)
    df.loc[1, "timestamp"] = np.uint64(2**64 - 1)
    df.to_parquet(d / "interactions.parquet", index=False)
    assert any("row 2, column 'timestamp': beyond the int64 range" in m for m in _messages(d))
    df["timestamp"] = np.arange(len(df), dtype=np.float64) + 2.0**60
    df.to_parquet(d / "interactions.parquet", index=False)
    assert any("column 'timestamp': a float beyond 2**53" in m for m in _messages(d))


def test_a_misspelt_optional_column_is_reported_with_the_known_ones(tiny_dir: Path) -> None:
    df = pd.read_csv(tiny_dir / "interactions.csv", dtype=str).rename(columns={"split": "Split"})
    df.to_csv(tiny_dir / "interactions.csv", index=False)
    msgs = _messages(tiny_dir)
    assert ("interactions.csv, column 'Split': unknown column; did you mean 'split'? interactions columns are "
            "user_id, video_id, timestamp, split; rename or drop it") in msgs, msgs


def test_a_wrong_separator_shows_the_header_found(tiny_dir: Path) -> None:
    df = pd.read_csv(tiny_dir / "interactions.csv", dtype=str)
    df.to_csv(tiny_dir / "interactions.csv", index=False, sep=";")
    msgs = _messages(tiny_dir)
    assert any("column 'user_id': missing column; required columns: user_id, video_id; the header found is "
               "'user_id;video_id;timestamp;split'; the file seems separated by ';'" in m for m in msgs), msgs


def test_empty_and_space_padded_ids_name_the_value(tiny_dir: Path) -> None:
    _edit_csv(tiny_dir / "interactions.csv", video_id=(0, " v1"))
    _edit_csv(tiny_dir / "interactions.csv", user_id=(1, ""))
    msgs = _messages(tiny_dir)
    assert any("row 2, column 'video_id': unknown video ' v1' (without its spaces it would be the known video "
               "'v1'; remove the spaces)" in m for m in msgs), msgs
    assert any("row 3, column 'user_id': empty user_id; every row needs one" in m for m in msgs), msgs


def test_a_space_padded_id_in_the_id_list_is_a_problem(tiny_dir: Path) -> None:
    _edit_csv(tiny_dir / "videos.csv", video_id=(0, "v0 "))
    msgs = _messages(tiny_dir)
    assert any("videos.csv, row 2, column 'video_id': id 'v0 ' has leading or trailing spaces" in m for m in msgs)


def test_a_very_wide_table_is_refused_from_its_header(tiny_dir: Path) -> None:
    import time

    header = "user_id," + ",".join(f"c{i}" for i in range(1_000_000))
    (tiny_dir / "users.csv").write_text(header + "\nu0" + "," * 1_000_000 + "\n")
    t0 = time.perf_counter()
    msgs = _messages(tiny_dir)
    assert time.perf_counter() - t0 < 5
    assert any(m.startswith("users.csv: refused: its header line is longer than") and
               "at most 1,000 columns are read" in m for m in msgs), msgs
    (tiny_dir / "users.csv").write_text("user_id," + ",".join(f"c{i}" for i in range(5000)) + "\nu0\n")
    assert any(m.startswith("users.csv: refused: 5,001 columns") for m in _messages(tiny_dir))


@pytest.mark.parametrize("where", ["users.csv", "features/visual.npy"])
def test_a_fifo_is_refused_without_hanging(tiny_dir: Path, where: str) -> None:
    import os
    import threading

    (tiny_dir / where).unlink()
    os.mkfifo(tiny_dir / where)
    box: list[list[str]] = []
    t = threading.Thread(target=lambda: box.append(_messages(tiny_dir)), daemon=True)
    t.start()
    t.join(20)
    assert box, "validate hung on a FIFO"
    assert any(m.startswith(f"{where}: not a regular file") for m in box[0]), box[0]


def test_features_being_a_file_is_a_problem(tiny_dir: Path) -> None:
    import shutil

    shutil.rmtree(tiny_dir / "features")
    (tiny_dir / "features").write_text("not a folder")
    msgs = _messages(tiny_dir)
    assert any(m.startswith("features: not a folder") for m in msgs), msgs
    with pytest.raises(DatasetDirError, match="features: not a folder"):
        read_dataset(tiny_dir)


@pytest.mark.parametrize(("content", "match"), [
    (b"[1, 2]", "dataset.json: holds a JSON list; expected a JSON object"),
    (b'"just a name"', "dataset.json: holds a JSON str"),
    (b'{"name": "x", "synthetic": "no"}', "dataset.json, column 'synthetic': must be true or false"),
    (b'{"name": "caf\xe9"}', "dataset.json: not UTF-8 text"),
])
def test_a_bad_dataset_json_is_a_problem(tiny_dir: Path, content: bytes, match: str) -> None:
    (tiny_dir / "dataset.json").write_bytes(content)
    msgs = _messages(tiny_dir)
    assert any(m.startswith(match) for m in msgs), msgs


def test_a_feature_beyond_float32_is_named_as_such(tiny_dir: Path) -> None:
    x = np.ones((6, 3), np.float64)
    x[3, 2] = 1e300
    np.save(tiny_dir / "features" / "acoustic.npy", x)
    msgs = _messages(tiny_dir)
    assert any("features/acoustic.npy, row 3: value 1e+300 is beyond the float32 range" in m for m in msgs), msgs
    assert not any("NaN or infinite" in m for m in msgs), msgs


def test_load_is_split_into_documented_steps() -> None:
    import inspect

    from hhfan.data import io

    steps = [io._read_meta, io._read_tables, io._read_interactions, io._read_features, io._read_tags,
             io._timestamps, io._load]
    for fn in steps:
        assert fn.__doc__, fn.__name__
        assert len(inspect.getsource(fn).splitlines()) <= 60, fn.__name__
