"""GraphSAGE, PinSAGE and MMGCN: they learn, shapes and scores agree, their structure holds training edges only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hhfan.baselines.blocks import NodeInput, homogeneous_edge_index
from hhfan.baselines.graphsage import GraphSAGE
from hhfan.baselines.mmgcn import MMGCN, MMGCNConfig
from hhfan.baselines.pinsage import PinSAGE, PinSAGEConfig, importance_neighbors
from hhfan.config import resolve
from hhfan.data.split import TRAIN
from hhfan.model.propagation import bipartite_edge_index
from hhfan.runner import Run, RunConfig, load_run, train_run
from tests.baselines.conftest import TINY, best_val

NAMES = ("graphsage", "pinsage", "mmgcn")
SETTINGS = {  # tiny-world settings that train in a few seconds and beat pop by >= 10% for seeds 0-2
    "graphsage": ["train.lr=0.01", "train.epochs=8"],
    "pinsage": ["train.lr=0.01", "train.epochs=20", "model.layers=1"],
    "mmgcn": ["train.lr=0.005", "train.epochs=20"],
}


@pytest.fixture(scope="module")
def runs(baseline_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One short training run per model on the tiny synthetic world."""
    out = {}
    for name in NAMES:
        run_dir = tmp_path_factory.mktemp(name) / "run"
        cfg = resolve(RunConfig, None, [f"model_name={name}", *TINY, "model.dim=32", "train.batch_size=512",
                                        "train.patience=20", *SETTINGS[name]])
        train_run(baseline_world, run_dir, cfg)
        out[name] = run_dir
    return out


def held_out_pairs(run: Run) -> set[tuple[int, int]]:
    """(user, video) pairs of validation/test interactions that are not also training interactions."""
    it, train = run.dataset.interactions, run.artifacts.split.mask(TRAIN)
    seen = set(zip(it.user[train].tolist(), it.video[train].tolist(), strict=True))
    return set(zip(it.user[~train].tolist(), it.video[~train].tolist(), strict=True)) - seen


@pytest.mark.parametrize("name", NAMES)
def test_learns_and_scores_consistently(name: str, runs: dict[str, Path], pop_val: float) -> None:
    assert best_val(runs[name]) > pop_val
    run = load_run(runs[name])
    eu, ev = run.model.all_embeddings()
    assert eu.shape == (200, 32) and ev.shape == (400, 32) and torch.isfinite(eu).all() and torch.isfinite(ev).all()
    with torch.no_grad():
        u, v = torch.tensor([0, 5, 199]), torch.tensor([3, 399, 17])
        bu, bv = run.model.embed(u, v)
        assert torch.allclose(bu, eu[u], atol=1e-5) and torch.allclose(bv, ev[v], atol=1e-5)
        full = run.model.score_matrix(eu[u], ev)
        assert torch.allclose(full[torch.arange(3), v], run.model.score(eu[u], ev[v]), atol=1e-5)


def test_graphsage_graph_is_the_training_mhig(runs: dict[str, Path]) -> None:
    run = load_run(runs["graphsage"])
    assert isinstance(run.model, GraphSAGE)
    g, nu = run.artifacts.graph, run.dataset.num_users
    ei = run.model.edge_index.numpy()
    assert ei.shape[1] == 2 * g.num_edges and set(np.unique(g.node_type[ei[0]])) == set(np.unique(g.node_type))
    uv = ei[:, (ei[0] < nu) & (ei[1] >= nu) & (ei[1] < nu + run.dataset.num_videos)]
    seen = set(zip(uv[0].tolist(), (uv[1] - nu).tolist(), strict=True))
    it, train = run.dataset.interactions, run.artifacts.split.mask(TRAIN)
    assert seen == set(zip(it.user[train].tolist(), it.video[train].tolist(), strict=True))
    assert seen.isdisjoint(held_out_pairs(run))


def test_pinsage_neighbourhoods_come_from_training_walks(runs: dict[str, Path]) -> None:
    run = load_run(runs["pinsage"])
    assert isinstance(run.model, PinSAGE)
    g, cfg, nu = run.artifacts.graph, run.config.model, run.dataset.num_users
    ids, w = importance_neighbors(g.indptr, g.indices, nu + run.dataset.num_videos, cfg.num_neighbors,
                                  cfg.walks_per_node, cfg.walk_length, run.config.train.seed)
    assert np.array_equal(run.model.neighbor_ids.numpy(), ids)  # rebuilt from the run's seed: repeatable
    assert np.allclose(run.model.neighbor_weights.numpy(), w)
    # one-step walks from a user can only reach its *training* videos: no held-out pair is ever a neighbour
    ids1, w1 = importance_neighbors(g.indptr, g.indices, nu + run.dataset.num_videos, 50, 20, 1, 0)
    pairs = {(u, int(v) - nu) for u in range(nu) for v, a in zip(ids1[u], w1[u], strict=True) if a > 0}
    it, train = run.dataset.interactions, run.artifacts.split.mask(TRAIN)
    assert pairs <= set(zip(it.user[train].tolist(), it.video[train].tolist(), strict=True))
    assert pairs.isdisjoint(held_out_pairs(run))


def test_mmgcn_graph_is_training_interactions(runs: dict[str, Path]) -> None:
    run = load_run(runs["mmgcn"])
    assert isinstance(run.model, MMGCN)
    assert list(run.model.branches) == list(run.dataset.modalities) == ["visual", "acoustic", "textual"]
    ei, nu = run.model.edge_index.numpy(), run.dataset.num_users
    train = run.artifacts.split.mask(TRAIN)
    assert ei.shape[1] == 2 * int(train.sum())
    seen = set(zip(ei[0].tolist(), (ei[1] - nu).tolist(), strict=True))
    assert seen.isdisjoint(held_out_pairs(run))


