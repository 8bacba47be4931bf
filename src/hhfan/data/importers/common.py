"""Helpers shared by the importers."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("hhfan.data.importers")


MAX_INDEX = 2**31 - 1
"""Most users or videos a dataset may declare: indices are int32 throughout (and memory stays bounded)."""


def kept_users(user: np.ndarray, num_users: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Users with at least one interaction, and each interaction's user renumbered among them.

    Returns ``(kept, new_user)``: the old indices of the kept users (sorted) and, per interaction, the
    new index of its user. A canonical :class:`~hhfan.data.dataset.Dataset` has no user without
    interactions, so importers drop them (and log how many, naming ``where`` they looked). Costs
    O(interactions), whatever ``num_users`` a file declares.
    """
    kept, new_user = np.unique(user, return_inverse=True)
    if kept.shape[0] < num_users:
        log.warning("%s: dropping %d of %d users with no interaction", where, num_users - kept.shape[0], num_users)
    return kept, new_user.reshape(-1)
