"""Write-then-rename helpers so that a failed write never leaves a half-written result behind.

Temporaries live next to the target and are named ``.NAME.tmp-PID-XXXX`` (directories and files) and
``.NAME.old-PID`` (a replaced directory on its way out). A process killed mid-write leaves them
behind; the next write of the same target removes every such leftover whose process is gone
(:func:`clean_stale`). Everything written gets the permissions of the user's umask, like any file
the user creates (``mkdtemp``/``mkstemp`` alone would give 0700/0600).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hhfan.data.outputs import check_dir_output, write_marker


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except (OverflowError, ValueError):
        return False  # not a process id at all
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_stale(target: Path) -> list[Path]:
    """Remove the temporaries an interrupted write of ``target`` left next to it; return what was removed.

    Only names this module creates for ``target`` are considered (``.NAME.tmp-*`` and ``.NAME.old-PID``),
    and one that carries the id of a live process is kept (another write may be under way).
    """
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(?:tmp-(?P<tpid>\d+)-.*|tmp-.*|old-(?P<opid>\d+))$")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None:
            continue
        pid = m.group("tpid") or m.group("opid")
        if pid is not None and _pid_alive(int(pid)):
            continue
        path = Path(entry.path)
        _remove(path)
        removed.append(path)
    return removed


def _apply_umask(root: Path) -> None:
    """Give ``root`` and everything in it the permissions the user's umask gives new files and folders."""
    mask = _umask()
    os.chmod(root, 0o777 & ~mask)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o777 & ~mask)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o666 & ~mask)


@contextmanager
def atomic_dir(target: Path, kind: str, overwrite: bool = False, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``target``; on success rename it to ``target``.

    ``target`` must be allowed by :func:`hhfan.data.outputs.check_dir_output` for ``kind`` (never an
    input; an existing one only with ``overwrite`` and only if hhfan wrote it as a ``kind``). The
    marker file is written into the new directory before it appears. On any exception the temporary
    directory is removed and ``target`` is left as it was; an existing ``target`` is replaced only
    after the new content is complete.
    """
    target = Path(target)
    check_dir_output(target, kind, overwrite, inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        yield tmp
        write_marker(tmp, kind)
        _apply_umask(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            _remove(old)
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s directory; on success ``os.replace`` it onto ``target``.

    Leftover temporaries of an interrupted earlier write of ``target`` are removed first
    (:func:`clean_stale`); the file gets the user's umask permissions.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent,
                                suffix=target.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
