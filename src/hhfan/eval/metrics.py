"""Top-K ranking metrics and AUC, vectorised over a batch of users (no Python loop over users).

Every function works on a score matrix ``[B, C]`` (B users, C candidates per user) with a boolean
``relevant`` matrix (the user's held-out positives among the candidates) and an optional ``valid``
matrix (candidates that take part; ``False`` marks padding or excluded items such as the user's
training interactions). Invalid candidates are treated as scoring ``-inf`` and as never relevant:
they can neither enter a top-K list nor count as a positive or a negative for AUC.

Let ``rel_u`` be the number of valid relevant candidates of user ``u`` and ``hit_u(j)`` = 1 when the
item at rank ``j`` (1-based, best first) is relevant. Then, per user:

* ``precision@K = sum_{j<=K} hit_u(j) / K`` — HHFAN Eq. (11) before the average over users.
  The denominator is always ``K``, even when fewer than ``K`` candidates are valid.
* ``recall@K = sum_{j<=K} hit_u(j) / rel_u``.
* ``recall_capped@K = sum_{j<=K} hit_u(j) / min(rel_u, K)`` — "truncated" recall, reaching 1 when the top
  K are all relevant. Plain recall@K can never exceed ``K / rel_u``, so for users with many held-out
  positives (ML-1M: 33 on average at training rate 0.8) it stays far below precision; the paper's
  Table II has R@10 > P@10 on ML-1M, which plain recall cannot produce under that split, so we report
  this variant too, clearly named, for comparison.
* ``ndcg@K = DCG@K / IDCG@K`` with ``DCG@K = sum_{j<=K} hit_u(j) / log2(j + 1)`` and the standard ideal
  ``IDCG@K = sum_{j<=min(rel_u, K)} 1 / log2(j + 1)`` (all positives ranked first).
  *Note:* MMGCN's reference code for the sampled 1000-negative protocol (``MMGCN.accuracy`` in
  ``Tiktok_Kwai/Model.py`` of weiyinwei/MMGCN, which HHFAN's §IV-C protocol follows) divides DCG by
  the **number of positives** instead of the ideal DCG, so its "NDCG" is at most
  ``IDCG@K / rel_u < 1`` for users with more than one positive and is not comparable with ours. We
  use the standard normaliser above (the one of ``sklearn.metrics.ndcg_score``, LightGCN and MMSSL,
  and of MMGCN's own ``full_accuracy``), so ``ndcg@K`` is in ``[0, 1]`` and equals 1 exactly when the
  top ``min(rel_u, K)`` positions are all relevant.
* ``hit@K = 1`` if any of the top ``K`` is relevant, else 0.
* ``mrr@K = 1 / j*`` with ``j*`` the rank of the first relevant item, when ``j* <= K``; else 0.
* ``auc`` — HHFAN Eq. (12): the fraction of (positive ``j``, negative ``j'``) pairs of valid candidates
  with ``p_uj > p_uj'``; ties count 1/2 (Eq. 12 literally counts strict wins only, which is the same
  for continuous scores; the 1/2 is the Mann–Whitney convention of ``sklearn.metrics.roc_auc_score``
  and gives a constant-score model 0.5 instead of 0). Computed from ranks in ``O(C log C)``, never over all pairs.

Top-K ties are broken deterministically by candidate index (lower index first, a stable sort), so
a constant-score model gets the same lists on every run.

Users without any valid relevant candidate get ``NaN`` for every metric, and users without any valid
negative get ``NaN`` for ``auc``: **callers should exclude users with no relevant item** (the evaluation
protocols in :mod:`hhfan.eval.protocols` only evaluate users with at least one held-out positive);
:func:`mean_metrics` ignores ``NaN`` when averaging, which is the paper's ``1/|U| sum_u`` of Eq. (11)/(12)
over the evaluated users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

METRIC_NAMES: tuple[str, ...] = ("precision", "recall", "ndcg", "hit", "mrr", "recall_capped")
"""Names of the per-K metrics; the keys of :func:`ranking_metrics` are ``f"{name}@{K}"`` plus ``"auc"``."""


def _check_ks(ks: Sequence[int]) -> list[int]:
    out = [int(k) for k in ks]
    if not out:
        raise ValueError("ks must name at least one cut-off K")
    if min(out) < 1:
        raise ValueError(f"every cut-off K must be >= 1, got {sorted(set(out))}")
    return out


def ranking_metrics(scores: Tensor, relevant: Tensor, valid: Tensor | None = None,
                    ks: Sequence[int] = range(1, 21)) -> dict[str, Tensor]:
    """Per-user precision/recall/NDCG/hit/MRR at every ``K`` in ``ks``, and AUC (see the module docstring).

    Args:
        scores: ``[B, C]`` real scores; higher is better. Must not be NaN at valid candidates
            (a ``ValueError`` says so); ``±inf`` are clamped to the dtype's finite range.
        relevant: ``[B, C]`` bool, the held-out positives among the candidates.
        valid: optional ``[B, C]`` bool; ``False`` candidates are excluded from everything
            (scored ``-inf``, never relevant, never a negative). ``None`` means all are valid.
        ks: cut-offs ``K >= 1``. ``K`` larger than ``C`` is allowed (the list is just shorter).

    Returns:
        ``{"precision@K", "recall@K", "ndcg@K", "hit@K", "mrr@K"}`` for every ``K`` and ``"auc"``, each a
        float64 tensor ``[B]`` on ``scores.device``. Users with no valid relevant candidate get NaN
        everywhere (exclude them before averaging; :func:`mean_metrics` skips NaN); ``auc`` is also
        NaN for users with no valid negative.

    Formulas (``hit(j)`` = relevance of the candidate at rank ``j``, ``rel`` = number of relevant):
        precision@K = sum_{j<=K} hit(j) / K  (HHFAN Eq. 11);  recall@K = sum_{j<=K} hit(j) / rel;
        ndcg@K = sum_{j<=K} hit(j)/log2(j+1) / sum_{j<=min(rel,K)} 1/log2(j+1);
        hit@K = [sum_{j<=K} hit(j) > 0];  mrr@K = 1/(first relevant rank) if it is <= K else 0;
        auc = (1/(|J||J'|)) sum_{j in J, j' in J'} ([p_j > p_j'] + [p_j = p_j']/2)  (HHFAN Eq. 12).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be a [users, candidates] matrix, got shape {tuple(scores.shape)}")
    if relevant.shape != scores.shape:
        raise ValueError(f"relevant has shape {tuple(relevant.shape)} but scores {tuple(scores.shape)}")
    if valid is not None and valid.shape != scores.shape:
        raise ValueError(f"valid has shape {tuple(valid.shape)} but scores {tuple(scores.shape)}")
    klist = _check_ks(ks)
    B, C = scores.shape
    device = scores.device
    f64 = torch.float64
    nan = torch.full((B,), math.nan, dtype=f64, device=device)
    if C == 0:
        out = {f"{name}@{k}": nan.clone() for k in klist for name in METRIC_NAMES}
        out["auc"] = nan.clone()
        return out

    s = scores if scores.is_floating_point() else scores.to(f64)
    ok = None if valid is None else valid.to(torch.bool)
    nan_at = torch.isnan(s) if ok is None else torch.isnan(s) & ok
    if bool(nan_at.any()):
        raise ValueError("scores contain NaN at valid candidates (a diverged model?); cannot rank them")
    rel = relevant.to(torch.bool) if ok is None else relevant.to(torch.bool) & ok
    fin = torch.finfo(s.dtype)
    # Work on t = -score so that one ascending stable sort gives the ranking (best first, ties by lower
    # index) and an ascending array for the binary searches of the AUC. Valid scores are clamped to
    # finite values, so they always rank strictly before the +inf of invalid candidates.
    t = torch.neg(s).clamp_(fin.min, fin.max)
    if ok is not None:
        t.masked_fill_(~ok, math.inf)
    sorted_t, order = torch.sort(t, dim=1, stable=True)
    n_valid = torch.full((B,), C, dtype=torch.int64, device=device) if ok is None else ok.sum(1)
    n_rel = rel.sum(1)
    n_rel_f = n_rel.to(f64)
    no_rel = n_rel == 0

    # Top-K metrics from the first max(K) ranks, all K at once ([B, len(ks)] per metric).
    maxk = min(max(klist), C)
    top_hits = rel.gather(1, order[:, :maxk]).to(f64)  # [B, maxk]
    cum_hits = top_hits.cumsum(1)
    disc = 1.0 / torch.log2(torch.arange(2, maxk + 2, dtype=f64, device=device))  # 1 / log2(j + 1)
    dcg = (top_hits * disc).cumsum(1)
    ideal = disc.cumsum(0)  # ideal[m - 1] = IDCG of m relevant items on top
    rank0 = torch.arange(maxk, device=device)
    first = torch.where(top_hits > 0, rank0, maxk).min(1).values  # 0-based rank of the first hit; maxk if none
    k_t = torch.tensor(klist, dtype=f64, device=device)
    kk = torch.tensor([min(k, C) - 1 for k in klist], dtype=torch.int64, device=device)  # column of each K
    hits = cum_hits[:, kk]
    idcg = ideal[(torch.minimum(n_rel[:, None], kk[None, :] + 1) - 1).clamp(min=0)]
    table = torch.stack([
        hits / k_t,
        hits / n_rel_f.clamp(min=1.0)[:, None],
        dcg[:, kk] / idcg,
        (hits > 0).to(f64),
        torch.where(first[:, None] <= kk[None, :], 1.0 / (first.to(f64) + 1.0)[:, None], 0.0),
        hits / torch.minimum(n_rel_f.clamp(min=1.0)[:, None], k_t[None, :]),
    ], dim=1)  # [B, len(METRIC_NAMES), len(ks)]
    table.masked_fill_(no_rel[:, None, None], math.nan)
    out = {f"{name}@{k}": table[:, i, j] for j, k in enumerate(klist) for i, name in enumerate(METRIC_NAMES)}
    out["auc"] = _auc(t, sorted_t, rel, n_rel, n_valid)
    return out


def _auc(t: Tensor, sorted_t: Tensor, rel: Tensor, n_rel: Tensor, n_valid: Tensor) -> Tensor:
    """Per-user AUC (HHFAN Eq. 12, ties 1/2) from the negated scores ``t`` and their ascending sort.

    Mann-Whitney: with ``r_j`` the mid-rank (1-based, ties averaged) of positive ``j`` among the valid
    candidates in *ascending score* order, ``sum_j r_j - rel (rel + 1) / 2`` is the number of
    (positive > negative) pairs plus 1/2 per tied pair. Only the positives are looked up, by binary
    search in ``sorted_t``: ``lo``/``hi`` count the candidates scoring strictly higher / at least as
    high, so ``n_valid - hi`` valid ones score strictly lower (invalid ones sit at ``t = +inf``, last).
    """
    B = t.shape[0]
    f64 = torch.float64
    n_neg = n_valid - n_rel
    nan = torch.full((B,), math.nan, dtype=f64, device=t.device)
    pmax = int(n_rel.max()) if B else 0
    if pmax == 0:
        return nan
    # Compact each user's positive values into [B, pmax] (row-major nonzero keeps rows together).
    row, col = torch.nonzero(rel, as_tuple=True)
    starts = torch.cumsum(n_rel, 0) - n_rel
    slot = torch.arange(row.shape[0], device=t.device) - starts[row]
    pos_t = torch.zeros(B, pmax, dtype=t.dtype, device=t.device)
    pos_t[row, slot] = t[row, col]
    lo = torch.searchsorted(sorted_t, pos_t, side="left")
    hi = torch.searchsorted(sorted_t, pos_t, side="right")
    mid_rank = (n_valid[:, None] - hi).to(f64) + (hi - lo + 1).to(f64) / 2.0
    is_pos = torch.arange(pmax, device=t.device)[None, :] < n_rel[:, None]
    n_rel_f = n_rel.to(f64)
    u_stat = torch.where(is_pos, mid_rank, 0.0).sum(1) - n_rel_f * (n_rel_f + 1.0) / 2.0
    pairs = n_rel_f * n_neg.to(f64)
    return torch.where((n_rel == 0) | (n_neg == 0), nan, u_stat / pairs.clamp(min=1.0))


def mean_metrics(per_user: dict[str, Tensor]) -> dict[str, float]:
    """Average every per-user metric over users, ignoring NaN (users excluded by :func:`ranking_metrics`).

    This is the ``1/|U| sum_{u in U}`` of HHFAN Eq. (11)/(12). A metric that is NaN for every user
    (or has no users) averages to NaN.
    """
    out: dict[str, float] = {}
    for name, vals in per_user.items():
        v = vals.detach().to(torch.float64).reshape(-1)
        keep = ~torch.isnan(v)
        n = int(keep.sum())
        out[name] = float(v[keep].sum() / n) if n else math.nan
    return out
