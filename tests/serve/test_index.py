"""The video index: exact top-K against brute force, FAISS recall against exact, growth while serving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hhfan.serve.index import IndexConfig, VideoIndex, is_inner_product, load_faiss, top_k


def inner(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u @ v.T


def clustered(n: int, d: int, seed: int, centres: int = 200) -> np.ndarray:
    """Rows around ``centres`` random directions, as trained item embeddings cluster by topic."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(centres, d)).astype(np.float32)
    return base[rng.integers(0, centres, n)] + 0.35 * rng.normal(size=(n, d)).astype(np.float32)


def test_exact_search_is_brute_force_without_the_excluded() -> None:
    rng = np.random.default_rng(0)
    emb = torch.from_numpy(rng.normal(size=(500, 8)).astype(np.float32))
    idx = VideoIndex(emb, inner, inner_product=True, use_faiss=False)
    q = torch.from_numpy(rng.normal(size=8).astype(np.float32))
    excl = np.array([3, 3, 17, 499])
    scores, rows = idx.search(q, 10, excl)
    full = (emb @ q).numpy()
    full[np.unique(excl)] = -np.inf
    assert rows.tolist() == np.argsort(-full, kind="stable")[:10].tolist()
    np.testing.assert_allclose(scores, full[rows], rtol=1e-6)
    assert idx.kind == "exact"
    _, everything = idx.search(q, 1000, excl)  # k beyond the catalogue: every unseen video once
    assert sorted(everything.tolist()) == sorted(set(range(500)) - {3, 17, 499})


def test_the_models_own_scorer_is_used_and_never_faiss_for_it() -> None:
    def neg_distance(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # not an inner product
        return -torch.cdist(u, v)

    emb = torch.from_numpy(clustered(3000, 8, 1))
    idx = VideoIndex(emb, neg_distance, inner_product=False, config=IndexConfig(faiss_min_videos=10))
    assert idx.kind == "exact" and not idx.faiss_available
    q = emb[42] + 0.001
    _, rows = idx.search(q, 1)
    assert rows.tolist() == [42]


def test_rows_added_are_searchable_and_snapshots_stay_whole() -> None:
    emb = torch.zeros(20, 4)
    idx = VideoIndex(emb, inner, inner_product=True, use_faiss=False)
    old = idx.rows()
    for i in range(100):  # several reallocations
        row = idx.add(torch.tensor([[float(i + 1), 0.0, 0.0, 0.0]]))
        assert row == 20 + i
    assert idx.size == 120 and old.shape == (20, 4)
    _, rows = idx.search(torch.tensor([1.0, 0, 0, 0]), 3, np.array([119]))
    assert rows.tolist() == [118, 117, 116]
    assert torch.equal(idx.row(119), torch.tensor([100.0, 0, 0, 0]))


def test_top_k_with_everything_excluded_is_empty() -> None:
    scores, rows = top_k(torch.arange(4.0), 3, np.arange(4))
    assert scores.size == 0 and rows.size == 0


def test_inner_product_detection() -> None:
    from hhfan.baselines.neumf import NeuMF
    from hhfan.model.base import Recommender
    from hhfan.model.hhfan import HHFAN

    assert is_inner_product(Recommender())
    assert HHFAN.score_matrix is Recommender.score_matrix  # HHFAN ranks by E_u'E_v (Eq. 8)
    assert NeuMF.score_matrix is not Recommender.score_matrix


faiss = pytest.mark.skipif(load_faiss() is None, reason="faiss (optional extra faiss-cpu) is not installed")


@faiss
@pytest.mark.parametrize("kind", ["ivf", "flat"])
def test_faiss_recall_at_10_against_exact_search(kind: str) -> None:
    d, n = 32, 30_000
    emb = torch.from_numpy(clustered(n, d, 2))
    cfg = IndexConfig(faiss_min_videos=10_000, faiss_kind=kind)
    idx = VideoIndex(emb, inner, inner_product=True, config=cfg)
    assert idx.kind == f"faiss-{kind}"
    users = torch.from_numpy(clustered(200 if kind == "ivf" else 40, d, 3))  # users live where their videos live
    rng = np.random.default_rng(4)
    recall = []
    for q in users:
        seen = rng.choice(n, 25, replace=False)
        _, got = idx.search(q, 10, seen)
        _, want = idx.search_exact(q, 10, seen)
        assert not set(got.tolist()) & set(seen.tolist())
        recall.append(len(set(got.tolist()) & set(want.tolist())) / 10)
    assert np.mean(recall) >= 0.99, np.mean(recall)


@faiss
def test_faiss_is_built_when_the_catalogue_grows_past_the_size() -> None:
    d = 16
    x = clustered(6000, d, 5)
    idx = VideoIndex(torch.from_numpy(x[:3000]), inner, inner_product=True,
                     config=IndexConfig(faiss_min_videos=5000, nlist=16, nprobe=16))
    assert idx.kind == "exact" and idx.faiss_available
    for s in range(3000, 6000, 500):
        idx.add(torch.from_numpy(x[s : s + 500]))
    idx.wait_for_build(120)
    assert idx.kind == "faiss-ivf"
    idx.add(torch.from_numpy(x[:1] * 50))  # beyond the IVF's norm bound: kept aside and scored exactly
    _, rows = idx.search(torch.from_numpy(x[0]), 1)
    assert rows.tolist() == [6000]


@faiss
def test_too_few_unseen_in_the_probed_cells_falls_back_to_exact() -> None:
    x = clustered(6000, 16, 6)
    idx = VideoIndex(torch.from_numpy(x), inner, inner_product=True,
                     config=IndexConfig(faiss_min_videos=1000, nlist=64, nprobe=1))
    q = torch.from_numpy(x[0])
    far = np.argsort(x @ x[0])[:5]  # the five rows least like the query: never in its cell
    seen = np.setdiff1d(np.arange(6000), far)
    _, rows = idx.search(q, 5, seen)
    assert sorted(rows.tolist()) == sorted(far.tolist())
