"""Importer for MovieLens-1M as laid out in ``../shared/data/ml-1m`` (GroupLens metadata + CoLaKG split).

Expected directory::

    users.dat                    UserID::Gender::Age::Occupation::Zip-code      (latin-1)
    movies.dat                   MovieID::Title::Genres (genres joined by "|")  (latin-1)
    colakg/user_map.txt          "UserID idx"   one line per user   (idx = 0..U-1)
    colakg/item_map.txt          "MovieID idx"  one line per movie  (idx = 0..V-1)
    colakg/train.txt             LightGCN format "u i1 i2 ..." (mapped idx) -> split 0 (train)
    colakg/test.txt              same format                                  -> split 2 (test)
    colakg/llm_response_item.json  optional {"MovieID": "description", ...}

The original ``ratings.dat`` is not available; the CoLaKG files hold 998,539 of its 1,000,209 ratings
as implicit interactions, without rating values or timestamps, already split into train and test.
This copy has no validation part; later stages carve validation out of train.

Canonical form produced (name ``"ml-1m"``):

* users: every user of ``user_map.txt`` in idx order, ids = original UserIDs; user attributes
  ``gender``, ``age`` (the ML-1M age-band code), ``occupation`` (code 0-20) and ``zip2`` = the first
  two characters of the zip code. The full zip is nearly unique per user (3,439 distinct zips for
  6,040 users, 2,293 of them used by a single user), so as attribute nodes they would connect almost
  nobody; the two-digit prefix is a US region (100 values) that actually groups users. A user with no
  interaction in either part is dropped (logged); there is none in the real data.
* videos: the movies of ``item_map.txt`` (3,260) in idx order, ids = original MovieIDs.
* tags: the genres of those movies (``tag_names`` sorted, ``video_tags`` = movie-genre pairs); no
  tag tree (the graph stage derives one) and no user tags.
* texts: ``title + " " + description`` (title only when the JSON lacks the movie or is absent).
* ``features["textual"]``: TF-IDF of the texts (sublinear tf, English stop words, ``min_df=2``)
  reduced by TruncatedSVD to ``text_dim`` dimensions (``random_state=seed``), rows L2-normalised,
  rounded to :data:`TEXT_DECIMALS` decimals, float32. The SVD's last bits depend on BLAS's thread count
  and CPU (about 1e-13 here), enough to flip a float32 ulp and so the dataset's fingerprint; rounded in
  float64 first, the import is bit-identical on any machine, and runs recorded in a run ledger match.
  When the vocabulary or the number of movies is too small for ``text_dim`` components (tiny test
  fixtures), the missing columns are zeros.
* interactions: train lines then test lines, in file order; split 0 (train) / 2 (test). A movie
  repeated inside one part is kept once (logged); the real files have no such repeat. A pair in
  both train and test is an error (it would leak the answer).

Every missing file, malformed line or unknown id raises :class:`DatasetError` naming the file and
the line number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hhfan.data.dataset import Dataset, DatasetError, Interactions
from hhfan.data.importers.common import kept_users

log = logging.getLogger(__name__)

USER_ATTRIBUTES: tuple[str, ...] = ("gender", "age", "occupation", "zip2")
"""User attribute columns produced, in order."""

_ENCODING = "latin-1"


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        state = "not a regular file (a folder, FIFO or device)" if path.exists() else "missing"
        raise DatasetError(f"{path}: {state}; expected {what}")


def _lines(path: Path, what: str, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, stripped_line)`` for every non-blank line of ``path``."""
    _require_file(path, what)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not valid {encoding} text ({e}); expected {what}") from e
    for no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield no, line


