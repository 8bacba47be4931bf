"""Training-set generation of §III-F: positives within walk distance τ, M negatives each (Eq. 9).

* **Positives** ``A'(u)``: τ = 1 gives the user's observed training interactions. τ > 1 adds, per user,
  up to ``per_user`` videos within walk distance τ of the user on the M-HIG (training edges only): the
  videos that short random walks of τ moves from the user visit at *any* step 1 .. τ
  (:class:`WalkPositives`), the paper's "Distance dist(u, v_a) <= τ" and its "a user may also prefer
  videos indirectly linked to him". Distance is the M-HIG's hop count, so with τ = 1 meaning "directly
  linked" (observed), and on a graph whose only edges are user–video interactions no unobserved video
  lies within 2 hops of a user (u -> v -> u' ends on a user; the video it passes is observed): there τ = 3
  is the smallest τ that adds videos (u -> v -> u' -> v', the collaborative-filtering example of §III-F),
  while attribute, tag and user–tag edges bring videos within 2 or 3 hops. The user's observed videos are
  never added twice (they are positives already).
* **Negatives**: for each pair ⟨u, v⟩, M videos drawn uniformly from the videos that are none of the
  user's positives of the epoch (training interactions and the epoch's walk positives; rejection
  sampling against sorted ``u·V + v`` keys, vectorised), so a walk positive is never also a negative.

Both steps are regenerated every epoch (§III-F: "for each iteration in the training phase, the above two
steps are performed") from streams seeded by ``(seed, epoch)``, so an epoch's triples do not depend on
what ran before — which is what makes ``--resume`` exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from hhfan.graph.mhig import HeteroGraph


class TrainingPairs:
    """The training interactions of one split, indexed for fast membership tests.

    ``negative_pool``: the videos that may be drawn as negatives or added as walk positives (int64, sorted); None =
    every video. The cold-start split (``split.kind=cold``) passes the warm videos: its held-out videos take no
    part in training, neither as a negative nor as a walk positive.
    """

    def __init__(self, user: np.ndarray, video: np.ndarray, num_users: int, num_videos: int,
                 negative_pool: np.ndarray | None = None) -> None:
        self.negative_pool = None if negative_pool is None else np.asarray(negative_pool, dtype=np.int64)
        self.user = user.astype(np.int64)
        self.video = video.astype(np.int64)
        self.num_users, self.num_videos = num_users, num_videos
        self.keys = np.sort(self.user * num_videos + self.video)

    def shard(self, rank: int, world_size: int) -> TrainingPairs:
        """The pairs of the users of one rank (``user % world_size == rank``), in their original order."""
        keep = self.user % world_size == rank
        return TrainingPairs(self.user[keep], self.video[keep], self.num_users, self.num_videos, self.negative_pool)

    def contains(self, user: np.ndarray, video: np.ndarray) -> np.ndarray:
        """Boolean mask: is (user[i], video[i]) a training interaction?"""
        k = user.astype(np.int64) * self.num_videos + video
        pos = np.searchsorted(self.keys, k)
        pos = np.minimum(pos, self.keys.shape[0] - 1)
        return self.keys[pos] == k


def _draw_videos(pairs: TrainingPairs, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` videos drawn uniformly from every video, or from ``pairs.negative_pool`` when it is set."""
    pool = pairs.negative_pool
    return rng.integers(0, pairs.num_videos, n) if pool is None else pool[rng.integers(0, pool.shape[0], n)]


