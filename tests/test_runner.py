"""End-to-end runs: learning, exact resume, evaluation/recommendation and every bad-input case of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hhfan.cli import app
from hhfan.config import resolve
from hhfan.data.io import write_dataset
from hhfan.data.synth import SynthConfig, generate
from hhfan.runner import RunConfig, evaluate_run, load_run, read_config, recommend, train_run

FAST = ["model.dim=16", "train.batch_size=1024", "train.lr=0.01", "graph.codewords=16", "sampler.num_collect=80"]


@pytest.fixture(scope="module")
def data_dir(synthetic_world: Path) -> Path:
    return synthetic_world


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("r") / "run"
    train_run(data_dir, run, resolve(RunConfig, None, [*FAST, "train.epochs=6"]))
    return run


def test_training_lifts_validation_ndcg_well_above_random(trained: Path) -> None:
    import torch

    from hhfan.data.split import VAL
    from hhfan.eval.protocols import EvalConfig, evaluate

    log = [json.loads(line) for line in (trained / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 6
    best = max(r["val"]["ndcg@20"] for r in log)
    run = load_run(trained)
    torch.manual_seed(0)
    rand = evaluate(torch.randn(run.dataset.num_users, 16), torch.randn(run.dataset.num_videos, 16), run.dataset,
                    run.artifacts.split, part=VAL, config=EvalConfig(protocol="full"))["full"]["ndcg@20"]
    assert best > 3 * rand, (best, rand)
    assert best > log[0]["val"]["ndcg@20"]
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(metrics) == {"sampled", "full"}
    assert {f"{m}@{k}" for m in ("precision", "recall", "ndcg") for k in range(1, 21)} <= set(metrics["full"])
    assert metrics["sampled"]["auc"] > 0.75


@pytest.mark.parametrize("walks", [[], ["train.tau=3", "train.walk_positives=3"]], ids=["observed", "tau-walks"])
def test_resume_equals_uninterrupted(data_dir: Path, tmp_path: Path, walks: list[str]) -> None:
    # with tau-walk positives too: they are redrawn every epoch from (seed, epoch), so a resumed run redraws them
    cfg = resolve(RunConfig, None, [*FAST, *walks, "train.epochs=4"])
    full = train_run(data_dir, tmp_path / "full", cfg)

    class KilledError(Exception):
        pass

    def kill_after_two(rec: object) -> None:
        if rec.epoch == 1:  # type: ignore[attr-defined]
            raise KilledError

    with pytest.raises(KilledError):
        train_run(data_dir, tmp_path / "part", cfg, on_epoch=kill_after_two)
    assert not (tmp_path / "part" / "metrics.json").exists()
    other_threads = resolve(RunConfig, None, [*FAST, *walks, "train.epochs=4", "train.num_threads=1"])
    resumed = train_run(data_dir, tmp_path / "part", other_threads, resume=True)  # where it runs may change
    assert resumed == full
    assert read_config(tmp_path / "part")[0] == other_threads
    log = (tmp_path / "part" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in log] == [0, 1, 2, 3]
    with pytest.raises(Exception, match="different config"):
        train_run(data_dir, tmp_path / "part",
                  resolve(RunConfig, None, [*FAST, *walks, "train.epochs=4", "train.lr=0.02"]), resume=True)
    with pytest.raises(Exception, match="different config"):  # a lower cap is not a continuation
        train_run(data_dir, tmp_path / "part", resolve(RunConfig, None, [*FAST, *walks, "train.epochs=3"]),
                  resume=True)
    if walks:  # the walk positives do reach training: another run than the one on observed positives only
        plain = train_run(data_dir, tmp_path / "plain", resolve(RunConfig, None, [*FAST, "train.epochs=4"]))
        assert plain != full


def test_a_finished_run_extended_to_a_higher_cap_equals_a_run_with_that_cap(data_dir: Path, tmp_path: Path) -> None:
    from hhfan.runner import extends

    cfg3, cfg5 = (resolve(RunConfig, None, [*FAST, "train.patience=9", f"train.epochs={n}"]) for n in (3, 5))
    assert extends(cfg3, cfg5) and not extends(cfg5, cfg3) and not extends(cfg3, cfg3)
    assert not extends(cfg3, resolve(RunConfig, None, [*FAST, "train.patience=8", "train.epochs=5"]))
    full = train_run(data_dir, tmp_path / "full", cfg5)
    short = train_run(data_dir, tmp_path / "ext", cfg3)
    extended = train_run(data_dir, tmp_path / "ext", cfg5, resume=True)
    assert extended == full and extended != short
    assert read_config(tmp_path / "ext")[0] == cfg5
    log = [json.loads(x) for x in (tmp_path / "ext" / "train_log.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2, 3, 4]
    assert [r["val"] for r in log] == [r["val"] for r in ref] and [r["loss"] for r in log] == [r["loss"] for r in ref]


def test_evaluate_and_recommend(trained: Path) -> None:
    run = load_run(trained)
    again = evaluate_run(run)
    assert again == json.loads((trained / "metrics.json").read_text())
    rec = recommend(run, "u3", k=7)
    assert len(rec["recommendations"]) == 7
    assert abs(sum(rec["neighbor_attention"].values()) - 1) < 1e-5
    seen = set(run.dataset.video_ids[run.dataset.interactions.video[
        (run.dataset.interactions.user == 3) & (run.artifacts.split.part == 0)]].tolist())
    assert seen.isdisjoint(r["video"] for r in rec["recommendations"])


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def test_cli_evaluate_dump_and_recommend(trained: Path, tmp_path: Path) -> None:
    code, out = _cli("evaluate", "--run", str(trained), "--protocol", "full", "--dump-rankings",
                     str(tmp_path / "r.jsonl"))
    assert code == 0, out
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert rows and len(rows[0]["ranked"]) == 100 and rows[0]["test"]
    code, out = _cli("recommend", "--run", str(trained), "--user", "u1", "-k", "3")
    assert code == 0 and "neighbour attention" in out


def test_cli_bad_inputs(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    code, out = _cli("recommend", "--run", str(trained), "--user", "nobody")
    assert code == 1 and "unknown user id 'nobody'" in out and "Traceback" not in out
    other = write_dataset(generate(SynthConfig(num_users=50, num_videos=100, seed=9)), tmp_path / "other")
    code, out = _cli("evaluate", "--run", str(trained), "--data", str(other))
    assert code == 1 and "fingerprint mismatch" in out
    code, out = _cli("train", "--data", str(data_dir), "--out", str(tmp_path / "x"), "--set", "train.epochz=3")
    assert code == 2 and "did you mean 'train.epochs'" in out
    code, out = _cli("train", "--data", str(data_dir), "--out", str(tmp_path / "y"), "--set", "model.dim=big")
    assert code == 2 and "model.dim: expected int" in out
    code, out = _cli("train", "--data", str(data_dir), "--out", str(trained))
    assert code == 1 and "different config" in out and "--overwrite" in out
    code, out = _cli("train", "--data", str(data_dir), "--out", str(tmp_path / "z"), "--model", "nope")
    assert code == 2 and "unknown model 'nope'" in out
    import torch

    if not torch.cuda.is_available():
        code, out = _cli("train", "--data", str(data_dir), "--out", str(tmp_path / "g"), "--device", "cuda")
        assert code == 1 and "no CUDA device" in out


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_checkpoint(trained: Path, tmp_path: Path, damage: str) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    best = run / "best.pt"
    data = best.read_bytes()
    best.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a checkpoint" * 10)
    code, out = _cli("evaluate", "--run", str(run))
    assert code == 1 and "corrupt or truncated checkpoint" in out, out


def test_recommend_embeddings_are_deterministic(trained: Path) -> None:
    a = load_run(trained).model.all_embeddings()[0]
    b = load_run(trained).model.all_embeddings()[0]
    assert np.array_equal(a.numpy(), b.numpy())


def test_pretrained_inputs_need_the_same_split(data_dir: Path, tmp_path: Path) -> None:
    mf = tmp_path / "mf"
    train_run(data_dir, mf, resolve(RunConfig, None, ["model_name=bprmf", "model.dim=8", "train.epochs=1",
                                                     "graph.codewords=8", "sampler.num_collect=40"]))
    cfg = resolve(RunConfig, None, [*FAST, "train.epochs=1", f"model.pretrained_run={mf}"])
    train_run(data_dir, tmp_path / "h", cfg)
    run = load_run(tmp_path / "h")
    assert run.model.transform["user"].x.shape == (run.dataset.num_users, 8)  # type: ignore[union-attr]
    other = resolve(RunConfig, None, [*FAST, "train.epochs=1", "split.seed=7", f"model.pretrained_run={mf}"])
    with pytest.raises(Exception, match="different split"):
        train_run(data_dir, tmp_path / "h2", other)
