"""Helpers shared by the importers."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("hhfan.data.importers")


def kept_users(user: np.ndarray, num_users: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Users with at least one interaction, and a remap old index -> new index (-1 = dropped).

    A canonical :class:`~hhfan.data.dataset.Dataset` has no user without interactions, so importers drop
    them (and log how many, naming ``where`` they looked).
    """
    per_user = np.bincount(user, minlength=num_users)
    kept = np.flatnonzero(per_user > 0)
    if kept.shape[0] < num_users:
        log.warning("%s: dropping %d of %d users with no interaction", where, num_users - kept.shape[0], num_users)
    remap = np.full(num_users, -1, dtype=np.int64)
    remap[kept] = np.arange(kept.shape[0])
    return kept, remap
