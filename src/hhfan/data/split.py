"""Train / validation / test splits of a dataset's interactions, saved with the data's fingerprint.

Two kinds (HHFAN §IV-C and the datasets' own conventions):

* ``random`` — per-user random holdout: ``round((1 - training_rate) * n_u)`` of each user's
  interactions go to test (at most ``n_u - 1``, so every user keeps a training interaction), then
  ``round(val_rate * n_train_u)`` of the remaining ones go to validation (again leaving at least
  one for training). Where the rounding gives a user of two or more rows none, one row is held out with
  probability ``rate * n_u`` (see :func:`_per_user_holdout`). The paper uses training rates 0.8, 0.6 and 0.4.
* ``predefined`` — the dataset's own split (TikTok's fixed train/val/test). When it has no
  validation part (MovieLens-1M's CoLaKG copy), validation is carved from its training part by the
  same per-user rule, so model selection never sees test data.
* ``cold`` — item cold start, the protocol of the cold-start literature (ALDI, SIGIR 2023; the ColdRec
  toolkit: 20 % of the items cold, split 50/50 into validation and test): ``round(cold_rate * num_videos)``
  videos, drawn uniformly (seeded by ``seed``), are held out *entirely*. Every interaction of the first half
  of them (in draw order, ``n_cold // 2`` videos) is validation, every interaction of the other half test;
  none is ever training, so the M-HIG, the walks, the triples and every model see no interaction of a cold
  video (they keep their content: features, tags, codeword and tag links, what a new upload has). The warm
  interactions are split as ``random`` does (per-user holdout at ``training_rate``, then ``val_rate``).
  :attr:`Split.cold_videos` records the cold videos; the part codes stay TRAIN / VAL / TEST, and an
  interaction is cold iff its video is cold (:meth:`Split.cold_rows`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hhfan.data.atomic import atomic_file
from hhfan.data.dataset import Dataset, DatasetError

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_KINDS: tuple[str, ...] = ("random", "predefined", "cold")
"""Accepted values of :attr:`SplitConfig.kind`."""
HOLDOUT_RULE = 2
"""Version of the per-user holdout rule (2: light users drawn at the rate, :func:`_per_user_holdout`); part of a
shared graph's cache key, so a graph built under an older rule is never reused for a new run."""


@dataclass(frozen=True)
class SplitConfig:
    """How to split interactions.

    Attributes:
        kind: ``"random"`` (per-user holdout), ``"predefined"`` (the dataset's own split) or ``"cold"``
            (a share of the videos held out entirely, the rest split as ``random``; see the module docstring).
        training_rate: share of each user's interactions kept for training + validation, in (0, 1) (of the
            warm interactions for ``cold``).
        val_rate: share of the training part carved out for validation, in [0, 1).
        seed: random seed; the same seed gives the same split.
        cold_rate: ``cold`` only: share of the videos held out as cold, in (0, 1); half serve cold validation,
            half cold test.
    """

    kind: str = "random"
    training_rate: float = 0.8
    val_rate: float = 0.1
    seed: int = 0
    cold_rate: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in SPLIT_KINDS:
            raise ValueError(f"split kind must be one of {', '.join(map(repr, SPLIT_KINDS))}, got {self.kind!r}")
        if not 0.0 < self.cold_rate < 1.0:
            raise ValueError(f"cold_rate must be strictly between 0 and 1, got {self.cold_rate}")
        if not 0.0 < self.training_rate < 1.0:
            raise ValueError(f"training_rate must be strictly between 0 and 1, got {self.training_rate}")
        if not 0.0 <= self.val_rate < 1.0:
            raise ValueError(f"val_rate must be in [0, 1), got {self.val_rate}")
        if isinstance(self.seed, bool) or not hasattr(self.seed, "__index__") or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


