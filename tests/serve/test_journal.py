"""The journal: exact arrays, fsync'd appends, a torn tail dropped, damage refused, failed writes cut back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hhfan.serve import journal as jmod
from hhfan.serve.journal import Journal, JournalError, decode_array, encode_array


def test_arrays_round_trip_exactly() -> None:
    x = np.array([[1.0, -0.1, 3.4e38], [np.float32(1e-40), 0.0, 2.5]], dtype=np.float32)
    y = decode_array(encode_array(x))
    assert y.dtype == np.float32 and y.shape == (2, 3) and y.tobytes() == x.tobytes()
    with pytest.raises(JournalError, match="malformed"):
        decode_array({"shape": [3], "f32": "AAAA"})


def test_records_come_back_in_order_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "state" / "journal.jsonl"
    j, recs = Journal.open(path)
    assert recs == [] and path.exists()
    for i in range(3):
        j.append({"op": "x", "i": i})
    j.close()
    whole = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b'{"op": "x", "i": 3')  # a crash mid-write
    j, recs = Journal.open(path)
    assert [r["i"] for r in recs] == [0, 1, 2] and path.read_bytes() == whole
    j.append({"op": "x", "i": 4})
    j.close()
    assert [r["i"] for r in Journal.open(path)[1]] == [0, 1, 2, 4]


@pytest.mark.parametrize(("line", "message"), [(b"not json\n", "line 2: not a JSON line"),
                                               (b'["op"]\n', "line 2: not a journal record")])
def test_damage_before_the_tail_is_refused_with_the_line(tmp_path: Path, line: bytes, message: str) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"op": "header"}\n' + line + b'{"op": "x"}\n')
    with pytest.raises(JournalError, match=message):
        Journal.open(path)


def test_a_failed_write_is_cut_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    j, _ = Journal.open(path)
    j.append({"op": "x", "i": 0})
    before = path.read_bytes()
    calls = {"n": 0}
    real = os.fsync

    def failing(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(jmod.os, "fsync", failing)
    with pytest.raises(OSError, match="No space"):
        j.append({"op": "x", "i": 1, "pad": "y" * 1000})
    assert path.read_bytes() == before
    monkeypatch.undo()
    j.append({"op": "x", "i": 2})
    j.close()
    assert [r["i"] for r in Journal.open(path)[1]] == [0, 2]


def test_rewrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j, _ = Journal.open(path)
    for i in range(5):
        j.append({"op": "x", "i": i})
    j.rewrite([{"op": "header"}, {"op": "x", "i": 9}])
    j.append({"op": "x", "i": 10})
    j.close()
    assert [r.get("i") for r in Journal.open(path)[1]] == [None, 9, 10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.jsonl"]
