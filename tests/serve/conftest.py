"""Fixtures of the service tests: one tiny HHFAN run (and one BPR-MF run) trained once per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hhfan.config import resolve
from hhfan.runner import Run, RunConfig, load_run, train_run

FAST = ["model.dim=16", "train.batch_size=1024", "train.lr=0.01", "graph.codewords=16", "sampler.num_collect=80",
        "train.epochs=1"]


@pytest.fixture(scope="session")
def hhfan_run_dir(synthetic_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch HHFAN run on the shared synthetic world."""
    run = tmp_path_factory.mktemp("serve") / "run"
    train_run(synthetic_world, run, resolve(RunConfig, None, FAST))
    return run


@pytest.fixture(scope="session")
def hhfan_run(hhfan_run_dir: Path) -> Run:
    """The HHFAN run, loaded once (apps built on it get a state folder of their own)."""
    return load_run(hhfan_run_dir)


@pytest.fixture(scope="session")
def bprmf_run(synthetic_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A one-epoch BPR-MF run: a model that cannot embed a video without interactions."""
    run = tmp_path_factory.mktemp("serve-mf") / "run"
    train_run(synthetic_world, run, resolve(RunConfig, None, [*FAST, "model_name=bprmf"]))
    return load_run(run)


def video_body(run: Run, like: int, video_id: str, shift: float = 0.01) -> dict[str, Any]:
    """A POST /videos body: the features of run video ``like`` shifted by ``shift``, and its tags."""
    ds = run.dataset
    tags = sorted({str(ds.tag_names[t]) for v, t in ds.video_tags.tolist() if v == like})
    return {"video_id": video_id, "features": {m: (np.asarray(ds.features[m][like]) + shift).tolist()
                                               for m in ds.modalities},
            "tags": tags, "text": f"a copy of video {like}"}


@pytest.fixture
def make_app(hhfan_run: Run, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_app(**config)``: an app over the HHFAN run with the test's own state folder; closed at the end."""
    from hhfan.serve.app import create_app
    from hhfan.serve.state import ServeConfig

    apps: list[Any] = []

    def make(run: Run | None = None, **kw: Any) -> Any:
        kw.setdefault("state_dir", tmp_path / "state")
        kw.setdefault("warmup", False)  # the probe embedding is tested where it matters (BPR-MF, the CLI server)
        app = create_app(run=run or hhfan_run, config=ServeConfig(**kw))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.serve.close()
