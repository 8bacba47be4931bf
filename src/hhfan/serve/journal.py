"""The service's append-only journal: what it acknowledged survives a restart and a crash.

``RUN_DIR/serve/journal.jsonl`` holds one JSON object per line: a ``header`` first (the run it belongs to),
then one ``video`` record per accepted ``POST /videos`` and one ``interactions`` record per accepted
``POST /interactions``, in the order they were accepted. Float arrays are stored exactly, as base64 of
little-endian float32 (:func:`encode_array`).

Guarantees:

* A change is acknowledged (the HTTP answer is sent) only after its line was written and ``fsync``'d, so
  an acknowledged change is on disk even if the machine loses power right after.
* A crash while a line is being written leaves at most an unterminated last line; it was never
  acknowledged, and opening the journal drops it (the file is cut back to its last complete line).
  A write that fails (full disk) is cut back at once, so the journal never holds a partial line in its middle.
* Any other damage (a complete line that is not a JSON object) is refused with the line number, never
  silently skipped.
* :meth:`Journal.rewrite` (used when the run's model changed and posted videos were re-embedded) replaces the
  file atomically: a temporary file, ``fsync``, ``rename``, ``fsync`` of the folder.

The run's own files are never written; the journal lives in its own state folder.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

JOURNAL = "journal.jsonl"
"""File name of the journal inside the state folder."""


class JournalError(ValueError):
    """A journal that cannot be read back (damaged, or another program's file); the message says what to do."""


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """``{"shape": [...], "f32": base64}``: an exact, compact JSON form of a float array (stored as float32)."""
    x = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
    return {"shape": list(x.shape), "f32": base64.b64encode(x.tobytes()).decode("ascii")}


def decode_array(doc: Any) -> np.ndarray:
    """Inverse of :func:`encode_array`; a malformed value is a :class:`JournalError`."""
    try:
        raw = base64.b64decode(doc["f32"], validate=True)
        x = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        return x.reshape([int(s) for s in doc["shape"]])
    except (KeyError, TypeError, ValueError) as e:
        raise JournalError(f"a stored array is malformed ({type(e).__name__}: {e})") from e


def fsync_dir(path: Path) -> None:
    """``fsync`` a folder, so a file created or renamed in it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


class Journal:
    """An open journal file (module docstring); not thread-safe: the caller serialises writes.

    Use :meth:`open`, which also returns the records already in it.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def open(cls, path: Path) -> tuple[Journal, list[dict[str, Any]]]:
        """Open (creating it and its folder if needed) the journal at ``path``; return it and its records.

        An unterminated last line (a crash mid-write) is cut off; any other damage is a :class:`JournalError`.
        """
        path = Path(path)
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            fsync_dir(path.parent.parent)
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            if created:
                fsync_dir(path.parent)
            records = cls._read(path, fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd), records

    @staticmethod
    def _read(path: Path, fd: int) -> list[dict[str, Any]]:
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
        end = data.rfind(b"\n") + 1
        if end < len(data):  # unterminated tail: never acknowledged
            os.ftruncate(fd, end)
            os.fsync(fd)
        records: list[dict[str, Any]] = []
        for no, raw in enumerate(data[:end].splitlines(), 1):
            try:
                rec = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise JournalError(f"{path}, line {no}: not a JSON line ({e}); the journal is damaged. Move it "
                                   "away to start the service without its posted videos and interactions") from e
            if not isinstance(rec, dict) or not isinstance(rec.get("op"), str):
                raise JournalError(f"{path}, line {no}: not a journal record (no 'op'); is this hhfan's journal?")
            records.append(rec)
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line and ``fsync`` it; on failure the file is cut back and the error raised."""
        data = _line(record)
        pos = os.fstat(self._fd).st_size
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except BaseException:
            try:
                os.ftruncate(self._fd, pos)
                os.fsync(self._fd)
            except OSError:
                pass
            raise

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the whole journal with ``records``, atomically (module docstring)."""
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            for rec in records:
                _write_all(fd, _line(rec))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
