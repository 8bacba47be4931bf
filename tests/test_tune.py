"""``hhfan tune``: grid parsing, one trial per point chosen on validation only, reuse, preset writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hhfan.cli import app
from hhfan.compare import run_config
from hhfan.config import ConfigError
from hhfan.tune import TAG, grid_points, parse_grid, point_name, tune, write_preset

QUICK = ["train.epochs=2", "train.num_threads=1", "graph.codewords=8", "sampler.num_collect=40", "model.dim=8"]


def test_parse_grid_and_points() -> None:
    grid = parse_grid(["train.lr=0.001,0.01", "model.mlp=[8];[16,8]"])
    assert grid == {"train.lr": ["0.001", "0.01"], "model.mlp": ["[8]", "[16,8]"]}
    points = grid_points(grid)
    assert len(points) == 4 and points[0] == ("train.lr=0.001", "model.mlp=[8]")
    assert point_name(points[3]) == "train.lr=0.01__model.mlp=-16-8-"


@pytest.mark.parametrize("bad", [[], ["train.lr"], ["train.lr="], ["train.lr=1,1"], ["a=1", "a=2"]])
def test_parse_grid_refuses_bad_specs(bad: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse_grid(bad)


@pytest.fixture(scope="module")
def tuned(synthetic_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("tune")
    configs = root / "configs"
    configs.mkdir()
    (configs / "bprmf.yaml").write_text("# an earlier note\ntrain:\n  batch_size: 256\n  l2: 0.0\n")
    out = root / "out"
    doc = tune(synthetic_world, "bprmf", parse_grid(["train.lr=0.0001,0.05"]), out, configs, QUICK)
    return out, doc, configs


def test_tune_chooses_the_best_validation_score(tuned: tuple[Path, dict, Path]) -> None:
    out, doc, _ = tuned
    assert [t["point"] for t in doc["trials"]] == [["train.lr=0.0001"], ["train.lr=0.05"]]
    for t in doc["trials"]:
        log = [json.loads(x) for x in (out / "trials" / point_name(t["point"]) / "train_log.jsonl").read_text()
               .splitlines()]
        assert t["val"] == pytest.approx(max(r["val"]["ndcg@20"] for r in log)) and t["epochs"] == len(log)
    best = max(doc["trials"], key=lambda t: t["val"])
    assert doc["best"] == best["point"]
    assert doc["trials"][0]["val"] != doc["trials"][1]["val"]  # lr 1e-4 vs 0.05 over two epochs differ
    assert "(chosen)" in (out / "tune.md").read_text()
    cfg = yaml.safe_load((out / "trials" / point_name(doc["best"]) / "config.yaml").read_text())
    assert cfg["train"]["batch_size"] == 256  # the base preset is the starting point


def test_finished_trials_are_reused(tuned: tuple[Path, dict, Path], synthetic_world: Path) -> None:
    out, _, configs = tuned
    stamp = out / "trials" / "train.lr=0.05" / "wall.json"
    before = stamp.stat().st_mtime_ns
    tune(synthetic_world, "bprmf", parse_grid(["train.lr=0.0001,0.05"]), out, configs, QUICK)
    assert stamp.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="different config"):
        tune(synthetic_world, "bprmf", parse_grid(["train.lr=0.05"]), out, configs, [*QUICK, "train.l2=0.5"])


def test_written_preset_keeps_base_and_notes_and_is_loadable(tuned: tuple[Path, dict, Path], tmp_path: Path) -> None:
    _, doc, _ = tuned
    target = tmp_path / "bprmf.yaml"
    write_preset(doc, target, "hhfan tune ...")
    text = target.read_text()
    assert text.splitlines()[0].startswith(TAG) and "# an earlier note" in text and "train.lr=0.0001:" in text
    cfg = run_config("bprmf", 0, tmp_path, [])
    assert cfg.train.lr == float(doc["best"][0].split("=")[1]) and cfg.train.batch_size == 256
    assert cfg.train.epochs == 30  # search-time overrides (epochs=2) are not written into the preset
    write_preset(doc, target, "again")  # a search from the original base: one [tune] block, the note once
    again = target.read_text()
    assert again.count("# an earlier note") == 1 and again.count("by: ") == 1


def test_successive_searches_stack_their_headers(tuned: tuple[Path, dict, Path], tmp_path: Path) -> None:
    _, doc, _ = tuned
    target = tmp_path / "bprmf.yaml"
    write_preset(doc, target, "first search")
    second = {**doc, "base_preset": str(target)}  # the next search starts from the written preset
    write_preset(second, target, "second search")
    lines = target.read_text().splitlines()
    bys = [ln for ln in lines if ln.startswith(f"{TAG}by: ")]
    assert bys == [f"{TAG}by: second search", f"{TAG}by: first search"]
    assert lines.count("# an earlier note") == 1
    write_preset(second, target, "second search")  # rerunning a search replaces its own block
    assert [ln for ln in target.read_text().splitlines() if ln.startswith(f"{TAG}by: ")] == bys


def test_cli_tune(synthetic_world: Path, tmp_path: Path) -> None:
    sets = [x for q in QUICK for x in ("--set", q)]
    res = CliRunner().invoke(app, ["tune", "--data", str(synthetic_world), "--model", "bprmf", "--grid",
                                   "train.l2=0,0.001", "--out", str(tmp_path / "o"), "--write-preset",
                                   str(tmp_path / "p.yaml"), *sets])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "tune.json").exists() and "by: hhfan" in (tmp_path / "p.yaml").read_text()
    bad = CliRunner().invoke(app, ["tune", "--data", str(synthetic_world), "--model", "bprmf,pop", "--grid",
                                   "train.lr=1", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "one model" in bad.output
    res = CliRunner().invoke(app, ["tune", "--data", str(synthetic_world), "--model", "bprmf", "--grid",
                                   "train.l2=0,0.001", "--out", str(tmp_path / "o2"), *sets,
                                   "--ledger", str(tmp_path / "L")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "L" / "bprmf").glob("*.json"))) == 2


def test_write_preset_replaces_only_a_preset_of_the_tuned_model(tmp_path: Path) -> None:
    from hhfan.data.outputs import OutputError
    from hhfan.tune import check_preset_target

    check_preset_target(tmp_path / "new.yaml", "bprmf")  # a new file: fine
    ok = tmp_path / "bprmf.yaml"
    ok.write_text("model_name: bprmf\ntrain:\n  lr: 0.01\n")
    check_preset_target(ok, "bprmf")
    for text in ("model_name: lightgcn\n", "user_id,gender\nu1,f\n"):
        other = tmp_path / "other.yaml"
        other.write_text(text)
        with pytest.raises(OutputError, match="not a preset for bprmf"):
            check_preset_target(other, "bprmf")
        assert other.read_text() == text
    with pytest.raises(OutputError, match="does not exist"):
        check_preset_target(tmp_path / "missing" / "p.yaml", "bprmf")


def test_a_trial_in_the_ledger_is_scored_from_its_log(synthetic_world: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import hhfan.compare
    from hhfan.compare import compare

    ledger = tmp_path / "ledger"
    compare(synthetic_world, ["bprmf"], [0], tmp_path / "cmp", overrides=[*QUICK, "train.lr=0.05"], ledger=ledger)
    first = tune(synthetic_world, "bprmf", parse_grid(["train.lr=0.0001,0.05"]), tmp_path / "a", None, QUICK,
                 ledger=ledger)
    assert not (tmp_path / "a" / "trials" / "train.lr=0.05").exists()  # the comparison's run is that trial
    assert len(list((ledger / "bprmf").glob("*.json"))) == 2

    def train(*_a: object, **_k: object) -> None:
        raise AssertionError("every trial is in the ledger")

    monkeypatch.setattr(hhfan.compare, "train_run", train)
    again = tune(synthetic_world, "bprmf", parse_grid(["train.lr=0.0001,0.05"]), tmp_path / "b", None, QUICK,
                 ledger=ledger)
    assert again["trials"] == first["trials"] and again["best"] == first["best"]
