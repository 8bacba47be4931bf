"""``tables``: every model x rate, the paper's rows beside ours (HHFAN beside hhfan only), outputs, resuming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hhfan.compare
from hhfan.data.io import read_dataset
from hhfan.data.split import TEST, Split
from hhfan.experiments import tables
from tests.experiments.conftest import RATES, Done, tiny_setting


def test_outputs_and_paper_rows(done: Done) -> None:
    doc = done.docs["tables"]
    where = done.out / "tables"
    assert {p.name for p in where.iterdir()} >= {"tables.json", "tables.md", "tables_rates.png"}
    assert (where / "tables_rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((where / "tables.json").read_text()) == doc
    assert list(doc["results"]) == ["0.8", "0.4"] and doc["models"] == ["hhfan", "hhfan-hybrid", "pop"]
    at8 = doc["results"]["0.8"]
    assert at8["hhfan"]["paper"] == {"precision@10": 0.3701, "recall@10": 0.4173, "ndcg@10": 0.4555, "auc": 0.7457}
    assert doc["results"]["0.4"]["hhfan"]["paper"]["auc"] == 0.7101  # Table IV, MLs
    assert at8["hhfan-hybrid"]["paper"] is None and at8["pop"]["paper"] is None
    md = (where / "tables.md").read_text()
    assert md.startswith("<!-- produced by: hhfan experiment tables")
    row = next(line for line in md.splitlines() if line.startswith("| HHFAN |"))
    assert "0.3701" in row and "0.7457" in row
    hybrid = next(line for line in md.splitlines() if line.startswith("| HHFAN-hybrid |"))
    assert "0.3701" not in hybrid and "—" in hybrid
    assert "Table II" in md and "Table IV" in md


def test_metrics_are_the_runs_own(done: Done) -> None:
    doc = done.docs["tables"]
    for cell in doc["cells"]:
        m = json.loads((done.out / cell["run_dir"] / "metrics.json").read_text())
        summary = doc["results"][f"{cell['rate']:g}"][cell["model"]]
        assert summary["sampled"]["ndcg@10"]["mean"] == pytest.approx(m["sampled"]["ndcg@10"])
        assert summary["full"]["recall@20"]["mean"] == pytest.approx(m["full"]["recall@20"])
        assert cell["seconds"] > 0 and cell["device"] == "cpu"


def test_ceilings_from_the_split(done: Done) -> None:
    doc = done.docs["tables"]
    cell = next(c for c in doc["cells"] if c["rate"] == 0.4)
    part = Split.load(done.out / cell["run_dir"] / "graph" / "split.npz").part
    user = read_dataset(done.out / "data").interactions.user
    n = np.bincount(user[part == TEST])
    n = n[n > 0]
    c = doc["ceilings"]["0.4"]
    assert c["test_positives_mean"] == pytest.approx(n.mean())
    assert c["precision@10_ceiling"] == pytest.approx(np.mean(np.minimum(n, 10) / 10))
    assert c["recall@10_ceiling"] == pytest.approx(np.mean(np.minimum(n, 10) / n))
    assert doc["ceilings"]["0.8"]["test_positives_mean"] < c["test_positives_mean"]  # less training, more test


def test_command_recorded(done: Done) -> None:
    cmd = done.docs["tables"]["command"]
    assert cmd.startswith("hhfan experiment tables --out ") and "--quick" in cmd
    assert "--rates 0.8,0.4" in cmd  # the fixture's two rates, not the paper's three


class Killed(BaseException):
    """What a kill looks like to the code: an exception no handler of ours catches."""


def _counting(monkeypatch: pytest.MonkeyPatch, kill: int | None = None) -> list[Path]:
    """Count the runs ensure_run trains; with ``kill``, the ``kill``-th call dies after its first epoch."""
    real = hhfan.compare.train_run
    calls: list[Path] = []
    count = [0]

    def train(data: Path, run_dir: Path, cfg: Any, **kw: Any) -> Any:
        calls.append(Path(run_dir))
        count[0] += 1

        def die(_rec: Any) -> None:
            raise Killed

        return real(data, run_dir, cfg, on_epoch=die if count[0] == kill else None, **kw)

    monkeypatch.setattr(hhfan.compare, "train_run", train)
    return calls


def test_killed_experiment_resumes_without_recomputing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    over = ("train.epochs=2",)
    s = tiny_setting(tmp_path / "out", models=("pop", "bprmf"), overrides=over)
    calls = _counting(monkeypatch, kill=4)  # the 4th run (bprmf at 0.4) dies after its first epoch
    with pytest.raises(Killed):
        tables.run(s, rates=RATES)
    assert len(calls) == 4 and not (tmp_path / "out" / "tables" / "tables.json").exists()
    killed = calls[-1]
    assert (killed / "last.pt").exists() and not (killed / "metrics.json").exists()
    first = [json.loads((c / "metrics.json").read_text()) for c in calls[:3]]
    calls.clear()
    doc = tables.run(tiny_setting(tmp_path / "out", models=("pop", "bprmf"), overrides=over), rates=RATES)
    assert calls == [killed]  # only the killed run trains again, continued from its checkpoint
    assert [c["trained_now"] for c in doc["cells"]] == [False, False, False, True]
    log = [json.loads(x) for x in (killed / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]
    assert [json.loads((done_dir / "metrics.json").read_text()) for done_dir in
            [tmp_path / "out" / c["run_dir"] for c in doc["cells"][:3]]] == first
    fresh = tables.run(tiny_setting(tmp_path / "fresh", models=("pop", "bprmf"), overrides=over), rates=RATES)
    assert _same(fresh["results"], doc["results"])  # the continued run is the run an unkilled experiment trains


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal metrics (the seconds differ between two trainings of the same run)."""

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {r: {m: {k: v for k, v in x.items() if k != "seconds"} for m, x in per.items()} for r, per in d.items()}
    return strip(a) == strip(b)
