"""The video index of the service: a growable embedding matrix with exact top-K, and FAISS past a size.

* **Exact** (default): the user's row is scored against every video with the model's own
  :meth:`~hhfan.model.base.Recommender.score_matrix` (a torch matmul for inner-product models, the model's
  pair scorer for NeuMF, DeepFM, SemRec...), seen videos are set to ``-inf`` and ``torch.topk`` picks the K.
* **FAISS** (optional extra ``faiss-cpu``), only for inner-product models and only once the catalogue holds
  at least :attr:`IndexConfig.faiss_min_videos` videos:

  - ``ivf`` (default): an ``IndexIVFFlat`` that scans ``nprobe`` of ``nlist`` cells. Inner-product search is
    turned into nearest-neighbour search first (the standard reduction of Bachrach et al., RecSys 2014):
    every row ``x`` becomes ``[x, sqrt(M² - |x|²)]`` with ``M`` a bound on the row norms, the query ``[q, 0]``,
    so ``|q' - x'|² = |q|² + M² - 2 qᵀx`` and the nearest rows are exactly those of largest ``qᵀx``. An IVF
    over inner products directly assigns rows to the cells of large-norm centroids; on a run's embeddings
    (norms vary with popularity) its recall@10 with ``sqrt(n)`` cells, 32 probed, was 0.76 on the serving
    benchmark's catalogue, where this reduction gave 1.0.
    ``M`` is 1.25 times the largest norm at build time; a row added later with a larger norm is kept out of
    the IVF and scored exactly with every query (an *overflow* list) until a background rebuild with a new
    bound takes it in (once the overflow holds more than 1 % of the catalogue or 1,000 rows).
  - ``flat``: an ``IndexFlatIP`` (exact, FAISS's own kernels).

  The candidates FAISS returns are re-scored exactly (``qᵀx`` of their rows), so every score equals the exact
  path's. Seen videos are removed by asking for ``k + |seen|`` and filtering; when fewer than K survive (the
  probed cells held too few unseen videos), that query is answered exactly. Without faiss installed the index
  stays exact at any size (and :attr:`VideoIndex.kind` says so).

New rows (``POST /videos``) are appended in place (the matrix grows by doubling); a reader takes one
``(matrix, count)`` snapshot, so it never sees a half-added row. When the catalogue first reaches the FAISS
size while serving, the FAISS index is built on a background thread and swapped in when complete (queries
stay exact until then).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from hhfan.model.base import Recommender

Scorer = Callable[[Tensor, Tensor], Tensor]
"""``score_matrix(user_rows [B, d], video_rows [N, d]) -> [B, N]`` logits."""


def load_faiss() -> ModuleType | None:
    """The ``faiss`` module, or None when the optional extra is not installed."""
    try:
        return importlib.import_module("faiss")
    except ImportError:
        return None


def is_inner_product(model: Recommender) -> bool:
    """Whether ``model`` ranks by ``E_uᵀE_v`` (it keeps :class:`Recommender`'s ``score`` and ``score_matrix``).

    Only such models may be searched by FAISS; NeuMF, DeepFM, SemRec and any model that overrides the scorer
    are always searched exactly with their own ``score_matrix``.
    """
    cls = type(model)
    return cls.score_matrix is Recommender.score_matrix and cls.score is Recommender.score


@dataclass(frozen=True)
class IndexConfig:
    """How the catalogue is searched.

    Attributes:
        faiss_min_videos: catalogue size from which an inner-product model is searched with FAISS (when
            installed); smaller catalogues, and models that do not score by inner product, are searched
            exactly. 0 = never FAISS.
        faiss_kind: ``ivf`` (``IndexIVFFlat``, inner product: scans ``nprobe`` of ``nlist`` cells) or ``flat``
            (``IndexFlatIP``: exact, FAISS's own kernels).
        nlist: IVF cells; 0 = ``round(4 * sqrt(n))`` of the catalogue at build time (FAISS's rule of thumb is 4 to
            16 times ``sqrt(n)``; with 32 probes: recall@10 1.0 and 0.8 ms a query on the serving benchmark's
            300,000 videos, where ``sqrt(n)`` cells needed 24 probes and 1.2 ms).
        nprobe: IVF cells scanned per query (recall against cost; the tests hold recall@10 >= 0.99, and the
            serving benchmark measures it on its 300,000-video catalogue).
        train_sample: rows the IVF quantiser is trained on (a seeded sample of the catalogue; at least 40 per cell).
        seed: seed of that sample.
    """

    faiss_min_videos: int = 100_000
    faiss_kind: str = "ivf"
    nlist: int = 0
    nprobe: int = 32
    train_sample: int = 100_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.faiss_min_videos < 0:
            raise ValueError(f"faiss_min_videos must be >= 0, got {self.faiss_min_videos}")
        if self.faiss_kind not in ("ivf", "flat"):
            raise ValueError(f"faiss_kind must be ivf or flat, got {self.faiss_kind!r}")
        if self.nlist < 0 or self.nprobe < 1 or self.train_sample < 1:
            raise ValueError("nlist must be >= 0, nprobe and train_sample >= 1")


class VideoIndex:
    """Every video's embedding ``[n, d]`` (rows in catalogue order) and top-K search over it (module docstring).

    Args:
        embeddings: float32 ``[n, d]`` initial rows (the run's videos, in the run's order).
        scorer: the model's ``score_matrix``.
        inner_product: whether ``scorer`` is ``E_uᵀE_v`` (:func:`is_inner_product`); FAISS only then.
        config: when and how FAISS is used.
        use_faiss: False keeps the index exact whatever the size (also when faiss is installed).
    """

    def __init__(self, embeddings: Tensor, scorer: Scorer, inner_product: bool, config: IndexConfig | None = None,
                 use_faiss: bool = True) -> None:
        emb = embeddings.detach().to(torch.float32).cpu().contiguous()
        if emb.ndim != 2:
            raise ValueError(f"embeddings must be [n, d], got shape {tuple(emb.shape)}")
        self.config = config or IndexConfig()
        self.scorer = scorer
        self.inner_product = inner_product
        self.dim = int(emb.shape[1])
        cap = max(16, int(emb.shape[0]) * 5 // 4)
        buf = torch.empty(cap, self.dim, dtype=torch.float32)
        buf[: emb.shape[0]] = emb
        self._view: tuple[Tensor, int] = (buf, int(emb.shape[0]))
        self._faiss_mod = load_faiss() if use_faiss and inner_product and self.config.faiss_min_videos > 0 else None
        self._faiss: _Faiss | None = None
        self._faiss_rows = 0  # rows of the catalogue already in the FAISS index
        self._lock = threading.Lock()  # rows appended, FAISS added to or searched
        self._building: threading.Thread | None = None
        if self._wants_faiss(self._view[1]):
            self._install(self._build(buf[: self._view[1]]), self._view[1])

    # ------------------------------------------------------------------ state
    @property
    def size(self) -> int:
        """Number of videos in the index."""
        return self._view[1]

    @property
    def kind(self) -> str:
        """``exact``, ``faiss-ivf`` or ``faiss-flat``: how queries are answered now."""
        return f"faiss-{self.config.faiss_kind}" if self._faiss is not None else "exact"

    @property
    def faiss_available(self) -> bool:
        """Whether this index may use FAISS at all (installed, inner-product model, not disabled)."""
        return self._faiss_mod is not None

    def rows(self) -> Tensor:
        """The current ``[n, d]`` embeddings (a view; rows never change once added)."""
        buf, n = self._view
        return buf[:n]

    def row(self, i: int) -> Tensor:
        """Embedding ``[d]`` of video row ``i``."""
        return self._view[0][i]

    def _wants_faiss(self, n: int) -> bool:
        return self._faiss_mod is not None and self._faiss is None and n >= self.config.faiss_min_videos

    # ------------------------------------------------------------------ FAISS
    def _build(self, rows: Tensor) -> _Faiss:
        """A FAISS index over ``rows`` (trained for IVF), not yet installed."""
        assert self._faiss_mod is not None
        return _Faiss(self._faiss_mod, np.ascontiguousarray(rows.numpy(), dtype=np.float32), self.config)

    def _install(self, index: _Faiss, rows_in: int) -> None:
        """Make ``index`` (holding rows ``0..rows_in-1``) the live one, adding rows appended meanwhile."""
        with self._lock:
            buf, n = self._view
            if n > rows_in:
                index.add(np.ascontiguousarray(buf[rows_in:n].numpy(), dtype=np.float32), rows_in)
            self._faiss, self._faiss_rows = index, n
            self._building = None

    def _build_in_background(self) -> None:
        """Build from a snapshot on a thread; called with ``self._lock`` held or before serving."""
        buf, n = self._view
        rows = buf[:n].clone()

        def work() -> None:
            """Build, then install (adding the rows appended meanwhile)."""
            self._install(self._build(rows), n)

        self._building = threading.Thread(target=work, name="hhfan-faiss-build", daemon=True)
        self._building.start()

    def wait_for_build(self, timeout: float | None = None) -> None:
        """Block until a background FAISS build (if any) has finished."""
        thread = self._building
        if thread is not None:
            thread.join(timeout)

    # ------------------------------------------------------------------ writes
    def add(self, rows: Tensor) -> int:
        """Append ``rows`` ``[m, d]``; return the catalogue row of the first one. Not concurrent with itself."""
        rows = rows.detach().to(torch.float32).cpu().reshape(-1, self.dim)
        with self._lock:
            buf, n = self._view
            m = int(rows.shape[0])
            if n + m > buf.shape[0]:
                grown = torch.empty(max(2 * buf.shape[0], n + m), self.dim, dtype=torch.float32)
                grown[:n] = buf[:n]
                buf = grown
            buf[n : n + m] = rows
            self._view = (buf, n + m)  # one assignment: readers see the old or the new count, both complete
            if self._faiss is not None:
                self._faiss.add(np.ascontiguousarray(rows.numpy(), dtype=np.float32), n)
                self._faiss_rows = n + m
                if self._faiss.overflow.shape[0] > max(1000, (n + m) // 100) and self._building is None:
                    self._build_in_background()  # many norms beyond the IVF's bound: a new bound
            elif self._wants_faiss(n + m) and self._building is None:
                self._build_in_background()
        return n

    # ------------------------------------------------------------------ reads
    def search(self, query: Tensor, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows for one user embedding ``query [d]``, never a row of ``exclude``.

        Returns ``(scores float32 [k'], rows int64 [k'])``, best first, ``k' = min(k, n - |exclude|)``.
        """
        excl = np.asarray(exclude if exclude is not None else [], dtype=np.int64)
        if self._faiss is not None:
            hit = self._search_faiss(query, k, excl)
            if hit is not None:
                return hit
        return self.search_exact(query, k, excl)

    def search_exact(self, query: Tensor, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` with the model's scorer (see :meth:`search`)."""
        buf, n = self._view
        excl = np.unique(np.asarray(exclude if exclude is not None else [], dtype=np.int64))
        excl = excl[(excl >= 0) & (excl < n)]
        with torch.no_grad():
            scores = self.scorer(query.reshape(1, -1).to(torch.float32), buf[:n])[0].float()
        return top_k(scores, k, excl)

    def _search_faiss(self, query: Tensor, k: int, excl: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        # small arrays throughout (k + |seen| candidates): plain sets and numpy, no torch op overhead
        q = np.ascontiguousarray(query.detach().to(torch.float32).cpu().numpy().reshape(1, -1))
        seen = set(excl.tolist())
        with self._lock:
            n, index = self._faiss_rows, self._faiss
            if index is None:
                return None
            ids = index.search(q, min(k + len(seen), n))
        cand = np.fromiter(dict.fromkeys(i for i in ids.tolist() if i >= 0 and i not in seen), dtype=np.int64)
        if cand.shape[0] < min(k, n - sum(1 for e in seen if 0 <= e < n)):
            return None  # the probed cells held too few unseen videos: answer exactly
        scores = self._view[0].numpy()[cand] @ q[0]  # exact qᵀx of the candidates
        order = np.argsort(-scores, kind="stable")[:k]
        return scores[order].astype(np.float32), cand[order]


class _Faiss:
    """A built FAISS index over catalogue rows ``0..n-1`` (module docstring: the IVF's inner-product reduction).

    Args:
        faiss: the faiss module.
        x: float32 ``[n, d]`` rows.
        config: ``faiss_kind``, ``nlist``, ``nprobe``, ``train_sample``, ``seed``.
    """

    NORM_MARGIN = 1.25

    def __init__(self, faiss: ModuleType, x: np.ndarray, config: IndexConfig) -> None:
        self.kind = config.faiss_kind
        d = x.shape[1]
        self.bound = 0.0
        self.overflow = np.empty(0, np.int64)  # rows kept out of the IVF (norm beyond the bound), scored exactly
        if self.kind == "flat":
            self.index = faiss.IndexFlatIP(d)
        else:
            norms = np.linalg.norm(x, axis=1)
            self.bound = float(self.NORM_MARGIN * max(float(norms.max(initial=0.0)), 1e-6))
            nlist = min(config.nlist or max(1, round(4.0 * float(np.sqrt(x.shape[0])))), max(x.shape[0], 1))
            self.quantiser = faiss.IndexFlatL2(d + 1)
            self.index = faiss.IndexIVFFlat(self.quantiser, d + 1, nlist, faiss.METRIC_L2)
            rng = np.random.default_rng(config.seed)
            m = min(x.shape[0], max(config.train_sample, 40 * nlist))  # FAISS wants >= 39 rows per cell
            rows = np.arange(x.shape[0]) if m == x.shape[0] else np.sort(rng.choice(x.shape[0], m, replace=False))
            self.index.train(self._lift(x[rows])[0])
            self.index.nprobe = min(config.nprobe, nlist)
        self.add(x, 0)

    def _lift(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[x, sqrt(M² - |x|²)]`` and, per row, whether its norm is within ``M``."""
        sq = (x.astype(np.float64) ** 2).sum(axis=1)
        fits = sq <= self.bound**2
        extra = np.sqrt(np.maximum(self.bound**2 - sq, 0.0)).astype(np.float32)
        return np.ascontiguousarray(np.hstack([x, extra[:, None]]), dtype=np.float32), fits

    def add(self, x: np.ndarray, start: int) -> None:
        """Add rows ``start..start+len(x)-1``; an IVF keeps rows with a norm beyond its bound in :attr:`overflow`."""
        if self.kind == "flat":
            self.index.add(x)
            return
        lifted, fits = self._lift(x)
        ids = np.arange(start, start + x.shape[0], dtype=np.int64)
        if not fits.all():
            self.overflow = np.concatenate([self.overflow, ids[~fits]])
        if fits.any():
            self.index.add_with_ids(np.ascontiguousarray(lifted[fits]), ids[fits])

    def search(self, q: np.ndarray, n: int) -> np.ndarray:
        """Candidate rows (int64, -1 for empty slots): the ``n`` of largest ``qᵀx`` FAISS finds, and the overflow."""
        if self.kind != "flat":
            q = np.ascontiguousarray(np.hstack([q, np.zeros((q.shape[0], 1), np.float32)]), dtype=np.float32)
        _, ids = self.index.search(q, n)
        return np.concatenate([np.asarray(ids[0], dtype=np.int64), self.overflow])


def top_k(scores: Tensor, k: int, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best entries of ``scores [n]`` outside ``exclude`` (unique valid rows), best first."""
    n = int(scores.shape[0])
    if exclude.size:
        scores = scores.clone()
        scores[torch.from_numpy(exclude)] = -torch.inf
    m = min(k, n - int(exclude.shape[0]))
    if m <= 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    top = torch.topk(scores, m)
    return top.values.numpy().astype(np.float32), top.indices.numpy().astype(np.int64)
