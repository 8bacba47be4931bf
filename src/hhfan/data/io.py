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

import csv
import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"videos": ("text",), "interactions": ("timestamp", "split")}
"""Optional columns per table; any other column is an error (except in ``users``: attributes)."""
MAX_LISTED = 5  # problems of one kind listed individually before summarising
MAX_COLUMNS = 1000
"""A table with more columns is refused from its header, before it is parsed (bounds what one file costs)."""
MAX_HEADER_BYTES = 1 << 20
MAX_META_BYTES = 1 << 20
_INT64_MAX = 2**63 - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)


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
    """The one file of table ``name`` (``.csv`` or ``.parquet``), or None; two files or a non-file are problems."""
    found = [p for p in (root / f"{name}.csv", root / f"{name}.parquet") if p.exists() or p.is_symlink()]
    if len(found) == 2:
        problems.append(Problem(f"{name}.csv", None, None, f"both {name}.csv and {name}.parquet exist; keep one"))
        return None
    if found and not found[0].is_file():
        problems.append(Problem(found[0].name, None, None, "not a regular file (a folder, FIFO, device or broken "
                                "link); a table must be a plain file"))
        return None
    return found[0] if found else None


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file, read from its first line only (bounded: see :data:`MAX_HEADER_BYTES`)."""
    with path.open("r", encoding="utf-8", newline="") as fh:
        line = fh.readline(MAX_HEADER_BYTES + 1)
    if len(line) > MAX_HEADER_BYTES:
        raise _TooWideError(f"its header line is longer than {MAX_HEADER_BYTES:,} characters "
                            f"(more than {line.count(',') + 1:,} columns)")
    return next(csv.reader([line]), [])


class _TooWideError(ValueError):
    """A table with more columns than :data:`MAX_COLUMNS` (refused before it is parsed)."""


def _read_table(path: Path, id_columns: tuple[str, ...], problems: list[Problem]) -> pd.DataFrame:
    """Read one table as strings; a null cell of ``id_columns`` is a problem, other nulls become ``""``.

    The width is checked on the header (CSV) or the schema (Parquet) before anything is parsed, so a file of
    a million columns is refused at once. A Parquet ``timestamp`` column keeps its numeric dtype (exact
    integers; see :func:`_timestamps`).
    """
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        width = len(pq.read_schema(path).names)
        if width > MAX_COLUMNS:
            raise _TooWideError(f"{width:,} columns")
        df = pq.read_table(path).to_pandas(types_mapper=_nullable_int)  # ints with nulls stay exact
        for c in df.columns:
            if c == "timestamp":
                continue
            null = df[c].isna().to_numpy()
            if null.any():
                if c in id_columns:
                    _report(problems, path, np.flatnonzero(null), str(c), "null value; every row needs one")
                df[c] = df[c].astype(object).where(~null, "")
        return df.astype({c: str for c in df.columns if c != "timestamp"})
    width = len(_csv_header(path))
    if width > MAX_COLUMNS:
        raise _TooWideError(f"{width:,} columns")
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _nullable_int(t: Any) -> Any:
    """pandas' nullable integer dtype for an Arrow integer type (None for other types): no float detour."""
    import pyarrow as pa

    if not pa.types.is_integer(t):
        return None
    return pd.api.types.pandas_dtype(f"{'U' if pa.types.is_unsigned_integer(t) else ''}Int{t.bit_width}")


def _row(i: int, path: Path) -> int:
    """Human row number: header is line 1 in a CSV, rows count from 1 in Parquet."""
    return i + 2 if path.suffix == ".csv" else i + 1


def _report(problems: list[Problem], path: Path, rows: np.ndarray, column: str | None,
            message: str | Callable[[int], str]) -> None:
    """One problem per row of ``rows`` (at most :data:`MAX_LISTED`, then a summary); ``message`` may name the row."""
    for i in rows[:MAX_LISTED].tolist():
        text = message(int(i)) if callable(message) else message
        problems.append(Problem(path.name, _row(int(i), path), column, text))
    if rows.shape[0] > MAX_LISTED:
        problems.append(Problem(path.name, None, column, f"... and {rows.shape[0] - MAX_LISTED} more such rows"))


