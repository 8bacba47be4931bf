"""``hhfan compare``: side-by-side runs, mean ± std tables, reuse of finished runs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hhfan.cli import app
from hhfan.compare import compare, parse_models, run_config

QUICK = ["train.epochs=2", "train.num_threads=1", "graph.codewords=8", "sampler.num_collect=40"]


@pytest.fixture(scope="module")
def compared(synthetic_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cmp") / "out"
    compare(synthetic_world, ["pop", "bprmf"], [0, 1], out, overrides=QUICK)
    return out


def test_compare_writes_mean_and_std_over_seeds(compared: Path) -> None:
    doc = json.loads((compared / "compare.json").read_text())
    assert doc["models"] == ["pop", "bprmf"] and doc["seeds"] == [0, 1]
    for model in ("pop", "bprmf"):
        res = doc["results"][model]
        per = [json.loads((compared / "runs" / model / f"seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
        for proto in ("sampled", "full"):
            vals = [m[proto]["ndcg@10"] for m in per]
            assert res["protocols"][proto]["ndcg@10"]["mean"] == pytest.approx(np.mean(vals))
            assert res["protocols"][proto]["ndcg@10"]["std"] == pytest.approx(np.std(vals))
        assert res["train_wall_seconds"]["mean"] > 0 and len(res["epochs"]) == 2
    md = (compared / "compare.md").read_text()
    assert "| Most-popular |" in md and "| BPR-MF |" in md and "full ndcg@20" in md


def test_seeds_share_splits_across_models(compared: Path) -> None:
    for s in (0, 1):
        a = np.load(compared / "runs" / "pop" / f"seed{s}" / "graph" / "split.npz")["part"]
        b = np.load(compared / "runs" / "bprmf" / f"seed{s}" / "graph" / "split.npz")["part"]
        assert np.array_equal(a, b)


def test_finished_runs_are_reused(compared: Path, synthetic_world: Path) -> None:
    wall = compared / "runs" / "bprmf" / "seed0" / "wall.json"
    before = wall.stat().st_mtime_ns
    compare(synthetic_world, ["bprmf"], [0], compared, overrides=QUICK)
    assert wall.stat().st_mtime_ns == before


def test_presets_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "bprmf.yaml").write_text("train:\n  lr: 0.05\n")
    cfg = run_config("bprmf", 3, tmp_path, ["train.epochs=4"])
    assert (cfg.model_name, cfg.train.lr, cfg.train.seed, cfg.split.seed, cfg.train.epochs) == ("bprmf", 0.05, 3, 3, 4)
    assert run_config("pop", 0, tmp_path, []).train.lr == 1e-3  # no preset: defaults


def test_bad_model_names() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        parse_models("hhfan,nope")
    with pytest.raises(ValueError, match="twice"):
        parse_models("pop,pop")


def test_cli_compare_errors(synthetic_world: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["compare", "--data", str(synthetic_world), "--models", "pop,mystery",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "unknown model" in res.output
    res = CliRunner().invoke(app, ["compare", "--data", str(synthetic_world), "--models", "pop", "--seeds", "0",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    (tmp_path / "file").write_text("x")
    res = CliRunner().invoke(app, ["compare", "--data", str(synthetic_world), "--models", "pop", "--out",
                                   str(tmp_path / "o"), "--ledger", str(tmp_path / "file")])
    assert res.exit_code == 1 and "not a directory" in res.output and "Traceback" not in res.output


def test_cli_compare_with_a_ledger(synthetic_world: Path, tmp_path: Path) -> None:
    sets = [x for q in QUICK for x in ("--set", q)]
    args = ["compare", "--data", str(synthetic_world), "--models", "pop", "--seeds", "1", *sets,
            "--ledger", str(tmp_path / "L")]
    assert CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")]).exit_code == 0
    assert len(list((tmp_path / "L" / "pop").glob("*.json"))) == 1
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0 and not (tmp_path / "b" / "runs").exists(), res.output


def test_fewer_seeds_for_costly_models(compared: Path, synthetic_world: Path) -> None:
    doc = compare(synthetic_world, ["pop", "bprmf"], {"pop": [0, 1], "bprmf": [0]}, compared, overrides=QUICK)
    assert doc["results"]["pop"]["seeds"] == [0, 1] and doc["results"]["bprmf"]["seeds"] == [0]
    assert doc["results"]["bprmf"]["protocols"]["full"]["ndcg@20"]["std"] == 0.0
    md = (compared / "compare.md").read_text()
    assert "| BPR-MF | 1 |" in md and "| Most-popular | 2 |" in md


def test_a_run_with_another_config_is_not_reused(compared: Path, synthetic_world: Path) -> None:
    with pytest.raises(ValueError, match="different config"):
        compare(synthetic_world, ["bprmf"], [0], compared, overrides=[*QUICK, "train.lr=0.5"])
    compare(synthetic_world, ["bprmf"], [0], compared, overrides=[*QUICK, "train.num_threads=2"])  # threads: same run


def test_a_higher_epoch_cap_continues_the_finished_runs(synthetic_world: Path, tmp_path: Path) -> None:
    short = [*QUICK, "train.patience=9"]
    longer = [*short, "train.epochs=3"]  # the later override wins
    compare(synthetic_world, ["bprmf"], [0], tmp_path / "ext", overrides=short)
    run = tmp_path / "ext" / "runs" / "bprmf" / "seed0"
    wall = json.loads((run / "wall.json").read_text())["wall_seconds"]
    doc = compare(synthetic_world, ["bprmf"], [0], tmp_path / "ext", overrides=longer)
    ref = compare(synthetic_world, ["bprmf"], [0], tmp_path / "fresh", overrides=longer)
    assert doc["results"]["bprmf"]["epochs"] == [3]
    assert doc["results"]["bprmf"]["protocols"] == ref["results"]["bprmf"]["protocols"]
    assert json.loads((run / "wall.json").read_text())["wall_seconds"] > wall
    with pytest.raises(ValueError, match="different config"):  # a lower cap is another config
        compare(synthetic_world, ["bprmf"], [0], tmp_path / "ext", overrides=short)


def test_compare_picks_up_a_run_killed_before_its_graph(synthetic_world: Path, tmp_path: Path) -> None:
    from hhfan import rundir
    from hhfan.data.io import read_dataset
    from hhfan.runner import write_config

    cfg = run_config("bprmf", 0, None, QUICK)
    run = tmp_path / "runs" / "bprmf" / "seed0"
    rundir.prepare(run, synthetic_world)
    write_config(run, cfg, synthetic_world, read_dataset(synthetic_world).fingerprint())  # killed here
    doc = compare(synthetic_world, ["bprmf"], [0], tmp_path, overrides=QUICK)
    assert doc["results"]["bprmf"]["epochs"] == [2] and (run / "metrics.json").exists()


def test_a_seed_varies_split_graph_and_sampler() -> None:
    cfg = run_config("hhfan", 2, None, [])
    assert (cfg.split.seed, cfg.graph.seed, cfg.sampler.seed, cfg.train.seed) == (2, 2, 2, 2)


def test_summary_keeps_notes_apart_and_skips_sections_some_seeds_lack() -> None:
    from hhfan.compare import RunRecord, markdown, summarise

    old = RunRecord("bprmf", 0, {"full": {"ndcg@20": 0.1, "recall@20": 0.2, "num_users": 5},
                                 "cold": {"cannot_score": "BPR-MF cannot score a video without interactions"}},
                    1.0, 2, 0.5)
    new = RunRecord("bprmf", 1, {"full": {"ndcg@20": 0.3, "recall@20": 0.4, "num_users": 5},
                                 "cold": {"cannot_score": "BPR-MF cannot score a video without interactions"},
                                 "cold_subset": {"ndcg@20": 0.05, "num_users": 2}}, 1.0, 2, 0.5)
    s = summarise([old, new])["bprmf"]
    assert s["protocols"]["full"]["ndcg@20"]["mean"] == pytest.approx(0.2)
    assert s["protocols"]["cold"] == {} and "cannot score" in s["notes"]["cold"]["cannot_score"]
    assert "cold_subset" not in s["protocols"]  # seed 0 finished before the section existed
    assert "| BPR-MF | 2 |" in markdown({"bprmf": s}, "t")


def _cold_record(model: str, seed: int, cold: dict[str, object]) -> object:
    """A finished cold-split run's record; ``hybrid`` mirrors ``cold`` (so a cannot-score model lacks both)."""
    from hhfan.compare import RunRecord

    return RunRecord(model, seed, {"full": {"ndcg@20": 0.2, "recall@20": 0.3}, "cold": cold,
                                   "warm": {"ndcg@20": 0.25, "recall@20": 0.35}, "hybrid": dict(cold)}, 1.0, 2, 0.5)


