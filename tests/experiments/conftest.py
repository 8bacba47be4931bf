"""Tiny experiment settings: a 50-user synthetic world, one epoch, d = 8 (every experiment in seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hhfan.data.synth import SynthConfig
from hhfan.experiments.common import Quick, Setting, prepare

TINY = Quick(world=SynthConfig(num_users=50, num_videos=80, mean_interactions=10, seed=2),
             overrides=("train.epochs=1", "train.num_threads=1", "graph.codewords=4", "sampler.num_collect=30",
                        "eval.num_negatives=40"),
             dim=8, models=("hhfan", "hhfan-hybrid", "pop"))
"""The quick mode of the tests: even smaller than ``--quick``."""

RATES = (0.8, 0.4)
"""Two of the paper's three rates keep the tests fast (the code is the same for three)."""


def tiny_setting(out: Path, **kwargs: object) -> Setting:
    """An experiment setting on the tiny world in ``out`` (rows of the paper's MLs beside ours)."""
    return prepare(out, quick=TINY, paper_dataset="MLs", **kwargs)


SMALL_GRID = {"depth": (2, 6), "dim": (8, 12), "neighbors": (10, 35)}
"""A sensitivity grid with the preset's value and one other for each parameter."""


@dataclass(frozen=True)
class Done:
    """An experiments folder where every experiment ran on the tiny world, and their JSON documents."""

    out: Path
    docs: dict[str, dict[str, Any]]


@pytest.fixture(scope="package")
def done(tmp_path_factory: pytest.TempPathFactory) -> Done:
    """tables (hhfan, hhfan-hybrid, pop at 0.8 and 0.4), then ablation (hhfan at 0.8), topk, sensitivity
    (:data:`SMALL_GRID`) and case-study, all in one folder (so the later ones reuse the earlier runs)."""
    from hhfan.experiments import ablation, case_study, sensitivity, tables, topk

    out = tmp_path_factory.mktemp("exp") / "out"
    docs = {"tables": tables.run(tiny_setting(out), rates=RATES)}
    docs["ablation"] = ablation.run(tiny_setting(out, models=("hhfan",)), rates=(0.8,))
    docs["topk"] = topk.run(tiny_setting(out))
    docs["sensitivity"] = sensitivity.run(tiny_setting(out), grid=SMALL_GRID)
    docs["case-study"] = case_study.run(tiny_setting(out))
    return Done(out, docs)
