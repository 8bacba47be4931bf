"""Ranking metrics: hand-computed values, masking, ties, NaN users, and cross-checks with sklearn/torchmetrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import ndcg_score, roc_auc_score

from hhfan.eval.metrics import METRIC_NAMES, mean_metrics, ranking_metrics

L3, L5, L6 = math.log2(3), math.log2(5), math.log2(6)  # DCG discounts of ranks 2, 4 and 5: 1/log2(rank + 1)


def _t(x: list[list[float]] | list[list[bool]], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def _check(m: dict[str, torch.Tensor], expected: dict[str, float], row: int = 0) -> None:
    for name, value in expected.items():
        assert m[name][row].item() == pytest.approx(value, abs=1e-12), name


def test_keys_shapes_and_dtype() -> None:
    m = ranking_metrics(torch.randn(3, 7), torch.rand(3, 7) < 0.5, None, ks=[1, 3])
    assert set(m) == {f"{n}@{k}" for n in METRIC_NAMES for k in (1, 3)} | {"auc"}
    assert all(v.shape == (3,) and v.dtype == torch.float64 for v in m.values())


def test_hand_computed_simple() -> None:
    # Candidates 0..4 scored 0.9 > 0.8 > 0.7 > 0.6 > 0.5, so the ranking is 0, 1, 2, 3, 4.
    # Relevant: 1 and 3 (ranks 2 and 4); rel = 2.
    m = ranking_metrics(_t([[0.9, 0.8, 0.7, 0.6, 0.5]]), _t([[False, True, False, True, False]], torch.bool),
                        None, ks=[1, 2, 3, 4, 5])
    _check(m, {
        # precision@K = hits in top K / K
        "precision@1": 0.0, "precision@2": 1 / 2, "precision@3": 1 / 3, "precision@4": 2 / 4, "precision@5": 2 / 5,
        # recall@K = hits in top K / 2
        "recall@1": 0.0, "recall@2": 1 / 2, "recall@3": 1 / 2, "recall@4": 1.0,
        # ndcg@2 = (1/log2 3) / (1 + 1/log2 3); ndcg@4 = (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)
        "ndcg@1": 0.0, "ndcg@2": (1 / L3) / (1 + 1 / L3), "ndcg@4": (1 / L3 + 1 / L5) / (1 + 1 / L3),
        "hit@1": 0.0, "hit@2": 1.0, "hit@5": 1.0,
        # first relevant at rank 2
        "mrr@1": 0.0, "mrr@2": 1 / 2, "mrr@5": 1 / 2,
        # recall_capped@K = hits / min(2, K): @1 0/1, @2 1/2, @3 1/2, @4 2/2
        "recall_capped@1": 0.0, "recall_capped@2": 1 / 2, "recall_capped@3": 1 / 2, "recall_capped@4": 1.0,
        # positives 0.8 and 0.6 vs negatives 0.9, 0.7, 0.5: 0.8 beats 0.7, 0.5 (2); 0.6 beats 0.5 (1) -> 3/6
        "auc": 3 / 6,
    })


def test_hand_computed_ties_and_invalid() -> None:
    # Scores [2.5, 3, 3, 2, 5, 3]; candidate 4 is invalid (it would rank first and is marked relevant, but
    # it must not count at all). Valid ranking, ties by index: 1, 2, 5 (all 3), 0 (2.5), 3 (2).
    # Relevant valid: 2 (rank 2) and 3 (rank 5); rel = 2; negatives 0, 1, 5.
    scores = _t([[2.5, 3.0, 3.0, 2.0, 5.0, 3.0]])
    relevant = _t([[False, False, True, True, True, False]], torch.bool)
    valid = _t([[True, True, True, True, False, True]], torch.bool)
    m = ranking_metrics(scores, relevant, valid, ks=[1, 2, 4, 5, 10])
    _check(m, {
        "precision@1": 0.0, "precision@2": 1 / 2, "precision@4": 1 / 4, "precision@5": 2 / 5,
        # K = 10 > 5 valid candidates: the denominator stays K
        "precision@10": 2 / 10,
        "recall@2": 1 / 2, "recall@4": 1 / 2, "recall@5": 1.0, "recall@10": 1.0,
        # ndcg@5 = (1/log2 3 + 1/log2 6) / (1 + 1/log2 3)
        "ndcg@2": (1 / L3) / (1 + 1 / L3), "ndcg@5": (1 / L3 + 1 / L6) / (1 + 1 / L3),
        "ndcg@10": (1 / L3 + 1 / L6) / (1 + 1 / L3),
        "hit@1": 0.0, "hit@2": 1.0, "mrr@1": 0.0, "mrr@2": 1 / 2, "mrr@10": 1 / 2,
        # positive 2 (score 3): beats 0 (2.5) = 1, ties 1 and 5 = 1/2 + 1/2 -> 2
        # positive 3 (score 2): beats nobody -> 0;  AUC = 2 / (2 * 3)
        "auc": 2 / 6,
    })


def test_all_ties_break_by_index() -> None:
    # A constant model: ranking is 0, 1, 2, 3; the relevant candidate 2 sits at rank 3.
    m = ranking_metrics(torch.zeros(1, 4), _t([[False, False, True, False]], torch.bool), None, ks=[2, 3])
    _check(m, {"hit@2": 0.0, "hit@3": 1.0, "mrr@3": 1 / 3, "ndcg@3": (1 / math.log2(4)) / 1.0,
               "auc": 0.5})  # every pair tied -> 1/2 each
    # Same check with a relevant candidate first: a tie is never resolved in favour of relevance.
    m = ranking_metrics(torch.zeros(1, 4), _t([[True, False, False, False]], torch.bool), None, ks=[1])
    assert m["hit@1"].item() == 1.0


def test_no_positive_and_no_negative_users() -> None:
    scores = _t([[0.3, 0.2, 0.1], [0.3, 0.2, 0.1], [0.1, 0.2, 0.3]])
    relevant = _t([[False, False, False], [True, True, True], [True, False, False]], torch.bool)
    m = ranking_metrics(scores, relevant, None, ks=[1, 2])
    for name, v in m.items():
        assert math.isnan(v[0].item()), f"user without positives must be NaN in {name}"
    assert math.isnan(m["auc"][1].item())  # no negative: AUC undefined
    assert m["precision@2"][1].item() == 1.0 and m["recall@2"][1].item() == pytest.approx(2 / 3)
    assert m["auc"][2].item() == 0.0  # the positive scores lowest
    means = mean_metrics(m)
    assert means["precision@1"] == pytest.approx((1.0 + 0.0) / 2)  # user 0 ignored
    assert means["auc"] == 0.0  # users 0 and 1 ignored
    assert math.isnan(mean_metrics({"x": torch.tensor([math.nan, math.nan])})["x"])


def test_relevant_but_invalid_is_not_relevant() -> None:
    m = ranking_metrics(_t([[1.0, 0.0]]), _t([[True, False]], torch.bool), _t([[False, True]], torch.bool), ks=[1])
    assert math.isnan(m["recall@1"].item())  # the only relevant candidate is invalid -> no positive


def test_infinite_scores_and_nan_rejection() -> None:
    # -inf on a valid candidate still ranks above invalid ones; +inf ranks first.
    scores = _t([[-math.inf, 0.0, math.inf]])
    m = ranking_metrics(scores, _t([[True, False, False]], torch.bool), _t([[True, False, True]], torch.bool), ks=[2])
    assert m["hit@2"].item() == 1.0 and m["mrr@2"].item() == 1 / 2 and m["auc"].item() == 0.0
    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics(_t([[math.nan, 0.0]]), _t([[True, False]], torch.bool))
    # NaN on an invalid candidate is fine (it is never looked at).
    ranking_metrics(_t([[math.nan, 0.0, 1.0]]), _t([[False, True, False]], torch.bool),
                    _t([[False, True, True]], torch.bool))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="matrix"):
        ranking_metrics(torch.zeros(3), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="relevant"):
        ranking_metrics(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="K"):
        ranking_metrics(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool), ks=[0, 1])


def _random_case(seed: int, b: int = 50, c: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(b, c, generator=g) + 0.01  # strictly positive: see the torchmetrics note below
    relevant = torch.rand(b, c, generator=g) < 0.15
    relevant[:3] = False  # a few users without any positive
    valid = torch.rand(b, c, generator=g) < 0.85
    return scores, relevant, valid


def test_matches_sklearn_ndcg_and_auc() -> None:
    scores, relevant, valid = _random_case(0)
    ks = [1, 3, 5, 10, 20, 40]
    m = ranking_metrics(scores, relevant, valid, ks)
    tied = (scores * 4).round() / 4  # many ties: AUC counts them 1/2, like roc_auc_score
    m_tied = ranking_metrics(tied, relevant, valid, ks)
    checked = 0
    for u in range(scores.shape[0]):
        keep = valid[u].numpy()
        y = (relevant[u] & valid[u]).numpy()[keep].astype(float)
        if y.sum() == 0:
            assert math.isnan(m["auc"][u].item())
            continue
        x = scores[u].numpy()[keep]
        for k in ks:  # continuous scores: no ties, so sklearn's tie averaging does not matter
            assert m[f"ndcg@{k}"][u].item() == pytest.approx(ndcg_score([y], [x], k=k), abs=1e-9)
        if 0 < y.sum() < y.shape[0]:
            assert m["auc"][u].item() == pytest.approx(roc_auc_score(y, x), abs=1e-12)
            assert m_tied["auc"][u].item() == pytest.approx(roc_auc_score(y, tied[u].numpy()[keep]), abs=1e-12)
            checked += 1
    assert checked > 30


def test_matches_torchmetrics() -> None:
    tm = pytest.importorskip("torchmetrics.retrieval")
    scores, relevant, valid = _random_case(1)
    rows, cols = torch.nonzero(valid, as_tuple=True)  # torchmetrics sees only the valid candidates
    preds, target = scores[rows, cols], (relevant & valid)[rows, cols]
    for k in (1, 2, 5, 10, 20, 40):
        m = mean_metrics(ranking_metrics(scores, relevant, valid, ks=[k]))
        # empty_target_action="skip": users without a positive are left out, as our NaN are.
        # RetrievalPrecision(top_k=k) divides by k even when a user has fewer than k candidates
        # (adaptive_k=False), as we do (k=40 exceeds every user's ~34 valid candidates).
        # torchmetrics 1.9 precision/recall/MRR also treat candidates with pred <= 0 as irrelevant,
        # hence the strictly positive scores of _random_case.
        ref = {
            "precision": tm.RetrievalPrecision(top_k=k, empty_target_action="skip"),
            "recall": tm.RetrievalRecall(top_k=k, empty_target_action="skip"),
            "hit": tm.RetrievalHitRate(top_k=k, empty_target_action="skip"),
            "mrr": tm.RetrievalMRR(top_k=k, empty_target_action="skip"),
            "ndcg": tm.RetrievalNormalizedDCG(top_k=k, empty_target_action="skip"),
        }
        for name, metric in ref.items():
            expected = float(metric(preds, target, indexes=rows))
            assert m[f"{name}@{k}"] == pytest.approx(expected, abs=1e-6), f"{name}@{k}"


def test_batch_rows_are_independent() -> None:
    scores, relevant, valid = _random_case(2)
    full = ranking_metrics(scores, relevant, valid, ks=[5])
    part = ranking_metrics(scores[10:20], relevant[10:20], valid[10:20], ks=[5])
    for name in part:
        np.testing.assert_allclose(part[name].numpy(), full[name][10:20].numpy())
