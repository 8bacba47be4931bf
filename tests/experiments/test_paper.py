"""The paper's numbers: the shipped copy is the shared reference; rows only for the models the paper ran."""

from __future__ import annotations

import pytest

from hhfan.experiments.paper import paper_dataset, paper_reference_text, paper_row
from tests.conftest import REPO


def test_shipped_copy_is_the_reference() -> None:
    shared = REPO.parent / "shared" / "reference" / "hhfan_paper_tables.csv"
    if not shared.exists():
        pytest.skip(f"{shared} not found")
    assert paper_reference_text() == shared.read_text(encoding="utf-8")


def test_rows() -> None:
    assert paper_row("Tiktok", "hhfan", 0.6) == {"precision@10": 0.3446, "recall@10": 0.4033, "ndcg@10": 0.4641,
                                                 "auc": 0.7272}
    assert paper_row("Kwai", "hhfan", 0.6)["auc"] == 0.74931  # printed as is, typo included
    assert paper_row("MLs", "hhfan-hybrid", 0.8) == {}  # a variant never gets the paper's HHFAN row
    assert paper_row("MLs", "mmgcn", 0.8) == {}  # the paper prints '—'
    assert paper_row("Kwai", "mmgcn", 0.8)["precision@10"] == 0.3819
    assert paper_row("MLs", "hhfan", 0.5) == {}
    assert (paper_dataset("ml-1m"), paper_dataset("tiktok"), paper_dataset("synthetic")) == ("MLs", "Tiktok", None)