def sample_negatives(pairs: TrainingPairs, users: np.ndarray, m: int, rng: np.random.Generator,
                     max_rounds: int = 100) -> np.ndarray:
    """``[len(users), m]`` videos uniformly drawn among those not paired with their row's user in ``pairs``.

    ``pairs`` is the set to avoid: the training interactions, or those plus the epoch's walk positives. With a
    ``pairs.negative_pool``, negatives are drawn uniformly from the pool instead of from every video.
    """
    u = np.repeat(users.astype(np.int64), m)
    neg = _draw_videos(pairs, rng, u.shape[0])
    bad = np.flatnonzero(pairs.contains(u, neg))
    for _ in range(max_rounds):
        if bad.size == 0:
            break
        neg[bad] = _draw_videos(pairs, rng, bad.shape[0])
        bad = bad[pairs.contains(u[bad], neg[bad])]
    if bad.size:
        raise ValueError("could not sample negatives: some users have interacted with (almost) every video")
    return neg.reshape(-1, m)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(parallel=True, cache=True)
def _walk_videos(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray, tau: int, walks: int,
                 video_lo: int, video_hi: int, seed: np.uint64) -> np.ndarray:
    """``[len(users), walks * tau]`` local ids of the videos that ``walks`` walks of ``tau`` moves from each
    user visit, at every step (``-1`` elsewhere). Each user owns a splitmix64 stream seeded from
    ``(seed, user)``, so the result does not depend on the thread count or the order of ``users``."""
    out = np.full((users.shape[0], walks * tau), -1, np.int64)
    for i in prange(users.shape[0]):
        state = _mix64(_mix64(seed) ^ np.uint64(users[i]))
        slot = 0
        for _w in range(walks):
            cur = users[i]
            for _step in range(tau):
                deg = indptr[cur + 1] - indptr[cur]
                if deg == 0:
                    break
                state += _GOLDEN
                z = _mix64(state)
                cur = indices[indptr[cur] + np.int64(((z >> np.uint64(32)) * np.uint64(deg)) >> np.uint64(32))]
                if video_lo <= cur < video_hi:
                    out[i, slot] = cur - video_lo
                slot += 1
    return out


def _epoch_seed(seed: int, epoch: int, stream: int, shard: tuple[int, int] | None = None) -> np.random.SeedSequence:
    """Seed sequence of one (seed, epoch) and a stream tag (walks and their selection draw separately); a rank's
    shard ``(rank, world_size)`` of a multi-process run gets streams of its own."""
    return np.random.SeedSequence([int(seed), int(epoch), stream, *_shard_key(shard)])


def _shard_key(shard: tuple[int, int] | None) -> list[int]:
    """Extra seed words of a rank's shard (none for a single process, whose streams stay as they were)."""
    return [] if shard is None or shard[1] == 1 else [int(shard[0]), int(shard[1])]