@dataclass(frozen=True)
class Split:
    """One code per interaction row (``0`` train, ``1`` validation, ``2`` test) and its provenance.

    Attributes:
        part: int8 ``[num_interactions]`` part codes.
        config: how the split was made.
        fingerprint: the dataset's fingerprint.
        cold_videos: int64 sorted ids of the videos held out entirely (``kind="cold"``; empty otherwise).
    """

    part: np.ndarray
    config: SplitConfig
    fingerprint: str
    cold_videos: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def is_cold(self) -> bool:
        """Whether this split holds videos out entirely (``kind="cold"``)."""
        return bool(self.cold_videos.size)

    def mask(self, code: int) -> np.ndarray:
        """Boolean mask of the interaction rows in part ``code`` (TRAIN, VAL or TEST)."""
        return self.part == code

    def cold_rows(self, video: np.ndarray) -> np.ndarray:
        """Boolean mask of the interaction rows (given their ``video`` column) on a cold video."""
        return np.isin(video, self.cold_videos)

    def video_is_cold(self, num_videos: int) -> np.ndarray:
        """Boolean ``[num_videos]``: True for the cold videos."""
        out = np.zeros(num_videos, dtype=bool)
        out[self.cold_videos] = True
        return out

    def counts(self) -> dict[str, int]:
        """Number of interactions per part (and, for a cold split, the number of cold videos)."""
        c = np.bincount(self.part, minlength=3)
        out = {"train": int(c[0]), "val": int(c[1]), "test": int(c[2])}
        if self.is_cold:
            out["cold_videos"] = int(self.cold_videos.size)
        return out

    def check(self, ds: Dataset) -> None:
        """Raise :class:`DatasetError` if this split was not made for ``ds``."""
        if self.part.shape[0] != len(ds.interactions) or self.fingerprint != ds.fingerprint():
            raise DatasetError(
                "this split was made for different data (fingerprint mismatch); rebuild it from this dataset")

    def save(self, path: Path) -> None:
        """Write ``path`` (``.npz``) atomically; the config and fingerprint ride along as JSON."""
        meta = json.dumps({"config": asdict(self.config), "fingerprint": self.fingerprint})
        with atomic_file(Path(path)) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, part=self.part, meta=np.array(meta), cold_videos=self.cold_videos)

    @classmethod
    def load(cls, path: Path) -> Split:
        """Read a split written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                part = z["part"].astype(np.int8)
                meta = json.loads(str(z["meta"]))
                cold = z["cold_videos"].astype(np.int64) if "cold_videos" in z.files else np.empty(0, np.int64)
            return cls(part, SplitConfig(**meta["config"]), str(meta["fingerprint"]), cold)
        except Exception as e:  # OSError, KeyError, BadZipFile, zlib.error, EOFError... of a damaged file
            raise DatasetError(f"{path}: not a readable hhfan split ({type(e).__name__}: {e}); rebuild it") from e


def _per_user_holdout(user: np.ndarray, eligible: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Pick ``round(rate * n_u)`` of each user's eligible rows (at most ``n_u - 1``); return a mask.

    A user for whom that rounds to 0 but who has two rows or more (a light user: ``rate * n_u <= 0.5``, as
    rounding goes half to even) gives one row with probability ``rate * n_u``, so light users are held out at the
    rate in expectation instead of never (on TikTok, where 99 % of the users have at most four interactions,
    rounding alone left a random split's validation with the 103 heaviest users only). Users with
    ``round(rate * n_u) >= 1`` are untouched, and with no light user the draws are exactly those of plain rounding.

    Vectorised: rows are ordered by (user, random key) and the first ``k_u`` of each user's block
    are taken, so no Python loop over users is needed even at 20 M interactions.
    """
    rows = np.flatnonzero(eligible)
    u = user[rows]
    order = np.lexsort((rng.random(rows.shape[0]), u))
    rows, u = rows[order], u[order]
    n_u = np.bincount(u, minlength=int(user.max()) + 1)
    k_u = np.minimum(np.rint(rate * n_u).astype(np.int64), np.maximum(n_u - 1, 0))
    light = np.flatnonzero((k_u == 0) & (n_u >= 2))
    if light.size:
        k_u[light] = rng.random(light.size) < rate * n_u[light]
    start = np.concatenate([[0], np.cumsum(n_u)[:-1]])
    rank = np.arange(rows.shape[0]) - start[u]
    out = np.zeros(user.shape[0], dtype=bool)
    out[rows[rank < k_u[u]]] = True
    return out


def make_split(ds: Dataset, config: SplitConfig) -> Split:
    """Split ``ds``'s interactions per ``config`` (see module docstring). Deterministic for a seed."""
    rng = np.random.default_rng(config.seed)
    user = ds.interactions.user
    part = np.zeros(len(ds.interactions), dtype=np.int8)
    if config.kind == "predefined":
        if ds.interactions.split is None:
            raise DatasetError(f"dataset {ds.name!r} has no predefined split; use kind='random'")
        part[:] = ds.interactions.split
        if not (part == TRAIN).any():
            raise DatasetError("the predefined split has no training interactions")
        if not (part == VAL).any() and config.val_rate > 0:
            part[_per_user_holdout(user, part == TRAIN, config.val_rate, rng)] = VAL
    elif config.kind == "cold":
        return _cold_split(ds, config, rng)
    else:
        test = _per_user_holdout(user, np.ones_like(part, dtype=bool), 1.0 - config.training_rate, rng)
        part[test] = TEST
        if config.val_rate > 0:
            part[_per_user_holdout(user, part == TRAIN, config.val_rate, rng)] = VAL
    return Split(part, config, ds.fingerprint())


def _cold_split(ds: Dataset, config: SplitConfig, rng: np.random.Generator) -> Split:
    """``kind="cold"`` (module docstring): cold videos first, then the per-user holdout of the warm rows."""
    nv = ds.num_videos
    n_cold = round(config.cold_rate * nv)
    if n_cold < 2 or n_cold > nv - 1:
        raise DatasetError(f"split.cold_rate={config.cold_rate} holds out {n_cold} of {nv} videos; a cold split needs "
                           "at least 2 cold videos (one for validation, one for test) and at least one warm video")
    drawn = rng.permutation(nv)[:n_cold]
    val_cold, test_cold = drawn[: n_cold // 2], drawn[n_cold // 2 :]
    user, video = ds.interactions.user, ds.interactions.video
    part = np.zeros(len(ds.interactions), dtype=np.int8)
    part[np.isin(video, val_cold)] = VAL
    part[np.isin(video, test_cold)] = TEST
    warm = ~np.isin(video, drawn)
    if not warm.any():
        raise DatasetError("every interaction is on a cold video; lower split.cold_rate")
    part[_per_user_holdout(user, warm, 1.0 - config.training_rate, rng)] = TEST
    if config.val_rate > 0:
        part[_per_user_holdout(user, warm & (part == TRAIN), config.val_rate, rng)] = VAL
    return Split(part, config, ds.fingerprint(), np.sort(drawn).astype(np.int64))
