"""DropoutNet, the cold-start baseline: inputs, dropout, new videos, and a cold-start run against most-popular."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hhfan.baselines.dropoutnet import DropoutNet, DropoutNetConfig, multi_hot, preference_inputs
from hhfan.config import resolve
from hhfan.data.split import TRAIN, SplitConfig
from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.artifacts import GraphBuildConfig, build_artifacts
from hhfan.graph.mhig import GraphConfig
from hhfan.graph.sampler import SamplerConfig
from hhfan.model.inputs import NewVideoInputs, video_content
from hhfan.model.registry import BuildContext, build
from hhfan.runner import RunConfig, load_run, train_run

FAST = ["train.batch_size=1024", "train.lr=0.01", "graph.codewords=16", "sampler.num_collect=80", "split.kind=cold"]


def test_preference_inputs_are_standardised_and_zero_without_interactions() -> None:
    rng = np.random.default_rng(0)
    user, video = rng.integers(0, 30, 300), rng.integers(0, 40, 300)
    keep = video < 35  # videos 35..39 have no interaction
    u, v = preference_inputs(user[keep], video[keep], 30, 40, rank=8, iters=4, seed=0)
    assert u.shape == (30, 8) and v.shape == (40, 8)
    assert np.all(v[35:] == 0)
    seen = np.unique(video[keep])
    assert np.allclose(v[seen].mean(0), 0, atol=1e-4) and np.all(np.abs(v) <= 5)
    again = preference_inputs(user[keep], video[keep], 30, 40, rank=8, iters=4, seed=0)
    assert np.array_equal(again[1], v)
    assert multi_hot(np.array([[0, 1], [0, 2], [1, 0]]), 2, 3).tolist() == [[0, 0.5, 0.5], [1, 0, 0]]


@pytest.fixture(scope="module")
def model_and_context() -> tuple[DropoutNet, BuildContext]:
    ds = generate(SynthConfig(num_users=40, num_videos=80, mean_interactions=8, seed=6))
    art = build_artifacts(ds, GraphBuildConfig(SplitConfig(kind="cold", seed=1), GraphConfig(codewords=8),
                                               SamplerConfig(num_collect=40)))
    ctx = BuildContext(ds, art, DropoutNetConfig(dim=8, hidden=(16,)), 0)
    torch.manual_seed(0)
    model = build("dropoutnet", ctx)
    assert isinstance(model, DropoutNet)
    return model, ctx


def test_item_dropout_zeroes_preference_inputs_only_in_training(model_and_context: tuple[DropoutNet, BuildContext]
                                                                ) -> None:
    model, ctx = model_and_context
    cold = ctx.artifacts.split.cold_videos
    assert torch.all(model.video_pref[torch.as_tensor(cold)] == 0)  # cold videos: the dropout input
    warm = torch.as_tensor(np.unique(ctx.train_video))  # videos with a training interaction
    assert not np.isin(warm.numpy(), cold).any()
    assert model.video_pref[warm].abs().sum(1).min() > 0
    model.train()
    torch.manual_seed(0)
    kept = model._dropped(model.video_pref[warm], 0.5).abs().sum(1) > 0
    assert 0.3 < kept.float().mean() < 0.7
    model.eval()
    assert torch.equal(model._dropped(model.video_pref[warm], 0.5), model.video_pref[warm])


def test_a_new_video_gets_the_embedding_of_the_held_out_video(model_and_context: tuple[DropoutNet, BuildContext]
                                                            ) -> None:
    model, ctx = model_and_context
    model.eval()
    ds, g = ctx.dataset, ctx.artifacts.graph
    c = int(ctx.artifacts.split.cold_videos[0])
    feats = video_content(ds)
    assert feats is not None
    tags = g.edges_between("video", "tag")
    new = NewVideoInputs(1, torch.from_numpy(feats[c : c + 1]), {"tag": [torch.from_numpy(tags[tags[:, 0] == c, 1])]},
                         {}, {})
    with torch.no_grad():
        held = model.embed(torch.tensor([0]), torch.tensor([c]))[1]
        assert torch.allclose(model.embed_new_videos(new), held, atol=1e-6)


@pytest.mark.parametrize("epochs", [3])
def test_cold_start_run_beats_pop_on_cold_validation(synthetic_world: Path, tmp_path: Path, epochs: int) -> None:
    best: dict[str, float] = {}
    metrics: dict[str, dict[str, dict[str, object]]] = {}
    for name, extra in (("pop", []), ("dropoutnet", ["model.dim=16"]), ("bprmf", ["model.dim=16"])):
        cfg = resolve(RunConfig, None, [*FAST, *extra, f"train.epochs={epochs}", f"model_name={name}"])
        metrics[name] = train_run(synthetic_world, tmp_path / name, cfg)
        log = [json.loads(line) for line in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
        best[name] = max(r["val"]["ndcg@20"] for r in log)
        assert json.loads((tmp_path / name / "metrics.json").read_text()) == metrics[name]
    assert best["dropoutnet"] > 1.5 * best["pop"], best  # cold validation: pop ties every cold video (one seeded order)
    assert metrics["dropoutnet"]["cold"]["ndcg@20"] > 1.5 * metrics["pop"]["cold"]["ndcg@20"]  # type: ignore[operator]
    for name in ("pop", "dropoutnet"):
        assert set(metrics[name]) == {"sampled", "full", "cold", "warm", "hybrid"}
        assert isinstance(metrics[name]["cold"]["how"], str)
    assert metrics["dropoutnet"]["hybrid"] == pytest.approx(metrics["dropoutnet"]["full"])  # no ties: the same ranking
    # BPR-MF cannot score a video without interactions: listed as such, its warm figures kept
    for section in ("cold", "hybrid", "sampled", "full"):
        assert "cannot score" in str(metrics["bprmf"][section]["cannot_score"])
    assert 0 < float(metrics["bprmf"]["warm"]["ndcg@20"]) < 1  # type: ignore[arg-type]
    run = load_run(tmp_path / "bprmf")
    assert run.artifacts.split.is_cold
    train = run.artifacts.split.mask(TRAIN)
    assert not np.isin(run.dataset.interactions.video[train], run.artifacts.split.cold_videos).any()


def test_cold_video_id_rows_stay_zero_through_training(synthetic_world: Path, tmp_path: Path) -> None:
    cfg = resolve(RunConfig, None, [*FAST, "model.dim=16", "train.epochs=2", "model_name=fm"])
    train_run(synthetic_world, tmp_path / "fm", cfg)
    run = load_run(tmp_path / "fm")
    cold = torch.as_tensor(run.artifacts.split.cold_videos)
    rows = list(run.model.video_id_rows())
    assert len(rows) == 2
    for table, offset in rows:
        assert torch.all(table[cold + offset] == 0)
        warm = torch.ones(run.dataset.num_videos, dtype=torch.bool)
        warm[cold] = False
        assert table[torch.nonzero(warm)[:, 0] + offset].abs().sum() > 0


def test_hhfan_cl_scores_cold_videos_from_its_heterogeneous_view(synthetic_world: Path, tmp_path: Path) -> None:
    cfg = resolve(RunConfig, None, [*FAST, "model.dim=16", "train.epochs=2", "model_name=hhfan-cl",
                                    "model.distill=true"])
    metrics = train_run(synthetic_world, tmp_path / "cl", cfg)
    assert set(metrics) == {"sampled", "full", "cold", "warm", "hybrid"}
    assert 0 < float(metrics["cold"]["ndcg@20"]) < 1 and isinstance(metrics["cold"]["how"], str)  # type: ignore[arg-type]
    run = load_run(tmp_path / "cl")
    cold = torch.as_tensor(run.artifacts.split.cold_videos)
    (table, offset), = run.model.video_id_rows()
    assert torch.all(table[cold + offset] == 0)  # no id learned for a cold video
    _, ev = run.model.all_embeddings()
    assert float(ev[cold].abs().sum()) > 0  # γ h(v): the heterogeneous view embeds it anyway
