"""The on-disk dataset directory: reading (with row-level problem reports) and atomic writing.

Layout (every table may be ``.csv`` or ``.parquet``, not both; see the README for a worked example)::

    DIR/
      dataset.json            optional: {"name": "...", "synthetic": false}
      users.csv               user_id[, any categorical attribute columns ...]
      videos.csv              video_id[, text]
      interactions.csv        user_id, video_id[, timestamp (integer)][, split (train|val|test)]
      tags.csv                optional: tag   (fixes the tag order; default: sorted names)
      video_tags.csv          optional: video_id, tag
      user_tags.csv           optional: user_id, tag
      tag_tree.csv            optional: parent, child   (tag names)
      features/visual.npy     optional: float [num_videos, d], row i = i-th row of videos.csv
      features/acoustic.npy   optional
      features/textual.npy    optional
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hhfan.data.atomic import atomic_dir
from hhfan.data.dataset import MODALITIES, SPLIT_NAMES, Dataset, DatasetError, Interactions, find_tag_cycle

TABLES: dict[str, tuple[tuple[str, ...], bool]] = {
    # name: (required columns, required file)
    "users": (("user_id",), True),
    "videos": (("video_id",), True),
    "interactions": (("user_id", "video_id"), True),
    "tags": (("tag",), False),
    "video_tags": (("video_id", "tag"), False),
    "user_tags": (("user_id", "tag"), False),
    "tag_tree": (("parent", "child"), False),
}
MAX_LISTED = 5  # problems of one kind listed individually before summarising


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset directory: where it is and what to do about it."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class DatasetDirError(DatasetError):
    """Raised by :func:`read_dataset` when a directory has problems; carries all of them."""

    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{root}: {len(problems)} problem(s); run `hhfan data validate {root}`:\n{lines}")


def _table_path(root: Path, name: str, problems: list[Problem]) -> Path | None:
    found = [p for p in (root / f"{name}.csv", root / f"{name}.parquet") if p.exists()]
    if len(found) == 2:
        problems.append(Problem(f"{name}.csv", None, None, f"both {name}.csv and {name}.parquet exist; keep one"))
        return None
    return found[0] if found else None


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
        return df.astype({c: str for c in df.columns if c not in ("timestamp",)})
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _row(i: int, path: Path) -> int:
    """Human row number: header is line 1 in a CSV, rows count from 1 in Parquet."""
    return i + 2 if path.suffix == ".csv" else i + 1


def _report(problems: list[Problem], path: Path, rows: np.ndarray, column: str, message: str) -> None:
    for i in rows[:MAX_LISTED].tolist():
        problems.append(Problem(path.name, _row(int(i), path), column, message))
    if rows.shape[0] > MAX_LISTED:
        problems.append(Problem(path.name, None, column, f"... and {rows.shape[0] - MAX_LISTED} more such rows"))


def _ids(df: pd.DataFrame, col: str, path: Path, problems: list[Problem]) -> np.ndarray:
    ids = df[col].to_numpy(dtype=object)
    empty = np.flatnonzero(df[col].str.len().to_numpy() == 0)
    _report(problems, path, empty, col, "empty id; every row needs an id")
    dup = np.flatnonzero(df[col].duplicated().to_numpy())
    _report(problems, path, dup, col, "duplicate id; each id must appear once (remove or rename the repeat)")
    return ids


def _lookup(index: pd.Index, values: pd.Series, path: Path, col: str, what: str,
            problems: list[Problem]) -> np.ndarray:
    idx = index.get_indexer(pd.Index(values))
    unknown = np.flatnonzero(idx < 0)
    _report(problems, path, unknown, col, f"unknown {what}; add it to {what}s.csv or drop the row")
    return idx.astype(np.int32)


def _load(root: Path, problems: list[Problem]) -> Dataset | None:
    root = Path(root)
    if not root.is_dir():
        problems.append(Problem(str(root), None, None, "not a directory; point at a dataset directory"))
        return None
    meta: dict[str, object] = {}
    if (root / "dataset.json").exists():
        try:
            meta = json.loads((root / "dataset.json").read_text())
        except json.JSONDecodeError as e:
            problems.append(Problem("dataset.json", e.lineno, None, f"invalid JSON: {e.msg}"))
    tables: dict[str, tuple[Path, pd.DataFrame]] = {}
    for name, (cols, required) in TABLES.items():
        path = _table_path(root, name, problems)
        if path is None:
            if required and not any(p.file.startswith(name + ".") for p in problems):
                problems.append(Problem(f"{name}.csv", None, None, f"missing; a dataset needs {name}.csv "
                                        f"with columns {', '.join(cols)}"))
            continue
        try:
            df = _read_table(path)
        except Exception as e:  # pandas/pyarrow raise many types for malformed files
            problems.append(Problem(path.name, None, None, f"cannot be read: {e}"))
            continue
        missing = [c for c in cols if c not in df.columns]
        for c in missing:
            problems.append(Problem(path.name, None, c, f"missing column; required columns: {', '.join(cols)}"))
        if not missing:
            tables[name] = (path, df)
    if not {"users", "videos", "interactions"} <= tables.keys():
        return None
    upath, users = tables["users"]
    vpath, videos = tables["videos"]
    ipath, inter = tables["interactions"]
    for path, df, what in ((upath, users, "users"), (vpath, videos, "videos"), (ipath, inter, "interactions")):
        if len(df) == 0:
            problems.append(Problem(path.name, None, None, f"no {what}: the dataset is empty"))
    if problems:
        return None
    user_ids = _ids(users, "user_id", upath, problems)
    video_ids = _ids(videos, "video_id", vpath, problems)
    if problems:
        return None
    uindex, vindex = pd.Index(user_ids), pd.Index(video_ids)
    u = _lookup(uindex, inter["user_id"], ipath, "user_id", "user", problems)
    v = _lookup(vindex, inter["video_id"], ipath, "video_id", "video", problems)
    ts = split = None
    if "timestamp" in inter.columns:
        tsn = pd.to_numeric(inter["timestamp"], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(tsn) | (tsn != np.round(tsn)))
        _report(problems, ipath, bad, "timestamp", "not an integer; timestamps must be whole numbers")
        ts = np.nan_to_num(tsn).astype(np.int64)
    if "split" in inter.columns:
        codes = inter["split"].map({n: i for i, n in enumerate(SPLIT_NAMES)}).fillna(-1).to_numpy(dtype=np.int64)
        _report(problems, ipath, np.flatnonzero(codes < 0), "split", "must be one of train, val, test")
        split = codes.astype(np.int8)
    if (u >= 0).all() and (v >= 0).all():
        key = u.astype(np.int64) * len(video_ids) + v
        _report(problems, ipath, np.flatnonzero(pd.Series(key).duplicated().to_numpy()), "video_id",
                "duplicate (user_id, video_id) pair; keep one row per pair")
        no_inter = np.flatnonzero(np.bincount(u, minlength=len(user_ids)) == 0)
        _report(problems, upath, no_inter, "user_id", "user has no interactions; drop the user or add interactions")

    features: dict[str, np.ndarray] = {}
    fdir = root / "features"
    if fdir.exists():
        for f in sorted(fdir.iterdir()):
            if f.suffix != ".npy" or f.stem not in MODALITIES:
                problems.append(Problem(f"features/{f.name}", None, None,
                                        f"unexpected file; features are {', '.join(m + '.npy' for m in MODALITIES)}"))
                continue
            fname = f"features/{f.name}"
            try:
                arr = np.load(f, allow_pickle=False, mmap_mode="r")
            except Exception as e:
                problems.append(Problem(fname, None, None, f"cannot be read as .npy: {e}"))
                continue
            if arr.ndim != 2 or arr.dtype.kind not in "fiu":
                problems.append(Problem(fname, None, None, f"must be a 2-d numeric array, got {arr.dtype} "
                                        f"{arr.shape}; save a float matrix [num_videos, dim]"))
                continue
            if arr.shape[0] != len(video_ids):
                problems.append(Problem(fname, None, None, f"has {arr.shape[0]} rows but videos has "
                                        f"{len(video_ids)}; row i must describe the i-th video"))
                continue
            arr32 = np.asarray(arr, dtype=np.float32)
            bad = np.flatnonzero(~np.isfinite(arr32).all(axis=1))
            for i in bad[:MAX_LISTED].tolist():
                problems.append(Problem(fname, i, None, "NaN or infinite value; impute or drop the video"))
            features[f.stem] = arr32

    if "tags" in tables:
        tag_names = _ids(tables["tags"][1], "tag", tables["tags"][0], problems)
        if problems:
            return None
    else:
        tag_lists = [tables[n][1][c] for n, c in (("video_tags", "tag"), ("user_tags", "tag"),
                                                   ("tag_tree", "parent"), ("tag_tree", "child")) if n in tables]
        tag_names = np.array(sorted(set().union(*[set(t) for t in tag_lists])), dtype=object)
    tindex = pd.Index(tag_names)

    def tag_idx(name: str, col: str) -> np.ndarray:
        path, df = tables[name]
        return _lookup(tindex, df[col], path, col, "tag", problems)

    def pairs(name: str, idcol: str, index: pd.Index, what: str) -> np.ndarray:
        if name not in tables:
            return np.empty((0, 2), dtype=np.int32)
        path, df = tables[name]
        a = _lookup(index, df[idcol], path, idcol, what, problems)
        return np.stack([a, tag_idx(name, "tag")], axis=1)

    video_tags = pairs("video_tags", "video_id", vindex, "video")
    user_tags = pairs("user_tags", "user_id", uindex, "user")
    tag_tree = np.empty((0, 2), dtype=np.int32)
    if "tag_tree" in tables:
        tpath = tables["tag_tree"][0]
        tag_tree = np.stack([tag_idx("tag_tree", "parent"), tag_idx("tag_tree", "child")], axis=1)
        if problems:
            return None
        _report(problems, tpath, np.flatnonzero(tag_tree[:, 0] == tag_tree[:, 1]), "child",
                "a tag cannot be its own parent")
        cycle = find_tag_cycle(tag_tree[tag_tree[:, 0] != tag_tree[:, 1]], len(tag_names))
        if cycle is not None:
            chain = " -> ".join(str(tag_names[i]) for i in cycle)
            problems.append(Problem(tpath.name, None, None, f"tag tree has a cycle: {chain}; remove one edge of it"))
    if problems:
        return None
    attrs = {c: users[c].to_numpy(dtype=object) for c in users.columns if c != "user_id"}
    texts = videos["text"].to_numpy(dtype=object) if "text" in videos.columns else None
    return Dataset(
        name=str(meta.get("name", root.name)), user_ids=user_ids, video_ids=video_ids,
        interactions=Interactions(u, v, ts, split), features=features, tag_names=tag_names,
        video_tags=video_tags, user_tags=user_tags, tag_tree=tag_tree, user_attributes=attrs,
        video_texts=texts, synthetic=bool(meta.get("synthetic", False)),
    )


def validate_dir(root: Path) -> list[Problem]:
    """Check a dataset directory and return every problem found (empty list = clean). Never writes."""
    problems: list[Problem] = []
    try:
        _load(Path(root), problems)
    except DatasetError as e:
        problems.append(Problem(str(root), None, None, str(e)))
    return problems


def read_dataset(root: Path) -> Dataset:
    """Load a dataset directory into a :class:`Dataset`; raise :class:`DatasetDirError` listing problems."""
    problems: list[Problem] = []
    ds = _load(Path(root), problems)
    if problems or ds is None:
        raise DatasetDirError(Path(root), problems)
    return ds


def write_dataset(ds: Dataset, root: Path, fmt: str = "csv", overwrite: bool = False) -> Path:
    """Write ``ds`` as a dataset directory (``fmt`` = ``csv`` or ``parquet``), atomically.

    The directory appears only once complete; an error mid-way leaves nothing behind.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, got {fmt!r}")

    def put(df: pd.DataFrame, base: Path) -> None:
        if fmt == "csv":
            df.to_csv(base.with_suffix(".csv"), index=False)
        else:
            df.to_parquet(base.with_suffix(".parquet"), index=False)

    root = Path(root)
    with atomic_dir(root, overwrite=overwrite) as tmp:
        (tmp / "dataset.json").write_text(json.dumps({"name": ds.name, "synthetic": ds.synthetic}, indent=2))
        users = pd.DataFrame({"user_id": ds.user_ids, **ds.user_attributes})
        put(users, tmp / "users")
        videos = pd.DataFrame({"video_id": ds.video_ids})
        if ds.video_texts is not None:
            videos["text"] = ds.video_texts
        put(videos, tmp / "videos")
        it = ds.interactions
        inter = pd.DataFrame({"user_id": ds.user_ids[it.user], "video_id": ds.video_ids[it.video]})
        if it.timestamp is not None:
            inter["timestamp"] = it.timestamp
        if it.split is not None:
            inter["split"] = np.asarray(SPLIT_NAMES, dtype=object)[it.split]
        put(inter, tmp / "interactions")
        if ds.num_tags:
            put(pd.DataFrame({"tag": ds.tag_names}), tmp / "tags")
        if ds.video_tags.size:
            put(pd.DataFrame({"video_id": ds.video_ids[ds.video_tags[:, 0]],
                              "tag": ds.tag_names[ds.video_tags[:, 1]]}), tmp / "video_tags")
        if ds.user_tags.size:
            put(pd.DataFrame({"user_id": ds.user_ids[ds.user_tags[:, 0]],
                              "tag": ds.tag_names[ds.user_tags[:, 1]]}), tmp / "user_tags")
        if ds.tag_tree.size:
            put(pd.DataFrame({"parent": ds.tag_names[ds.tag_tree[:, 0]],
                              "child": ds.tag_names[ds.tag_tree[:, 1]]}), tmp / "tag_tree")
        if ds.features:
            (tmp / "features").mkdir()
            for m, f in ds.features.items():
                np.save(tmp / "features" / f"{m}.npy", np.ascontiguousarray(f, dtype=np.float32))
    return root
