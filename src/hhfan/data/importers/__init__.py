"""Importers: turn a public dataset's native files into the canonical :class:`~hhfan.data.dataset.Dataset`.

Each importer takes the directory holding the native files and returns a validated ``Dataset``;
write it with :func:`hhfan.data.io.write_dataset` to get a dataset directory every later stage reads.

* ``"tiktok"`` - :func:`load_tiktok`: MMSSL/DiffMM preprocessing of TikTok (sparse-matrix pickles
  read through :func:`load_sparse_pickle`, visual + acoustic features, train/val/test split).
* ``"movielens-1m"`` - :func:`load_movielens_1m`: MovieLens-1M metadata with the CoLaKG train/test
  split, genres as tags, user attributes and TF-IDF/SVD textual features of titles + descriptions.

:data:`IMPORTERS` maps these names to the functions (called with the source directory only, so
optional parameters take their defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hhfan.data.dataset import Dataset
from hhfan.data.importers.movielens import load_movielens_1m
from hhfan.data.importers.safe_pickle import UnsafePickleError, load_sparse_pickle
from hhfan.data.importers.tiktok import load_tiktok

IMPORTERS: dict[str, Callable[[Path], Dataset]] = {
    "tiktok": load_tiktok,
    "movielens-1m": load_movielens_1m,
}
"""Importer name -> function taking the source directory and returning a :class:`Dataset`."""

__all__ = ["IMPORTERS", "UnsafePickleError", "load_movielens_1m", "load_sparse_pickle", "load_tiktok"]
