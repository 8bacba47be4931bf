"""Runs that share a split share its graph: ``compare``/``tune`` build one graph per distinct build config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hhfan import runner
from hhfan.compare import compare
from hhfan.config import resolve
from hhfan.data.dataset import DatasetError
from hhfan.data.io import read_dataset, write_dataset
from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.artifacts import build_artifacts
from hhfan.runner import RunConfig, graph_key, load_run, train_run

QUICK = ["train.epochs=1", "train.num_threads=1", "graph.codewords=8", "sampler.num_collect=20", "eval.ks=[10,20]"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = generate(SynthConfig(num_users=60, num_videos=80, mean_interactions=10, seed=1))
    return write_dataset(ds, tmp_path_factory.mktemp("cache_world") / "data")


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every graph build_artifacts makes in the runner, by its build config."""
    made: list[Any] = []

    def counted(ds: Any, config: Any = None, **kw: Any) -> Any:
        made.append(config)
        return build_artifacts(ds, config, **kw)

    monkeypatch.setattr(runner, "build_artifacts", counted)
    return made


def test_models_of_one_seed_build_one_graph(world: Path, tmp_path: Path, builds: list[Any]) -> None:
    out = tmp_path / "out"
    compare(world, ["pop", "bprmf", "lightgcn"], [0], out, overrides=QUICK)
    assert len(builds) == 1
    entries = list((out / "graphs").iterdir())
    assert len(entries) == 1
    ds = read_dataset(world)
    cfg = resolve(RunConfig, None, [*QUICK, "train.seed=0", "split.seed=0", "graph.seed=0", "sampler.seed=0"])
    assert entries[0].name == graph_key(cfg, ds)
    for model in ("pop", "bprmf", "lightgcn"):
        run = out / "runs" / model / "seed0"
        for f in ("split.npz", "graph.npz", "neighbors.npz", "graph.json"):
            assert os.path.samefile(run / "graph" / f, entries[0] / f)  # one set of files, hard-linked
        assert (run / "graph" / ".hhfan-output").is_file()
        load_run(run)  # the run's own check of graph/ against its config passes
    compare(world, ["pop", "bprmf", "lightgcn"], [0], out, overrides=QUICK)  # finished: reused, nothing built
    assert len(builds) == 1


def test_other_settings_or_seeds_build_their_own(world: Path, tmp_path: Path, builds: list[Any]) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "bprmf.yaml").write_text("model_name: bprmf\nsampler:\n  max_steps_factor: 40\n")  # another sampler
    (configs / "lightgcn.yaml").write_text("model_name: lightgcn\ntrain:\n  lr: 0.01\n")  # the same graph
    compare(world, ["pop", "bprmf", "lightgcn"], [0, 1], tmp_path / "out", configs=configs, overrides=QUICK)
    assert len(builds) == 4  # per seed: one for pop and lightgcn, one for bprmf's sampler
    assert {(c.split.seed, c.sampler.max_steps_factor) for c in builds} == {(0, 50), (0, 40), (1, 50), (1, 40)}
    assert len(list((tmp_path / "out" / "graphs").iterdir())) == 4


def test_a_cached_graph_of_another_config_is_refused(world: Path, tmp_path: Path, builds: list[Any]) -> None:
    """The cache is an optimisation, never trusted: a run still checks its graph/ against its config."""
    ds = read_dataset(world)
    cfg = resolve(RunConfig, None, QUICK)
    other = resolve(RunConfig, None, [*QUICK, "graph.codewords=4"])
    build_artifacts(ds, other.build_config()).save(tmp_path / "graphs" / graph_key(cfg, ds))  # a wrong entry
    with pytest.raises(DatasetError, match="other split, graph or sampler settings"):
        train_run(world, tmp_path / "run", cfg, graph_cache=tmp_path / "graphs")
    assert builds == []


def test_experiment_cells_of_one_split_build_one_graph(world: Path, tmp_path: Path, builds: list[Any]) -> None:
    from hhfan.experiments.common import Cell, Setting, run_cells

    s = Setting(data=world, out=tmp_path / "exp", overrides=tuple(QUICK))
    cells = [Cell("pop", 0, 0.8), Cell("bprmf", 0, 0.8), Cell("lightgcn", 0, 0.8), Cell("bprmf", 0, 0.6)]
    results = run_cells(s, cells)
    assert len(builds) == 2  # one graph per training rate, shared by the three models at 0.8
    assert len(list((s.out / "graphs").iterdir())) == 2
    assert os.path.samefile(results[0].run_dir / "graph" / "split.npz", results[2].run_dir / "graph" / "split.npz")
    assert not os.path.samefile(results[1].run_dir / "graph" / "split.npz",
                                results[3].run_dir / "graph" / "split.npz")


def test_two_processes_building_one_shared_graph_both_succeed(world: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # parallel cells (`hhfan experiment --workers`): another process saves the same key while this one builds
    ds = read_dataset(world)
    cfg = resolve(RunConfig, overrides=QUICK)
    cache = tmp_path / "cache"
    entry = cache / graph_key(cfg, ds)

    def raced(ds_: Any, config: Any = None, **kw: Any) -> Any:
        art = build_artifacts(ds_, config, **kw)
        art.save(entry)  # the other process wins the race
        return art

    monkeypatch.setattr(runner, "build_artifacts", raced)
    assert runner.shared_graph(cache, ds, cfg, tmp_path / "run" / "graph") is False
    assert (tmp_path / "run" / "graph" / "neighbors.npz").is_file()
    assert sorted(p.name for p in cache.iterdir()) == [entry.name]  # no temporary left behind