@dataclass(frozen=True, eq=False)
class WalkPositives:
    """Walk-sampled positives ``A'(u)`` of §III-F step 1 (Eq. 9's positives beyond the observed ones).

    Each epoch, ``walks_per_positive * per_user`` random walks of ``tau`` moves start from every user on
    the M-HIG (built from training edges only); every video any of them visits, at any step 1 .. ``tau``,
    is within walk distance ``tau`` of the user. Of these, the user's observed training videos are
    dropped (they are positives already) and up to ``per_user`` of the others are kept, uniformly at
    random. Everything is drawn from streams seeded by ``(seed, epoch)``: the same (seed, epoch) gives
    the same positives, another epoch other ones.

    Attributes:
        graph: the M-HIG the walks run on.
        tau: τ of §III-F, the walk length (>= 2; τ = 1 means observed positives only: use no WalkPositives).
        per_user: at most this many walk positives per user and epoch (>= 1).
        walks_per_positive: walks per user and epoch, as a multiple of ``per_user`` (>= 1).
    """

    graph: HeteroGraph
    tau: int
    per_user: int
    walks_per_positive: int = 4

    def __post_init__(self) -> None:
        for name, lo in (("tau", 2), ("per_user", 1), ("walks_per_positive", 1)):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")

    def sample(self, pairs: TrainingPairs, seed: int, epoch: int, shard: tuple[int, int] | None = None
               ) -> np.ndarray:
        """The walk positives of one epoch: int64 ``[n, 2]`` rows ``(user, video)``, sorted by user.

        No row is a training interaction, no row repeats, and no user has more than ``per_user`` rows. With
        ``shard = (rank, world_size)`` only that rank's users (``user % world_size == rank``) walk; a user's walks
        are the same in any shard (one stream per user), the selection among them is drawn per shard.
        """
        g = self.graph
        if g.count("user") != pairs.num_users or g.count("video") != pairs.num_videos:
            raise ValueError(f"graph has {g.count('user')} users and {g.count('video')} videos but the training "
                             f"pairs {pairs.num_users} and {pairs.num_videos}")
        local = (np.arange(pairs.num_users, dtype=np.int64) if shard is None
                 else np.arange(shard[0], pairs.num_users, shard[1], dtype=np.int64))
        users = local + g.offset("user")
        lo = g.offset("video")
        walk_seed = np.uint64(_epoch_seed(seed, epoch, 1).generate_state(1, np.uint64)[0])
        found = _walk_videos(g.indptr, g.indices, users, int(self.tau), int(self.walks_per_positive * self.per_user),
                             lo, lo + g.count("video"), walk_seed)
        u = np.repeat(local, found.shape[1])
        v = found.ravel()
        keep = v >= 0
        u, v = u[keep], v[keep]
        keep = ~pairs.contains(u, v)
        if pairs.negative_pool is not None:  # videos outside the pool (held-out cold videos) are never positives
            keep &= np.isin(v, pairs.negative_pool)
        key = np.unique(u[keep] * pairs.num_videos + v[keep])  # distinct (user, video), sorted by user
        u, v = key // pairs.num_videos, key % pairs.num_videos
        rng = np.random.default_rng(_epoch_seed(seed, epoch, 2, shard))
        order = np.lexsort((rng.random((key.shape[0],)), u))  # per user, a uniform random order of its videos
        u, v = u[order], v[order]
        rank = np.arange(u.shape[0]) - np.searchsorted(u, u, side="left")
        keep = rank < self.per_user
        return np.stack([u[keep], v[keep]], axis=1).astype(np.int64)


def epoch_triples(pairs: TrainingPairs, walks: WalkPositives | None, m: int, seed: int, epoch: int,
                  shard: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled triples ⟨u, v, v'⟩ of one epoch (Eq. 9): every positive pair with M negatives.

    The positives are the training pairs plus, when ``walks`` is given, that epoch's walk positives
    (:meth:`WalkPositives.sample` with the same ``(seed, epoch)``). Negatives are drawn against all of
    them, so no video is both a positive and a negative of a user in one epoch. Deterministic in
    ``(seed, epoch)``; without walks, the triples are those of the training pairs alone.

    ``shard = (rank, world_size)`` draws one rank's part of a multi-process epoch: ``pairs`` must then hold that
    rank's users only (:meth:`TrainingPairs.shard`), walk positives are drawn for them only, and the streams are
    seeded by ``(seed, epoch, rank, world_size)`` (deterministic for a given number of processes; the triples of
    ``world_size`` ranks are not those of one process). ``None`` (or a world of 1) is the single-process draw.
    """
    rng = np.random.default_rng([seed, epoch, *_shard_key(shard)])
    shard = shard if _shard_key(shard) else None
    extra = walks.sample(pairs, seed, epoch, shard) if walks is not None else np.empty((0, 2), np.int64)
    if extra.size:
        u = np.concatenate([pairs.user, extra[:, 0]])
        v = np.concatenate([pairs.video, extra[:, 1]])
        positives = TrainingPairs(u, v, pairs.num_users, pairs.num_videos, pairs.negative_pool)
    else:
        u, v, positives = pairs.user, pairs.video, pairs
    neg = sample_negatives(positives, u, m, rng)
    u, v = np.repeat(u, m), np.repeat(v, m)
    order = rng.permutation(u.shape[0])
    return u[order], v[order], neg.ravel()[order]
