"""``topk``: K = 1..10 read from the tables' runs, no training; needs tables first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hhfan.compare
from hhfan.data.dataset import DatasetError
from hhfan.experiments import topk
from tests.experiments.conftest import Done, tiny_setting


def test_curves_are_the_runs_metrics(done: Done) -> None:
    doc = done.docs["topk"]
    assert doc["ks"] == list(range(1, 11)) and doc["compute"]["runs"] == 0
    cells = [c for c in done.docs["tables"]["cells"] if c["rate"] == 0.8]
    assert list(doc["results"]) == [c["model"] for c in cells]
    for c in cells:
        m = json.loads((done.out / c["run_dir"] / "metrics.json").read_text())
        for p in ("sampled", "full"):
            for n in ("precision", "recall", "ndcg"):
                for k in (1, 5, 10):
                    assert doc["results"][c["model"]][p][n][str(k)]["mean"] == pytest.approx(m[p][f"{n}@{k}"])
    assert doc["paper_at_10"] == {"hhfan": {"precision": 0.3701, "recall": 0.4173, "ndcg": 0.4555}}
    for png in ("topk_sampled.png", "topk_full.png"):
        assert (done.out / "topk" / png).read_bytes()[:4] == b"\x89PNG"
    assert "| HHFAN (paper, K=10) |" in (done.out / "topk" / "topk.md").read_text()


def test_no_training(done: Done, monkeypatch: pytest.MonkeyPatch) -> None:
    def train(*_a: object, **_k: object) -> None:
        raise AssertionError("topk must not train")

    monkeypatch.setattr(hhfan.compare, "train_run", train)
    doc = topk.run(tiny_setting(done.out, models=("pop",)))
    assert list(doc["results"]) == ["pop"]


def test_needs_tables(tmp_path: Path, done: Done) -> None:
    with pytest.raises(DatasetError, match="run `hhfan experiment tables`"):
        topk.run(tiny_setting(tmp_path / "o"))
    with pytest.raises(DatasetError, match="no runs of lightgcn"):
        topk.run(tiny_setting(done.out, models=("lightgcn",)))
