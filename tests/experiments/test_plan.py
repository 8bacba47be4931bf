"""``hhfan experiment --plan``: the cells an experiment would train, reuse or resume, and their cost; no writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hhfan.cli import app
from hhfan.experiments import ablation, case_study, sensitivity, tables, topk
from hhfan.experiments.plan import describe, fingerprint, known_seconds, plan, summarise
from tests.experiments.conftest import RATES, SMALL_GRID, Done, tiny_setting


def test_a_finished_folder_plans_nothing_to_train(done: Done) -> None:
    # the same arguments as the runs of the `done` fixture: plan and run agree on every cell
    cases = [(tables, tiny_setting(done.out), {"rates": RATES}),
             (ablation, tiny_setting(done.out, models=("hhfan",)), {"rates": (0.8,)}),
             (topk, tiny_setting(done.out), {}),
             (sensitivity, tiny_setting(done.out), {"grid": SMALL_GRID}),
             (case_study, tiny_setting(done.out), {})]
    for module, s, kwargs in cases:
        plans = plan(s, module.planned(s, **kwargs), fingerprint(s), need_runs=module is case_study)
        ran = done.docs[module.NAME]["cells"] if module is not topk else []
        assert [(p.cell.model, p.cell.seed, p.cell.rate) for p in plans] == [
            (c["model"], c["seed"], c["rate"]) for c in ran], module.NAME
        assert {p.status for p in plans} <= {"finished", "shared"}, module.NAME
        assert describe(summarise(plans)[-1]).endswith("nothing to train") or not plans
    abl = plan(s := tiny_setting(done.out, models=("hhfan",)), ablation.planned(s, rates=(0.8,)), fingerprint(s))
    assert [p.status for p in abl].count("finished") == len({p.run_dir for p in abl})


def test_a_new_folder_takes_ledger_cells_and_estimates_the_rest(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    first = tables.run(tiny_setting(tmp_path / "a", models=("pop", "hhfan"), ledger=ledger), rates=(0.8,))
    shutil.rmtree(tmp_path / "a")
    out = tmp_path / "b"
    s = tiny_setting(out, models=("pop", "hhfan"), ledger=ledger, write=False)
    assert not out.exists()  # a plan writes nothing, not even the folder
    plans = plan(s, tables.planned(s, rates=(0.8, 0.4)), fingerprint(s))
    assert [(p.cell.model, p.cell.rate, p.status) for p in plans] == [
        ("pop", 0.8, "ledger"), ("hhfan", 0.8, "ledger"), ("pop", 0.4, "train"), ("hhfan", 0.4, "train")]
    walls = {c["model"]: c["seconds"] for c in first["cells"]}
    assert [p.estimate_s for p in plans[2:]] == pytest.approx([walls["pop"], walls["hhfan"]])
    rows = summarise(plans)
    assert [r["model"] for r in rows] == ["pop", "hhfan", "total"]
    assert rows[-1]["ledger"] == 2 and rows[-1]["train"] == 2 and rows[-1]["unknown"] == 0
    assert rows[-1]["estimate_s"] == pytest.approx(walls["pop"] + walls["hhfan"])
    no_ledger = tiny_setting(out, models=("pop",), write=False)
    unknown = plan(no_ledger, tables.planned(no_ledger, rates=(0.8,)), fingerprint(no_ledger))
    assert [(p.status, p.estimate_s) for p in unknown] == [("train", None)]
    assert "1 cell(s) with no run to estimate from" in describe(summarise(unknown)[-1])
    assert not out.exists()


def test_a_killed_run_is_planned_as_resumed(tmp_path: Path) -> None:
    s = tiny_setting(tmp_path / "a", models=("pop",))
    doc = tables.run(s, rates=(0.8,))
    run_dir = s.out / doc["cells"][0]["run_dir"]
    (run_dir / "metrics.json").unlink()  # as a run killed before its test evaluation
    plans = plan(s, tables.planned(s, rates=(0.8,)), fingerprint(s))
    assert [p.status for p in plans] == ["resume"]
    assert plans[0].estimate_s is None  # its own wall.json is not a finished run


def test_cli_plan_prints_the_table_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "exp"
    res = CliRunner().invoke(app, ["experiment", "tables", "--quick", "--out", str(out), "--models", "pop,hhfan",
                                   "--rates", "0.8,0.4", "--plan"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "hhfan experiment tables: plan" in res.output
    assert "plan: 4 cells: 4 train;" in res.output and "(nothing was run or written)" in res.output
    assert not out.exists()
    (out / "x").mkdir(parents=True)  # a foreign folder is refused by a plan as by a run
    res = CliRunner().invoke(app, ["experiment", "tables", "--quick", "--out", str(out), "--plan"])
    assert res.exit_code == 1 and "was not written by hhfan experiment" in res.output
    assert json.dumps(sorted(p.name for p in out.iterdir())) == '["x"]'


def test_a_cell_is_priced_at_runs_of_its_own_setting_first(tmp_path: Path) -> None:
    from hhfan.experiments.common import Cell, run_cells

    ledger = tmp_path / "ledger"
    s = tiny_setting(tmp_path / "a", ledger=ledger)
    base, big = Cell("hhfan", 0, 0.8), Cell("hhfan", 0, 0.8, "dim=24", ("model.dim=24",))
    walls = {r.cell.label: r.seconds for r in run_cells(s, [base, big])}
    later = [Cell("hhfan", 1, 0.8), Cell("hhfan", 1, 0.8, "dim=24", ("model.dim=24",)),
             Cell("hhfan", 1, 0.8, "dim=16", ("model.dim=16",))]
    plans = plan(s, later, fingerprint(s))
    assert [p.status for p in plans] == ["train"] * 3
    assert plans[0].estimate_s == pytest.approx(walls[""]) and plans[1].estimate_s == pytest.approx(walls["dim=24"])
    assert plans[2].estimate_s == pytest.approx((walls[""] + walls["dim=24"]) / 2)  # no run of d 16: the rate's
    assert len(known_seconds(s, fingerprint(s))["hhfan", "*"]) == 2  # each run once (in OUT and in the ledger)
