"""``sensitivity``: depth, d, neighbours; k tables scaled exactly; the preset's value is the base run."""

from __future__ import annotations

import pytest

from hhfan.experiments.sensitivity import scale_k
from hhfan.graph.sampler import default_k_per_type
from hhfan.runner import read_config
from tests.experiments.conftest import SMALL_GRID, Done


@pytest.mark.parametrize("total", [7, 8, 10, 20, 35, 50, 60, 100])
def test_scale_k_sums_and_keeps_every_type(total: int) -> None:
    k = default_k_per_type()
    out = scale_k(k, total)
    assert sum(out.values()) == total and list(out) == list(k)
    assert all(v >= 1 for v in out.values())
    share = {t: k[t] * total / sum(k.values()) for t in k}
    if total >= 10:
        assert all(abs(out[t] - share[t]) < 1 + 1e-9 for t in k)  # within one of the proportional share


def test_scale_k_examples() -> None:
    k = default_k_per_type()
    assert scale_k(k, 35) == k
    assert list(scale_k(k, 10).values()) == [3, 2, 1, 1, 1, 1, 1]
    assert list(scale_k(k, 60).values()) == [18, 17, 5, 5, 5, 5, 5]
    assert scale_k({"user": 4, "video": 0, "tag": 2}, 9) == {"user": 6, "video": 0, "tag": 3}
    with pytest.raises(ValueError, match="cannot keep one"):
        scale_k(k, 5)


def test_grid_runs(done: Done) -> None:
    doc = done.docs["sensitivity"]
    res = doc["results"]["hhfan"]
    assert {p: list(v) for p, v in res.items()} == {p: [str(x) for x in v] for p, v in SMALL_GRID.items()}
    cells = {c["label"]: c for c in doc["cells"]}
    assert read_config(done.out / cells["depth=2"]["run_dir"])[0].sampler.max_depth == 2
    assert read_config(done.out / cells["dim=12"]["run_dir"])[0].model.dim == 12
    k10 = read_config(done.out / cells["neighbors=10"]["run_dir"])[0].sampler.k_per_type
    assert sum(k10.values()) == 10 and doc["k_per_type"]["hhfan"]["10"] == k10
    tables8 = next(c["run_dir"] for c in done.docs["tables"]["cells"] if c["model"] == "hhfan" and c["rate"] == 0.8)
    for same in ("depth=6", "dim=8", "neighbors=35"):  # the preset's values (quick d = 8): the tables' run
        assert cells[same]["run_dir"] == tables8 and not cells[same]["trained_now"]
    assert doc["paper_choice"] == {"depth": 6, "dim": 250, "neighbors": 35}
    md = (done.out / "sensitivity" / "sensitivity.md").read_text()
    assert "| 6 (paper's choice) |" in md and "| 35 (paper's choice) |" in md
    for png in ("sensitivity_auc.png", "sensitivity_ndcg.png"):
        assert (done.out / "sensitivity" / png).read_bytes()[:4] == b"\x89PNG"
