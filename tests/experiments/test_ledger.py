"""Experiments with a run ledger: cells recorded once are taken from it on a fresh folder, and topk reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import hhfan.compare
from hhfan.experiments import tables, topk
from tests.experiments.conftest import tiny_setting


def test_a_fresh_folder_takes_every_cell_from_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = tmp_path / "ledger"
    first = tables.run(tiny_setting(tmp_path / "a", models=("pop", "hhfan"), ledger=ledger), rates=(0.8,))
    assert len(list(ledger.glob("*/*.json"))) == 2 and all(not c["from_ledger"] for c in first["cells"])
    shutil.rmtree(tmp_path / "a")  # a new machine: run directories gone, the committed ledger kept

    def train(*_a: object, **_k: object) -> None:
        raise AssertionError("every cell is in the ledger")

    monkeypatch.setattr(hhfan.compare, "train_run", train)
    s = tiny_setting(tmp_path / "b", models=("pop", "hhfan"), ledger=ledger)
    again = tables.run(s, rates=(0.8,))
    assert [c["metrics"] for c in again["cells"]] == [c["metrics"] for c in first["cells"]]
    assert all(c["from_ledger"] and not c["trained_now"] for c in again["cells"])
    assert again["ceilings"] == first["ceilings"]  # the split made again from the config
    curves = topk.run(s)["results"]
    full = json.loads((ledger / again["cells"][1]["ledger"]).read_text())["metrics"]
    assert curves["hhfan"]["full"]["ndcg"]["5"]["mean"] == pytest.approx(full["full"]["ndcg@5"])


def test_without_the_ledger_a_ledger_cell_is_an_error_naming_it(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    tables.run(tiny_setting(tmp_path / "a", models=("pop",), ledger=ledger), rates=(0.8,))
    shutil.rmtree(tmp_path / "a")
    tables.run(tiny_setting(tmp_path / "b", models=("pop",), ledger=ledger), rates=(0.8,))
    from hhfan.data.dataset import DatasetError

    with pytest.raises(DatasetError, match="pass the same --ledger"):
        topk.run(tiny_setting(tmp_path / "b", models=("pop",)))


def test_topk_names_a_backfilled_entry_without_every_k(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    doc = tables.run(tiny_setting(tmp_path / "a", models=("pop",), ledger=ledger), rates=(0.8,))
    path = ledger / doc["cells"][0]["ledger"]
    entry = json.loads(path.read_text())
    entry["metrics"] = {p: {n: v for n, v in sec.items() if not n.endswith("@1")}
                        for p, sec in entry["metrics"].items()}
    path.write_text(json.dumps(entry))  # as a backfill would keep it: some K missing
    shutil.rmtree(tmp_path / "a")
    s = tiny_setting(tmp_path / "b", models=("pop",), ledger=ledger)
    tables.run(s, rates=(0.8,))
    from hhfan.data.dataset import DatasetError

    with pytest.raises(DatasetError, match=r"lack some K of 1\.\.10"):
        topk.run(s)


def test_a_ledger_cell_reports_the_device_and_threads_it_was_trained_on(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    doc = tables.run(tiny_setting(tmp_path / "a", models=("pop",), ledger=ledger), rates=(0.8,))
    path = ledger / doc["cells"][0]["ledger"]
    entry = json.loads(path.read_text())
    assert (entry["device"], entry["threads"]) == ("cpu", 1)  # the run's own train.device / num_threads
    path.write_text(json.dumps({**entry, "device": "cuda"}))  # as if trained on a lent GPU (not in the key)
    shutil.rmtree(tmp_path / "a")
    again = tables.run(tiny_setting(tmp_path / "b", models=("pop",), ledger=ledger), rates=(0.8,))
    assert again["cells"][0]["from_ledger"] and again["cells"][0]["device"] == "cuda"
    assert set(again["compute"]["by_device"]) == {"gpu"}
