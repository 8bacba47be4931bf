"""The run ledger: a finished run recorded once, found again on a fresh machine, never mixed with another run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hhfan.compare import compare, run_config, sources_note
from hhfan.data.io import read_dataset
from hhfan.ledger import (
    LedgerEntry,
    LedgerError,
    entry_path,
    lookup,
    plain_config,
    read_entry,
    record,
    rekey,
    run_key,
)

QUICK = ["train.epochs=2", "train.num_threads=1", "graph.codewords=8", "sampler.num_collect=40"]


def test_a_recorded_run_is_taken_from_the_ledger_instead_of_trained(synthetic_world: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    first = compare(synthetic_world, ["pop", "bprmf"], [0, 1], tmp_path / "a", overrides=QUICK, ledger=ledger)
    assert len(list(ledger.glob("*/*.json"))) == 4
    shutil.rmtree(tmp_path / "a")  # a fresh machine: the run directories are gone, the ledger is committed
    again = compare(synthetic_world, ["pop", "bprmf"], [0, 1], tmp_path / "b", overrides=QUICK, ledger=ledger)
    assert not (tmp_path / "b" / "runs").exists()  # nothing trained
    for model in ("pop", "bprmf"):
        a, b = first["results"][model], again["results"][model]
        assert a["per_seed"] == b["per_seed"] and a["epochs"] == b["epochs"] and "sources" not in b
        assert a["train_wall_seconds"] == b["train_wall_seconds"]


def test_threads_do_not_change_the_key_but_a_setting_does(synthetic_world: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    compare(synthetic_world, ["bprmf"], [0], tmp_path / "a", overrides=QUICK, ledger=ledger)
    compare(synthetic_world, ["bprmf"], [0], tmp_path / "b", overrides=[*QUICK, "train.num_threads=2"], ledger=ledger)
    assert not (tmp_path / "b" / "runs").exists()  # same run on other threads: found
    compare(synthetic_world, ["bprmf"], [0], tmp_path / "c", overrides=[*QUICK, "train.lr=0.05"], ledger=ledger)
    assert (tmp_path / "c" / "runs" / "bprmf" / "seed0" / "metrics.json").exists()  # another run: trained
    assert len(list((ledger / "bprmf").glob("*.json"))) == 2
    c0, c1 = (plain_config(run_config("bprmf", s, None, QUICK)) for s in (0, 1))
    assert run_key(c0, "f") != run_key(c1, "f") and run_key(c0, "f") != run_key(c0, "g")


def test_a_run_on_other_data_is_another_entry(synthetic_world: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    compare(synthetic_world, ["pop"], [0], tmp_path / "a", overrides=QUICK, ledger=ledger)
    cfg = plain_config(run_config("pop", 0, None, QUICK))
    fp = read_dataset(synthetic_world).fingerprint()
    assert lookup(ledger, "pop", cfg, fp) is not None and lookup(ledger, "pop", cfg, "0" * 64) is None


def test_an_entry_keeps_its_first_figures_and_a_tampered_one_is_refused(tmp_path: Path) -> None:
    cfg = plain_config(run_config("pop", 0, None, QUICK))
    entry = LedgerEntry("pop", 0, "fp", cfg, {"full": {"recall@20": 0.1}}, 1.0, 1, 1.0, None, "trained")
    path = record(tmp_path, entry)
    assert read_entry(path) == entry
    record(tmp_path, LedgerEntry("pop", 0, "fp", cfg, {"full": {"recall@20": 0.9}}, 1.0, 1, 1.0, None, "trained"))
    assert read_entry(path).metrics == {"full": {"recall@20": 0.1}}
    old = LedgerEntry("pop", 1, "fp", cfg, {"full": {"recall@20": 0.2}}, 1.0, 1, 1.0, None, "backfilled from x")
    back = record(tmp_path / "b", old)
    record(tmp_path / "b", LedgerEntry("pop", 1, "fp", cfg, {"full": {"recall@20": 0.2, "ndcg@5": 0.1}}, 2.0, 1,
                                       2.0, [{"epoch": 0}], "trained"))
    assert read_entry(back).source == "trained" and read_entry(back).train_log == [{"epoch": 0}]  # upgraded
    record(tmp_path / "b", old)
    assert read_entry(back).source == "trained"  # a backfill never replaces a trained run
    doc = json.loads(path.read_text())
    doc["config"]["train"]["lr"] = 0.5  # a hand edit: the key no longer names this config
    path.write_text(json.dumps(doc))
    with pytest.raises(LedgerError, match="another run than its key"):
        lookup(tmp_path, "pop", cfg, "fp")
    path.write_text("{not json")
    with pytest.raises(LedgerError, match="unreadable ledger entry"):
        lookup(tmp_path, "pop", cfg, "fp")
    assert entry_path(tmp_path, "pop", cfg, "fp") == path


def test_backfilled_runs_are_named_in_the_results(synthetic_world: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    cfg = run_config("pop", 0, None, QUICK)
    fp = read_dataset(synthetic_world).fingerprint()
    metrics = {"full": {"recall@20": 0.25, "ndcg@20": 0.125}}
    record(ledger, LedgerEntry("pop", 0, fp, plain_config(cfg), metrics, 3.0, 1, 3.0, None, "from old.json"))
    doc = compare(synthetic_world, ["pop"], [0, 1], tmp_path / "out", overrides=QUICK, ledger=ledger)
    res = doc["results"]["pop"]
    assert res["per_seed"]["0"] == metrics and res["sources"] == {"0": "from old.json", "1": "trained"}
    assert not (tmp_path / "out" / "runs" / "pop" / "seed0").exists()
    assert "Most-popular 0 (from old.json)" in (sources_note(doc["results"]) or "")
    assert "from old.json" in (tmp_path / "out" / "compare.md").read_text()
    assert sources_note({"pop": {"sources": {"0": "trained"}}}) is None


def test_rekey_moves_entries_to_the_new_fingerprint_and_keeps_runs_of_the_new_data(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    old, new = "a" * 64, "b" * 64
    base = dict(seed=0, metrics={"full": {"ndcg@20": 0.5}}, wall_seconds=3.0, epochs=2, seconds_per_epoch=1.5,
                train_log=None, source="trained")
    for model, fp, value in (("pop", old, 0.1), ("bprmf", old, 0.2), ("bprmf", new, 0.3), ("fm", "c" * 64, 0.4)):
        cfg = {"model_name": model, "x": 1}
        record(ledger, LedgerEntry(model=model, fingerprint=fp, config=cfg, **{**base, "metrics": {"v": value}}))
    with pytest.raises(ValueError, match="prefix"):
        rekey(ledger, "aa", new, "why")
    assert rekey(ledger, "aaaaaaaa", new, "same data up to float noise") == (1, 1)
    pop = lookup(ledger, "pop", {"model_name": "pop", "x": 1}, new)
    assert pop is not None and pop.metrics == {"v": 0.1} and pop.fingerprint == new
    assert pop.source == "trained; re-keyed from data fingerprint aaaaaaaaaaaa: same data up to float noise"
    bprmf = lookup(ledger, "bprmf", {"model_name": "bprmf", "x": 1}, new)
    assert bprmf is not None and bprmf.metrics == {"v": 0.3}  # the run on the new data is kept
    assert lookup(ledger, "pop", {"model_name": "pop", "x": 1}, old) is None
    assert sorted(p.parent.name for p in ledger.glob("*/*.json")) == ["bprmf", "fm", "pop"]  # other data untouched
