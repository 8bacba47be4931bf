"""HERec and SemRec: they learn, score consistently, see training interactions only, and follow their equations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hhfan.baselines import metapath as mp
from hhfan.baselines.herec import HERec, HERecConfig, path_embeddings, sppmi
from hhfan.baselines.semrec import SemRec, pathsim_topk
from hhfan.config import resolve
from hhfan.data.split import TRAIN
from hhfan.runner import Run, RunConfig, load_run, train_run
from tests.baselines.conftest import TINY, best_val

SETTINGS = {
    "herec": ["model.dim=16", "train.epochs=10", "train.lr=0.05", "train.batch_size=1024"],
    "semrec": ["train.epochs=4", "train.lr=0.05"],
}


@pytest.fixture(scope="module")
def runs(baseline_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One short training run per model on the tiny synthetic world."""
    out = {}
    for name, extra in SETTINGS.items():
        out[name] = tmp_path_factory.mktemp(name) / "run"
        train_run(baseline_world, out[name], resolve(RunConfig, None, [f"model_name={name}", *TINY, *extra]))
    return out


def _split_pairs(run: Run) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    it, train = run.dataset.interactions, run.artifacts.split.mask(TRAIN)
    pairs = lambda m: set(zip(it.user[m].tolist(), it.video[m].tolist(), strict=True))  # noqa: E731
    return pairs(train), pairs(~train)


@pytest.mark.parametrize("name", ["herec", "semrec"])
def test_trains_beats_pop_and_scores_consistently(name: str, runs: dict[str, Path], pop_val: float) -> None:
    assert best_val(runs[name]) > pop_val
    run = load_run(runs[name])
    eu, ev = run.model.all_embeddings()
    width = (3 * 16, 3 * 16) if name == "herec" else (1 + len(run.model.paths), 1)
    assert eu.shape == (200, width[0]) and ev.shape == (400, width[1])
    users, videos = torch.tensor([0, 3, 17, 199, 42]), torch.tensor([5, 399, 0, 123, 42])
    with torch.no_grad():
        full = run.model.score_matrix(eu[users], ev)
        pair = run.model.score(eu[users], ev[videos])
    assert full.shape == (5, 400)
    torch.testing.assert_close(full[torch.arange(5), videos], pair, rtol=1e-5, atol=1e-6)


def test_herec_walks_and_embeddings_use_training_edges_only(runs: dict[str, Path]) -> None:
    run = load_run(runs["herec"])
    assert isinstance(run.model, HERec)
    g, (train, held) = run.artifacts.graph, _split_pairs(run)
    r = mp.adjacency(g, "user", "video")
    assert set(zip(*r.nonzero(), strict=True)) == train and train.isdisjoint(held)
    walks = mp.metapath_walks(g, ("user", "video", "user"), 2, 6, np.random.default_rng(0))
    a, b = walks[:, :-1].ravel(), walks[:, 1:].ravel()
    ok = (a >= 0) & (b >= 0)
    shared = np.asarray(r[a[ok]].multiply(r[b[ok]]).sum(axis=1)).ravel()
    assert ok.any() and (shared > 0).all()  # consecutive users of a U-V-U walk share a *training* video
    again = mp.metapath_walks(g, ("user", "video", "user"), 2, 6, np.random.default_rng(0))
    np.testing.assert_array_equal(walks, again)
    # The buffers are exactly what the seeded build recomputes from the training graph.
    emb = path_embeddings(g, run.model.user_paths, run.config.model, run.config.train.seed)
    np.testing.assert_allclose(run.model.user_fusion.emb.numpy(), emb, atol=1e-5)
    assert not any(n.endswith("emb") for n, _ in run.model.named_parameters())


def test_semrec_votes_and_neighbours_use_training_only(runs: dict[str, Path]) -> None:
    run = load_run(runs["semrec"])
    assert isinstance(run.model, SemRec)
    train, held = _split_pairs(run)
    nv = run.dataset.num_videos
    bits = np.unpackbits(run.model.seen_bits.numpy().view(np.uint8), axis=1, bitorder="little")[:, :nv]
    keys = set(zip(*np.nonzero(bits), strict=True))
    assert keys == train == set(zip(*run.model.interactions.nonzero(), strict=True)) and keys.isdisjoint(held)
    r = mp.adjacency(run.artifacts.graph, "user", "video")
    nb, w = run.model.neighbors[0].numpy(), run.model.vote_weights[0].numpy()  # path 0 = U-V-U
    assert run.model.paths[0] == ("user", "video", "user")
    u = np.repeat(np.arange(nb.shape[0]), nb.shape[1])[w.ravel() > 0]
    shared = np.asarray(r[u].multiply(r[nb.ravel()[w.ravel() > 0]]).sum(axis=1)).ravel()
    assert (shared > 0).all() and not (nb == np.arange(nb.shape[0])[:, None]).any()
    np.testing.assert_allclose(w.sum(1)[w.sum(1) > 0], 1.0, rtol=1e-5)