def _show(value: object) -> str:
    """``repr`` of a cell value, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ids(df: pd.DataFrame, col: str, path: Path, problems: list[Problem]) -> np.ndarray:
    """The id column ``col``: every id non-empty, without surrounding spaces, and unique."""
    ids = df[col].to_numpy(dtype=object)
    s = df[col]
    empty = np.flatnonzero(s.str.len().to_numpy() == 0)
    _report(problems, path, empty, col, "empty id; every row needs an id")
    padded = np.flatnonzero(((s.str.strip() != s) & (s.str.len() > 0)).to_numpy())
    _report(problems, path, padded, col,
            lambda i: f"id {_show(ids[i])} has leading or trailing spaces; remove them (ids are compared exactly)")
    dup = np.flatnonzero(s.duplicated().to_numpy())
    _report(problems, path, dup, col,
            lambda i: f"duplicate id {_show(ids[i])}; each id must appear once (remove or rename the repeat)")
    return ids


def _lookup(index: pd.Index, values: pd.Series, path: Path, col: str, what: str,
            problems: list[Problem]) -> np.ndarray:
    """Indices of ``values`` in ``index``; an empty or unknown value is a problem naming the value."""
    idx = index.get_indexer(pd.Index(values))
    vals = values.to_numpy(dtype=object)

    def message(i: int) -> str:
        v = str(vals[i])
        if not v:
            return f"empty {col}; every row needs one"
        hint = ""
        if v.strip() != v and index.get_indexer(pd.Index([v.strip()]))[0] >= 0:
            hint = f" (without its spaces it would be the known {what} {_show(v.strip())}; remove the spaces)"
        return f"unknown {what} {_show(v)}{hint}; add it to {what}s.csv or drop the row"

    _report(problems, path, np.flatnonzero(idx < 0), col, message)
    return idx.astype(np.int32)


def _read_meta(root: Path, problems: list[Problem]) -> dict[str, object]:
    """``dataset.json``: an optional JSON object with a string ``name`` and a boolean ``synthetic``."""
    path = root / "dataset.json"
    if not (path.exists() or path.is_symlink()):
        return {}
    expected = 'expected a JSON object like {"name": "my-data", "synthetic": false}'
    if not path.is_file():
        problems.append(Problem(path.name, None, None, f"not a regular file; {expected}"))
        return {}
    if path.stat().st_size > MAX_META_BYTES:
        problems.append(Problem(path.name, None, None, f"larger than {MAX_META_BYTES:,} bytes; {expected}"))
        return {}
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        problems.append(Problem(path.name, None, None, f"not UTF-8 text (byte {e.start}); {expected}"))
        return {}
    except json.JSONDecodeError as e:
        problems.append(Problem(path.name, e.lineno, None, f"invalid JSON: {e.msg}"))
        return {}
    if not isinstance(meta, dict):
        problems.append(Problem(path.name, None, None, f"holds a JSON {type(meta).__name__}; {expected}"))
        return {}
    if "name" in meta and not isinstance(meta["name"], str):
        problems.append(Problem(path.name, None, "name", f"must be a string, got {_show(meta['name'])}"))
    if "synthetic" in meta and not isinstance(meta["synthetic"], bool):
        problems.append(Problem(path.name, None, "synthetic", f"must be true or false, got {_show(meta['synthetic'])}"))
    return meta


def _check_columns(path: Path, name: str, df: pd.DataFrame, header: list[str], problems: list[Problem]) -> bool:
    """Whether table ``name`` has its required columns; a missing or unknown column is a problem.

    A missing column's message shows the header that was found (and suspects the separator when the
    header holds a ``;``, tab or ``|``); an unknown column (a misspelt ``Split``...) lists the known ones.
    ``users`` may have any further columns: they are the user attributes.
    """
    cols = TABLES[name][0]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        found = ",".join(header)
        hint = ""
        for sep, sep_name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if sep in found and path.suffix == ".csv":
                hint = f"; the file seems separated by {sep_name}: separate columns with ','"
                break
        for c in missing:
            problems.append(Problem(path.name, None, c, f"missing column; required columns: {', '.join(cols)}; "
                                    f"the header found is {_show(found)}{hint}"))
        return False
    if name == "users":
        return True
    known = cols + OPTIONAL_COLUMNS.get(name, ())
    for c in df.columns:
        if c not in known:
            close = difflib.get_close_matches(str(c).lower(), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(Problem(path.name, None, str(c), f"unknown column; {hint}{name} columns are "
                                    f"{', '.join(known)}; rename or drop it"))
    return True


def _read_tables(root: Path, problems: list[Problem]) -> dict[str, tuple[Path, pd.DataFrame]]:
    """Every table of :data:`TABLES` present in ``root`` that could be read and has its required columns."""
    tables: dict[str, tuple[Path, pd.DataFrame]] = {}
    for name, (cols, required) in TABLES.items():
        path = _table_path(root, name, problems)
        if path is None:
            if required and not any(p.file.startswith(name + ".") for p in problems):
                problems.append(Problem(f"{name}.csv", None, None, f"missing; a dataset needs {name}.csv "
                                        f"with columns {', '.join(cols)}"))
            continue
        ids = cols + (("split",) if name == "interactions" else ())
        try:
            df = _read_table(path, ids, problems)
        except _TooWideError as e:
            problems.append(Problem(path.name, None, None, f"refused: {e}; at most {MAX_COLUMNS:,} columns are "
                                    "read (is this the right file?)"))
            continue
        except Exception as e:  # pandas/pyarrow raise many types for malformed files
            problems.append(Problem(path.name, None, None, f"cannot be read: {str(e)[:300]}"))
            continue
        if _check_columns(path, name, df, [str(c) for c in df.columns], problems):
            tables[name] = (path, df)
    return tables


def _timestamps(col: pd.Series, path: Path, problems: list[Problem]) -> np.ndarray:
    """Exact int64 timestamps: integers (``123`` or ``123.0``) within int64; anything else is a problem.

    Values are never routed through float64 (which rounds above 2**53); a Parquet float column is
    accepted only where it is integral and below 2**53, an unsigned one only within int64.
    """
    def bad(rows: np.ndarray, what: str, fix: str) -> None:
        vals = col.to_numpy(dtype=object)
        _report(problems, path, rows, "timestamp", lambda i: f"{what} ({_show(vals[i])}); {fix}")

    whole = "timestamps must be whole numbers"
    int64 = "timestamps must fit in 64-bit signed integers"

    if pd.api.types.is_bool_dtype(col.dtype):
        bad(np.arange(len(col)), "not an integer", whole)
        return np.zeros(len(col), np.int64)
    if pd.api.types.is_integer_dtype(col.dtype):
        null = col.isna().to_numpy()
        bad(np.flatnonzero(null), "empty", whole)
        filled = col.fillna(0) if null.any() else col
        if pd.api.types.is_unsigned_integer_dtype(col.dtype):
            x = filled.to_numpy(dtype=np.uint64)
            over = x > np.uint64(_INT64_MAX)
            bad(np.flatnonzero(over), "beyond the int64 range", int64)
            return np.where(over, np.uint64(0), x).astype(np.int64)
        return filled.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(col.dtype):
        x = col.to_numpy(dtype=np.float64, na_value=np.nan)
        nonint = ~np.isfinite(x) | (x != np.round(x))
        bad(np.flatnonzero(nonint), "not an integer", whole)
        big = np.flatnonzero(~nonint & (np.abs(np.nan_to_num(x)) > 2.0**53))
        bad(big, "a float beyond 2**53, where floats skip integers",
            "store timestamps as int64")
        return np.where(nonint, 0, np.nan_to_num(x)).astype(np.int64)
    s = col.astype(str)
    fast = pd.to_numeric(s, errors="coerce")  # C parser; int64 only when every cell is an exact int64
    if fast.dtype == np.int64:
        return fast.to_numpy()
    try:
        return s.to_numpy(dtype=object).astype(np.int64)  # exact: int() per cell
    except (ValueError, OverflowError, TypeError):
        pass
    m = s.str.extract(r"^\s*([+-]?[0-9]+)(?:\.0*)?\s*$")[0]
    ok = m.notna().to_numpy()
    bad(np.flatnonzero(~ok), "not an integer", whole)
    out = np.zeros(len(s), np.int64)
    outside: list[int] = []
    for i, v in zip(np.flatnonzero(ok).tolist(), m[ok].tolist(), strict=True):
        n = int(v)
        if -_INT64_MAX - 1 <= n <= _INT64_MAX:
            out[i] = n
        else:
            outside.append(i)
    bad(np.array(outside, dtype=np.int64), "beyond the int64 range", int64)
    return out


def _read_interactions(tables: dict[str, tuple[Path, pd.DataFrame]], uindex: pd.Index, vindex: pd.Index,
                       problems: list[Problem]) -> Interactions:
    """The interactions table: known users and videos, exact timestamps, split codes, one row per pair,
    and every user with at least one interaction."""
    upath = tables["users"][0]
    ipath, inter = tables["interactions"]
    u = _lookup(uindex, inter["user_id"], ipath, "user_id", "user", problems)
    v = _lookup(vindex, inter["video_id"], ipath, "video_id", "video", problems)
    ts = split = None
    if "timestamp" in inter.columns:
        ts = _timestamps(inter["timestamp"], ipath, problems)
    if "split" in inter.columns:
        raw = inter["split"].to_numpy(dtype=object)
        codes = inter["split"].map({n: i for i, n in enumerate(SPLIT_NAMES)}).fillna(-1).to_numpy(dtype=np.int64)
        bad = np.flatnonzero((codes < 0) & (inter["split"].str.len() > 0).to_numpy())
        _report(problems, ipath, bad, "split", lambda i: f"must be one of train, val, test, got {_show(raw[i])}")
        split = codes.astype(np.int8)
    if (u >= 0).all() and (v >= 0).all():
        key = u.astype(np.int64) * len(vindex) + v
        _report(problems, ipath, np.flatnonzero(pd.Series(key).duplicated().to_numpy()), "video_id",
                "duplicate (user_id, video_id) pair; keep one row per pair")
        no_inter = np.flatnonzero(np.bincount(u, minlength=len(uindex)) == 0)
        _report(problems, upath, no_inter, "user_id", "user has no interactions; drop the user or add interactions")
    return Interactions(u, v, ts, split)


def _read_features(root: Path, num_videos: int, problems: list[Problem]) -> dict[str, np.ndarray]:
    """``features/<modality>.npy``: regular files, 2-d numeric, one row per video, finite and within float32."""
    features: dict[str, np.ndarray] = {}
    fdir = root / "features"
    if not (fdir.exists() or fdir.is_symlink()):
        return features
    if not fdir.is_dir():
        problems.append(Problem("features", None, None, "not a folder; features/ must be a folder holding "
                                f"{', '.join(m + '.npy' for m in MODALITIES)}"))
        return features
    for f in sorted(fdir.iterdir()):
        fname = f"features/{f.name}"
        if f.suffix != ".npy" or f.stem not in MODALITIES:
            problems.append(Problem(fname, None, None,
                                    f"unexpected file; features are {', '.join(m + '.npy' for m in MODALITIES)}"))
            continue
        if not f.is_file():
            problems.append(Problem(fname, None, None, "not a regular file (a folder, FIFO, device or broken link)"))
            continue
        try:
            arr = np.load(f, allow_pickle=False, mmap_mode="r")
        except Exception as e:
            problems.append(Problem(fname, None, None, f"cannot be read as .npy: {str(e)[:300]}"))
            continue
        if arr.ndim != 2 or arr.dtype.kind not in "fiu":
            problems.append(Problem(fname, None, None, f"must be a 2-d numeric array, got {arr.dtype} "
                                    f"{arr.shape}; save a float matrix [num_videos, dim]"))
            continue
        if arr.shape[0] != num_videos:
            problems.append(Problem(fname, None, None, f"has {arr.shape[0]} rows but videos has "
                                    f"{num_videos}; row i must describe the i-th video"))
            continue
        bad, big = _unfit_rows(arr)
        for i in bad[:MAX_LISTED].tolist():
            problems.append(Problem(fname, i, None, "NaN or infinite value; impute or drop the video"))
        for i in big[:MAX_LISTED].tolist():
            row = np.asarray(arr[i], dtype=np.float64)
            x = float(row[np.abs(row) > _FLOAT32_MAX][0])
            problems.append(Problem(fname, i, None, f"value {x:.3g} is beyond the float32 range (±3.4e38) features "
                                    "are stored in; rescale the features"))
        if bad.size or big.size:
            continue
        features[f.stem] = np.asarray(arr, dtype=np.float32)
    return features


def _unfit_rows(arr: np.ndarray, block: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Rows of feature matrix ``arr`` with a NaN/inf value, and (finite) rows with a value beyond float32.

    Read in blocks of rows, so a memory-mapped matrix is checked without a full-size temporary.
    """
    bad: list[np.ndarray] = []
    big: list[np.ndarray] = []
    if arr.dtype.kind == "f":
        wide = arr.dtype.itemsize > 4  # only wider floats can exceed the float32 range
        for lo in range(0, arr.shape[0], block):
            chunk = np.asarray(arr[lo : lo + block])
            finite = np.isfinite(chunk)
            bad.append(lo + np.flatnonzero(~finite.all(axis=1)))
            if wide:
                over = (np.abs(np.where(finite, chunk, 0)) > _FLOAT32_MAX).any(axis=1) & finite.all(axis=1)
                big.append(lo + np.flatnonzero(over))
    empty = np.empty(0, np.int64)
    return (np.concatenate(bad) if bad else empty), (np.concatenate(big) if big else empty)