def _int(token: str, path: Path, no: int, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise DatasetError(f"{path}, line {no}: {what} {token!r} is not an integer") from None


def _read_map(path: Path, what: str) -> np.ndarray:
    """Read ``"origId idx"`` lines; return the original ids (str) ordered by idx."""
    fmt = f'"{what}ID idx" lines mapping every original {what} id to a contiguous index 0..n-1'
    pairs: list[tuple[int, str]] = []
    seen_ids: dict[str, int] = {}
    for no, line in _lines(path, fmt):
        parts = line.split()
        if len(parts) != 2:
            raise DatasetError(f"{path}, line {no}: expected 2 fields ({fmt}), got {len(parts)}")
        orig = str(_int(parts[0], path, no, f"{what} id"))
        idx = _int(parts[1], path, no, "index")
        if orig in seen_ids:
            raise DatasetError(f"{path}, line {no}: {what} id {orig} already mapped on line {seen_ids[orig]}")
        seen_ids[orig] = no
        pairs.append((idx, orig))
    if not pairs:
        raise DatasetError(f"{path}: empty; expected {fmt}")
    idxs = sorted(i for i, _ in pairs)
    if idxs != list(range(len(pairs))):
        raise DatasetError(f"{path}: indices are not exactly 0..{len(pairs) - 1} (each once); expected {fmt}")
    return np.array([orig for _, orig in sorted(pairs)], dtype=object)


def _read_split(path: Path, num_users: int, num_videos: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Read a LightGCN ``"u i1 i2 ..."`` file; return deduplicated (user, video) idx and the dup count."""
    fmt = 'LightGCN lines "user_idx item_idx item_idx ..." (indices from colakg/user_map.txt / item_map.txt)'
    users: list[np.ndarray] = []
    videos: list[np.ndarray] = []
    for no, line in _lines(path, fmt):
        parts = line.split()
        try:
            vals = np.array(parts, dtype=np.int64)
        except ValueError:
            bad = next(t for t in parts if not t.lstrip("-").isdigit())
            raise DatasetError(f"{path}, line {no}: {bad!r} is not an integer index; expected {fmt}") from None
        u, items = int(vals[0]), vals[1:]
        if not 0 <= u < num_users:
            raise DatasetError(f"{path}, line {no}: user index {u} not in user_map.txt (0..{num_users - 1})")
        if items.size and (items.min() < 0 or items.max() >= num_videos):
            badi = int(items[(items < 0) | (items >= num_videos)][0])
            raise DatasetError(f"{path}, line {no}: item index {badi} not in item_map.txt (0..{num_videos - 1})")
        users.append(np.full(items.shape[0], u, dtype=np.int64))
        videos.append(items)
    if not users:
        raise DatasetError(f"{path}: empty; expected {fmt}")
    user, video = np.concatenate(users), np.concatenate(videos)
    key = user * num_videos + video
    order = np.argsort(key, kind="stable")  # sort-based: much faster than np.unique's hashing here
    repeat = np.zeros(key.shape[0], dtype=bool)
    repeat[order[1:]] = key[order[1:]] == key[order[:-1]]  # every occurrence after the first
    dups = int(repeat.sum())
    if dups:
        log.warning("%s: %d repeated (user, movie) pairs kept once", path, dups)
    return user[~repeat], video[~repeat], dups


def _read_users(path: Path, user_ids: np.ndarray) -> dict[str, np.ndarray]:
    fmt = "UserID::Gender::Age::Occupation::Zip-code lines (latin-1)"
    rows: dict[str, tuple[str, str, str, str]] = {}
    for no, line in _lines(path, fmt, _ENCODING):
        parts = line.split("::")
        if len(parts) != 5:
            raise DatasetError(f"{path}, line {no}: expected 5 '::'-separated fields ({fmt}), got {len(parts)}")
        uid = str(_int(parts[0], path, no, "UserID"))
        if uid in rows:
            raise DatasetError(f"{path}, line {no}: UserID {uid} appears twice")
        gender, age, occ, zipc = (p.strip() for p in parts[1:])
        rows[uid] = (gender, age, occ, zipc[:2])
    missing = [u for u in user_ids.tolist() if u not in rows]
    if missing:
        raise DatasetError(f"{path}: {len(missing)} users of colakg/user_map.txt are missing (e.g. UserID "
                           f"{missing[0]}); users.dat must describe every mapped user")
    cols = list(zip(*(rows[u] for u in user_ids.tolist()), strict=True))
    return {name: np.array(col, dtype=object) for name, col in zip(USER_ATTRIBUTES, cols, strict=True)}


def _read_movies(path: Path, video_ids: np.ndarray) -> tuple[list[str], list[list[str]]]:
    fmt = "MovieID::Title::Genres lines (genres joined by '|', latin-1)"
    rows: dict[str, tuple[str, list[str]]] = {}
    for no, line in _lines(path, fmt, _ENCODING):
        head, sep, rest = line.partition("::")
        title, sep2, genres = rest.rpartition("::")
        if not (sep and sep2) or not title.strip():
            raise DatasetError(f"{path}, line {no}: expected 3 '::'-separated fields ({fmt})")
        mid = str(_int(head, path, no, "MovieID"))
        if mid in rows:
            raise DatasetError(f"{path}, line {no}: MovieID {mid} appears twice")
        rows[mid] = (title.strip(), [g.strip() for g in genres.split("|") if g.strip()])
    missing = [m for m in video_ids.tolist() if m not in rows]
    if missing:
        raise DatasetError(f"{path}: {len(missing)} movies of colakg/item_map.txt are missing (e.g. MovieID "
                           f"{missing[0]}); movies.dat must describe every mapped movie")
    return [rows[m][0] for m in video_ids.tolist()], [rows[m][1] for m in video_ids.tolist()]


def _read_descriptions(path: Path) -> dict[str, str]:
    if not path.is_file():
        log.info("%s: absent; movie texts are titles only", path)
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}, line {e.lineno}: invalid JSON ({e.msg}); expected "
                           '{"MovieID": "description", ...}') from e
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not valid UTF-8 ({e})") from e
    if not isinstance(raw, dict):
        raise DatasetError(f'{path}: holds a JSON {type(raw).__name__}; expected {{"MovieID": "description", ...}}')
    return {str(k).strip(): str(v).strip() for k, v in raw.items() if v is not None}


TEXT_DECIMALS = 5
"""Decimals the textual features are rounded to (in float64, before the cast to float32): far above the
run-to-run noise of the SVD (about 1e-13; the chance that it straddles a rounding boundary somewhere in
ML-1M's 208,640 values is about 2e-4), far below anything a model could use (values are about 0.1)."""


def text_features(texts: list[str], text_dim: int = 64, seed: int = 0) -> np.ndarray:
    """Embed ``texts`` as L2-normalised float32 ``[len(texts), text_dim]`` TF-IDF + TruncatedSVD vectors.

    TF-IDF uses sublinear tf, English stop words and ``min_df=2``; TruncatedSVD uses
    ``random_state=seed``; values are rounded to :data:`TEXT_DECIMALS` decimals so that the result does not
    depend on BLAS's threads or CPU. If fewer than ``text_dim`` components can be computed (tiny corpora),
    the remaining columns are zero. Raises :class:`DatasetError` when no word occurs in two texts.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    if text_dim < 1:
        raise ValueError(f"text_dim must be >= 1, got {text_dim}")
    try:
        X = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit_transform(texts)
    except ValueError as e:  # empty vocabulary
        raise DatasetError(f"cannot build text features: {e} (no non-stop-word occurs in two movie texts)") from e
    k = min(text_dim, min(X.shape) - 1)
    Z = (TruncatedSVD(n_components=k, random_state=seed).fit_transform(X) if k >= 1
         else X.toarray()[:, :text_dim])
    out = np.zeros((len(texts), text_dim), dtype=np.float32)
    out[:, : Z.shape[1]] = np.round(normalize(Z), TEXT_DECIMALS)
    return out


def load_movielens_1m(source: Path, text_dim: int = 64, seed: int = 0) -> Dataset:
    """Import MovieLens-1M (GroupLens ``*.dat`` + CoLaKG ``colakg/`` split) from ``source``.

    See the module docstring for the layout and the canonical form. ``text_dim`` and ``seed`` set the
    size and the SVD seed of ``features["textual"]``. Raises :class:`DatasetError` naming the file
    (and line) for a missing file, a malformed line, an id absent from the maps or ``*.dat`` files,
    or a (user, movie) pair in both train and test.
    """
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source}: not a directory; expected users.dat, movies.dat and colakg/")
    ck = source / "colakg"
    user_ids = _read_map(ck / "user_map.txt", "User")
    video_ids = _read_map(ck / "item_map.txt", "Movie")
    nu, nv = user_ids.shape[0], video_ids.shape[0]
    tr_u, tr_v, _ = _read_split(ck / "train.txt", nu, nv)
    te_u, te_v, _ = _read_split(ck / "test.txt", nu, nv)
    key = np.sort(np.concatenate([tr_u * nv + tr_v, te_u * nv + te_v]))  # each part is duplicate-free
    both = key[1:][key[1:] == key[:-1]]
    if both.size:
        u, v = divmod(int(both[0]), nv)
        raise DatasetError(f"{ck}: {both.size} (user, movie) pairs are in both train.txt and test.txt, e.g. "
                           f"UserID {user_ids[u]}, MovieID {video_ids[v]}; the parts must be disjoint")
    user = np.concatenate([tr_u, te_u])
    video = np.concatenate([tr_v, te_v]).astype(np.int32)
    split = np.concatenate([np.zeros(tr_u.shape[0], np.int8), np.full(te_u.shape[0], 2, np.int8)])

    attrs = _read_users(source / "users.dat", user_ids)
    titles, genres = _read_movies(source / "movies.dat", video_ids)
    desc = _read_descriptions(ck / "llm_response_item.json")
    texts = [f"{t} {desc[m]}" if desc.get(m) else t for t, m in zip(titles, video_ids.tolist(), strict=True)]
    no_desc = sum(1 for m in video_ids.tolist() if not desc.get(m))
    if desc and no_desc:
        log.info("%s: %d of %d movies have no description; their text is the title", ck, no_desc, nv)

    tag_names = np.array(sorted({g for gs in genres for g in gs}), dtype=object)
    tag_index = {g: i for i, g in enumerate(tag_names.tolist())}
    video_tags = np.array([(v, tag_index[g]) for v, gs in enumerate(genres) for g in gs],
                          dtype=np.int32).reshape(-1, 2)

    kept, new_user = kept_users(user, nu, f"{ck} (train.txt + test.txt)")

    return Dataset(
        name="ml-1m",
        user_ids=user_ids[kept],
        video_ids=video_ids,
        interactions=Interactions(user=new_user.astype(np.int32), video=video, split=split),
        features={"textual": text_features(texts, text_dim, seed)},
        tag_names=tag_names,
        video_tags=video_tags,
        user_attributes={c: a[kept] for c, a in attrs.items()},
        video_texts=np.array(texts, dtype=object),
    )
