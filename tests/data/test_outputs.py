"""The output guard: an output is never an input, and --overwrite replaces only what hhfan wrote."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hhfan.data.io import read_dataset, write_dataset
from hhfan.data.outputs import (
    MARKER,
    OutputError,
    check_dir_output,
    check_file_output,
    check_not_input,
    marker_kind,
    write_marker,
)
from hhfan.graph.artifacts import build_artifacts
from tests.conftest import tiny_dataset


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_dataset(tiny_dataset(), tmp_path / "parent" / "data")


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_every_directory_writer_leaves_its_marker(data: Path, tmp_path: Path) -> None:
    assert marker_kind(data) == "dataset"
    build_artifacts(tiny_dataset()).save(tmp_path / "g")
    assert marker_kind(tmp_path / "g") == "graph"
    assert read_dataset(data).fingerprint() == tiny_dataset().fingerprint()  # the marker is not data


@pytest.mark.parametrize("where", ["same", "parent", "inside"])
def test_an_output_is_never_an_input_even_with_overwrite(data: Path, where: str) -> None:
    out = {"same": data, "parent": data.parent, "inside": data / "graph"}[where]
    before = _tree(data.parent)
    with pytest.raises(OutputError, match={"same": "is the input", "parent": "contains the input",
                                           "inside": "lies inside the input"}[where]):
        build_artifacts(tiny_dataset()).save(out, overwrite=True, inputs=[data])
    with pytest.raises(OutputError):
        write_dataset(tiny_dataset(), out, overwrite=True, inputs=[data])
    assert _tree(data.parent) == before


def test_paths_are_compared_resolved(data: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(data)
    with pytest.raises(OutputError, match="is the input"):
        check_not_input(link, [data])
    with pytest.raises(OutputError, match="contains the input"):
        check_not_input(data / ".." / "..", [data])


def test_overwrite_never_replaces_a_folder_hhfan_did_not_write(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match=f"not written by hhfan \\(it has no {MARKER} marker\\)"):
        write_dataset(tiny_dataset(), foreign, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "years of work"
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        write_dataset(tiny_dataset(), foreign)


def test_overwrite_replaces_an_hhfan_output_of_the_same_kind_only(data: Path, tmp_path: Path) -> None:
    write_dataset(tiny_dataset(with_split=True), data, overwrite=True)
    assert read_dataset(data).interactions.split is not None
    graph = tmp_path / "g"
    build_artifacts(tiny_dataset()).save(graph)
    with pytest.raises(OutputError, match="holds a graph written by hhfan, not a dataset"):
        write_dataset(tiny_dataset(), graph, overwrite=True)
    build_artifacts(tiny_dataset()).save(graph, overwrite=True)  # a graph may replace a graph


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_overwrite_never_replaces_a_file_or_a_link(tmp_path: Path, data: Path, kind: str) -> None:
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("keep me")
    else:
        out.symlink_to(data)
    with pytest.raises(OutputError, match="not a directory" if kind == "file" else "symbolic link"):
        write_dataset(tiny_dataset(), out, overwrite=True)
    assert out.is_symlink() or out.read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no .out.old-PID left


def test_an_empty_folder_is_written_into_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert marker_kind(write_dataset(tiny_dataset(), tmp_path / "empty")) == "dataset"


def test_a_forged_or_broken_marker_is_not_trusted(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "x").write_text("x")
    for content in ("not json", '{"kind": "dataset"}', '["hhfan"]'):
        (d / MARKER).write_text(content)
        assert marker_kind(d) is None
    write_marker(d, "dataset")
    assert marker_kind(d) == "dataset"
    check_dir_output(d, "dataset", overwrite=True)


def test_single_file_outputs(data: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="lies inside the input"):
        check_file_output(data / "users.csv", overwrite=True, inputs=[data])
    existing = tmp_path / "s.json"
    existing.write_text("{}")
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        check_file_output(existing)
    check_file_output(existing, overwrite=True)
    with pytest.raises(OutputError, match="is a folder; give a file name"):
        check_file_output(tmp_path, overwrite=True)
    with pytest.raises(OutputError, match=r"the folder .*nowhere does not exist; create it first"):
        check_file_output(tmp_path / "nowhere" / "s.json")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        check_file_output(fifo, overwrite=True)
