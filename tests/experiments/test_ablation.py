"""``ablation``: the paper's three switches, the full model = the tables' run, outputs."""

from __future__ import annotations

import pytest

from hhfan.experiments import ablation
from hhfan.runner import read_config
from tests.experiments.conftest import Done


def test_variants_are_the_papers_switches(done: Done) -> None:
    doc = done.docs["ablation"]
    fam = doc["results"]["hhfan"]
    assert list(fam) == ["HHFAN", "HHFAN-l", "HHFAN-a", "HHFAN-n"]
    for name, (key, value) in {"HHFAN-l": ("aggregator", "mean"), "HHFAN-a": ("attribute_attention", False),
                               "HHFAN-n": ("neighbor_attention", False)}.items():
        for rate, r in fam[name]["rates"].items():
            cfg = read_config(done.out / r["run_dir"])[0]
            assert getattr(cfg.model, key) == value and cfg.split.training_rate == float(rate)
            full = read_config(done.out / fam["HHFAN"]["rates"][rate]["run_dir"])[0]
            assert getattr(full.model, key) != value


def test_full_model_is_the_tables_run(done: Done) -> None:
    tables = {(c["model"], c["rate"]): c["run_dir"] for c in done.docs["tables"]["cells"]}
    fam = done.docs["ablation"]["results"]["hhfan"]
    for rate, r in fam["HHFAN"]["rates"].items():
        assert r["run_dir"] == tables["hhfan", float(rate)]
    full_cells = [c for c in done.docs["ablation"]["cells"] if c["label"] == "base"]
    assert full_cells and not any(c["trained_now"] for c in full_cells)
    assert fam["HHFAN"]["rates"]["0.8"]["paper"]["ndcg@10"] == 0.4555
    assert fam["HHFAN-l"]["rates"]["0.8"]["paper"] is None


def test_outputs(done: Done) -> None:
    where = done.out / "ablation"
    assert (where / "ablation_hhfan.png").read_bytes()[:4] == b"\x89PNG"
    md = (where / "ablation.md").read_text()
    assert "| HHFAN-l | aggregator=mean |" in md and "Δ NDCG@10 vs full" in md


def test_only_hhfan_models() -> None:
    with pytest.raises(ValueError, match="lightgcn has none"):
        ablation.check_family(["hhfan", "lightgcn"])
    ablation.check_family(["hhfan", "hhfan-hybrid"])
    assert ablation.variant_name("hhfan-hybrid", "a") == "HHFAN-hybrid-a"
