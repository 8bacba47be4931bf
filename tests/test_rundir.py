"""Run directories: a rerun continues from any stage, one trainer at a time, --overwrite only on hhfan's runs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hhfan import rundir
from hhfan.cli import app
from hhfan.config import resolve
from hhfan.data.dataset import DatasetError
from hhfan.data.io import read_dataset, write_dataset
from hhfan.data.outputs import OutputError
from hhfan.graph.artifacts import build_artifacts
from hhfan.runner import RunConfig, load_run, train_run, write_config

QUICK = ["model.dim=8", "train.batch_size=1024", "graph.codewords=8", "sampler.num_collect=40",
         "train.num_threads=1"]


def _cfg(*extra: str) -> RunConfig:
    return resolve(RunConfig, None, [*QUICK, "train.epochs=2", *extra])


@pytest.fixture(scope="module")
def finished(synthetic_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("fin") / "run"
    return run, train_run(synthetic_world, run, _cfg())


def test_a_run_killed_in_its_graph_stage_is_continued_by_the_same_command(
        synthetic_world: Path, tmp_path: Path, finished: tuple[Path, dict]) -> None:
    run = tmp_path / "run"
    rundir.prepare(run, synthetic_world)
    ds = read_dataset(synthetic_world)
    write_config(run, _cfg(), synthetic_world, ds.fingerprint())  # killed right after config.yaml
    assert train_run(synthetic_world, run, _cfg()) == finished[1]
    shutil.rmtree(run / "graph")  # killed during the graph stage (graph/ appears atomically, so: absent)
    for name in ("best.pt", "last.pt", "metrics.json", "train_log.jsonl"):
        (run / name).unlink()
    assert train_run(synthetic_world, run, _cfg()) == finished[1]
    log = [json.loads(x)["epoch"] for x in (run / "train_log.jsonl").read_text().splitlines()]
    assert log == [0, 1]


def test_a_finished_run_is_reused_and_a_killed_one_continued_without_resume(
        synthetic_world: Path, tmp_path: Path, finished: tuple[Path, dict]) -> None:
    run, metrics = finished
    assert train_run(synthetic_world, run, _cfg()) == metrics  # rerun: nothing retrained, same figures
    with pytest.raises(DatasetError, match="no run to resume"):
        train_run(synthetic_world, tmp_path / "empty", _cfg(), resume=True)


def test_a_second_trainer_in_the_same_run_directory_is_refused(synthetic_world: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    rundir.prepare(run, synthetic_world)
    with rundir.locked(run), pytest.raises(rundir.RunBusyError, match="being trained by process"):
        train_run(synthetic_world, run, _cfg())
    train_run(synthetic_world, run, _cfg())  # the lock is gone with its holder
    assert (run / "metrics.json").exists()


def test_overwrite_replaces_only_an_hhfan_run(synthetic_world: Path, tmp_path: Path,
                                             finished: tuple[Path, dict]) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished[0], run)
    with pytest.raises(DatasetError, match=r"different config.*--overwrite"):
        train_run(synthetic_world, run, _cfg("train.lr=0.01"))
    other = train_run(synthetic_world, run, _cfg("train.lr=0.01"), overwrite=True)
    assert other != finished[1] and load_run(run).config.train.lr == 0.01
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds no hhfan run"):
        train_run(synthetic_world, foreign, _cfg())
    with pytest.raises(OutputError, match="not written by hhfan"):
        train_run(synthetic_world, foreign, _cfg(), overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_evaluate_refuses_a_graph_rebuilt_with_another_split(synthetic_world: Path, tmp_path: Path,
                                                             finished: tuple[Path, dict]) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished[0], run)
    ds = read_dataset(synthetic_world)
    shutil.rmtree(run / "graph")
    build_artifacts(ds, _cfg("split.seed=7").build_config()).save(run / "graph")
    with pytest.raises(DatasetError, match="other split, graph or sampler settings"):
        load_run(run)
    res = CliRunner().invoke(app, ["evaluate", "--run", str(run)])
    assert res.exit_code == 1 and "other split" in res.output


def test_warnings_for_a_capped_best_epoch_and_an_ignored_predefined_split(synthetic_world: Path,
                                                                         tmp_path: Path) -> None:
    said: list[str] = []
    train_run(synthetic_world, tmp_path / "r", _cfg("train.epochs=2", "train.lr=0.01"), say=said.append)
    assert any("last one the cap allows" in s and "train.epochs=4" in s for s in said), said
    ds = read_dataset(synthetic_world)
    part = build_artifacts(ds, _cfg().build_config()).split.part.astype("int8")
    labelled = write_dataset(replace(ds, interactions=replace(ds.interactions, split=part)), tmp_path / "labelled")
    said.clear()
    train_run(labelled, tmp_path / "r2", _cfg("train.epochs=1"), say=said.append)
    assert any(s.startswith("warning:") and "split.kind=predefined" in s for s in said), said


def test_a_damaged_run_config_is_a_one_line_error(finished: tuple[Path, dict], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished[0], run)
    for text in ("- just\n- a list\n", "model_name: [unclosed\n", "data: /x\n"):
        (run / "config.yaml").write_text(text)
        with pytest.raises(DatasetError, match=r"config\.yaml"):
            load_run(run)


def test_val_metric_k_must_be_evaluated() -> None:
    from hhfan.config import ConfigError

    with pytest.raises(ConfigError, match=r"eval\.ks"):
        resolve(RunConfig, None, ["train.val_metric=ndcg@50"])
    assert resolve(RunConfig, None, ["train.val_metric=ndcg@50", "eval.ks=[10, 50]"]).train.val_metric == "ndcg@50"
