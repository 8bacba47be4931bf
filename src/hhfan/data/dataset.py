"""The canonical dataset: the one validated, in-memory form that every loader produces.

Every later stage (split, graph, model, evaluation) reads a :class:`Dataset`; nothing downstream
knows which file format or importer a dataset came from. External ids (strings) are kept for
input and output; everything inside is contiguous integer indices:

* users ``0..num_users-1`` in the order of :attr:`Dataset.user_ids`,
* videos ``0..num_videos-1`` in the order of :attr:`Dataset.video_ids`,
* tags ``0..num_tags-1`` in the order of :attr:`Dataset.tag_names`.

Modalities follow the paper (HHFAN §III-C): ``visual`` feeds image nodes, ``acoustic`` audio nodes
and ``textual`` text nodes of the M-HIG; any of them may be missing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

MODALITIES: tuple[str, ...] = ("visual", "acoustic", "textual")
"""Video feature modalities, in the order the graph turns them into image/audio/text nodes."""

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
"""Codes of a predefined split: ``split == 0`` train, ``1`` validation, ``2`` test."""


class DatasetError(ValueError):
    """A dataset that breaks the canonical contract; the message says what and what to do."""


@dataclass(frozen=True)
class Interactions:
    """Implicit-feedback interactions, one row per (user, video) pair.

    Attributes:
        user: int32 ``[n]`` user indices.
        video: int32 ``[n]`` video indices.
        timestamp: optional int64 ``[n]`` (any monotone unit, e.g. seconds).
        split: optional int8 ``[n]`` predefined split codes (see :data:`SPLIT_NAMES`).
    """

    user: np.ndarray
    video: np.ndarray
    timestamp: np.ndarray | None = None
    split: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.user.shape[0])


@dataclass(frozen=True)
class Dataset:
    """A micro-video recommendation dataset in canonical form (see module docstring).

    Attributes:
        name: short human-readable name (``"tiktok"``, ``"ml-1m"``, ``"synthetic"``...).
        user_ids: ``[num_users]`` external user ids (str).
        video_ids: ``[num_videos]`` external video ids (str).
        interactions: the observed interactions.
        features: modality name -> float32 ``[num_videos, dim]`` matrix, row i = video i
            (float32 is required, so a dataset written and read back keeps its fingerprint).
        tag_names: ``[num_tags]`` tag names (str); empty when the dataset has no tags.
        video_tags: int32 ``[m, 2]`` rows ``(video, tag)``.
        user_tags: int32 ``[m, 2]`` rows ``(user, tag)``.
        tag_tree: int32 ``[m, 2]`` rows ``(parent_tag, child_tag)``; a forest, no cycles.
        user_attributes: column name -> ``[num_users]`` categorical values (str; ``""`` = unknown).
        video_texts: optional ``[num_videos]`` free texts (titles, descriptions).
        synthetic: True for generated worlds; their numbers are labelled synthetic everywhere.
    """

    name: str
    user_ids: np.ndarray
    video_ids: np.ndarray
    interactions: Interactions
    features: dict[str, np.ndarray] = field(default_factory=dict)
    tag_names: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    video_tags: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int32))
    user_tags: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int32))
    tag_tree: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int32))
    user_attributes: dict[str, np.ndarray] = field(default_factory=dict)
    video_texts: np.ndarray | None = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        validate_dataset(self)

    @property
    def num_users(self) -> int:
        """Number of users."""
        return int(self.user_ids.shape[0])

    @property
    def num_videos(self) -> int:
        """Number of videos."""
        return int(self.video_ids.shape[0])

    @property
    def num_tags(self) -> int:
        """Number of distinct tags."""
        return int(self.tag_names.shape[0])

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities present, in canonical order."""
        return tuple(m for m in MODALITIES if m in self.features)

    def fingerprint(self) -> str:
        """SHA-256 over every array of the dataset (ids, interactions, features, tags, attributes).

        Any later stage stores this string, so a run can prove which data it was trained on.
        """
        h = hashlib.sha256()

        def add(tag: str, arr: np.ndarray | None) -> None:
            h.update(tag.encode())
            if arr is None:
                h.update(b"<none>")
                return
            a = np.asarray(arr)
            if a.dtype == object or a.dtype.kind in "US":
                h.update("\x1f".join(map(str, a.ravel().tolist())).encode())
            else:
                h.update(str(a.dtype).encode() + str(a.shape).encode())
                h.update(np.ascontiguousarray(a).tobytes())

        add("users", self.user_ids)
        add("videos", self.video_ids)
        it = self.interactions
        add("i.user", it.user)
        add("i.video", it.video)
        add("i.ts", it.timestamp)
        add("i.split", it.split)
        for m in self.modalities:
            add(f"f.{m}", self.features[m])
        add("tags", self.tag_names)
        add("vt", self.video_tags)
        add("ut", self.user_tags)
        add("tt", self.tag_tree)
        for col in sorted(self.user_attributes):
            add(f"ua.{col}", self.user_attributes[col])
        add("texts", self.video_texts)
        return h.hexdigest()


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise DatasetError(msg)


def _check_index_array(arr: np.ndarray, name: str, upper: int, what: str) -> None:
    _require(
        isinstance(arr, np.ndarray) and arr.dtype.kind in "iu",
        f"{name} must be an integer array, got {getattr(arr, 'dtype', type(arr))}",
    )
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        _require(lo >= 0 and hi < upper, f"{name} names an unknown {what} (index {lo if lo < 0 else hi}, "
                 f"there are {upper}); every {what} must be listed first")


