"""hhfan.explain: paths use training edges only, relevances are the defined probabilities, α from Eq. (7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hhfan.compare import ensure_run, run_config
from hhfan.data.dataset import DatasetError
from hhfan.data.split import TEST, TRAIN
from hhfan.explain import VIDEO_ATTRIBUTE_TYPES, attribute_types, explain, pick_user
from hhfan.graph.mhig import NODE_TYPES
from hhfan.model.hhfan import HHFAN
from hhfan.runner import Run, load_run

FAST = ["train.epochs=1", "train.num_threads=1", "graph.codewords=8", "sampler.num_collect=40", "eval.num_negatives=50"]


@pytest.fixture(scope="module")
def runs(synthetic_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    out = tmp_path_factory.mktemp("explain")
    loaded = {}
    for model, extra in (("hhfan", ["model.dim=8"]), ("pop", [])):
        ensure_run(synthetic_world, out / model, run_config(model, 0, None, [*FAST, *extra]))
        loaded[model] = load_run(out / model)
    return loaded


def _edge(run: Run, a: int, b: int) -> bool:
    g = run.artifacts.graph
    return bool(np.isin(b, g.indices[g.indptr[a] : g.indptr[a + 1]]))


def test_paths_use_training_edges_only(runs: dict[str, Run]) -> None:
    run = runs["hhfan"]
    user = pick_user(run, 1)
    e = explain(run, user, k=4, paths_per_candidate=50)
    it, g = run.dataset.interactions, run.artifacts.graph
    u = int(np.flatnonzero(run.dataset.user_ids == user)[0])
    train = set(it.video[(it.user == u) & run.artifacts.split.mask(TRAIN)].tolist())
    assert e.user == u and set(e.watched) == train
    v0 = g.offset("video")
    assert sum(len(r.paths) for r in e.recommendations) > 0
    for r in e.recommendations:
        assert r.video not in train
        for p in r.paths:
            a = g.offset(p.attribute_type) + p.attribute
            assert p.watched in train and p.candidate == r.video and p.attribute_type in VIDEO_ATTRIBUTE_TYPES
            assert _edge(run, v0 + p.watched, a) and _edge(run, a, v0 + p.candidate)
    # the M-HIG's user-video edges are exactly the training interactions: no held-out pair is an edge
    held = (it.user == u) & ~run.artifacts.split.mask(TRAIN)
    assert not any(_edge(run, u, v0 + int(v)) for v in it.video[held])


def test_every_path_found_and_relevance_as_defined(runs: dict[str, Run]) -> None:
    run = runs["hhfan"]
    model = run.model
    assert isinstance(model, HHFAN)
    e = explain(run, pick_user(run, 2), k=3, paths_per_candidate=1000)
    g, v0 = run.artifacts.graph, run.artifacts.graph.offset("video")
    codes = [NODE_TYPES.index(t) for t in attribute_types(run)]
    with torch.no_grad():
        ev = model.all_embeddings()[1]

    def r(v: int) -> dict[int, float]:  # softmax over v's attribute neighbours of <E_v, f(a)>, from scratch
        nb = g.indices[g.indptr[v0 + v] : g.indptr[v0 + v + 1]]
        nb = [int(a) for a in nb if int(g.node_type[a]) in codes]
        with torch.no_grad():
            f = torch.stack([model.transform[NODE_TYPES[g.node_type[a]]](
                torch.tensor([a - g.offset(NODE_TYPES[g.node_type[a]])]))[0] for a in nb])
        w = torch.softmax((f @ ev[v]).double(), 0).tolist()
        return dict(zip(nb, w, strict=True))

    deg = np.diff(g.indptr)
    for rec in e.recommendations:
        rc = r(rec.video)
        brute = [(w, a) for a in rc for w in e.watched if a in r(w)]
        assert rec.num_paths == len(rec.paths) == len(brute)
        rels = [p.relevance for p in rec.paths]
        assert rels == sorted(rels, reverse=True)
        per_pair: dict[int, float] = {}
        for p in rec.paths:
            a = g.offset(p.attribute_type) + p.attribute
            assert p.candidate_weight == pytest.approx(rc[a]) and p.watched_weight == pytest.approx(r(p.watched)[a])
            assert p.relevance == pytest.approx(p.watched_weight * p.candidate_weight) and 0 < p.relevance <= 1
            assert p.walk_probability == pytest.approx(1 / deg[v0 + p.watched] / deg[a])
            per_pair[p.watched] = per_pair.get(p.watched, 0.0) + p.relevance
        assert all(s <= 1 + 1e-9 for s in per_pair.values())
        assert sum(rc.values()) == pytest.approx(1.0)
        assert sum(rec.alpha.values()) == pytest.approx(1.0) and list(rec.alpha) == model.candidate_names()
    assert sum(e.user_alpha.values()) == pytest.approx(1.0)


def test_alpha_is_eq7_of_the_model(runs: dict[str, Run]) -> None:
    run = runs["hhfan"]
    e = explain(run, pick_user(run), k=2)
    model = run.model
    assert isinstance(model, HHFAN)
    with torch.no_grad():
        a = model.nodes_forward(torch.tensor([run.dataset.num_users + e.recommendations[0].video])).alpha[0]
    assert list(e.recommendations[0].alpha.values()) == pytest.approx(a.tolist())


def test_baseline_gets_uniform_weights_and_no_alpha(runs: dict[str, Run]) -> None:
    run = runs["pop"]
    e = explain(run, pick_user(run), k=3, paths_per_candidate=5)
    assert e.relevance_kind == "uniform" and e.user_alpha == {}
    g, v0 = run.artifacts.graph, run.artifacts.graph.offset("video")
    codes = [NODE_TYPES.index(t) for t in e.attribute_types]
    for rec in e.recommendations:
        assert rec.alpha == {}
        for p in rec.paths:
            row = g.indices[g.indptr[v0 + p.candidate] : g.indptr[v0 + p.candidate + 1]]
            n = sum(int(g.node_type[a]) in codes for a in row)
            assert p.candidate_weight == pytest.approx(1 / n)


def test_json_names_and_bad_input(runs: dict[str, Run]) -> None:
    run = runs["hhfan"]
    user = pick_user(run)
    d = explain(run, user, k=2).to_dict(run)
    assert d["user"] == user and d["relevance"]["kind"] == "affinity" and len(d["recommendations"]) == 2
    for p in (p for r in d["recommendations"] for p in r["paths"]):
        assert p["attribute"].startswith(p["attribute_type"] + ":")
        assert p["watched"] in {w["video"] for w in d["watched"]}
    with pytest.raises(DatasetError, match="unknown user"):
        explain(run, "nobody", k=2)
    with pytest.raises(ValueError, match="k must be"):
        explain(run, user, k=0)


def test_pick_user_is_seeded_among_test_users(runs: dict[str, Run]) -> None:
    run = runs["hhfan"]
    it = run.dataset.interactions
    test_users = set(run.dataset.user_ids[np.unique(it.user[run.artifacts.split.mask(TEST)])].tolist())
    picks = [pick_user(run, s) for s in range(5)]
    assert set(picks) <= test_users and pick_user(run, 3) == picks[3] and len(set(picks)) > 1
