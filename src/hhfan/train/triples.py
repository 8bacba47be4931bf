"""Training-set generation of §III-F: positives within walk distance τ, M negatives each (Eq. 9).

* **Positives** ``A'(u)``: τ = 1 gives the user's observed training interactions. τ > 1 adds, per user,
  up to ``walk_positives`` videos that short random walks from the user reach within τ steps on the
  M-HIG (training edges only) — the paper's "a user may also prefer videos indirectly linked to him".
  Walk-found videos already in the user's training set are not added twice.
* **Negatives**: for each pair ⟨u, v⟩, M videos drawn uniformly from the videos the user has no
  training interaction with (rejection sampling against sorted ``u·V + v`` keys, vectorised).

Both are regenerated every epoch (§III-F: "for each iteration ... the above two steps are performed")
from a generator seeded by ``(seed, epoch)``, so an epoch's triples do not depend on what ran before —
which is what makes ``--resume`` exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hhfan.graph.mhig import HeteroGraph


class TrainingPairs:
    """The training interactions of one split, indexed for fast membership tests."""

    def __init__(self, user: np.ndarray, video: np.ndarray, num_users: int, num_videos: int) -> None:
        self.user = user.astype(np.int64)
        self.video = video.astype(np.int64)
        self.num_users, self.num_videos = num_users, num_videos
        self.keys = np.sort(self.user * num_videos + self.video)

    def contains(self, user: np.ndarray, video: np.ndarray) -> np.ndarray:
        """Boolean mask: is (user[i], video[i]) a training interaction?"""
        k = user.astype(np.int64) * self.num_videos + video
        pos = np.searchsorted(self.keys, k)
        pos = np.minimum(pos, self.keys.shape[0] - 1)
        return self.keys[pos] == k


def sample_negatives(pairs: TrainingPairs, users: np.ndarray, m: int, rng: np.random.Generator,
                     max_rounds: int = 100) -> np.ndarray:
    """``[len(users), m]`` videos with no training interaction with their row's user (uniform)."""
    u = np.repeat(users.astype(np.int64), m)
    neg = rng.integers(0, pairs.num_videos, u.shape[0])
    bad = np.flatnonzero(pairs.contains(u, neg))
    for _ in range(max_rounds):
        if bad.size == 0:
            break
        neg[bad] = rng.integers(0, pairs.num_videos, bad.shape[0])
        bad = bad[pairs.contains(u[bad], neg[bad])]
    if bad.size:
        raise ValueError("could not sample negatives: some users have interacted with (almost) every video")
    return neg.reshape(-1, m)


@njit(cache=True)
def _walk_videos(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray, tau: int, walks: int,
                 video_lo: int, video_hi: int, seed: int) -> np.ndarray:
    out = np.full((users.shape[0], walks), -1, np.int64)
    np.random.seed(seed)
    for i in range(users.shape[0]):
        for w in range(walks):
            cur = users[i]
            for _ in range(tau):
                deg = indptr[cur + 1] - indptr[cur]
                if deg == 0:
                    break
                cur = indices[indptr[cur] + np.random.randint(0, deg)]
            if video_lo <= cur < video_hi:
                out[i, w] = cur - video_lo
    return out


def walk_positives(graph: HeteroGraph, pairs: TrainingPairs, tau: int, per_user: int, seed: int) -> np.ndarray:
    """``[n, 2]`` extra (user, video) positives found by τ-step walks from each user (§III-F step 1)."""
    if tau <= 1 or per_user <= 0:
        return np.empty((0, 2), dtype=np.int64)
    users = np.arange(pairs.num_users, dtype=np.int64) + graph.offset("user")
    lo = graph.offset("video")
    found = _walk_videos(graph.indptr, graph.indices, users, tau, 4 * per_user, lo, lo + graph.count("video"), seed)
    u = np.repeat(np.arange(pairs.num_users), found.shape[1])
    v = found.ravel()
    keep = v >= 0
    u, v = u[keep], v[keep]
    keep = ~pairs.contains(u, v)
    uv = np.unique(np.stack([u[keep], v[keep]], axis=1), axis=0)
    rng = np.random.default_rng(seed)
    uv = uv[rng.permutation(uv.shape[0])]
    order = np.argsort(uv[:, 0], kind="stable")
    uv = uv[order]
    start = np.searchsorted(uv[:, 0], uv[:, 0], side="left")
    rank = np.arange(uv.shape[0]) - start
    return uv[rank < per_user]


def epoch_triples(pairs: TrainingPairs, extra: np.ndarray, m: int, seed: int, epoch: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled triples ⟨u, v, v'⟩ of one epoch (Eq. 9): every positive pair with M negatives."""
    rng = np.random.default_rng([seed, epoch])
    u = np.concatenate([pairs.user, extra[:, 0]]) if extra.size else pairs.user
    v = np.concatenate([pairs.video, extra[:, 1]]) if extra.size else pairs.video
    neg = sample_negatives(pairs, u, m, rng)
    u, v = np.repeat(u, m), np.repeat(v, m)
    order = rng.permutation(u.shape[0])
    return u[order], v[order], neg.ravel()[order]
