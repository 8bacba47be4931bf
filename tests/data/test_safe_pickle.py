"""Tests for the restricted sparse-matrix unpickler (no payload in these tests is ever executed)."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from hhfan.data.dataset import DatasetError
from hhfan.data.importers.safe_pickle import UnsafePickleError, load_sparse_pickle


class _ShellPayload:
    """Pickles as a call to ``os.system``; only ever pickled here, never unpickled by plain pickle."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


class _EvalPayload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, ("1 + 1",))


def _write(path: Path, obj: object, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _matrix() -> sp.coo_matrix:
    return sp.coo_matrix((np.array([1.0, 2.0, 1.0]), (np.array([0, 2, 3]), np.array([1, 0, 2]))), shape=(4, 3))


@pytest.mark.parametrize("payload", [_ShellPayload(), _EvalPayload()])
def test_code_execution_payload_is_refused(tmp_path: Path, payload: object) -> None:
    path = _write(tmp_path / "evil.pkl", payload)
    with pytest.raises(UnsafePickleError) as err:
        load_sparse_pickle(path)
    msg = str(err.value)
    assert str(path) in msg
    assert ("system" in msg) if isinstance(payload, _ShellPayload) else ("builtins.eval" in msg)
    assert isinstance(err.value, DatasetError)


def test_payload_hidden_inside_a_sparse_matrix_is_refused(tmp_path: Path) -> None:
    m = sp.coo_matrix((np.ones(2), (np.array([0, 1]), np.array([0, 1]))), shape=(2, 2))
    m.data = np.array([_ShellPayload(), _ShellPayload()], dtype=object)  # scipy would refuse this dtype
    assert b"system" in pickle.dumps(m)
    with pytest.raises(UnsafePickleError, match="system"):
        load_sparse_pickle(_write(tmp_path / "hidden.pkl", m))


@pytest.mark.parametrize(("obj", "kind"), [({"a": 1}, "builtins.dict"),
                                           (np.arange(6.0).reshape(2, 3), "numpy.ndarray"),
                                           ([1, 2, 3], "builtins.list")])
def test_non_sparse_objects_are_refused(tmp_path: Path, obj: object, kind: str) -> None:
    path = _write(tmp_path / "x.pkl", obj)
    with pytest.raises(DatasetError, match="expected a scipy sparse matrix") as err:
        load_sparse_pickle(path)
    assert f"holds a {kind}" in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("fmt", ["coo", "csr", "csc", "coo_array"])
def test_sparse_matrices_round_trip(tmp_path: Path, protocol: int, fmt: str) -> None:
    m = _matrix()
    obj: object = sp.coo_array(m) if fmt == "coo_array" else m.asformat(fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = load_sparse_pickle(_write(tmp_path / "m.pkl", obj, protocol))
    assert isinstance(got, sp.coo_matrix)
    assert got.shape == (4, 3)
    np.testing.assert_array_equal(got.toarray(), m.toarray())


def test_legacy_module_paths_load_without_deprecation_warning(tmp_path: Path) -> None:
    """Pickles written by scipy < 1.8 / numpy 1.x (like MMSSL's) name scipy.sparse.coo and numpy.core."""
    raw = pickle.dumps(_matrix(), protocol=3)  # protocol 3 writes globals as text lines
    legacy = raw.replace(b"cscipy.sparse._coo\ncoo_matrix\n", b"cscipy.sparse.coo\ncoo_matrix\n")
    legacy = legacy.replace(b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n")
    assert b"scipy.sparse.coo\n" in legacy and b"numpy.core.multiarray\n" in legacy
    path = tmp_path / "legacy.pkl"
    path.write_bytes(legacy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = load_sparse_pickle(path)
    np.testing.assert_array_equal(got.toarray(), _matrix().toarray())


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing"):
        load_sparse_pickle(tmp_path / "nope.pkl")
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(_matrix())[:40])
    with pytest.raises(DatasetError, match="cannot be unpickled"):
        load_sparse_pickle(path)


def test_inconsistent_matrix_is_refused(tmp_path: Path) -> None:
    m = _matrix()
    raw = pickle.dumps(m, protocol=3)
    bad = sp.coo_matrix(m)
    bad.row[:] = np.array([0, 9, 3], dtype=bad.row.dtype)  # row 9 is outside the 4 x 3 shape
    path = _write(tmp_path / "bad.pkl", bad, 3)
    assert raw != path.read_bytes()
    with pytest.raises(DatasetError, match="inconsistent"):
        load_sparse_pickle(path)
