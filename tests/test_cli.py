"""CLI-level behaviour: outputs never destroy input, every bad input is one red line and the right exit code."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hhfan.cli import app
from hhfan.data.io import read_dataset, write_dataset
from hhfan.data.synth import SynthConfig, generate
from tests.conftest import tiny_dataset

FAST = ["model.dim=16", "train.batch_size=1024", "train.lr=0.01", "graph.codewords=16", "sampler.num_collect=80",
        "train.epochs=2"]


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def _one_error(out: str) -> str:
    """Besides progress bars and "·" notes, the output holds exactly one line, an error; return it."""
    lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("·") and "━" not in ln]
    assert "Traceback" not in out, out
    assert len(lines) == 1 and lines[0].startswith(("error:", "config error:")), out
    return lines[0]


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_dataset(tiny_dataset(), tmp_path / "parent" / "data")


@pytest.fixture(scope="module")
def odd_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small world whose first user id and video texts are full of Rich markup and emoji codes."""
    ds = generate(SynthConfig(num_users=80, num_videos=160, mean_interactions=15, seed=3))
    uids = ds.user_ids.copy()
    uids[0] = "[/u]"
    texts = np.array([f"[b]clip[/b] :smile: number {i}" for i in range(ds.num_videos)], dtype=object)
    ds = dataclasses.replace(ds, user_ids=uids, video_texts=texts)
    return write_dataset(ds, tmp_path_factory.mktemp("w") / "odd [/x] world")


