"""Evaluation protocols: full ranking and the paper's sampled-negatives ranking, plus ranking dumps.

Scores are inner products ``<e_u, e_v>`` of the final user and video embeddings (the models are
inner-product models, HHFAN Eq. 8). The users evaluated are the users with at least one interaction
in the evaluated part (``TEST`` by default, or ``VAL`` for model selection); their interactions in that
part are the relevant items. Metrics are those of :mod:`hhfan.eval.metrics`, averaged over users.

Two protocols (:class:`EvalConfig.protocol`):

* ``"full"`` — every video is a candidate except the user's interactions of the *earlier* parts:
  when testing, the user's TRAIN and VAL interactions are excluded; when validating, the TRAIN ones
  only (so the user's test videos stay candidates and count as negatives at validation, which must not
  look at them). A validation video is known to the recommender at test time, exactly like a training
  one, so ranking it again would count a known item as a miss. This is the all-ranking practice of
  RecBole and MMRec (they mask the train and validation items when ranking the test part) and of the
  LightGCN/MMSSL line of work.
* ``"sampled"`` — HHFAN §IV-C, as in MMGCN's code: the user's positives in the part are ranked among
  ``num_negatives`` (1000 in the paper) videos the user never interacted with in *any* part (train,
  validation or test), drawn uniformly without replacement. A user with fewer never-seen videos gets
  all of them.

Negative sampling is deterministic and independent of the model, the batch size and the run: the
negatives of user ``u`` are the never-seen videos with the ``num_negatives`` smallest keys
``hash(seed, u, video)`` (a SplitMix64-style 64-bit hash). Sorting by i.i.d. random keys is a uniform
random permutation, so the smallest keys are a uniform sample without replacement, and the sample of
``u`` depends only on ``(seed, u)`` and ``u``'s interactions. See :func:`sample_negatives`.

Restricted full rankings (:func:`evaluate_subset`, item cold start, DESIGN §8): a :class:`Subset` names the
candidate videos and the interactions that count as relevant; the rest of the full protocol (earlier parts
excluded per user, users with >= 1 relevant item) is unchanged, except how ties break (below). A cold-start split
(``split.kind=cold``) is reported in three sections (:func:`cold_start_subsets`), as ALDI and the ColdRec
toolkit do: ``cold`` ranks only the cold videos (both halves, as ColdRec's cold setting masks every warm
item) for the users who watched a cold video of the evaluated part; ``warm`` ranks only the warm videos
against the warm interactions; ``hybrid`` ranks every video against every interaction of the part (the full
protocol, with the ties of this section). On a dataset's own split (TikTok), ``cold_subset``
(:func:`unseen_subset`) is the full protocol restricted to the test interactions on videos without any
training interaction. In these sections
ties break by a seeded random order of the candidates (``eval.seed``), not by video index: a model that gives
every cold video the same score (most-popular: 0 for all) must rank them as chance does, and on TikTok the
video index falls with popularity (mean 16.5 interactions over the first fifth of the ids, 6.7 over the last),
so index order would hand such a model a popularity ranking of the cold videos it cannot score (a user without
any training interaction, whose embedding may be 0, ties every video too). Scores are computed in video order,
so without ties ``hybrid`` equals ``full`` bit for bit.

Tie-breaking inside a ranking is by video index (lower first) under both protocols — never by
whether a candidate is a positive, which would flatter a constant-score model.

Memory: per-user masks live in scipy CSR matrices over the interactions and are densified one batch of
users at a time. A batch holds a few ``[B, num_videos]`` matrices (scores, masks, the sort of
:func:`~hhfan.eval.metrics.ranking_metrics`: about 60 bytes per entry in all), so the number of users
per batch is ``min(batch_size, max(1, MAX_BATCH_ENTRIES // num_videos))``: 1024 users for ML-1M's
3,260 videos, 27 users for a 300k-video catalogue; about 0.5 GB at most.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from hhfan.data.atomic import atomic_file
from hhfan.data.dataset import Dataset
from hhfan.data.split import TEST, TRAIN, VAL, Split
from hhfan.eval.metrics import ranking_metrics
from hhfan.train.distributed import SINGLE, Dist

PROTOCOLS: tuple[str, ...] = ("sampled", "full", "both")
"""Accepted values of :attr:`EvalConfig.protocol`."""

MAX_BATCH_ENTRIES = 1 << 23
"""Upper bound on ``users_per_batch * num_videos`` (see the module docstring)."""

_MASK64 = (1 << 64) - 1
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class EvalConfig:
    """How to evaluate.

    Attributes:
        protocol: ``"sampled"`` (HHFAN §IV-C), ``"full"`` (all-ranking) or ``"both"``.
        num_negatives: never-seen videos sampled per user under the sampled protocol (paper: 1000).
        ks: cut-offs ``K`` of the top-K metrics (any iterable of ints >= 1 is accepted and stored as a tuple).
        seed: seed of the negative sampling (>= 0); the same seed gives the same negatives for every model.
        batch_size: users per batch (upper bound; lowered for large catalogues, see the module docstring).
    """

    protocol: str = "both"
    num_negatives: int = 1000
    ks: tuple[int, ...] = tuple(range(1, 21))
    seed: int = 0
    batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if isinstance(self.num_negatives, bool) or int(self.num_negatives) < 1:
            raise ValueError(f"num_negatives must be >= 1, got {self.num_negatives}")
        try:
            ks = tuple(int(k) for k in self.ks)
        except (TypeError, ValueError) as e:
            raise ValueError(f"ks must be a sequence of integers, got {self.ks!r}") from e
        if not ks or min(ks) < 1:
            raise ValueError(f"ks must be a non-empty sequence of cut-offs >= 1, got {self.ks!r}")
        object.__setattr__(self, "ks", ks)
        if isinstance(self.seed, bool) or int(self.seed) < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if isinstance(self.batch_size, bool) or int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols to run, in output order."""
        return ("sampled", "full") if self.protocol == "both" else (self.protocol,)


