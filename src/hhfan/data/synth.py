"""Synthetic micro-video worlds with *planted* structure, from toy size up to Kwai scale.

The generator is deterministic in :attr:`SynthConfig.seed` and returns a canonical
:class:`~hhfan.data.dataset.Dataset` (``name="synthetic"``, ``synthetic=True``). Planted structure,
which tests and benchmarks may rely on:

* **Tag tree** of three levels, ``roots -> mids -> leaves`` (:attr:`SynthConfig.tag_branching`),
  named ``"r0"``, ``"r0.m1"``, ``"r0.m1.l2"``. Tag indices list all roots, then all mids, then all
  leaves (each level in name order); ``tag_tree`` holds the edges root->mid and mid->leaf.
* **Latent topic vectors** are hierarchical: root ~ N(0, I), mid = root + 0.7 N(0, I),
  leaf = mid + 0.5 N(0, I), so sibling topics are similar and topics under different roots are not.
* **Videos**: each has one leaf topic (every leaf has at least one video). ``video_tags`` is sorted by
  video and the *first* row of each video is its primary leaf tag; with probability 0.25 a sibling
  leaf (same mid) follows, and with probability 0.3 the mid tag. Features of modality ``m`` are
  ``(leaf vector + 0.5 N(0, I)) @ W_m + noise[m] * std * N(0, I)`` (float32) with a fixed random
  projection ``W_m`` per modality, so same-topic videos are close in every modality.
  ``video_texts`` is None: text is represented by the ``textual`` features.
* **Popularity** is Zipf-like: a random rank per video, weight ``(rank + 1) ** -popularity_exponent``.
* **Users** have ``interest_topics`` leaf topics with Dirichlet weights (the first, largest, is the
  main topic; the others share its root with probability 0.7). Attributes: ``gender`` and ``age``
  (buckets, independent of interests) and ``region`` (``"reg<root>"``: the main topic's root with
  probability 0.7, otherwise a random root), so attributes carry signal.
* **Interactions**: per-user count ~ lognormal with mean ``mean_interactions``, clipped to
  ``[min_interactions, num_videos // 2]``. Each draw picks a topic from the user's mixture (a uniform
  topic with probability ``exploration``), then a video of that topic proportional to popularity.
  Pairs are unique; repeated draws are topped up for a few rounds, so a user may end slightly below
  the target count (never below one). Rows are grouped by user; optional int64 timestamps (seconds)
  strictly increase within each user.

Memory stays linear in the output: interactions are drawn in chunks of users with vectorised
sampling (per-topic cumulative popularity + ``np.searchsorted``), never a users x videos matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hhfan.data.dataset import MODALITIES, Dataset, Interactions

LATENT_DIM = 32
CHUNK_USERS = 20_000
TOPUP_ROUNDS = 4
AGE_BUCKETS = ("<18", "18-24", "25-34", "35-49", "50+")
AGE_PROBS = (0.1, 0.3, 0.3, 0.2, 0.1)


@dataclass(frozen=True)
class SynthConfig:
    """Size and shape of a synthetic world (see the module docstring for the planted structure).

    Attributes:
        num_users: number of users (all of them get at least one interaction).
        num_videos: number of videos; at least the number of leaf topics.
        seed: random seed; the same config always yields the same dataset (same fingerprint).
        mean_interactions: mean interactions per user before deduplication (Kwai scale: ~120).
        min_interactions: lower clip of a user's target interaction count.
        tag_branching: (roots, mids per root, leaves per mid) of the 3-level tag tree.
        interest_topics: leaf topics per user.
        exploration: probability that an interaction ignores the user's interests (uniform topic).
        popularity_exponent: Zipf exponent of per-video popularity (0 = uniform).
        dims: modality -> feature dimension; drop a key to omit that modality.
        noise: modality -> Gaussian noise std relative to the signal std (one entry per ``dims`` key).
        timestamps: whether interactions carry per-user increasing integer timestamps.
    """

    num_users: int = 1000
    num_videos: int = 2000
    seed: int = 0
    mean_interactions: float = 40.0
    min_interactions: int = 5
    tag_branching: tuple[int, int, int] = (4, 3, 3)
    interest_topics: int = 3
    exploration: float = 0.1
    popularity_exponent: float = 1.1
    dims: dict[str, int] = field(default_factory=lambda: {"visual": 64, "acoustic": 32, "textual": 48})
    noise: dict[str, float] = field(default_factory=lambda: {"visual": 0.5, "acoustic": 0.8, "textual": 0.6})
    timestamps: bool = True

    @property
    def num_leaves(self) -> int:
        """Number of leaf topics (= product of :attr:`tag_branching`)."""
        b0, b1, b2 = self.tag_branching
        return b0 * b1 * b2

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"SynthConfig: {msg}")

        need(self.num_users >= 1, f"num_users must be >= 1, got {self.num_users}")
        need(self.num_videos >= 1, f"num_videos must be >= 1, got {self.num_videos}")
        need(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        need(len(self.tag_branching) == 3 and all(int(b) >= 1 for b in self.tag_branching),
             f"tag_branching must be three positive ints (roots, mids, leaves), got {self.tag_branching}")
        need(self.num_videos >= self.num_leaves, f"num_videos ({self.num_videos}) must be >= the number "
             f"of leaf topics ({self.num_leaves}); raise num_videos or shrink tag_branching")
        need(math.isfinite(self.mean_interactions) and self.mean_interactions > 0,
             f"mean_interactions must be a finite number > 0, got {self.mean_interactions}")
        need(self.min_interactions >= 1, f"min_interactions must be >= 1, got {self.min_interactions}")
        need(self.min_interactions <= self.num_videos // 2, f"min_interactions ({self.min_interactions}) "
             f"must be <= num_videos // 2 ({self.num_videos // 2})")
        need(self.interest_topics >= 1, f"interest_topics must be >= 1, got {self.interest_topics}")
        need(0.0 <= self.exploration <= 1.0, f"exploration must be in [0, 1], got {self.exploration}")
        need(math.isfinite(self.popularity_exponent) and self.popularity_exponent >= 0,
             f"popularity_exponent must be a finite number >= 0, got {self.popularity_exponent}")
        for m, d in self.dims.items():
            need(m in MODALITIES, f"unknown modality {m!r} in dims; use {MODALITIES}")
            need(int(d) >= 1, f"dims[{m!r}] must be >= 1, got {d}")
            need(m in self.noise and math.isfinite(self.noise[m]) and self.noise[m] >= 0,
                 f"noise[{m!r}] must be given, finite and >= 0")


class _TopicSampler:
    """Draws videos of given topics proportionally to popularity (cumulative sums + searchsorted)."""

    def __init__(self, topic: np.ndarray, pop: np.ndarray, num_topics: int) -> None:
        self.order = np.lexsort((-pop, topic)).astype(np.int32)  # by topic, popular first (cache-friendly)
        self.cum = np.cumsum(pop[self.order])
        self.start = np.searchsorted(topic[self.order], np.arange(num_topics))
        self.end = np.append(self.start[1:], topic.shape[0])
        self.lo = np.where(self.start > 0, self.cum[np.maximum(self.start - 1, 0)], 0.0)
        self.hi = self.cum[self.end - 1]

    def draw(self, rng: np.random.Generator, topics: np.ndarray) -> np.ndarray:
        """One int64 video index per entry of ``topics``."""
        lo = self.lo[topics]
        x = lo + rng.random(topics.shape[0]) * (self.hi[topics] - lo)
        pos = np.clip(np.searchsorted(self.cum, x, side="right"), self.start[topics], self.end[topics] - 1)
        return self.order[pos].astype(np.int64)


def _chunk(rng: np.random.Generator, cfg: SynthConfig, first: int, target: np.ndarray, interests: np.ndarray,
           cumw: np.ndarray, sampler: _TopicSampler) -> np.ndarray:
    """Unique int64 keys ``user * num_videos + video`` for users ``first..first+len(target)-1``.

    Keys come grouped by user (ascending), in random order within a user; at most ``target`` per user.
    """
    nv, n, num_topics = cfg.num_videos, target.shape[0], cfg.num_leaves
    keys = np.empty(0, dtype=np.int64)
    need = target.copy()
    for r in range(TOPUP_ROUNDS):
        short = np.flatnonzero(need > 0)
        if short.size == 0:
            break
        local = np.repeat(short, np.ceil(need[short] * 1.3 * 2**r).astype(np.int64) + 2)
        slot = (rng.random(local.shape[0])[:, None] > cumw[local]).sum(axis=1)
        topic = interests[local, np.minimum(slot, interests.shape[1] - 1)]
        explore = np.flatnonzero(rng.random(local.shape[0]) < cfg.exploration)
        topic[explore] = rng.integers(0, num_topics, explore.shape[0])
        new = np.sort((local + first).astype(np.int64) * nv + sampler.draw(rng, topic))
        keys = np.sort(np.concatenate([keys, new]), kind="stable")  # two sorted runs: a linear merge
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        need = np.maximum(target - np.bincount(keys // nv - first, minlength=n), 0)
    # Shuffle within each user, then keep a random subset of at most `target` keys per user.
    user = keys // nv - first
    keys = keys[np.argsort((user << 40) | rng.integers(0, 1 << 40, keys.shape[0]))]  # `user` is unchanged
    counts = np.bincount(user, minlength=n)
    rank = np.arange(keys.shape[0]) - (np.cumsum(counts) - counts)[user]
    return keys[rank < target[user]]


def generate(config: SynthConfig, progress: Callable[[int, int], None] | None = None) -> Dataset:
    """Generate a synthetic world for ``config``; ``progress(done_users, total_users)`` after each chunk."""
    cfg = config
    rng = np.random.default_rng([cfg.seed, 0])
    b0, b1, b2 = cfg.tag_branching
    nu, nv, num_leaves = cfg.num_users, cfg.num_videos, cfg.num_leaves

    # Tag tree and hierarchical latent topic vectors.
    roots = rng.standard_normal((b0, LATENT_DIM))
    mids = np.repeat(roots, b1, axis=0) + 0.7 * rng.standard_normal((b0 * b1, LATENT_DIM))
    leaves = np.repeat(mids, b2, axis=0) + 0.5 * rng.standard_normal((num_leaves, LATENT_DIM))
    mid_tag0, leaf_tag0 = b0, b0 + b0 * b1
    names = [f"r{r}" for r in range(b0)] + [f"r{r}.m{m}" for r in range(b0) for m in range(b1)]
    names += [f"r{r}.m{m}.l{v}" for r in range(b0) for m in range(b1) for v in range(b2)]
    tag_names = np.array(names, dtype=object)
    tag_tree = np.concatenate([
        np.stack([np.arange(b0 * b1) // b1, mid_tag0 + np.arange(b0 * b1)], axis=1),
        np.stack([mid_tag0 + np.arange(num_leaves) // b2, leaf_tag0 + np.arange(num_leaves)], axis=1),
    ]).astype(np.int32)

    # Videos: topics (every leaf used), tags, popularity, features.
    share = rng.dirichlet(np.full(num_leaves, 2.0))
    vtopic = rng.permutation(np.concatenate([np.arange(num_leaves), rng.choice(num_leaves, nv - num_leaves,
                                                                               p=share)]))
    vids = np.arange(nv)
    rows = [np.stack([vids, leaf_tag0 + vtopic], axis=1)]
    if b2 > 1:
        sec = np.flatnonzero(rng.random(nv) < 0.25)
        t = vtopic[sec]
        sib = t - t % b2 + (t % b2 + rng.integers(1, b2, sec.shape[0])) % b2
        rows.append(np.stack([sec, leaf_tag0 + sib], axis=1))
    mid = np.flatnonzero(rng.random(nv) < 0.3)
    rows.append(np.stack([mid, mid_tag0 + vtopic[mid] // b2], axis=1))
    vt = np.concatenate(rows)
    video_tags = vt[np.argsort(vt[:, 0], kind="stable")].astype(np.int32)
    pop = (rng.permutation(nv) + 1.0) ** -cfg.popularity_exponent
    latent = leaves.astype(np.float32)[vtopic]
    latent += 0.5 * rng.standard_normal(latent.shape, dtype=np.float32)
    features: dict[str, np.ndarray] = {}
    for m in (m for m in MODALITIES if m in cfg.dims):
        w = rng.standard_normal((LATENT_DIM, int(cfg.dims[m])), dtype=np.float32) / np.float32(np.sqrt(LATENT_DIM))
        f = latent @ w
        scale = np.float32(cfg.noise[m] * float(f.std()))
        f += scale * rng.standard_normal(f.shape, dtype=np.float32)
        features[m] = f
    del latent

    # Users: interests, attributes, target counts.
    k = cfg.interest_topics
    leaves_per_root = b1 * b2
    main = rng.integers(0, num_leaves, nu)
    root_base = (main // leaves_per_root)[:, None] * leaves_per_root
    same_root = root_base + rng.integers(0, leaves_per_root, (nu, k))
    interests = np.where(rng.random((nu, k)) < 0.7, same_root, rng.integers(0, num_leaves, (nu, k)))
    interests[:, 0] = main
    weights = -np.sort(-rng.dirichlet(np.ones(k), nu), axis=1)
    cumw = np.cumsum(weights, axis=1)
    root = np.where(rng.random(nu) < 0.7, main // leaves_per_root, rng.integers(0, b0, nu))
    attrs = {
        "gender": np.array(["f", "m"], dtype=object)[rng.integers(0, 2, nu)],
        "age": np.array(AGE_BUCKETS, dtype=object)[rng.choice(len(AGE_BUCKETS), nu, p=AGE_PROBS)],
        "region": np.array([f"reg{r}" for r in range(b0)], dtype=object)[root],
    }
    sigma = 0.8
    raw = rng.lognormal(np.log(cfg.mean_interactions) - sigma**2 / 2, sigma, nu)
    target = np.clip(np.rint(raw), cfg.min_interactions, nv // 2).astype(np.int64)

    # Interactions, in chunks of users.
    sampler = _TopicSampler(vtopic, pop, num_leaves)
    users, videos, stamps = [], [], []
    for c, first in enumerate(range(0, nu, CHUNK_USERS)):
        last = min(first + CHUNK_USERS, nu)
        crng = np.random.default_rng([cfg.seed, 1, c])
        keys = _chunk(crng, cfg, first, target[first:last], interests[first:last], cumw[first:last], sampler)
        u = (keys // nv).astype(np.int32)
        users.append(u)
        videos.append((keys % nv).astype(np.int32))
        if cfg.timestamps:
            cs = np.cumsum(crng.integers(1, 86_400, keys.shape[0]))
            counts = np.bincount(u - first, minlength=last - first)
            base = 1_600_000_000 + crng.integers(0, 30 * 86_400, last - first)
            start = np.cumsum(counts) - counts
            local = u - first
            stamps.append(base[local] + cs - cs[start[local]])
        del keys
        if progress is not None:
            progress(last, nu)
    inter = Interactions(np.concatenate(users), np.concatenate(videos),
                         np.concatenate(stamps).astype(np.int64) if cfg.timestamps else None)
    return Dataset(
        name="synthetic",
        user_ids=np.array([f"u{i}" for i in range(nu)], dtype=object),
        video_ids=np.array([f"v{i}" for i in range(nv)], dtype=object),
        interactions=inter, features=features, tag_names=tag_names, video_tags=video_tags,
        tag_tree=tag_tree, user_attributes=attrs, video_texts=None, synthetic=True,
    )
