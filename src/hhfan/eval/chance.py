"""What a random ranking scores in a restricted full ranking: the chance level of a cold-start table.

A cold-start section ranks only the cold videos, a few hundred to a few thousand candidates, so its Recall@20
has a floor that depends on the split, not on any model. :func:`chance_metrics` gives the exact expectation of
each metric under a uniformly random order of each user's candidates, with the users, candidates and relevant
items of :func:`hhfan.eval.protocols.evaluate_subset`. For a user with ``C`` candidates of which ``n`` are
relevant and ``m = min(K, C)`` ranked slots (each slot holds a relevant item with probability ``n / C``):

    E[precision@K] = m n / (C K)            E[recall@K] = m / C
    E[ndcg@K]      = (n / C) H(m) / H(min(n, K)),   H(x) = sum_{j=1..x} 1 / log2(j + 1)
    E[hit@K]       = 1 - binom(C - n, m) / binom(C, m)
    E[auc]         = 0.5

each averaged over the users with at least one relevant candidate (NDCG's ideal DCG as in
:func:`hhfan.eval.metrics.ranking_metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

from hhfan.data.dataset import Dataset
from hhfan.data.split import TEST, Split
from hhfan.eval.protocols import Subset, _csr, earlier_parts


def _harmonic_log(x: np.ndarray) -> np.ndarray:
    """``H(x) = sum_{j=1..x} 1 / log2(j + 1)`` elementwise for integer ``x >= 0``."""
    top = int(x.max()) if x.size else 0
    cum = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, top + 2)))])
    return cum[x]


def chance_metrics(ds: Dataset, split: Split, subset: Subset, ks: Sequence[int], part: int = TEST
                   ) -> dict[str, float]:
    """Expected precision/recall/NDCG/hit@K and AUC of a uniformly random ranking of ``subset`` (module docstring).

    Returns ``{"precision@K", "recall@K", "ndcg@K", "hit@K" for every K in ks, "auc", "num_users"}``.
    """
    split.check(ds)
    cols = subset.candidates
    earlier = _csr(ds, np.isin(split.part, earlier_parts(part)))[:, np.flatnonzero(cols)]
    target = _csr(ds, (split.part == part) & subset.relevant)[:, np.flatnonzero(cols)]
    seen = target.multiply(earlier)  # relevant items the user already had: not candidates
    n = (target.getnnz(axis=1) - seen.getnnz(axis=1)).astype(np.int64)
    cand = (int(cols.sum()) - earlier.getnnz(axis=1)).astype(np.int64)
    keep = (target.getnnz(axis=1) > 0) & (n > 0) & (cand > 0)
    n, cand = n[keep], cand[keep]
    out: dict[str, float] = {}
    for k in ks:
        m = np.minimum(k, cand)
        out[f"precision@{k}"] = float(np.mean(m * n / (cand * k)))
        out[f"recall@{k}"] = float(np.mean(m / cand))
        out[f"ndcg@{k}"] = float(np.mean(n / cand * _harmonic_log(m) / _harmonic_log(np.minimum(n, k))))
        log_miss = (gammaln(cand - n + 1) - gammaln(np.maximum(cand - n - m, 0) + 1)
                    - gammaln(cand + 1) + gammaln(cand - m + 1))
        out[f"hit@{k}"] = float(np.mean(np.where(cand - n >= m, 1.0 - np.exp(log_miss), 1.0)))
    out["auc"] = 0.5
    out["num_users"] = int(keep.sum())
    return out