# --------------------------------------------------------------------------------------------------
# Sparse per-user structures


def _csr(ds: Dataset, rows: np.ndarray | None) -> sp.csr_matrix:
    """Users x videos boolean CSR of the interaction rows selected by ``rows`` (all rows when None)."""
    it = ds.interactions
    u, v = (it.user, it.video) if rows is None else (it.user[rows], it.video[rows])
    m = sp.csr_matrix((np.ones(u.shape[0], dtype=bool), (u, v)), shape=(ds.num_users, ds.num_videos))
    m.sort_indices()
    return m


@dataclass(frozen=True)
class _Index:
    earlier: sp.csr_matrix  # interactions of the parts before the evaluated one: not full-ranking candidates
    target: sp.csr_matrix  # interactions of the evaluated part: the relevant items
    seen: sp.csr_matrix  # every interaction of every part: never a sampled negative
    users: np.ndarray  # evaluated users (>= 1 interaction in the part), ascending


def earlier_parts(part: int) -> tuple[int, ...]:
    """The split parts whose interactions the full protocol excludes when ranking ``part``.

    ``TEST`` -> ``(TRAIN, VAL)``; ``VAL`` -> ``(TRAIN,)`` (see the module docstring).
    """
    if part not in (VAL, TEST):
        raise ValueError(f"part must be VAL ({VAL}) or TEST ({TEST}), got {part}")
    return (TRAIN, VAL) if part == TEST else (TRAIN,)


def _build_index(ds: Dataset, split: Split, part: int, need_seen: bool) -> _Index:
    earlier = earlier_parts(part)
    split.check(ds)  # a split of other data would silently leak or drop interactions
    target = _csr(ds, split.part == part)
    users = np.flatnonzero(np.diff(target.indptr) > 0)
    seen = _csr(ds, None) if need_seen else target
    return _Index(_csr(ds, np.isin(split.part, earlier)), target, seen, users)