def _read_tags(tables: dict[str, tuple[Path, pd.DataFrame]], uindex: pd.Index, vindex: pd.Index,
               problems: list[Problem]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Tag names, video-tag and user-tag pairs and the tag tree (no self-loop, no cycle); None on a problem."""
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
    return None if problems else (tag_names, video_tags, user_tags, tag_tree)


def _load(root: Path, problems: list[Problem]) -> Dataset | None:
    """Read dataset directory ``root`` step by step, appending every problem found; the Dataset, or None.

    The steps: ``dataset.json``; the tables and their columns; non-empty users, videos and interactions;
    user and video ids; interactions (ids, timestamps, split); features; tags. A step whose input is
    broken stops the reading (later steps would only report its consequences).
    """
    root = Path(root)
    if not root.is_dir():
        problems.append(Problem(str(root), None, None, "not a directory; point at a dataset directory"))
        return None
    meta = _read_meta(root, problems)
    tables = _read_tables(root, problems)
    if not {"users", "videos", "interactions"} <= tables.keys():
        return None
    upath, users = tables["users"]
    vpath, videos = tables["videos"]
    for name, what in (("users", "users"), ("videos", "videos"), ("interactions", "interactions")):
        if len(tables[name][1]) == 0:
            problems.append(Problem(tables[name][0].name, None, None, f"no {what}: the dataset is empty"))
    if problems:
        return None
    user_ids = _ids(users, "user_id", upath, problems)
    video_ids = _ids(videos, "video_id", vpath, problems)
    if problems:
        return None
    uindex, vindex = pd.Index(user_ids), pd.Index(video_ids)
    interactions = _read_interactions(tables, uindex, vindex, problems)
    features = _read_features(root, len(video_ids), problems)
    tags = _read_tags(tables, uindex, vindex, problems)
    if problems or tags is None:
        return None
    tag_names, video_tags, user_tags, tag_tree = tags
    attrs = {c: users[c].to_numpy(dtype=object) for c in users.columns if c != "user_id"}
    texts = videos["text"].to_numpy(dtype=object) if "text" in videos.columns else None
    return Dataset(
        name=str(meta.get("name", root.name)), user_ids=user_ids, video_ids=video_ids,
        interactions=interactions, features=features, tag_names=tag_names,
        video_tags=video_tags, user_tags=user_tags, tag_tree=tag_tree, user_attributes=attrs,
        video_texts=texts, synthetic=meta.get("synthetic") is True,
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


def write_dataset(ds: Dataset, root: Path, fmt: str = "csv", overwrite: bool = False,
                  inputs: Iterable[Path] = ()) -> Path:
    """Write ``ds`` as a dataset directory (``fmt`` = ``csv`` or ``parquet``), atomically.

    The directory appears only once complete; an error mid-way leaves nothing behind. ``root`` follows
    :func:`hhfan.data.outputs.check_dir_output`: never one of ``inputs`` (or inside or around one); an
    existing one is replaced only with ``overwrite`` and only if it is a dataset hhfan wrote.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, got {fmt!r}")

    def put(df: pd.DataFrame, base: Path) -> None:
        if fmt == "csv":
            df.to_csv(base.with_suffix(".csv"), index=False)
        else:
            df.to_parquet(base.with_suffix(".parquet"), index=False)

    root = Path(root)
    with atomic_dir(root, "dataset", overwrite=overwrite, inputs=inputs) as tmp:
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