def test_cold_table_says_cannot_score_and_margins_compare_against_the_best_other_model() -> None:
    from hhfan.compare import COLD_SHOWN, RunRecord, margins, markdown, summarise

    recs = [_cold_record("hhfan", 0, {"ndcg@20": 0.06, "recall@20": 0.10}),
            _cold_record("hhfan", 1, {"ndcg@20": 0.04, "recall@20": 0.10}),
            _cold_record("fm", 0, {"ndcg@20": 0.04, "recall@20": 0.125}),
            _cold_record("pop", 0, {"ndcg@20": 0.02, "recall@20": 0.05}),
            _cold_record("bprmf", 0, {"cannot_score": "no content"})]
    s = summarise([r for r in recs if isinstance(r, RunRecord)])
    md = markdown(s, "t", COLD_SHOWN)
    row = next(x for x in md.splitlines() if x.startswith("| BPR-MF |"))
    assert row.count("cannot score") == 6 and "0.2500" in row  # cold and hybrid columns; warm still shown
    assert "| HHFAN | 2 | 0.1000 ± 0.0000 | 0.0500 ± 0.0100 |" in md
    m = margins(s, ["hhfan", "hhfan-hybrid"])
    assert set(m) == {"hhfan"}  # hhfan-hybrid did not run
    assert m["hhfan"]["ndcg@20"]["best_other"] == "fm" and m["hhfan"]["ndcg@20"]["relative"] == pytest.approx(0.25)
    assert m["hhfan"]["recall@20"]["best_other"] == "fm" and m["hhfan"]["recall@20"]["relative"] == pytest.approx(-0.2)
    assert m["hhfan"]["ndcg@20"]["seeds_ahead"] == [1, 1]  # paired on seed 0, the only seed fm ran
    assert m["hhfan"]["recall@20"]["seeds_ahead"] == [0, 1]


def test_runs_in_parallel_processes_match_the_runs_one_by_one(compared: Path, synthetic_world: Path,
                                                              tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    calls: list[tuple[str, int, int, int]] = []
    doc = compare(synthetic_world, ["pop", "bprmf"], [0, 1], tmp_path / "par", overrides=QUICK, ledger=ledger,
                  workers=2, on_run=lambda m, s, d, n: calls.append((m, s, d, n)))
    for model in ("pop", "bprmf"):  # the fixture's runs, trained one by one
        one = {str(s): json.loads((compared / "runs" / model / f"seed{s}" / "metrics.json").read_text())
               for s in (0, 1)}
        assert doc["results"][model]["per_seed"] == one
    assert len(list(ledger.glob("*/*.json"))) == 4
    assert sorted((m, s) for m, s, _, _ in calls) == [("bprmf", 0), ("bprmf", 1), ("pop", 0), ("pop", 1)]
    assert [d for _, _, d, _ in calls] == [1, 2, 3, 4]  # counted as each ends
    res = CliRunner().invoke(app, ["compare", "--data", str(synthetic_world), "--models", "pop", "--workers", "0",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "--workers must be >= 1" in res.output and "Traceback" not in res.output