@pytest.fixture(scope="module")
def odd_run(odd_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("r") / "run"
    code, out = _cli("train", "--data", odd_world, "--out", run, *[x for s in FAST for x in ("--set", s)])
    assert code == 0, out
    return run


# -------------------------------------------------------------------------------------- data loss
@pytest.mark.parametrize("where", ["same", "parent"])
def test_graph_build_never_replaces_its_input(data: Path, where: str) -> None:
    out = data if where == "same" else data.parent
    before = _tree(data.parent)
    code, text = _cli("graph", "build", "--data", data, "--out", out, "--overwrite")
    assert code == 1
    assert ("is the input" if where == "same" else "contains the input") in _one_error(text)
    assert _tree(data.parent) == before


def test_overwrite_never_replaces_a_folder_hhfan_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    for args in (["data", "synth", "--users", "50", "--videos", "100"],
                 ["graph", "build", "--data", str(write_dataset(tiny_dataset(), tmp_path / "d"))]):
        code, text = _cli(*args, "--out", mine, "--overwrite")
        assert code == 1 and "was not written by hhfan" in _one_error(text)
    assert _tree(mine) == {"notes.txt": b"keep"}


def test_data_import_refuses_an_output_inside_its_source(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    code, text = _cli("data", "import", "tiktok", "--source", src, "--out", src / "out")
    assert code == 1 and "lies inside the input" in _one_error(text)


def test_synth_overwrites_its_own_output(tmp_path: Path) -> None:
    out = tmp_path / "w"
    assert _cli("data", "synth", "--users", "40", "--videos", "80", "--out", out)[0] == 0
    code, text = _cli("data", "synth", "--users", "40", "--videos", "80", "--out", out)
    assert code == 1 and "pass --overwrite" in _one_error(text)
    assert _cli("data", "synth", "--users", "40", "--videos", "80", "--seed", "1", "--out", out, "--overwrite")[0] == 0


def test_stats_json_never_overwrites_without_overwrite(data: Path, tmp_path: Path) -> None:
    before = (data / "users.csv").read_bytes()
    code, text = _cli("data", "stats", data, "--json", data / "users.csv", "--overwrite")
    assert code == 1 and "lies inside the input" in _one_error(text)
    assert (data / "users.csv").read_bytes() == before
    target = tmp_path / "mine.json"
    target.write_text("precious")
    code, text = _cli("data", "stats", data, "--json", target)
    assert code == 1 and "pass --overwrite" in _one_error(text) and target.read_text() == "precious"
    (tmp_path / "folder").mkdir()
    code, text = _cli("data", "stats", data, "--json", tmp_path / "folder")
    assert code == 1 and "is a folder" in _one_error(text)
    code, text = _cli("data", "stats", data, "--json", tmp_path / "no" / "s.json")
    assert code == 1 and "does not exist; create it first" in _one_error(text)
    code, _ = _cli("data", "stats", data, "--json", target, "--overwrite")
    assert code == 0 and json.loads(target.read_text())["name"] == "tiny"


def test_quickstart_never_deletes_what_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    out.mkdir()
    (out / "run").mkdir()
    (out / "run" / "my-experiment.txt").write_text("keep")
    (out / "data").mkdir()
    (out / "data" / "users.csv").write_text("user_id\nme\n")
    before = _tree(out)
    code, text = _cli("quickstart", "--out", out, "--users", "60", "--videos", "120", "--epochs", "1")
    assert code == 1 and "was not written by hhfan quickstart" in _one_error(text)
    assert _tree(out) == before


def test_quickstart_reuses_its_own_outputs_and_refuses_foreign_ones(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--users", "60", "--videos", "120", "--epochs", "1"]
    code, text = _cli(*args)
    assert code == 0, text
    stamp = (out / "run" / "best.pt").stat().st_mtime_ns
    code, text = _cli(*args)
    assert code == 0 and "reusing the finished run" in text, text
    assert (out / "run" / "best.pt").stat().st_mtime_ns == stamp
    code, text = _cli(*args[:-1], "2")  # another config: its own run is replaced
    assert code == 0 and json.loads((out / "run" / "train_log.jsonl").read_text().splitlines()[-1])["epoch"] == 1
    (out / "thesis.tex").write_text("keep")
    code, text = _cli(*args)
    assert code == 1 and "thesis.tex, which quickstart did not write" in _one_error(text)


# ------------------------------------------------------------------------------ markup and wrapping
def test_markup_in_ids_paths_and_texts_is_shown_as_is(odd_world: Path, odd_run: Path) -> None:
    code, text = _cli("data", "validate", odd_world)
    assert code == 0 and f"{odd_world} is a valid hhfan dataset" in text
    code, text = _cli("recommend", "--run", odd_run, "--user", "[/u]", "-k", "3")
    assert code == 0, text
    assert "top 3 for user [/u]" in text and "[b]clip[/b] :smile: number" in text


def test_synth_into_a_bracketed_path(tmp_path: Path) -> None:
    out = tmp_path / "a [/x] b"
    code, text = _cli("data", "synth", "--users", "40", "--videos", "80", "--out", out)
    assert code == 0 and str(out) in text


def test_bracketed_hints_in_messages_are_kept(tmp_path: Path) -> None:
    (tmp_path / "tt").mkdir()
    code, text = _cli("data", "import", "tiktok", "--source", tmp_path / "tt", "--out", tmp_path / "o")
    assert code == 1 and "(float [num_videos, d])" in _one_error(text)


def test_a_long_error_is_one_line_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "missing-dataset"
    res = subprocess.run([sys.executable, "-m", "hhfan", "graph", "stats", str(deep)], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "80"})
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert len(res.stderr.strip()) > 80


# ------------------------------------------------------------------------------------- exit codes
def test_a_missing_config_file_is_a_configuration_error(data: Path, tmp_path: Path) -> None:
    code, text = _cli("graph", "build", "--data", data, "--out", tmp_path / "g", "--config", tmp_path / "nope.yaml")
    assert code == 2 and "nope.yaml does not exist" in _one_error(text)


@pytest.mark.parametrize(("pair", "match"), [
    ("sampler.k_per_type={user: [1", "invalid YAML"),
    ("train.val_metric=foo@20", "train.val_metric must be auc or NAME@K"),
    ("train.lr=.inf", "must be a finite number"),
])
def test_bad_sets_stop_before_any_work(data: Path, tmp_path: Path, pair: str, match: str) -> None:
    code, text = _cli("train", "--data", data, "--out", tmp_path / "r", "--set", pair)
    assert code == 2 and match in _one_error(text)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("k", ["0", "-1"])
def test_recommend_refuses_k_below_one(odd_run: Path, k: str) -> None:
    code, text = _cli("recommend", "--run", odd_run, "--user", "[/u]", "-k", k)
    assert code == 2 and f"-k must be at least 1, got {k}" in _one_error(text)


@pytest.mark.parametrize("value", ["inf", "nan", "0"])
def test_synth_refuses_a_non_finite_mean(tmp_path: Path, value: str) -> None:
    code, text = _cli("data", "synth", "--mean-interactions", value, "--out", tmp_path / "w")
    assert code == 2 and "mean_interactions must be a finite number > 0" in _one_error(text)
    assert not (tmp_path / "w").exists()


def test_train_out_an_existing_file(data: Path, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    code, text = _cli("train", "--data", data, "--out", f)
    assert code == 1 and "exists and is not a folder" in _one_error(text) and f.read_text() == "x"


def test_disk_full_during_synth_is_one_line_and_leaves_nothing(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    code, text = _cli("data", "synth", "--users", "40", "--videos", "80", "--out", tmp_path / "w")
    assert code == 1 and "no space left on the device" in _one_error(text)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704")])
def test_disk_full_during_train_is_one_line(odd_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            error: Exception) -> None:
    import hhfan.train.trainer as trainer

    def full(path: Path, payload: object) -> None:
        raise error

    monkeypatch.setattr(trainer, "save_checkpoint", full)
    code, text = _cli("train", "--data", odd_world, "--out", tmp_path / "r", *[x for s in FAST for x in ("--set", s)])
    assert code == 1 and ("no space left" in _one_error(text) or "disk is probably full" in _one_error(text))
    assert not [p for p in (tmp_path / "r").rglob(".*tmp*")]


def test_a_damaged_run_config_is_one_line(odd_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(odd_run, run)
    (run / "config.yaml").write_text("model: {dim: [16\n")
    code, text = _cli("evaluate", "--run", run)
    assert code == 1 and "invalid YAML" in _one_error(text)


# -------------------------------------------------------------------------------- evaluate output
def test_evaluate_prints_the_table_and_writes_everything_to_a_file(odd_run: Path, tmp_path: Path) -> None:
    code, text = _cli("evaluate", "--run", odd_run, "--protocol", "full")
    assert code == 0 and "test metrics" in text and "metrics.json" in text
    assert len(text.splitlines()) < 20 and '"ndcg@1"' not in text, text
    out = tmp_path / "m.json"
    code, text = _cli("evaluate", "--run", odd_run, "--protocol", "full", "--json", out)
    assert code == 0 and "ndcg@1" in json.loads(out.read_text())["full"]


def test_dump_rankings_never_overwrites_without_overwrite(odd_run: Path, odd_world: Path, tmp_path: Path) -> None:
    before = _tree(odd_world)
    code, text = _cli("evaluate", "--run", odd_run, "--dump-rankings", odd_world / "users.csv", "--overwrite")
    assert code == 1 and "lies inside the input" in _one_error(text) and _tree(odd_world) == before
    code, text = _cli("evaluate", "--run", odd_run, "--dump-rankings", odd_run / "metrics.json", "--overwrite")
    assert code == 1 and "lies inside the input" in _one_error(text)
    mine = tmp_path / "r.jsonl"
    mine.write_text("mine")
    code, text = _cli("evaluate", "--run", odd_run, "--dump-rankings", mine)
    assert code == 1 and "pass --overwrite" in _one_error(text) and mine.read_text() == "mine"
    code, text = _cli("evaluate", "--run", odd_run, "--dump-rankings", tmp_path)
    assert code == 1 and "is a folder" in _one_error(text)
    code, text = _cli("evaluate", "--run", odd_run, "--protocol", "full", "--dump-rankings", mine, "--overwrite")
    assert code == 0 and json.loads(mine.read_text().splitlines()[0])["ranked"]
    assert read_dataset(odd_world).num_users == 80


def test_torch_running_out_of_memory_is_one_line(odd_world: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import hhfan.runner as runner

    def oom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(runner, "build_model", oom)
    code, text = _cli("train", "--data", odd_world, "--out", tmp_path / "r", *[x for s in FAST for x in ("--set", s)])
    assert code == 1 and "ran out of memory" in _one_error(text)


def test_a_bad_option_value_is_one_usage_line_with_exit_2(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "hhfan", "data", "synth", "--users", "many", "--out",
                          str(tmp_path / "w")], capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("usage error: Invalid value for '--users'"), res.stderr
    assert lines[0].endswith("see hhfan data synth --help") or "--help" in lines[0]


def test_python_dash_m_hhfan_with_worker_processes(tmp_path: Path) -> None:
    # the parallel path in a real process, as a user runs it: spawned workers, one command's output
    world = write_dataset(generate(SynthConfig(num_users=40, num_videos=50, mean_interactions=8, seed=4)),
                          tmp_path / "world")
    cmd = [sys.executable, "-m", "hhfan", "compare", "--data", str(world), "--models", "pop,bprmf", "--seeds", "1",
           "--out", str(tmp_path / "out"), "--workers", "2", "--set", "train.epochs=1", "--set",
           "train.num_threads=1", "--set", "graph.codewords=4", "--set", "sampler.num_collect=20"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["models"] == ["pop", "bprmf"]
    assert res.stdout.count("done: ") == 1  # one command, not one per worker
