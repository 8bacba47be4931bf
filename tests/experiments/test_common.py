"""The shared experiment machinery: seeds, run directories shared by equal configs, the --out guard, compute."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hhfan.data.outputs import MARKER, OutputError
from hhfan.experiments.common import (
    Cell,
    cell_config,
    compute,
    machine,
    parse_rates,
    parse_seeds,
    prepare,
    prepare_out,
    rate_overrides,
    run_dir_of,
)
from tests.experiments.conftest import TINY, Done, tiny_setting


def test_parse_seeds() -> None:
    assert parse_seeds("3") == {"*": 3}
    assert parse_seeds("1,hhfan=3,lightgcn=2") == {"*": 1, "hhfan": 3, "lightgcn": 2}
    for bad, msg in (("0", ">= 1"), ("x", "N or N,model=N"), ("1,nope=2", "unknown model 'nope'"),
                     ("1,hhfan=0", ">= 1")):
        with pytest.raises(ValueError, match=msg):
            parse_seeds(bad)


def test_parse_rates() -> None:
    assert parse_rates("0.8") == (0.8,)
    assert parse_rates(" 0.8, 0.6,0.4 ") == (0.8, 0.6, 0.4)
    for bad, msg in (("", "comma-separated training rates"), ("0.8,x", "comma-separated training rates"),
                     ("1.0", "between 0 and 1"), ("0", "between 0 and 1"), ("0.8,0.8", "given twice")):
        with pytest.raises(ValueError, match=msg):
            parse_rates(bad)


def test_seeds_per_model(tmp_path: Path) -> None:
    s = tiny_setting(tmp_path / "o", seeds={"*": 1, "hhfan": 3})
    assert s.seeds_for("hhfan") == [0, 1, 2] and s.seeds_for("pop") == [0]


def test_rate_is_the_papers_random_holdout(tmp_path: Path) -> None:
    s = tiny_setting(tmp_path / "o", configs=tmp_path)
    (tmp_path / "pop.yaml").write_text("model_name: pop\nsplit:\n  kind: predefined\n  val_rate: 0.0\n")
    cfg = cell_config(s, Cell("pop", 2, 0.6))
    assert (cfg.split.kind, cfg.split.training_rate, cfg.split.val_rate, cfg.split.seed) == ("random", 0.6, 0.1, 2)
    assert (cfg.train.seed, cfg.graph.seed, cfg.sampler.seed) == (2, 2, 2)
    assert rate_overrides(0.4) == ["split.kind=random", "split.training_rate=0.4", "split.val_rate=0.1"]


def test_quick_dim_only_for_models_that_have_one(tmp_path: Path) -> None:
    s = tiny_setting(tmp_path / "o")
    assert cell_config(s, Cell("hhfan", 0, 0.8)).model.dim == TINY.dim
    assert cell_config(s, Cell("pop", 0, 0.8)).train.epochs == 1  # pop has no model.dim: no error


def test_equal_configs_share_a_run_directory(tmp_path: Path) -> None:
    s = tiny_setting(tmp_path / "o")
    base = run_dir_of(s, Cell("hhfan", 0, 0.8))
    assert base == s.out / "runs" / "hhfan" / "rate0.8" / "base" / "seed0"
    same = Cell("hhfan", 0, 0.8, "depth=6", ("sampler.max_depth=6",))  # the default depth: the base run
    other = Cell("hhfan", 0, 0.8, "depth=2", ("sampler.max_depth=2",))
    assert run_dir_of(s, same) == base
    assert run_dir_of(s, other) == base.parent.parent / "depth=2" / "seed0"
    assert run_dir_of(s, Cell("hhfan", 0, 0.4)) != base


def test_out_guard(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not written by hhfan experiment"):
        prepare_out(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me" and not (foreign / MARKER).exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        prepare_out(tmp_path / "file")
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(OutputError, match="inside the input"):
        prepare_out(data / "exp", [data])
    prepare_out(tmp_path / "new")  # absent: created and marked, then resumed
    (tmp_path / "new" / "tables").mkdir()
    prepare_out(tmp_path / "new")
    assert json.loads((tmp_path / "new" / MARKER).read_text())["kind"] == "experiments"


def test_prepare_needs_data_or_quick(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--data DIR is required"):
        prepare(tmp_path / "o")
    with pytest.raises(ValueError, match="not both"):
        prepare(tmp_path / "o", data=tmp_path, quick=TINY)


def test_quick_world_is_written_once_and_reused(tmp_path: Path) -> None:
    s = tiny_setting(tmp_path / "o")
    stamp = (s.data / "interactions.csv").stat().st_mtime_ns
    s2 = tiny_setting(tmp_path / "o")
    assert s2.data == s.data and (s.data / "interactions.csv").stat().st_mtime_ns == stamp
    assert s.info["users"] == TINY.world.num_users and s.paper_dataset == "MLs"


def test_compute_and_machine_recorded(done: Done) -> None:
    doc = done.docs["tables"]
    c = doc["compute"]
    walls = {cell["run_dir"]: json.loads((done.out / cell["run_dir"] / "wall.json").read_text())["wall_seconds"]
             for cell in doc["cells"]}
    assert c["runs"] == len(walls) == len(doc["cells"]) and c["by_device"]["cpu"] == pytest.approx(sum(walls.values()))
    assert set(doc["machine"]) >= {"cpu_count", "torch_threads", "cuda"} and doc["machine"]["cpu_count"] >= 1
    assert machine()["cpus_usable"] >= 1
    assert compute([]) ["seconds"] == 0.0


def test_cells_in_parallel_processes_are_the_runs_trained_one_by_one(tmp_path: Path) -> None:
    from hhfan.experiments import tables
    from tests.experiments.conftest import tiny_setting

    ledger = tmp_path / "ledger"
    one = tables.run(tiny_setting(tmp_path / "one", models=("pop", "bprmf", "hhfan")), rates=(0.8,))
    seen: list[tuple[str, int, int]] = []
    two = tables.run(tiny_setting(tmp_path / "two", models=("pop", "bprmf", "hhfan"), workers=2, ledger=ledger),
                     progress=lambda what, done, total: seen.append((what, done, total)), rates=(0.8,))
    assert [c["metrics"] for c in two["cells"]] == [c["metrics"] for c in one["cells"]]
    assert all(c["trained_now"] for c in two["cells"]) and two["compute"]["trained_now"] == 3
    assert len(list(ledger.glob("*/*.json"))) == 3  # each recorded as it finished
    assert seen[0] == ("tables: 3 runs, 2 at a time", 0, 3) and seen[-1] == ("tables: done", 3, 3)
    assert sorted(w for w, _, _ in seen[1:-1]) == ["tables: finished bprmf rate 0.8 base seed 0",
                                                   "tables: finished hhfan rate 0.8 base seed 0",
                                                   "tables: finished pop rate 0.8 base seed 0"]
