"""A run directory's state and its lock: what ``hhfan train`` (and ``compare``, ``tune``) may do with ``RUN_DIR``.

* A new or empty directory gets the hhfan marker (kind ``run``) and a fresh run.
* A directory holding a run (``config.yaml``) is continued when the requested config is that run's
  (:func:`hhfan.runner.resumable`), whatever stage it was killed in; another config is refused, or replaced
  with ``overwrite`` (only when the marker says hhfan wrote it).
* Anything else (files hhfan did not write) is never touched.
* While a process trains in a run directory it holds an exclusive lock on ``RUN_DIR/.lock``; a second process
  is refused at once. The operating system releases the lock when the process ends, even by ``kill -9``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hhfan.data.dataset import DatasetError
from hhfan.data.outputs import MARKER, OutputError, check_dir_output, check_not_input, marker_kind, write_marker

LOCK = ".lock"
"""The lock file every training process holds in its run directory."""

KIND = "run"
"""The marker kind of a run directory."""


class RunBusyError(DatasetError):
    """Another process is training in this run directory."""


def has_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds an hhfan run (its ``config.yaml``)."""
    return (Path(run_dir) / "config.yaml").is_file()


def _only_bookkeeping(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds nothing but hhfan's marker and lock (a run killed before its config)."""
    names = {p.name for p in run_dir.iterdir()}
    return names <= {MARKER, LOCK} and marker_kind(run_dir) == KIND


def prepare(run_dir: Path, data_dir: Path, overwrite: bool = False) -> bool:
    """Make ``run_dir`` ready for training; return whether it already holds a run to continue.

    Refuses (:class:`OutputError` / :class:`FileExistsError`) a path that is or lies near the data, a file,
    and a non-empty folder hhfan did not write. With ``overwrite`` an existing hhfan run directory is emptied
    (never a folder without the marker).
    """
    run_dir = Path(run_dir)
    check_not_input(run_dir, [Path(data_dir)])
    if (run_dir.exists() or run_dir.is_symlink()) and not run_dir.is_dir():
        raise OutputError(f"--out {run_dir} exists and is not a folder; choose another --out")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if overwrite:
            check_dir_output(run_dir, KIND, overwrite=True, inputs=[Path(data_dir)])
            for p in run_dir.iterdir():
                if p.name not in (MARKER, LOCK):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            return False
        if has_run(run_dir):
            return True
        if not _only_bookkeeping(run_dir):
            raise FileExistsError(f"{run_dir} is not empty and holds no hhfan run; choose another --out")
        return False
    run_dir.mkdir(parents=True, exist_ok=True)
    write_marker(run_dir, KIND)
    return False


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the exclusive training lock of ``run_dir``; :class:`RunBusyError` if another process has it."""
    path = Path(run_dir) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise RunBusyError(f"{run_dir} is being trained by process {other}; wait for it to finish (or stop "
                               "it), then run the same command again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
