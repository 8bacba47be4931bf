"""Load a pickled scipy sparse matrix without letting the pickle run arbitrary code.

``pickle.load`` on a downloaded file executes whatever callables the file names, so a tampered
``trnMat.pkl`` could run shell commands. :func:`load_sparse_pickle` uses an unpickler whose
``find_class`` resolves only the handful of globals a scipy sparse matrix pickle needs and refuses
everything else with :class:`UnsafePickleError`.

Allowed globals (module paths old and new, all resolved to the modern objects, so no deprecated
module such as ``scipy.sparse.coo`` or ``numpy.core`` is ever imported):

* sparse classes: ``coo_matrix``/``csr_matrix``/``csc_matrix`` (and the ``*_array`` variants) from
  ``scipy.sparse.coo``/``csr``/``csc`` (scipy < 1.8, e.g. the MMSSL TikTok pickles) and
  ``scipy.sparse._coo``/``_csr``/``_csc`` (scipy >= 1.8);
* numpy array plumbing: ``numpy.ndarray``, ``numpy.dtype``, ``_reconstruct`` and ``scalar`` from
  ``numpy.core.multiarray``/``numpy._core.multiarray``, ``_frombuffer`` from ``numpy.core.numeric``/
  ``numpy._core.numeric`` (pickle protocol 5);
* ``_codecs.encode`` (how pickle protocol 2 stores ``bytes``; a pure function).

After loading, the object must be a scipy sparse matrix with numeric values and in-range indices.
"""

from __future__ import annotations

import importlib
import pickle
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
import scipy.sparse as sp

from hhfan.data.dataset import DatasetError


class UnsafePickleError(DatasetError):
    """A pickle names a global that a sparse-matrix pickle never needs; it was not loaded."""


_NP_MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")  # numpy >= 2 first, then numpy 1.x
_NP_NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")

# (module, name) as written in the pickle -> modules to resolve ``name`` from, first that imports wins.
_ALLOWED: dict[tuple[str, str], tuple[str, ...]] = {
    ("numpy", "ndarray"): ("numpy",),
    ("numpy", "dtype"): ("numpy",),
    ("_codecs", "encode"): ("_codecs",),
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _NP_MULTIARRAY
    _ALLOWED[(_mod, "scalar")] = _NP_MULTIARRAY
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_mod, "_frombuffer")] = _NP_NUMERIC
for _fmt in ("coo", "csr", "csc"):
    for _mod in (f"scipy.sparse.{_fmt}", f"scipy.sparse._{_fmt}"):
        for _kind in ("matrix", "array"):
            _ALLOWED[(_mod, f"{_fmt}_{_kind}")] = ("scipy.sparse",)  # public namespace: no warning


def _resolve(name: str, modules: tuple[str, ...]) -> Any:
    last: Exception | None = None
    for mod in modules:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError) as e:
            last = e
    raise AttributeError(f"cannot resolve {name} from {modules}") from last


class _SparseUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals listed in :data:`_ALLOWED`."""

    def __init__(self, file: IO[bytes], path: Path) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str, /) -> Any:
        modules = _ALLOWED.get((module, name))
        if modules is None:
            raise UnsafePickleError(
                f"{self._path}: refusing to load: the pickle references the global {module}.{name}, which a "
                "scipy sparse matrix pickle never needs (it could run arbitrary code). Only load pickles "
                "from a trusted source, or re-save the matrix with scipy.sparse.save_npz.")
        return _resolve(name, modules)


def _check_sparse(obj: Any, path: Path) -> sp.coo_matrix:
    if not sp.issparse(obj):
        raise DatasetError(f"{path}: holds a {type(obj).__module__}.{type(obj).__name__}, "
                           "expected a scipy sparse matrix")
    try:
        if obj.ndim != 2:
            raise ValueError(f"{obj.ndim}-d sparse array; expected 2-d")
        if obj.format in ("csr", "csc"):
            obj.check_format(full_check=True)
            m = sp.coo_matrix(obj)
        elif obj.format == "coo":
            shape = tuple(int(s) for s in obj.shape)
            row, col, data = np.asarray(obj.row), np.asarray(obj.col), np.asarray(obj.data)
            if not (row.ndim == col.ndim == data.ndim == 1 and row.shape == col.shape == data.shape):
                raise ValueError("row, col and data arrays differ in shape")
            if row.dtype.kind not in "iu" or col.dtype.kind not in "iu":
                raise ValueError("row/col indices are not integers")
            if row.size and (row.min() < 0 or row.max() >= shape[0] or col.min() < 0 or col.max() >= shape[1]):
                raise ValueError(f"indices out of range for shape {shape}")
            m = sp.coo_matrix((data, (row, col)), shape=shape)
        else:
            raise ValueError(f"unsupported sparse format {obj.format!r}")
    except DatasetError:
        raise
    except Exception as e:  # a hand-built pickle can leave any internal inconsistency
        raise DatasetError(f"{path}: holds an inconsistent scipy sparse matrix ({e})") from e
    if m.data.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: sparse matrix values have dtype {m.data.dtype}; expected numbers")
    return m


def load_sparse_pickle(path: Path) -> sp.coo_matrix:
    """Load a pickled scipy sparse matrix safely and return it as a :class:`scipy.sparse.coo_matrix`.

    Only the globals a sparse-matrix pickle needs are resolved (see the module docstring); any other
    global raises :class:`UnsafePickleError` naming the file and the global, before it is imported
    or called. A pickle of something other than a sparse matrix (dict, numpy array...) raises
    :class:`DatasetError`, as do a missing file and a corrupt pickle. csr/csc matrices are converted
    to COO; duplicate entries are kept as stored (callers decide what a duplicate means).
    """
    path = Path(path)
    if not path.is_file():
        state = "not a regular file (a folder, FIFO or device)" if path.exists() else "missing"
        raise DatasetError(f"{path}: {state}; expected a pickled scipy sparse matrix")
    with path.open("rb") as f:
        try:
            obj = _SparseUnpickler(f, path).load()
        except DatasetError:
            raise
        except Exception as e:  # UnpicklingError, EOFError, TypeError from a malformed stream...
            raise DatasetError(f"{path}: cannot be unpickled ({type(e).__name__}: {e}); "
                               "expected a pickled scipy sparse matrix") from e
    return _check_sparse(obj, path)