def find_tag_cycle(tag_tree: np.ndarray, num_tags: int) -> list[int] | None:
    """Return one cycle of the (parent, child) tag graph as a list of tag indices, or None if acyclic.

    Also treats a tag with two parents as acceptable (a DAG), since tag hierarchies in the wild have
    them; only cycles make the tree unusable.
    """
    children: list[list[int]] = [[] for _ in range(num_tags)]
    for p, c in tag_tree.tolist():
        children[p].append(c)
    state = np.zeros(num_tags, dtype=np.int8)  # 0 new, 1 on stack, 2 done
    for root in range(num_tags):
        if state[root]:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]
        path: list[int] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            if i < len(children[node]):
                stack.append((node, i + 1))
                nxt = children[node][i]
                if state[nxt] == 1:
                    return [*path[path.index(nxt):], nxt]
                if state[nxt] == 0:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def validate_dataset(ds: Dataset) -> None:
    """Check every invariant of :class:`Dataset`; raise :class:`DatasetError` naming the first problem.

    File-level validation with row numbers lives in :mod:`hhfan.data.validate`; this check guards
    datasets built in code (importers, the synthetic generator, tests).
    """
    nu, nv = ds.num_users, ds.num_videos
    _require(nu > 0 and nv > 0, f"dataset {ds.name!r} is empty ({nu} users, {nv} videos)")
    for arr, what in ((ds.user_ids, "user"), (ds.video_ids, "video")):
        _require(arr.ndim == 1, f"{what} ids must be 1-d")
        uniq, counts = np.unique(arr.astype(str), return_counts=True)
        if uniq.shape[0] != arr.shape[0]:
            dup = uniq[counts > 1][:3].tolist()
            raise DatasetError(f"duplicate {what} ids {dup}: every {what} id must appear once")
    it = ds.interactions
    n = len(it)
    _require(n > 0, f"dataset {ds.name!r} has no interactions")
    _require(it.video.shape == (n,), "interactions.user and interactions.video differ in length")
    _check_index_array(it.user, "interactions.user", nu, "user")
    _check_index_array(it.video, "interactions.video", nv, "video")
    if it.timestamp is not None:
        _require(it.timestamp.shape == (n,) and it.timestamp.dtype.kind in "iu",
                 "interactions.timestamp must be an integer array with one value per interaction")
    if it.split is not None:
        _require(it.split.shape == (n,) and it.split.dtype.kind in "iu",
                 "interactions.split must be an integer array with one code per interaction")
        _require(bool(np.isin(it.split, (0, 1, 2)).all()), "interactions.split codes must be 0/1/2")
    per_user = np.bincount(it.user, minlength=nu)
    if (per_user == 0).any():
        bad = np.flatnonzero(per_user == 0)[:3]
        raise DatasetError(
            f"{int((per_user == 0).sum())} user(s) have no interactions (e.g. {ds.user_ids[bad].tolist()}); "
            "drop them from the user list or add their interactions")
    key = np.sort(it.user.astype(np.int64) * nv + it.video)  # sort-based: np.unique is slow at 20 M rows
    if bool((key[1:] == key[:-1]).any()):
        raise DatasetError("duplicate (user, video) interactions; keep one row per pair")
    for m, f in ds.features.items():
        _require(m in MODALITIES, f"unknown modality {m!r}; use one of {MODALITIES}")
        _require(isinstance(f, np.ndarray) and f.ndim == 2 and f.dtype == np.float32,
                 f"features[{m!r}] must be a 2-d float32 array (got {getattr(f, 'dtype', type(f))}); "
                 "convert with .astype(np.float32)")
        _require(f.shape[0] == nv, f"features[{m!r}] has {f.shape[0]} rows but there are {nv} videos")
        if not np.isfinite(f).all():
            row = int(np.flatnonzero(~np.isfinite(f).all(axis=1))[0])
            raise DatasetError(f"features[{m!r}] has NaN or infinite values (first at row {row}); "
                               "impute or drop them")
    nt = ds.num_tags
    for arr, name, upper0, what0 in ((ds.video_tags, "video_tags", nv, "video"),
                                     (ds.user_tags, "user_tags", nu, "user")):
        _require(arr.ndim == 2 and arr.shape[1] == 2, f"{name} must have shape [m, 2]")
        _check_index_array(arr[:, 0], f"{name}[:, 0]", upper0, what0)
        _check_index_array(arr[:, 1], f"{name}[:, 1]", nt, "tag")
    _require(ds.tag_tree.ndim == 2 and ds.tag_tree.shape[1] == 2, "tag_tree must have shape [m, 2]")
    _check_index_array(ds.tag_tree, "tag_tree", nt, "tag")
    if ds.tag_tree.size:
        _require(bool((ds.tag_tree[:, 0] != ds.tag_tree[:, 1]).all()), "tag_tree has a self-loop")
        cycle = find_tag_cycle(ds.tag_tree, nt)
        if cycle is not None:
            names = " -> ".join(str(ds.tag_names[i]) for i in cycle)
            raise DatasetError(f"tag tree has a cycle: {names}; a parent can never be its own descendant")
    for col, vals in ds.user_attributes.items():
        _require(vals.shape == (nu,), f"user attribute {col!r} needs one value per user")
    if ds.video_texts is not None:
        _require(ds.video_texts.shape == (nv,), "video_texts needs one text per video")
