"""Importer for the MMSSL/DiffMM preprocessing of the TikTok micro-video dataset.

Expected directory (``Datasets/tiktok/`` of HKUDS/MMSSL or HKUDS/DiffMM)::

    trnMat.pkl  valMat.pkl  tstMat.pkl   pickled scipy sparse matrices, users x videos, nonzero = interaction
    image_feat.npy                        float [num_videos, d] visual features   -> features["visual"]
    audio_feat.npy                        float [num_videos, d] acoustic features -> features["acoustic"]

(``text_feat.npy``, if present, is ignored: it is a frozen sentence-encoder embedding, not raw text,
and the copy in ``../shared/data`` does not have it.) The pickles are read with
:func:`~hhfan.data.importers.safe_pickle.load_sparse_pickle`, never with plain ``pickle.load``.

Canonical form produced: user ids ``"0".."U-1"`` and video ids ``"0".."V-1"`` (the matrix row/column
numbers as strings; the preprocessing kept no raw ids), the predefined split in
``Interactions.split`` (0 train, 1 val, 2 test), features as float32, no tags, no texts, no
timestamps. Interactions are ordered by (split, user, video).

Checks: the three matrices share one shape; every stored entry is nonzero and finite; feature rows
equal the number of videos; no (user, video) pair appears in two parts (an error: it would leak test
data into training). A pair stored twice inside one part is kept once (logged). Users whose row is
empty in all three matrices cannot be represented (the canonical dataset refuses users without
interactions); they are dropped, logged with their count, and the remaining user ids keep their
original row numbers (so ids may have gaps). In the real data (9,308 x 6,710) no user is dropped;
10 users have no *training* interaction (only val/test) and 465 videos never occur in training.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hhfan.data.dataset import Dataset, DatasetError, Interactions
from hhfan.data.importers.common import MAX_INDEX, kept_users
from hhfan.data.importers.safe_pickle import load_sparse_pickle

log = logging.getLogger(__name__)

SPLIT_FILES: tuple[str, ...] = ("trnMat.pkl", "valMat.pkl", "tstMat.pkl")
"""Interaction matrices in split-code order (0 train, 1 val, 2 test)."""

FEATURE_FILES: dict[str, str] = {"visual": "image_feat.npy", "acoustic": "audio_feat.npy"}
"""Canonical modality -> feature file."""

_EXPECTED = ("expected the MMSSL TikTok preprocessing: trnMat.pkl, valMat.pkl, tstMat.pkl (pickled scipy "
             "sparse user x video matrices) and image_feat.npy, audio_feat.npy (float [num_videos, d])")


def _require_file(path: Path) -> None:
    if not path.is_file():
        state = "not a regular file (a folder, FIFO or device)" if path.exists() else "missing"
        raise DatasetError(f"{path}: {state}; {_EXPECTED}")


def _load_part(path: Path, code: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    m = load_sparse_pickle(path)
    for n, what in zip(m.shape, ("users (rows)", "videos (columns)"), strict=True):
        if int(n) > MAX_INDEX:
            raise DatasetError(f"{path}: declares {int(n):,} {what}; at most {MAX_INDEX:,} are supported "
                               "(is this the right file?)")
    data = np.asarray(m.data)
    bad = ~np.isfinite(data) | (data == 0)
    if bad.any():
        raise DatasetError(f"{path}: {int(bad.sum())} stored entries are zero, NaN or infinite; every stored "
                           "entry must mark an interaction (nonzero)")
    shape = (int(m.shape[0]), int(m.shape[1]))
    key = np.unique(m.row.astype(np.int64) * shape[1] + m.col.astype(np.int64))  # sorted by (user, video)
    if key.shape[0] != m.nnz:
        log.warning("%s: %d duplicate (user, video) entries kept once", path, m.nnz - key.shape[0])
    return key, np.full(key.shape[0], code, dtype=np.int8), shape


def _load_features(path: Path, num_videos: int) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:  # ValueError for pickled/corrupt .npy, OSError...
        raise DatasetError(f"{path}: cannot be read as .npy ({e}); {_EXPECTED}") from e
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise DatasetError(f"{path}: must be a 2-d numeric array [num_videos, d], got {arr.dtype} {arr.shape}")
    if arr.shape[0] != num_videos:
        raise DatasetError(f"{path}: has {arr.shape[0]} rows but the interaction matrices have {num_videos} "
                           "video columns; row i must describe video i")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        raise DatasetError(f"{path}: NaN or infinite values (or values beyond float32) in "
                           f"{int((~finite).sum())} rows, first row {int(np.flatnonzero(~finite)[0])}")
    return out


def load_tiktok(source: Path) -> Dataset:
    """Import the MMSSL-preprocessed TikTok dataset from directory ``source`` (see module docstring).

    Returns a :class:`Dataset` named ``"tiktok"`` with the predefined train/val/test split and
    ``visual``/``acoustic`` float32 features. Raises :class:`DatasetError` naming the file for a
    missing file, an unsafe or non-sparse pickle, mismatched matrix shapes, zero entries, a feature
    row count that differs from the number of videos, or a (user, video) pair in two split parts.
    """
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source}: not a directory; {_EXPECTED}")
    for name in (*SPLIT_FILES, *FEATURE_FILES.values()):
        _require_file(source / name)

    keys, codes = [], []
    shape: tuple[int, int] | None = None
    for code, name in enumerate(SPLIT_FILES):
        key, c, part_shape = _load_part(source / name, code)
        if shape is None:
            shape = part_shape
        elif part_shape != shape:
            raise DatasetError(f"{source / name}: shape {part_shape} differs from {SPLIT_FILES[0]} shape {shape}; "
                               "all three matrices must be users x videos over the same users and videos")
        keys.append(key)
        codes.append(c)
    assert shape is not None
    num_users, num_videos = shape

    key = np.concatenate(keys)
    split = np.concatenate(codes)
    uniq, counts = np.unique(key, return_counts=True)
    if (counts > 1).any():
        k = int(uniq[np.flatnonzero(counts > 1)[0]])
        u, v = divmod(k, num_videos)
        parts = sorted({SPLIT_FILES[int(s)] for s in split[key == k]})
        raise DatasetError(f"{source}: {int((counts > 1).sum())} (user, video) pairs appear in more than one "
                           f"split part, e.g. user {u}, video {v} in {' and '.join(parts)}; the parts must be "
                           "disjoint (a pair in train and test leaks the answer)")
    user = (key // num_videos).astype(np.int64)
    video = (key % num_videos).astype(np.int32)

    features = {m: _load_features(source / f, num_videos) for m, f in FEATURE_FILES.items()}

    kept, new_user = kept_users(user, num_users, f"{source} (any split part)")

    order = np.lexsort((video, user, split))  # (split, user, video)
    return Dataset(
        name="tiktok",
        user_ids=np.array([str(u) for u in kept.tolist()], dtype=object),
        video_ids=np.array([str(v) for v in range(num_videos)], dtype=object),
        interactions=Interactions(
            user=new_user[order].astype(np.int32),
            video=video[order],
            split=split[order].astype(np.int8),
        ),
        features=features,
    )

