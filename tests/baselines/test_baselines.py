"""BPR-MF and LightGCN: same interface, trainer and protocols; graph baselines see training edges only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hhfan.baselines.lightgcn import LightGCN
from hhfan.baselines.mf import BPRMF
from hhfan.config import resolve
from hhfan.data.split import TRAIN
from hhfan.runner import RunConfig, load_run, train_run
from tests.baselines.conftest import best_val


@pytest.fixture(scope="module")
def data_dir(baseline_world: Path) -> Path:
    return baseline_world


@pytest.mark.parametrize("name", ["bprmf", "lightgcn"])
def test_baseline_trains_and_learns(name: str, data_dir: Path, tmp_path: Path, pop_val: float) -> None:
    cfg = resolve(RunConfig, None, [f"model_name={name}", "model.dim=16", "train.epochs=8",
                                    "train.batch_size=1024", "train.lr=0.05", "graph.codewords=8",
                                    "sampler.num_collect=40"])
    metrics = train_run(data_dir, tmp_path / name, cfg)
    log = [json.loads(x) for x in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["val"]["ndcg@20"] > log[0]["val"]["ndcg@20"]
    assert best_val(tmp_path / name) > pop_val
    assert metrics["sampled"]["auc"] > 0.7
    run = load_run(tmp_path / name)
    u, v = run.model.all_embeddings()
    assert u.shape == (200, 16) and v.shape == (400, 16)


def test_lightgcn_sees_training_edges_only(data_dir: Path, tmp_path: Path) -> None:
    cfg = resolve(RunConfig, None, ["model_name=lightgcn", "model.dim=8", "train.epochs=1",
                                    "graph.codewords=8", "sampler.num_collect=40"])
    train_run(data_dir, tmp_path / "l", cfg)
    run = load_run(tmp_path / "l")
    assert isinstance(run.model, LightGCN)
    ei = run.model.edge_index.numpy()
    it = run.dataset.interactions
    train = run.artifacts.split.mask(TRAIN)
    nu = run.dataset.num_users
    seen = set(zip(ei[0].tolist(), ei[1].tolist(), strict=True))
    held = set(zip(it.user[~train].tolist(), (it.video[~train] + nu).tolist(), strict=True))
    assert seen.isdisjoint(held)
    assert ei.shape[1] == 2 * int(train.sum())


def test_bprmf_l2_covers_batch_only() -> None:
    m = BPRMF(5, 7)
    terms = list(m.l2_terms(torch.tensor([0, 1]), torch.tensor([3])))
    assert [t.shape[0] for t in terms] == [2, 1]
    with torch.no_grad():
        assert np.isclose(float(m.score(*m.embed(torch.tensor([0]), torch.tensor([0])))),
                          float(m.user.weight[0] @ m.video.weight[0]))


def test_unknown_model_name() -> None:
    with pytest.raises(Exception, match="unknown model 'mystery'"):
        resolve(RunConfig, None, ["model_name=mystery"])


def test_pop_ranks_by_training_popularity(data_dir: Path, tmp_path: Path, pop_val: float) -> None:
    cfg = resolve(RunConfig, None, ["model_name=pop", "graph.codewords=8", "sampler.num_collect=40"])
    metrics = train_run(data_dir, tmp_path / "p", cfg)
    run = load_run(tmp_path / "p")
    it, train = run.dataset.interactions, run.artifacts.split.mask(TRAIN)
    counts = np.bincount(it.video[train], minlength=run.dataset.num_videos)
    _, ev = run.model.all_embeddings()
    order = torch.argsort(ev[:, 0], descending=True, stable=True).numpy()
    assert np.all(np.diff(counts[order]) <= 0)  # most interacted first; held-out interactions not counted
    assert 0.0 < pop_val < 1.0 and 0.5 < metrics["sampled"]["auc"] < 1.0
    assert not list(run.model.parameters())