def test_pathsim_on_a_hand_example() -> None:
    # M = P Pᵀ: M00 = 2, M01 = 1, M11 = 1, M22 = 1, M02 = M12 = 0; s(0, 1) = 2·1 / (2 + 1).
    p = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32))
    ids, sims = pathsim_topk(p, 1, chunk=2)
    np.testing.assert_array_equal(ids[:2, 0], [1, 0])
    np.testing.assert_allclose(sims[:, 0], [2 / 3, 2 / 3, 0.0], rtol=1e-6)
    assert mp.path_name(("user", "video", "tag", "video", "user")) == "UVTVU"


def test_semrec_score_on_a_hand_example() -> None:
    # 3 users, 2 paths, 2 neighbours each; R: user 1 saw video 0, user 2 saw videos 0 and 1.
    nbr = np.array([[[1, 2], [0, 2], [0, 1]], [[2, 1], [2, 0], [1, 0]]])
    sims = np.array([[[0.5, 0.25], [0.1, 0.1], [0.0, 0.0]], [[1.0, 0.0], [0.2, 0.2], [0.3, 0.1]]], np.float32)
    r = sp.csr_matrix(np.array([[0, 0], [1, 0], [1, 1]], np.float32))
    m = SemRec(nbr, sims, r)
    with torch.no_grad():
        m.user_weight.weight[0] = torch.tensor([0.5, -0.2])
        eu, ev = m.all_embeddings()
        w0 = 0.5 + 0.5, 0.5 - 0.2  # w_u = w_0 + δ_u with w_0 = 1/2 per path
        # path 0: votes of user 0 = (0.5·R1 + 0.25·R2) / 0.75; path 1: R2 (weights 1 and 0).
        expect_u0 = [w0[0] * (0.5 + 0.25) / 0.75 + w0[1] * 1.0, w0[0] * 0.25 / 0.75 + w0[1] * 1.0]
        torch.testing.assert_close(m.score_matrix(eu, ev)[0], torch.tensor(expect_u0))
        torch.testing.assert_close(m.score(eu[[0, 0]], ev[[0, 1]]), torch.tensor(expect_u0))
    assert [t.shape for t in m.l2_terms(torch.tensor([0, 2]), torch.tensor([1]))] == [(2, 2), (2,)]


def test_herec_extended_mf_and_fusion_equations() -> None:
    rng = np.random.default_rng(0)
    m = HERec(rng.normal(size=(2, 5, 4)).astype(np.float32), rng.normal(size=(3, 6, 4)).astype(np.float32),
              HERecConfig(dim=4))
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
        u, v = torch.tensor([1, 4]), torch.tensor([0, 5])
        f = m.user_fusion
        e_u = torch.sigmoid(sum(f.weight.weight[u, i, None] * (f.emb[i, u] @ f.matrix[i].T + f.bias[i])
                                for i in range(2)))
        g = m.video_fusion
        e_v = torch.sigmoid(sum(g.weight.weight[v, i, None] * (g.emb[i, v] @ g.matrix[i].T + g.bias[i])
                                for i in range(3)))
        expect = ((m.x(u) * m.y(v)).sum(1) + (e_u * m.gamma_v(v)).sum(1) + (e_v * m.gamma_u(u)).sum(1))
        torch.testing.assert_close(m.score(*m.embed(u, v)), expect)


def test_sppmi_matches_its_formula() -> None:
    counts = sp.csr_matrix(np.array([[0, 4, 1], [4, 0, 0], [1, 0, 2]], np.float32))
    out = sppmi(counts, negatives=2, smoothing=1.0).toarray()
    tot = counts.toarray().sum(1)
    with np.errstate(divide="ignore"):
        expect = np.maximum(np.log(counts.toarray() * tot.sum() / np.outer(tot, tot)) - np.log(2), 0)
    np.testing.assert_allclose(out, expect, rtol=1e-5)
