"""The CUDA path: every model's loss, gradients and embeddings on the GPU match the CPU's; training, resuming
and the CLI run there, and a GPU-trained run evaluates the same on the CPU.

Skipped without a CUDA device (CI has none). ``HHFAN_TEST_DEVICE=cpu pytest tests/test_cuda.py`` runs the
same checks CPU-against-CPU, to exercise this file on a machine without one.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from hhfan.config import resolve
from hhfan.data.dataset import Dataset
from hhfan.data.io import read_dataset
from hhfan.data.split import TRAIN, VAL
from hhfan.eval.protocols import EvalConfig, evaluate
from hhfan.graph.artifacts import GraphArtifacts, build_artifacts
from hhfan.model.registry import spec
from hhfan.runner import MODELS, RunConfig, build_model, evaluate_run, load_run, train_run
from hhfan.train.trainer import bpr_loss
from tests.baselines.conftest import TINY

DEVICE = os.environ.get("HHFAN_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(),
                                                  reason="needs a CUDA device")]


def _cfg(model: str, *extra: str) -> RunConfig:
    dim = ["model.dim=16"] if "dim" in {f.name for f in fields(spec(model).config_class())} else []
    return resolve(RunConfig, None, [f"model_name={model}", *dim, *TINY, *extra])


def _batch(ds: Dataset, art: GraphArtifacts, n: int = 512) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` training triples (user, observed video, random video), fixed by seed."""
    it = ds.interactions
    rng = np.random.default_rng(0)
    rows = rng.choice(np.flatnonzero(art.split.mask(TRAIN)), size=n)
    neg = rng.integers(0, ds.num_videos, size=n)
    return (torch.as_tensor(it.user[rows], dtype=torch.int64), torch.as_tensor(it.video[rows], dtype=torch.int64),
            torch.as_tensor(neg, dtype=torch.int64))


@pytest.mark.parametrize("model_name", MODELS)
def test_loss_gradients_and_embeddings_match_the_cpu(model_name: str, synthetic_world: Path) -> None:
    ds = read_dataset(synthetic_world)
    cfg = _cfg(model_name)
    art = build_artifacts(ds, cfg.build_config())
    cpu = build_model(cfg, ds, art, "cpu").eval()  # eval: dropout off, so both sides compute the same function
    dev = copy.deepcopy(cpu).to(DEVICE)
    assert all(t.device.type == torch.device(DEVICE).type for t in [*dev.parameters(), *dev.buffers()])
    u, p, n = _batch(ds, art)
    loss_c, _ = bpr_loss(cpu, u, p, n, 1e-4)
    # cuDNN's LSTM has no backward in eval mode (HHFAN, HetGNN): PyTorch's own CUDA kernels here; cuDNN's
    # training path is run by the training test below
    with torch.backends.cudnn.flags(enabled=False):
        loss_d, _ = bpr_loss(dev, u.to(DEVICE), p.to(DEVICE), n.to(DEVICE), 1e-4)
    assert torch.isfinite(loss_d)
    torch.testing.assert_close(loss_d.cpu(), loss_c, rtol=1e-4, atol=1e-5)
    if loss_c.requires_grad:  # most-popular has nothing to train
        loss_c.backward()
        with torch.backends.cudnn.flags(enabled=False):
            loss_d.backward()
        for (name, pc), pd in zip(cpu.named_parameters(), dev.parameters(), strict=True):
            if pc.grad is None:
                assert pd.grad is None, name
                continue
            assert pd.grad is not None, name
            torch.testing.assert_close(pd.grad.cpu().to_dense(), pc.grad.to_dense(), rtol=1e-3, atol=1e-5,
                                       msg=lambda m, name=name: f"{model_name} {name}: {m}")
    eu_c, ev_c = cpu.all_embeddings()
    eu_d, ev_d = dev.all_embeddings()
    torch.testing.assert_close(eu_d.cpu(), eu_c, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ev_d.cpu(), ev_c, rtol=1e-4, atol=1e-4)
    ecfg = EvalConfig(protocol="both")
    on_cpu = evaluate(eu_c, ev_c, ds, art.split, part=VAL, config=ecfg, scorer=cpu.score_matrix)
    on_dev = evaluate(eu_d, ev_d, ds, art.split, part=VAL, config=ecfg, scorer=dev.score_matrix)
    for protocol, metrics in on_cpu.items():
        for k, v in metrics.items():
            assert on_dev[protocol][k] == pytest.approx(v, abs=2e-3), (model_name, protocol, k)


@pytest.mark.parametrize("model_name", ["hhfan", "lightgcn", "hetgnn"])
def test_train_and_resume_on_the_device_then_evaluate_on_the_cpu(model_name: str, synthetic_world: Path,
                                                                  tmp_path: Path) -> None:
    run = tmp_path / model_name
    metrics = train_run(synthetic_world, run, _cfg(model_name, f"train.device={DEVICE}", "train.epochs=2"))
    metrics = train_run(synthetic_world, run, _cfg(model_name, f"train.device={DEVICE}", "train.epochs=3"),
                        resume=True)
    log = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert all(np.isfinite(r["loss"]) for r in log)
    on_cpu = evaluate_run(load_run(run, device="cpu"))
    on_dev = evaluate_run(load_run(run, device=DEVICE))
    for protocol, m in metrics.items():
        for k, v in m.items():
            assert on_cpu[protocol][k] == pytest.approx(v, abs=1e-9), (protocol, k)
            assert on_dev[protocol][k] == pytest.approx(v, abs=2e-3), (protocol, k)


def test_cli_trains_on_the_device(synthetic_world: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hhfan.cli import app

    out = tmp_path / "cli"
    sets = [x for s in ("train.epochs=1", "model.dim=16", *TINY) for x in ("--set", s)]
    res = CliRunner().invoke(app, ["train", "--data", str(synthetic_world), "--out", str(out), "--device", DEVICE,
                                   *sets])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["full"]["ndcg@20"] >= 0


def test_a_cpu_run_continues_on_the_device(synthetic_world: Path, tmp_path: Path) -> None:
    run = tmp_path / "moved"
    train_run(synthetic_world, run, _cfg("lightgcn", "train.epochs=2"))
    train_run(synthetic_world, run, _cfg("lightgcn", f"train.device={DEVICE}", "train.epochs=3"), resume=True)
    log = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2] and np.isfinite(log[-1]["loss"])
    assert load_run(run).config.train.device == DEVICE
