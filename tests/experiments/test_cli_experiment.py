"""``hhfan experiment`` and ``hhfan report`` on the command line: one-line errors, and the commands work."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hhfan.experiments.common as common
from hhfan.cli import app
from tests.experiments.conftest import TINY, Done


def _cli(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def _one_error(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("·") and "━" not in ln]
    assert "Traceback" not in out, out
    assert len(lines) == 1 and lines[0].startswith(("error:", "config error:")), out
    return lines[0]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["experiment", "tabels", "--quick"], 2, "unknown experiment 'tabels'; choose one of tables, ablation"),
    (["experiment", "tables"], 2, "needs --data DIR"),
    (["experiment", "tables", "--quick", "--data", "."], 2, "drop --data"),
    (["experiment", "tables", "--quick", "--user", "u1"], 2, "--user is an option of case-study"),
    (["experiment", "tables", "--quick", "--paper-dataset", "MovieLens"], 2, "--paper-dataset must be one of"),
    (["experiment", "tables", "--quick", "--models", "hhfan,nope"], 1, "unknown model(s) nope"),
    (["experiment", "tables", "--quick", "--seeds", "0"], 1, "a number of seeds must be >= 1"),
    (["experiment", "ablation", "--quick", "--models", "pop"], 1, "pop has none"),
    (["experiment", "tables", "--quick", "--configs", "nowhere"], 1, "--configs nowhere: not a directory"),
    (["experiment", "topk", "--quick", "--rates", "0.8"], 2, "--rates is an option of tables and ablation"),
    (["experiment", "tables", "--quick", "--rates", "0.8,1.5"], 1, "between 0 and 1"),
    (["experiment", "tables", "--quick", "--ledger", "pyproject.toml"], 1, "--ledger pyproject.toml: not a directory"),
])
def test_bad_input_is_one_line(args: list[str], code: int, message: str, tmp_path: Path) -> None:
    rc, out = _cli(*args, "--out", tmp_path / "o")
    assert rc == code and message in _one_error(out)


def test_foreign_out_and_missing_data(tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x.txt").write_text("mine")
    rc, out = _cli("experiment", "tables", "--quick", "--out", tmp_path / "o")
    assert rc == 1 and "not written by hhfan experiment" in _one_error(out)
    rc, out = _cli("experiment", "tables", "--data", tmp_path / "missing", "--out", tmp_path / "p")
    assert rc == 1 and "not a directory" in out and "Traceback" not in out  # the dataset reader's own report
    rc, out = _cli("report", "--out", tmp_path / "R.md", "--experiments", tmp_path / "o")
    assert rc == 1 and "no finished experiment" in _one_error(out)


def test_cli_runs_and_reports(done: Done, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "Quick", lambda: TINY)  # the tiny world instead of --quick's (seconds, not minutes)
    args = ["experiment", "topk", "--quick", "--out", str(done.out), "--models", "pop,hhfan"]
    monkeypatch.setattr(sys, "argv", ["/usr/bin/hhfan", *args])  # what a shell gives the real command
    rc, out = _cli(*args)
    assert rc == 0, out
    doc = json.loads((done.out / "topk" / "topk.json").read_text())
    assert doc["command"] == "hhfan " + shlex.join(args)
    assert list(doc["results"]) == ["pop", "hhfan"] and "done:" in out
    rc, out = _cli("report", "--out", tmp_path / "R.md", "--experiments", done.out)
    assert rc == 0 and "wrote" in out and (tmp_path / "R.md").is_file()
    rc, out = _cli("report", "--out", tmp_path / "R.md", "--experiments", done.out)
    assert rc == 1 and "--overwrite" in _one_error(out)


def test_rates_option_runs_only_those_rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "Quick", lambda: TINY)
    rc, out = _cli("experiment", "tables", "--quick", "--out", tmp_path / "o", "--models", "pop", "--rates", "0.4")
    assert rc == 0, out
    doc = json.loads((tmp_path / "o" / "tables" / "tables.json").read_text())
    assert doc["rates"] == [0.4] and {c["rate"] for c in doc["cells"]} == {0.4}
    assert [p.name for p in (tmp_path / "o" / "runs" / "pop").iterdir()] == ["rate0.4"]


def test_ledger_option_records_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "Quick", lambda: TINY)
    base = ["experiment", "tables", "--quick", "--models", "pop", "--rates", "0.8", "--ledger", tmp_path / "L"]
    rc, out = _cli(*base, "--out", tmp_path / "o")
    assert rc == 0, out
    assert len(list((tmp_path / "L" / "pop").glob("*.json"))) == 1
    rc, out = _cli(*base, "--out", tmp_path / "p")
    assert rc == 0 and "0 trained now" in out, out
    assert not (tmp_path / "p" / "runs").exists()
