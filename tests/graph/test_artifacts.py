"""GRAPH_DIR loading: every damaged file is a DatasetError naming it, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhfan.data.dataset import DatasetError
from hhfan.graph.artifacts import GraphArtifacts, build_artifacts
from tests.conftest import tiny_dataset


@pytest.fixture
def graph_dir(tmp_path: Path) -> Path:
    out = tmp_path / "g"
    build_artifacts(tiny_dataset()).save(out)
    return out


@pytest.mark.parametrize("name", ["graph.npz", "split.npz"])
def test_a_truncated_npz_is_named(graph_dir: Path, name: str) -> None:
    data = (graph_dir / name).read_bytes()
    (graph_dir / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=rf"{name}: not a readable hhfan"):
        GraphArtifacts.load(graph_dir)


@pytest.mark.parametrize(("content", "match"), [
    ("{not json", r"graph\.json, line 1: invalid JSON"),
    ("[1, 2]", r"graph\.json: not an hhfan graph\.json"),
    ('{"config": {"sampler": {"restart_prob": 7}}}', r"graph\.json: its config is invalid"),
])
def test_a_bad_graph_json_is_named(graph_dir: Path, content: str, match: str) -> None:
    (graph_dir / "graph.json").write_text(content)
    with pytest.raises(DatasetError, match=match):
        GraphArtifacts.load(graph_dir)


def test_a_folder_in_place_of_a_file_is_named(graph_dir: Path) -> None:
    (graph_dir / "graph.json").unlink()
    (graph_dir / "graph.json").mkdir()
    with pytest.raises(DatasetError, match=r"graph\.json: not a regular file"):
        GraphArtifacts.load(graph_dir)


def test_a_file_instead_of_a_graph_dir_is_named(graph_dir: Path) -> None:
    with pytest.raises(DatasetError, match=r"graph\.json: not a folder; give a GRAPH_DIR"):
        GraphArtifacts.load(graph_dir / "graph.json")
