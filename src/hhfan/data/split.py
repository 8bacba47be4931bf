"""Train / validation / test splits of a dataset's interactions, saved with the data's fingerprint.

Two kinds (HHFAN §IV-C and the datasets' own conventions):

* ``random`` — per-user random holdout: ``round((1 - training_rate) * n_u)`` of each user's
  interactions go to test (at most ``n_u - 1``, so every user keeps a training interaction), then
  ``round(val_rate * n_train_u)`` of the remaining ones go to validation (again leaving at least
  one for training). The paper uses training rates 0.8, 0.6 and 0.4.
* ``predefined`` — the dataset's own split (TikTok's fixed train/val/test). When it has no
  validation part (MovieLens-1M's CoLaKG copy), validation is carved from its training part by the
  same per-user rule, so model selection never sees test data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hhfan.data.atomic import atomic_file
from hhfan.data.dataset import Dataset, DatasetError

TRAIN, VAL, TEST = 0, 1, 2


@dataclass(frozen=True)
class SplitConfig:
    """How to split interactions.

    Attributes:
        kind: ``"random"`` (per-user holdout) or ``"predefined"`` (the dataset's own split).
        training_rate: share of each user's interactions kept for training + validation, in (0, 1).
        val_rate: share of the training part carved out for validation, in [0, 1).
        seed: random seed; the same seed gives the same split.
    """

    kind: str = "random"
    training_rate: float = 0.8
    val_rate: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("random", "predefined"):
            raise ValueError(f"split kind must be 'random' or 'predefined', got {self.kind!r}")
        if not 0.0 < self.training_rate < 1.0:
            raise ValueError(f"training_rate must be strictly between 0 and 1, got {self.training_rate}")
        if not 0.0 <= self.val_rate < 1.0:
            raise ValueError(f"val_rate must be in [0, 1), got {self.val_rate}")
        if isinstance(self.seed, bool) or not hasattr(self.seed, "__index__") or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


@dataclass(frozen=True)
class Split:
    """One code per interaction row (``0`` train, ``1`` validation, ``2`` test) and its provenance."""

    part: np.ndarray
    config: SplitConfig
    fingerprint: str

    def mask(self, code: int) -> np.ndarray:
        """Boolean mask of the interaction rows in part ``code`` (TRAIN, VAL or TEST)."""
        return self.part == code

    def counts(self) -> dict[str, int]:
        """Number of interactions per part."""
        c = np.bincount(self.part, minlength=3)
        return {"train": int(c[0]), "val": int(c[1]), "test": int(c[2])}

    def check(self, ds: Dataset) -> None:
        """Raise :class:`DatasetError` if this split was not made for ``ds``."""
        if self.part.shape[0] != len(ds.interactions) or self.fingerprint != ds.fingerprint():
            raise DatasetError(
                "this split was made for different data (fingerprint mismatch); rebuild it from this dataset")

    def save(self, path: Path) -> None:
        """Write ``path`` (``.npz``) atomically; the config and fingerprint ride along as JSON."""
        meta = json.dumps({"config": asdict(self.config), "fingerprint": self.fingerprint})
        with atomic_file(Path(path)) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, part=self.part, meta=np.array(meta))

    @classmethod
    def load(cls, path: Path) -> Split:
        """Read a split written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                part = z["part"].astype(np.int8)
                meta = json.loads(str(z["meta"]))
            return cls(part, SplitConfig(**meta["config"]), str(meta["fingerprint"]))
        except Exception as e:  # OSError, KeyError, BadZipFile, zlib.error, EOFError... of a damaged file
            raise DatasetError(f"{path}: not a readable hhfan split ({type(e).__name__}: {e}); rebuild it") from e


def _per_user_holdout(user: np.ndarray, eligible: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Pick ``round(rate * n_u)`` of each user's eligible rows (at most ``n_u - 1``); return a mask.

    Vectorised: rows are ordered by (user, random key) and the first ``k_u`` of each user's block
    are taken, so no Python loop over users is needed even at 20 M interactions.
    """
    rows = np.flatnonzero(eligible)
    u = user[rows]
    order = np.lexsort((rng.random(rows.shape[0]), u))
    rows, u = rows[order], u[order]
    n_u = np.bincount(u, minlength=int(user.max()) + 1)
    k_u = np.minimum(np.rint(rate * n_u).astype(np.int64), np.maximum(n_u - 1, 0))
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
    else:
        test = _per_user_holdout(user, np.ones_like(part, dtype=bool), 1.0 - config.training_rate, rng)
        part[test] = TEST
        if config.val_rate > 0:
            part[_per_user_holdout(user, part == TRAIN, config.val_rate, rng)] = VAL
    return Split(part, config, ds.fingerprint())
