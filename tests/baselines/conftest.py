"""Shared fixtures of the baseline tests: one tiny synthetic world with every side input and a pop reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hhfan.config import resolve
from hhfan.runner import RunConfig, train_run

TINY = ["graph.codewords=8", "sampler.num_collect=40", "train.num_threads=1"]


@pytest.fixture(scope="session")
def baseline_world(synthetic_world: Path) -> Path:
    """200 users, 400 videos, visual/acoustic/textual features, tags and tag tree (synthetic)."""
    return synthetic_world


def best_val(run_dir: Path, metric: str = "ndcg@20") -> float:
    """Best validation ``metric`` over a run's training log."""
    log = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return max(r["val"][metric] for r in log)


@pytest.fixture(scope="session")
def pop_val(baseline_world: Path, tmp_path_factory: pytest.TempPathFactory) -> float:
    """Validation NDCG@20 of most-popular on :func:`baseline_world` (the floor every baseline must beat)."""
    run = tmp_path_factory.mktemp("pop") / "run"
    train_run(baseline_world, run, resolve(RunConfig, None, ["model_name=pop", *TINY]))
    return best_val(run)