def _dense_rows(m: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> Tensor:
    """Rows ``rows`` of a boolean CSR matrix as a dense ``[len(rows), n_cols]`` bool tensor on ``device``."""
    sub = m[rows]
    r = np.repeat(np.arange(rows.shape[0]), np.diff(sub.indptr))
    out = torch.zeros(rows.shape[0], m.shape[1], dtype=torch.bool, device=device)
    out[torch.as_tensor(r, device=device), torch.as_tensor(sub.indices.astype(np.int64), device=device)] = True
    return out


def _compact(mask: Tensor, pad: int) -> Tensor:
    """Column indices of the ``True`` entries of each row of ``mask``, ascending, padded with ``pad``.

    Returns int64 ``[B, max(1, max row count)]`` (row-major ``nonzero`` keeps each row's columns in order).
    """
    counts = mask.sum(1)
    width = max(int(counts.max()) if mask.shape[0] else 0, 1)
    row, col = torch.nonzero(mask, as_tuple=True)
    slot = torch.arange(row.shape[0], device=mask.device) - (torch.cumsum(counts, 0) - counts)[row]
    out = torch.full((mask.shape[0], width), pad, dtype=torch.int64, device=mask.device)
    out[row, slot] = col
    return out


# --------------------------------------------------------------------------------------------------
# Negative sampling


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (in place; returns it). Wraps modulo 2**64 by design."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _negative_keys(users: np.ndarray, num_videos: int, seed: int) -> np.ndarray:
    """Pseudo-random int64 keys ``[len(users), num_videos]`` in ``[0, 2**63)``, a function of (seed, user, video)."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    s = _mix64(np.array([(int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64], dtype=np.uint64))
    base = _mix64((users.astype(np.uint64) + np.uint64(1)) * golden ^ s)
    keys = base[:, None] + np.arange(num_videos, dtype=np.uint64)[None, :] * np.uint64(0xD1B54A32D192ED03)
    _mix64(keys)
    keys >>= np.uint64(1)
    return keys.view(np.int64)


def _sample_negatives(seen: sp.csr_matrix, users: np.ndarray, num_negatives: int, seed: int) -> Tensor:
    """Bool ``[len(users), num_videos]`` CPU mask of each user's sampled negatives (see :func:`sample_negatives`)."""
    nv = seen.shape[1]
    keys = _negative_keys(users, nv, seed)
    sub = seen[users]
    r = np.repeat(np.arange(users.shape[0]), np.diff(sub.indptr))
    keys[r, sub.indices] = _INT64_MAX  # interacted videos (any part) can never be drawn
    kt = torch.from_numpy(keys)
    # The k smallest keys of a row: everything up to its k-th smallest key (keys are distinct 63-bit
    # hashes; a collision at the threshold, probability ~ num_videos**2 / 2**64, would add one video).
    thr = torch.topk(kt, min(int(num_negatives), nv), dim=1, largest=False, sorted=False).values.max(1).values
    return (kt <= thr[:, None]) & (kt != _INT64_MAX)


def sample_negatives(ds: Dataset, users: np.ndarray, num_negatives: int, seed: int = 0) -> np.ndarray:
    """The sampled-protocol negatives of ``users``: exactly the ones :func:`evaluate` ranks against.

    For each user, ``num_negatives`` videos drawn uniformly without replacement from the videos the
    user never interacted with in any part, as the never-seen videos with the smallest keys
    ``hash(seed, user, video)``; the draw depends only on ``(seed, user)`` and the user's interactions,
    not on the batch, the model or the run.

    Returns:
        int64 ``[len(users), min(num_negatives, num_videos)]``; each row holds the user's negatives in
        ascending video order, then ``-1`` padding when the user has fewer never-seen videos.
    """
    users = np.asarray(users, dtype=np.int64)
    if users.ndim != 1 or (users.size and (users.min() < 0 or users.max() >= ds.num_users)):
        raise ValueError(f"users must be a 1-d array of user indices in [0, {ds.num_users})")
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
    seen = _csr(ds, None)
    width = min(num_negatives, ds.num_videos)
    out = np.full((users.shape[0], width), -1, dtype=np.int64)
    step = max(1, MAX_BATCH_ENTRIES // ds.num_videos)
    for start in range(0, users.shape[0], step):
        neg = _compact(_sample_negatives(seen, users[start:start + step], num_negatives, seed), -1).numpy()
        out[start:start + step, :neg.shape[1]] = neg
    return out


# --------------------------------------------------------------------------------------------------
# Evaluation


Scorer = Callable[[Tensor, Tensor], Tensor]


def inner_product(user_emb: Tensor, video_emb: Tensor) -> Tensor:
    """Default scorer: ``[B, d] x [N, d] -> [B, N]`` logits ``E_u E_vᵀ`` (Eq. 8 before the sigmoid)."""
    return user_emb @ video_emb.T


def _check_embeddings(user_emb: Tensor, video_emb: Tensor, ds: Dataset, same_dim: bool = True) -> None:
    if user_emb.ndim != 2 or video_emb.ndim != 2 or (same_dim and user_emb.shape[1] != video_emb.shape[1]):
        raise ValueError(f"embeddings must be [num_users, d] and [num_videos, d], got {tuple(user_emb.shape)} "
                         f"and {tuple(video_emb.shape)}")
    if user_emb.shape[0] != ds.num_users or video_emb.shape[0] != ds.num_videos:
        raise ValueError(f"embeddings cover {user_emb.shape[0]} users and {video_emb.shape[0]} videos but the "
                         f"dataset has {ds.num_users} and {ds.num_videos}")
    if user_emb.device != video_emb.device:
        raise ValueError(f"user and video embeddings are on different devices ({user_emb.device}, {video_emb.device})")


def _batches(users: np.ndarray, batch_size: int, num_videos: int) -> Iterator[np.ndarray]:
    step = max(1, min(batch_size, MAX_BATCH_ENTRIES // max(num_videos, 1)))
    for start in range(0, users.shape[0], step):
        yield users[start:start + step]


_BatchSums = tuple[list[str], list[float], list[int]]
"""One batch's per-metric NaN-skipping sums and counts (names, sums, counts)."""


def _batch_sums(per_user: dict[str, Tensor]) -> _BatchSums:
    """NaN-skipping per-metric sums and counts of one batch of per-user metrics."""
    names = list(per_user)
    v = torch.stack([per_user[n] for n in names]).to(torch.float64)  # [metrics, B]
    keep = ~torch.isnan(v)
    return names, torch.where(keep, v, 0.0).sum(1).cpu().tolist(), keep.sum(1).cpu().tolist()


class _Accumulator:
    """Running NaN-skipping sums and counts of per-user metrics (the mean of :func:`mean_metrics`)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, batch: _BatchSums) -> None:
        """Add one batch's sums (batches must come in the same order for the same floating-point result)."""
        names, sums, counts = batch
        for n, s_, c in zip(names, sums, counts, strict=True):
            self.sums[n] = self.sums.get(n, 0.0) + float(s_)
            self.counts[n] = self.counts.get(n, 0) + int(c)

    def result(self, names: list[str], num_users: int) -> dict[str, float]:
        out = {n: (self.sums[n] / self.counts[n] if self.counts.get(n) else math.nan) for n in names}
        out["num_users"] = num_users
        return out


@torch.no_grad()
def evaluate(user_emb: Tensor, video_emb: Tensor, ds: Dataset, split: Split, part: int = TEST,
             config: EvalConfig | None = None,
             progress: Callable[[int, int], None] | None = None,
             scorer: Scorer | None = None, dist: Dist = SINGLE) -> dict[str, dict[str, float]]:
    """Evaluate embeddings on ``part`` of ``split`` under the protocols of ``config``.

    Args:
        user_emb: ``[num_users, d]`` final user embeddings (any device; the work runs there).
        video_emb: ``[num_videos, d]`` final video embeddings; score = ``user_emb @ video_emb.T`` (Eq. 8).
        ds: the dataset the split was made for.
        split: the train/val/test split of ``ds`` (checked with :meth:`Split.check`).
        part: ``TEST`` (default) or ``VAL``.
        config: protocols, cut-offs, negatives and seed; ``EvalConfig()`` when None.
        progress: called as ``progress(done_users, total_users)`` after every batch.
        scorer: ``scorer(user_emb[batch], video_emb) -> [B, num_videos]`` logits for models that do not
            score by inner product (NeuMF, DeepFM...; :meth:`Recommender.score_matrix`); default
            :func:`inner_product`.
        dist: several processes share the work (:mod:`hhfan.train.distributed`; every rank calls this with the
            same embeddings): the user batches are dealt round-robin over the ranks, and every rank gets the
            result, which is exactly the single-process one (each batch is the batch one process would score,
            and the per-batch sums are added up in batch order). ``progress`` then counts this rank's users.

    Returns:
        ``{protocol: {"precision@K", "recall@K", "ndcg@K", "hit@K", "mrr@K" for every K, "auc", "num_users"}}``
        for each requested protocol (``"sampled"``, ``"full"``). Metrics are means over the evaluated
        users (users with >= 1 interaction in ``part``); ``auc`` skips users without any negative.
    """
    cfg = EvalConfig() if config is None else config
    _check_embeddings(user_emb, video_emb, ds, same_dim=scorer is None)
    score_fn = scorer or inner_product
    protocols = cfg.protocols
    idx = _build_index(ds, split, part, need_seen="sampled" in protocols)
    device = user_emb.device
    nv = ds.num_videos
    total = int(idx.users.shape[0])
    batches = list(_batches(idx.users, cfg.batch_size, nv))
    mine = range(dist.rank, len(batches), dist.world_size)  # every batch for one process
    done, mine_total = 0, sum(int(batches[b].shape[0]) for b in mine)
    found: list[tuple[int, str, _BatchSums]] = []  # (batch, protocol, sums)
    for b in mine:
        users = batches[b]
        ut = torch.as_tensor(users, dtype=torch.int64, device=device)
        scores = score_fn(user_emb[ut], video_emb)  # [B, nv]
        relevant = _dense_rows(idx.target, users, device)
        if "full" in protocols:
            per = ranking_metrics(scores, relevant, ~_dense_rows(idx.earlier, users, device), cfg.ks)
            found.append((b, "full", _batch_sums(per)))
        if "sampled" in protocols:
            cand_mask = _sample_negatives(idx.seen, users, cfg.num_negatives, cfg.seed).to(device) | relevant
            cand = _compact(cand_mask, nv)  # positives and negatives by video index; padding (nv) last
            ok = cand < nv
            col = cand.clamp(max=nv - 1)
            per = ranking_metrics(scores.gather(1, col), relevant.gather(1, col) & ok, ok, cfg.ks)
            found.append((b, "sampled", _batch_sums(per)))
        done += int(users.shape[0])
        if progress is not None:
            progress(done, mine_total)
    if dist.enabled:  # every rank's batches, added up in batch order below: the single-process sums exactly
        found = sorted((x for part_found in dist.all_gather_object(found) for x in part_found), key=lambda x: x[0])
    acc = {p: _Accumulator() for p in protocols}
    for _, proto, sums in found:
        acc[proto].add(sums)
    names = found[-1][2][0] if found else []
    if not names:  # no evaluated user: every metric is NaN
        names = list(ranking_metrics(torch.zeros(0, 1), torch.zeros(0, 1, dtype=torch.bool), None, cfg.ks))
    return {p: acc[p].result(names, total) for p in protocols}


@torch.no_grad()
def dump_rankings(user_emb: Tensor, video_emb: Tensor, ds: Dataset, split: Split, path: Path,
                  part: int = TEST, top: int = 100, scorer: Scorer | None = None) -> None:
    """Write each evaluated user's full-protocol top-``top`` list to ``path`` as JSON lines, atomically.

    One line per user with >= 1 interaction in ``part``, in user-index order::

        {"user": "<external user id>", "ranked": [["<video id>", score], ...], "test": ["<video id>", ...]}

    ``ranked`` holds the ``top`` best videos among the full-protocol candidates (every video except the
    user's interactions of the earlier parts: TRAIN and VAL for ``part=TEST``, TRAIN for ``part=VAL``;
    see the module docstring), best first, ties by video index; fewer when fewer candidates exist.
    ``test`` lists the user's interactions in ``part`` (so, for ``part=VAL``, the validation items), in
    video-index order. The file appears only once complete (:func:`hhfan.data.atomic.atomic_file`).
    ``scorer`` is as in :func:`evaluate`.
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    _check_embeddings(user_emb, video_emb, ds, same_dim=scorer is None)
    score_fn = scorer or inner_product
    idx = _build_index(ds, split, part, need_seen=False)
    nv = ds.num_videos
    k = min(top, nv)
    uids = [str(x) for x in ds.user_ids.tolist()]
    vids = [str(x) for x in ds.video_ids.tolist()]
    with atomic_file(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for users in _batches(idx.users, 1024, nv):
            ut = torch.as_tensor(users, dtype=torch.int64, device=user_emb.device)
            scores = score_fn(user_emb[ut], video_emb).to(torch.float64)
            excluded = _dense_rows(idx.earlier, users, user_emb.device)
            if bool((torch.isnan(scores) & ~excluded).any()):
                raise ValueError("scores contain NaN (a diverged model?); cannot rank them")
            fin = torch.finfo(torch.float64)
            scores = scores.clamp(fin.min, fin.max).masked_fill(excluded, -math.inf)  # candidates stay finite
            sorted_s, sorted_i = torch.sort(scores, dim=1, descending=True, stable=True)
            top_s, top_i = sorted_s[:, :k].cpu().tolist(), sorted_i[:, :k].cpu().tolist()
            n_cand = (nv - excluded.sum(1)).cpu().tolist()
            sub = idx.target[users]
            for b, u in enumerate(users.tolist()):
                n = min(k, int(n_cand[b]))
                ranked = [[vids[v], s] for v, s in zip(top_i[b][:n], top_s[b][:n], strict=True)]
                test = [vids[v] for v in sub.indices[sub.indptr[b]:sub.indptr[b + 1]].tolist()]
                fh.write(json.dumps({"user": uids[u], "ranked": ranked, "test": test}) + "\n")


# --------------------------------------------------------------------------------------------------
# Restricted full rankings: cold start


TIE_BREAK_STREAM = 0x7E
"""Second word of the seed of the restricted rankings' tie-breaking order (``[eval.seed, TIE_BREAK_STREAM]``)."""


@dataclass(frozen=True)
class Subset:
    """One restricted full-ranking evaluation (see the module docstring).

    Attributes:
        name: its section in ``metrics.json`` (``cold``, ``warm``, ``hybrid``, ``cold_subset``).
        candidates: bool ``[num_videos]``: the videos ranked (each user's interactions of the earlier parts excluded).
        relevant: bool ``[num_interactions]``: the interactions that are relevant items (of the evaluated part only).
    """

    name: str
    candidates: np.ndarray
    relevant: np.ndarray


def cold_start_subsets(ds: Dataset, split: Split) -> tuple[Subset, Subset, Subset]:
    """``cold``, ``warm`` and ``hybrid`` of a cold-start split (:attr:`Split.cold_videos`; see the module docstring)."""
    split.check(ds)
    if not split.is_cold:
        raise ValueError("cold/warm/hybrid sections need a cold-start split (split.kind=cold)")
    cold_v = split.video_is_cold(ds.num_videos)
    cold_rows = cold_v[ds.interactions.video]
    every_v, every_row = np.ones(ds.num_videos, dtype=bool), np.ones(len(ds.interactions), dtype=bool)
    return (Subset("cold", cold_v, cold_rows), Subset("warm", ~cold_v, ~cold_rows),
            Subset("hybrid", every_v, every_row))


def unseen_subset(ds: Dataset, split: Split) -> Subset:
    """``cold_subset``: every video a candidate, relevant = the interactions on videos with no training interaction."""
    split.check(ds)
    video = ds.interactions.video
    trained = np.bincount(video[split.mask(TRAIN)], minlength=ds.num_videos) > 0
    return Subset("cold_subset", np.ones(ds.num_videos, dtype=bool), ~trained[video])


@torch.no_grad()
def evaluate_subset(user_emb: Tensor, video_emb: Tensor, ds: Dataset, split: Split, subset: Subset,
                    part: int = TEST, config: EvalConfig | None = None,
                    scorer: Scorer | None = None) -> dict[str, float]:
    """Full-protocol metrics of ``part`` restricted to ``subset`` (candidates and relevant interactions).

    The users evaluated are those with >= 1 relevant interaction of ``part`` in the subset; each user's
    interactions of the earlier parts (:func:`earlier_parts`) are excluded from the candidates, as in the full
    protocol; only ``subset.candidates`` are scored. Ties break by a seeded random order of the candidates
    (``config.seed``; the same order for every user and model), not by video index (see the module docstring).

    Returns:
        ``{"precision@K", "recall@K", "ndcg@K", "hit@K", "mrr@K", "recall_capped@K" for every K, "auc",
        "num_users"}``, means over the evaluated users (NaN when there is none).
    """
    cfg = EvalConfig() if config is None else config
    _check_embeddings(user_emb, video_emb, ds, same_dim=scorer is None)
    split.check(ds)
    if subset.candidates.shape != (ds.num_videos,) or subset.relevant.shape != (len(ds.interactions),):
        raise ValueError(f"subset {subset.name!r} does not fit the dataset ({ds.num_videos} videos, "
                         f"{len(ds.interactions)} interactions)")
    score_fn = scorer or inner_product
    device = user_emb.device
    earlier = _csr(ds, np.isin(split.part, earlier_parts(part)))
    target = _csr(ds, (split.part == part) & subset.relevant)
    users = np.flatnonzero(np.diff(target.indptr) > 0)
    cols = np.flatnonzero(subset.candidates)  # scored in video order (the full protocol's scores, bit for bit) ...
    perm = torch.as_tensor(np.random.default_rng([cfg.seed, TIE_BREAK_STREAM]).permutation(cols.shape[0]),
                           dtype=torch.int64, device=device)  # ... then ranked in a seeded order: ties break by it
    cand_emb = video_emb[torch.as_tensor(cols, dtype=torch.int64, device=device)]
    col_t = torch.as_tensor(cols, dtype=torch.int64, device=device)[perm]
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    names: list[str] = []
    for batch in _batches(users, cfg.batch_size, max(int(cols.shape[0]), 1)):
        ut = torch.as_tensor(batch, dtype=torch.int64, device=device)
        scores = score_fn(user_emb[ut], cand_emb)[:, perm]  # [B, candidates], in the tie-breaking order
        relevant = _dense_rows(target, batch, device)[:, col_t]
        valid = ~_dense_rows(earlier, batch, device)[:, col_t]
        per = ranking_metrics(scores, relevant, valid, cfg.ks)
        names = list(per)
        for n, v in per.items():
            v64 = v.to(torch.float64)
            keep = ~torch.isnan(v64)
            sums[n] = sums.get(n, 0.0) + float(torch.where(keep, v64, 0.0).sum())
            counts[n] = counts.get(n, 0) + int(keep.sum())
    if not names:
        names = list(ranking_metrics(torch.zeros(0, 1), torch.zeros(0, 1, dtype=torch.bool), None, cfg.ks))
    out = {n: (sums[n] / counts[n] if counts.get(n) else math.nan) for n in names}
    out["num_users"] = int(users.shape[0])
    return out
