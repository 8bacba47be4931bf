"""HAN and HetGNN: they learn, their shapes agree, and the structure they hold has training interactions only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hhfan.baselines.han import HAN, NEIGHBOR_FACTOR, metapath_edges
from hhfan.baselines.hetgnn import HetGNN, NeighborBiLSTM
from hhfan.config import resolve
from hhfan.data.split import TRAIN
from hhfan.runner import Run, RunConfig, load_run, train_run
from tests.baselines.conftest import TINY, best_val

SETTINGS = {
    "han": ["model.dim=16", "model.heads=2", "model.layers=1", "train.lr=0.02", "train.batch_size=512",
            "train.epochs=8"],
    "hetgnn": ["model.dim=16", "train.lr=0.03", "train.batch_size=512", "train.epochs=10"],
}


@pytest.fixture(scope="module")
def runs(baseline_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """One short training run per model on the tiny synthetic world."""
    out = {}
    for name, extra in SETTINGS.items():
        run_dir = tmp_path_factory.mktemp(name) / "run"
        train_run(baseline_world, run_dir, resolve(RunConfig, None, [f"model_name={name}", *TINY, *extra]))
        out[name] = load_run(run_dir)
    return out


@pytest.mark.parametrize("name", ["han", "hetgnn"])
def test_trains_beats_pop_and_scores_consistently(name: str, runs: dict[str, Run], pop_val: float) -> None:
    run = runs[name]
    assert best_val(run.run_dir) > pop_val
    eu, ev = run.model.all_embeddings()
    assert eu.shape == (200, 16) and ev.shape == (400, 16)
    with torch.no_grad():
        u, v = torch.tensor([0, 3, 7, 199]), torch.tensor([5, 0, 399, 42])
        bu, bv = run.model.embed(u, v)
        assert torch.allclose(bu, eu[u], atol=1e-5) and torch.allclose(bv, ev[v], atol=1e-5)
        full = run.model.score_matrix(eu[u], ev)
        assert torch.allclose(full[torch.arange(4), v], run.model.score(eu[u], ev[v]), atol=1e-5)


def _held_out(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    it, train = run.dataset.interactions, run.artifacts.split.mask(TRAIN)
    return train, it.user, it.video


def test_han_metapaths_come_from_training_interactions(runs: dict[str, Run]) -> None:
    model = runs["han"].model
    assert isinstance(model, HAN)
    names = {et[1] for et in model.edge_types}
    assert {"video-user-video", "user-video-user", "video-tag-video", "video-image-video",
            "user-user_attr-user"} <= names
    train, user, video = _held_out(runs["han"])
    watched = [set() for _ in range(200)]
    for u, v in zip(user[train].tolist(), video[train].tolist(), strict=True):
        watched[u].add(v)
    edges = model.edge_index_dict()
    uvu = edges[("user", "user-video-user", "user")].numpy()
    vuv = edges[("video", "video-user-video", "video")].numpy()
    for a, b in uvu.T.tolist():
        assert a == b or watched[a] & watched[b]  # every U-V-U edge is a training co-watch
    viewers = [set() for _ in range(400)]
    for u in range(200):
        for v in watched[u]:
            viewers[v].add(u)
    for a, b in vuv.T.tolist():
        assert a == b or viewers[a] & viewers[b]
    cap = 10 * NEIGHBOR_FACTOR + 1  # num_neighbors * NEIGHBOR_FACTOR + the self-loop
    assert np.bincount(uvu[1], minlength=200).max() <= cap
    beta = model.semantic_attention()
    assert all(torch.isclose(b.sum(), torch.tensor(1.0)) for b in beta.values())


def test_metapath_edges_keep_most_path_instances() -> None:
    # A nodes 0..3, B nodes 0..2: 0-{0,1}, 1-{0,1}, 2-{0}, 3-{2}; duplicate link (0, 0) counts once.
    pairs = np.array([[0, 0], [0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [3, 2]])
    ei = metapath_edges(pairs, 4, 3, 1, np.random.default_rng(0))
    got = sorted(zip(ei[0].tolist(), ei[1].tolist(), strict=True))
    # 0 and 1 share 2 paths (beats 2's single one); 2 shares 1 with both 0 and 1 (tie); 3 shares none.
    assert (1, 0) in got and (0, 1) in got and (2, 0) not in got
    assert {(i, i) for i in range(4)} <= set(got)
    assert len([e for e in got if e[1] == 2 and e[0] != 2]) == 1 and [e for e in got if e[1] == 3] == [(3, 3)]


def test_hetgnn_holds_training_walk_tables(runs: dict[str, Run]) -> None:
    run = runs["hetgnn"]
    model = run.model
    assert isinstance(model, HetGNN)
    assert set(model.group_types) == {"user", "video", "image", "audio", "text", "tag", "user_attr"}
    for t in model.group_types:
        cap = min(10, run.artifacts.neighbors.ids[t].shape[1])
        assert torch.equal(getattr(model, f"nbr_{t}"), torch.from_numpy(run.artifacts.neighbors.ids[t][:, :cap]).long())
    # the walks ran on a graph whose user-video edges are exactly the training interactions
    train, user, video = _held_out(run)
    uv = run.artifacts.graph.edges_between("user", "video")
    graph_pairs = set(zip(uv[:, 0].tolist(), uv[:, 1].tolist(), strict=True))
    assert graph_pairs == set(zip(user[train].tolist(), video[train].tolist(), strict=True))
    assert graph_pairs.isdisjoint(zip(user[~train].tolist(), video[~train].tolist(), strict=True))
    _, alpha = model.nodes_forward(torch.arange(5), model.contents())
    assert torch.allclose(alpha.sum(dim=1), torch.ones(5), atol=1e-5)


def test_neighbor_bilstm_ignores_padding() -> None:
    torch.manual_seed(0)
    agg = NeighborBiLSTM(8)
    x = torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, False, False], [False, False, False, False]])
    out, present = agg(x, mask)
    x2 = x.clone()
    x2[0, 2:] = 100.0  # padding contents must not matter, in either direction
    out2, _ = agg(x2, mask)
    valid = x[:1, :2]  # the two valid neighbours alone, through a Bi-LSTM
    h = torch.cat([agg.fwd(valid)[0], agg.bwd(valid.flip(1))[0].flip(1)], dim=-1).mean(dim=1)
    assert torch.allclose(out[0], out2[0], atol=1e-6) and torch.allclose(out[0], h[0], atol=1e-6)
    assert present.tolist() == [True, False] and torch.all(out[1] == 0)