def test_importance_neighbors_on_a_hand_graph() -> None:
    # targets 0 (user), 1, 2 (videos); 3 = attribute node shared by 1 and 2. Edges 0-1, 0-2, 1-3, 2-3.
    adj = {0: [1, 2], 1: [0, 3], 2: [0, 3], 3: [1, 2]}
    indptr = np.cumsum([0] + [len(adj[i]) for i in range(4)]).astype(np.int64)
    indices = np.concatenate([adj[i] for i in range(4)]).astype(np.int32)
    ids, w = importance_neighbors(indptr, indices, 3, 2, 200, 1, 7)
    assert ids[1, 0] == 0 and np.allclose(w[1], [1, 0]) and np.allclose(w[2], [1, 0])  # 3 is never counted
    assert set(ids[0]) == {1, 2} and np.isclose(w[0].sum(), 1) and w[0, 0] >= w[0, 1] and w[0, 1] > 0.4
    ids3, w3 = importance_neighbors(indptr, indices, 3, 2, 200, 3, 7)  # 1 reaches 2 through 0 or through 3
    assert set(ids3[1]) == {0, 2}
    again = importance_neighbors(indptr, indices, 3, 2, 200, 3, 7)
    assert np.array_equal(again[0], ids3) and np.array_equal(again[1], w3)


def test_pinsage_convolve_equation() -> None:
    torch.manual_seed(0)
    ids = torch.tensor([[1, 2], [0, 0], [0, 1]])
    w = torch.tensor([[0.75, 0.25], [1.0, 0.0], [0.5, 0.5]])
    m = PinSAGE({"user": 1, "video": 2}, {}, ids, w, PinSAGEConfig(dim=4, layers=1))
    h = torch.randn(3, 4)
    with torch.no_grad():
        out = m.convolve(h, 0)
        q = F.relu(m.q[0](h))
        n0 = 0.75 * q[1] + 0.25 * q[2]
        z0 = F.relu(m.w[0](torch.cat([h[0], n0])))
    assert torch.allclose(out[0], z0 / z0.norm(), atol=1e-6)
    assert torch.allclose(out.norm(dim=1)[out.norm(dim=1) > 0], torch.ones(1), atol=1e-5)


def test_pinsage_skip_feeds_input_plus_last_layer_to_the_head() -> None:
    torch.manual_seed(0)
    ids = torch.tensor([[1, 2], [0, 0], [0, 1]])
    w = torch.tensor([[0.75, 0.25], [1.0, 0.0], [0.5, 0.5]])
    plain = PinSAGE({"user": 1, "video": 2}, {}, ids, w, PinSAGEConfig(dim=4, layers=2))
    skip = PinSAGE({"user": 1, "video": 2}, {}, ids, w, PinSAGEConfig(dim=4, layers=2, skip=True))
    skip.load_state_dict(plain.state_dict())  # same weights: only the head's input differs
    with torch.no_grad():
        h0 = plain.input()
        h_last = plain.convolve(plain.convolve(h0, 0), 1)
        assert torch.allclose(plain.propagate(), plain.g2(F.relu(plain.g1(h_last))), atol=1e-6)
        assert torch.allclose(skip.propagate(), plain.g2(F.relu(plain.g1(h0 + h_last))), atol=1e-6)
        assert not torch.allclose(skip.propagate(), plain.propagate())


def test_node_input_and_homogeneous_graph(runs: dict[str, Path]) -> None:
    run = load_run(runs["graphsage"])
    assert isinstance(run.model, GraphSAGE)
    g = run.artifacts.graph
    src, dst = homogeneous_edge_index(g).numpy()
    assert np.array_equal(np.bincount(src, minlength=g.num_nodes), np.diff(g.indptr))
    assert np.array_equal(np.sort(src * g.num_nodes + dst), np.sort(dst * g.num_nodes + src))  # undirected
    inp: NodeInput = run.model.input
    with torch.no_grad():
        x = inp()
        nu = run.dataset.num_users
        assert torch.equal(x[:nu], inp.emb.weight[:nu])  # users have no features: id embedding only
        assert torch.allclose(x[nu : nu + 400], inp.emb.weight[nu : nu + 400] + inp.proj["video"](inp.x_video))
    assert set(inp.proj) == {"video", "image", "audio", "text"}


def test_mmgcn_layer_equation() -> None:
    torch.manual_seed(0)
    ei = bipartite_edge_index(np.array([0, 0, 1]), np.array([0, 1, 1]), 2)  # users 0, 1; videos 2, 3
    m = MMGCN(2, 2, {"visual": torch.randn(2, 3)}, ei, MMGCNConfig(dim=4, layers=1))
    b = m.branches["visual"]
    with torch.no_grad():
        x = F.normalize(torch.cat([b.preference.weight, b.proj(b.features)]), dim=1)
        h0 = F.leaky_relu((b.conv_w[0](x[2]) + b.conv_w[0](x[3])) / 2)  # user 0: mean over its videos 2, 3
        x_hat = F.leaky_relu(b.self_w[0](x[0])) + m.id_emb.weight[0]
        want = F.leaky_relu(b.comb_w[0](torch.cat([h0, x_hat])))
        assert torch.allclose(m.propagate()[0], want, atol=1e-6)
