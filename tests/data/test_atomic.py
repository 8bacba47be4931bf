"""Atomic writes: leftovers of a killed write are cleaned on the next one; files get the user's umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hhfan.data.atomic import atomic_dir, atomic_file, clean_stale
from hhfan.data.io import write_dataset
from hhfan.graph.artifacts import build_artifacts
from tests.conftest import tiny_dataset


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_killed_write_leaves_nothing_after_the_next_write(tmp_path: Path) -> None:
    dead = _dead_pid()
    for name in (f".ds.tmp-{dead}-abc", ".ds.tmp-k2j3h4g5", f".ds.old-{dead}"):  # new, pre-PID and old names
        (tmp_path / name).mkdir()
        (tmp_path / name / "users.csv").write_text("half")
    (tmp_path / f".other.tmp-{dead}-x").mkdir()  # another target's temporary: not ours to remove
    live = tmp_path / f".ds.tmp-{os.getpid()}-live"  # a write under way in a live process: kept
    live.mkdir()
    write_dataset(tiny_dataset(), tmp_path / "ds")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ds", f".other.tmp-{dead}-x", live.name])


def test_a_killed_file_write_is_cleaned_too(tmp_path: Path) -> None:
    stale = tmp_path / f".last.pt.tmp-{_dead_pid()}-zz.pt"
    stale.write_bytes(b"half a checkpoint")
    with atomic_file(tmp_path / "last.pt") as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_clean_stale_keeps_unrelated_names(tmp_path: Path) -> None:
    for name in ("ds", ".ds", ".dsx.tmp-1-a", "ds.tmp-1-a", ".ds.older-1"):
        (tmp_path / name).write_text("x")
    assert clean_stale(tmp_path / "ds") == []


def test_outputs_get_the_users_umask(tmp_path: Path, umask_022: None) -> None:
    ds_dir = write_dataset(tiny_dataset(), tmp_path / "ds")
    g = tmp_path / "g"
    build_artifacts(tiny_dataset()).save(g)
    for d in (ds_dir, ds_dir / "features", g):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d
    for f in (ds_dir / "users.csv", ds_dir / "features" / "visual.npy", g / "neighbors.npz", g / "graph.npz"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    with atomic_file(tmp_path / "f.json") as tmp:
        tmp.write_text("{}")
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_output_untouched(tmp_path: Path) -> None:
    out = write_dataset(tiny_dataset(), tmp_path / "ds")
    before = (out / "users.csv").read_bytes()
    with pytest.raises(OSError, match="No space left"), atomic_dir(out, "dataset", overwrite=True) as tmp:
        (tmp / "users.csv").write_text("new")
        raise OSError(28, "No space left on device")
    assert (out / "users.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
