"""What an hhfan command may write, replace or must refuse: the one guard every writer calls.

The rules (the README's "Safety" section states them for users):

* An output is never an input, never inside an input and never holds one. Paths are compared after
  :meth:`Path.resolve`, so ``..``, relative paths and symbolic links do not get around the rule.
* A directory output (a dataset, a graph, a quickstart folder) that exists and is not empty is an error
  unless ``overwrite`` is given, and even then it is replaced only when it carries the marker file
  :data:`MARKER`, which every hhfan directory writer puts in, naming the same kind of output. A folder
  hhfan did not write (no marker), a file and a symbolic link are never replaced.
* A single-file output (``--json``, ``--dump-rankings``) that exists is an error unless ``overwrite``
  is given; it must then be a regular file. A folder in its place, or a missing parent folder, is an
  error (the parent is not created, so a typo in a path does not scatter folders).

Every refusal is an :class:`OutputError` (or :class:`FileExistsError` for "exists, pass --overwrite")
whose message names the path and says what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

MARKER = ".hhfan-output"
"""Name of the marker file in every directory hhfan writes: JSON ``{"tool": "hhfan", "kind": ..., "version": 1}``."""

MARKER_VERSION = 1
"""Version of the marker's JSON layout."""

_MARKER_MAX_BYTES = 4096  # a marker is a few dozen bytes; never read a large file to decide


class OutputError(ValueError):
    """An output path that would destroy or mix with data hhfan did not write; nothing was written."""


def marker_kind(directory: Path) -> str | None:
    """The kind recorded by the hhfan marker in ``directory`` (``"dataset"``, ``"graph"``...), or None.

    None when ``directory`` is not a real directory, has no marker, or the marker is not a small
    regular file holding the JSON hhfan writes.
    """
    directory = Path(directory)
    path = directory / MARKER
    if directory.is_symlink() or not directory.is_dir() or path.is_symlink() or not path.is_file():
        return None
    try:
        if path.stat().st_size > _MARKER_MAX_BYTES:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("tool") != "hhfan" or not isinstance(doc.get("kind"), str):
        return None
    return str(doc["kind"])


def write_marker(directory: Path, kind: str) -> None:
    """Write the marker that lets ``--overwrite`` recognise ``directory`` as an hhfan ``kind`` output."""
    doc = {"tool": "hhfan", "kind": kind, "version": MARKER_VERSION}
    (Path(directory) / MARKER).write_text(json.dumps(doc) + "\n", encoding="utf-8")


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


def check_not_input(out: Path, inputs: Iterable[Path], option: str = "--out") -> None:
    """Raise :class:`OutputError` when ``out`` is one of ``inputs``, lies inside one, or contains one."""
    o = _resolved(out)
    for src in inputs:
        i = _resolved(src)
        if o == i:
            raise OutputError(f"{option} {out} is the input {src}; write the output somewhere else")
        if o.is_relative_to(i):
            raise OutputError(f"{option} {out} lies inside the input {src}; write the output outside it")
        if i.is_relative_to(o):
            raise OutputError(f"{option} {out} contains the input {src}; replacing it would destroy the input; "
                              "write the output somewhere else")


def is_empty_dir(path: Path) -> bool:
    """Whether ``path`` is a real (not symlinked) directory with nothing in it."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    with os.scandir(path) as it:
        return next(it, None) is None


def check_dir_output(out: Path, kind: str, overwrite: bool = False, inputs: Iterable[Path] = (),
                     option: str = "--out") -> None:
    """Check that directory output ``out`` of ``kind`` may be written (see the module docstring).

    Absent, or an empty directory: fine. Existing otherwise: :class:`FileExistsError` without
    ``overwrite``; with it, :class:`OutputError` unless ``out`` is a directory whose marker names
    ``kind``. ``out`` related to any of ``inputs``: always :class:`OutputError`.
    """
    out = Path(out)
    check_not_input(out, inputs, option)
    if not (out.exists() or out.is_symlink()) or is_empty_dir(out):
        return
    if out.is_symlink():
        raise OutputError(f"{option} {out} is a symbolic link; hhfan never replaces one; choose another {option}")
    if not out.is_dir():
        raise OutputError(f"{option} {out} exists and is not a directory; hhfan never replaces it; "
                          f"choose another {option}")
    if not overwrite:
        raise FileExistsError(f"{out} already exists; choose another {option} or pass --overwrite")
    found = marker_kind(out)
    if found is None:
        raise OutputError(f"{option} {out} was not written by hhfan (it has no {MARKER} marker), so --overwrite "
                          f"will not replace it; remove it yourself or choose another {option}")
    if found != kind:
        raise OutputError(f"{option} {out} holds a {found} written by hhfan, not a {kind}; --overwrite replaces "
                          f"only an output of the same kind; choose another {option}")


def check_file_output(out: Path, overwrite: bool = False, inputs: Iterable[Path] = (),
                      option: str = "--json") -> None:
    """Check that single-file output ``out`` may be written (see the module docstring).

    Raises :class:`OutputError` for a path related to ``inputs``, a missing parent folder, a folder
    or non-regular file at ``out``; :class:`FileExistsError` for an existing file without ``overwrite``.
    """
    out = Path(out)
    check_not_input(out, inputs, option)
    parent = out.parent
    if not parent.exists():
        raise OutputError(f"{option} {out}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise OutputError(f"{option} {out}: {parent} is not a folder")
    if out.is_dir():
        raise OutputError(f"{option} {out} is a folder; give a file name, e.g. {out / 'out.json'}")
    if out.is_symlink():
        raise OutputError(f"{option} {out} is a symbolic link; hhfan never replaces one; give another file name")
    if out.exists():
        if not out.is_file():
            raise OutputError(f"{option} {out} is not a regular file (a FIFO or device?); give another file name")
        if not overwrite:
            raise FileExistsError(f"{out} already exists; give another file name or pass --overwrite")
