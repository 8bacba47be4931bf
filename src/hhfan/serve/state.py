"""The service's state: the run's embeddings and index, the seen-sets, posted videos and interactions.

One :class:`ServeState` per served run. It is built from a loaded run (:func:`hhfan.runner.load_run`) and its
journal (:mod:`hhfan.serve.journal`), which it replays, so a restarted service has every posted video and
interaction back, with the very embeddings it answered with before.

Concurrency: every change (a posted video, posted interactions) takes one writer lock, is journaled (fsync)
and only then applied in memory, in journal order; readers take no lock and see each change whole or not at
all (the index publishes rows with one assignment; a user's posted seen-set is replaced, never mutated).
Embedding a new video (:mod:`hhfan.inductive`) happens outside the writer lock, one video at a time; two
concurrent posts of one id give one 201 and one 409. A second service on the same state folder is refused
(an exclusive ``flock`` on ``STATE_DIR/.lock``, released by the operating system when the process ends).

What changes at once after ``POST /interactions`` (and what waits for retraining) is :data:`INTERACTIONS_EFFECT`.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hhfan.data.split import TRAIN
from hhfan.graph.attach import Attacher
from hhfan.model.hhfan import HHFAN
from hhfan.runner import Run
from hhfan.serve.explain import PathExplainer, run_video_attributes
from hhfan.serve.index import IndexConfig, VideoIndex, is_inner_product, load_faiss, top_k
from hhfan.serve.journal import JOURNAL, Journal, JournalError, decode_array, encode_array
from hhfan.serve.schemas import (
    HealthOut,
    InteractionsIn,
    InteractionsOut,
    PathOut,
    RecommendationOut,
    RecommendationsOut,
    VideoIn,
    VideoOut,
)

JOURNAL_VERSION = 1

INTERACTIONS_EFFECT = (
    "at once: the user's seen-set (these videos are never recommended to the user again) and the popularity "
    "counts behind the fallback for unknown users. Until retraining: the user's embedding, its RWSS "
    "neighbourhood and the explanation paths are the run's (trained on the training interactions only); the "
    "neighbourhood is not re-sampled, because the model was trained on the run's frozen RWSS tables and one "
    "re-sampled user would get an embedding from a graph no other node sees")
"""What ``POST /interactions`` changes at once and what waits for retraining (also in the README)."""

FLOAT32_MAX = float(np.finfo(np.float32).max)

FAST_EXACT_ROWS = 20_000
"""Catalogues up to this size are searched exactly on the event loop (a matmul of well under a millisecond)."""


class ServeError(Exception):
    """A request the service refuses: HTTP ``status``, machine-readable ``code`` and a one-line ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class ServeBusyError(ValueError):
    """Another service process holds the state folder."""


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs.

    Attributes:
        index: when and how FAISS is used (:class:`~hhfan.serve.index.IndexConfig`).
        state_dir: where the journal lives; None = ``RUN_DIR/serve`` (the run's own files are never written).
        max_k: the largest ``k`` a request may ask for.
        paths_per_video: explanation paths returned per recommended video.
        embed_seed: seed passed to :func:`hhfan.inductive.embed_new_videos`.
        warmup: embed one probe video at start (compiles the sampler, finds out whether the model can embed a
            new video) so the first ``POST /videos`` is as fast as the others.
        use_faiss: False keeps every search exact even when faiss is installed.
        threads: torch (and FAISS) threads of this process, set when the state is built; 0 leaves them as they
            are. A service answers many small requests at once, so 1 (the CLI's default) is usually fastest.
    """

    index: IndexConfig = field(default_factory=IndexConfig)
    state_dir: Path | None = None
    max_k: int = 1000
    paths_per_video: int = 3
    embed_seed: int = 0
    warmup: bool = True
    use_faiss: bool = True
    threads: int = 0


@dataclass(frozen=True)
class PostedVideo:
    """A video added through ``POST /videos`` (as journaled)."""

    video_id: str
    features: dict[str, np.ndarray]
    tags: tuple[str, ...]
    text: str
    embedding: np.ndarray
    attributes: np.ndarray
    at: float


def inductive_module() -> ModuleType | None:
    """:mod:`hhfan.inductive` (new videos without retraining), or None when this build does not have it."""
    try:
        return importlib.import_module("hhfan.inductive")
    except ImportError:
        return None


def configure_threads(threads: int) -> None:
    """Thread settings of a serving process (a side effect on the whole process).

    * numba's parallel kernels (RWSS from a new video, :mod:`hhfan.graph.attach`) use the ``workqueue``
      threading layer when no numba parallel kernel has run in this process yet: the default OpenMP layer
      loads a second OpenMP runtime next to torch's, and on a small machine its spinning workers made every
      later torch call of the process (the user embeddings, Eq. 7 attention) 20x slower. ``workqueue`` is not
      safe for concurrent calls; the service calls it from one thread at a time (its embedding lock).
    * ``threads`` > 0: torch's intra-op threads (and FAISS's OpenMP threads) for this process.
    """
    import numba

    try:
        numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet: the layer can still be chosen
        numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]
    if threads > 0:
        torch.set_num_threads(threads)
        faiss = load_faiss()
        if faiss is not None:
            faiss.omp_set_num_threads(threads)


def user_attention(model: Any, batch_size: int = 4096) -> tuple[Tensor | None, list[str]]:
    """Eq. (7) weights ``[U, C]`` of every user's embedding (HHFAN's ``nodes_forward(users).alpha``), with the
    candidate names; ``(None, [])`` for other models. Computed once, in chunks, so an explained answer costs a
    lookup; the weights depend only on the user's fixed RWSS neighbourhood and the trained weights."""
    if not isinstance(model, HHFAN):
        return None, []
    with torch.no_grad():
        table = model.propagated_inputs() if model.ext.propagation else None
        users = torch.arange(model.num_users, device=model.device)
        alpha = torch.cat([model.nodes_forward(users[s : s + batch_size], table).alpha.float().cpu()
                           for s in range(0, model.num_users, batch_size)])
    return alpha, model.candidate_names()


def model_stamp(run: Run) -> str:
    """Identity of the served weights: SHA-256 of ``best.pt`` and the data fingerprint.

    Posted videos are embedded by these weights; a journal written under another stamp (the run was trained
    further or again) has its videos re-embedded at start.
    """
    h = hashlib.sha256(run.dataset.fingerprint().encode())
    with open(run.run_dir / "best.pt", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ServeState:
    """Everything the routes read and change (module docstring).

    Args:
        run: the loaded run (model in eval mode).
        config: service settings.
        say: where start-up notes go (a re-embedding after retraining, dropped records).
    """

    def __init__(self, run: Run, config: ServeConfig | None = None, say: Callable[[str], None] | None = None) -> None:
        self.run, self.config = run, config or ServeConfig()
        self.say = say or (lambda _m: None)
        ds, g = run.dataset, run.artifacts.graph
        self.model_name = run.config.model_name
        self.state_dir = Path(self.config.state_dir or run.run_dir / "serve")
        configure_threads(self.config.threads)
        self._write = threading.Lock()
        self._embed = threading.Lock()
        self._pending: set[str] = set()
        self._lock_fd = self._take_lock()
        try:
            self._setup(run, ds, g)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ start-up
    def _take_lock(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ServeBusyError(f"{self.state_dir} is in use by hhfan serve (process {other}); stop it, or serve "
                                 "this run with another state folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _setup(self, run: Run, ds: Any, g: Any) -> None:
        model = run.model
        with torch.no_grad():
            eu, ev = model.all_embeddings()
        self.user_emb = eu.detach().float().cpu()
        self._alpha, self._alpha_names = user_attention(model)
        self.num_run_videos = ds.num_videos
        self.user_row = {str(u): i for i, u in enumerate(ds.user_ids.tolist())}
        self.video_ids: list[str] = [str(v) for v in ds.video_ids.tolist()]
        self.video_row = {v: i for i, v in enumerate(self.video_ids)}
        it, train = ds.interactions, run.artifacts.split.mask(TRAIN)
        tu, tv = it.user[train].astype(np.int64), it.video[train].astype(np.int64)
        order = np.argsort(tu, kind="stable")
        self._seen_ptr = np.concatenate([[0], np.cumsum(np.bincount(tu, minlength=ds.num_users))])
        self._seen_rows = tv[order]
        self._posted_seen: dict[str, np.ndarray] = {}
        pop = np.bincount(tv, minlength=ds.num_videos).astype(np.float32)
        self._pop = np.zeros(max(16, pop.shape[0] * 5 // 4), np.float32)
        self._pop[: pop.shape[0]] = pop
        vt = ds.video_tags
        self._tag_ptr = np.concatenate([[0], np.cumsum(np.bincount(vt[:, 0], minlength=ds.num_videos))])
        self._tag_ids = vt[np.argsort(vt[:, 0], kind="stable"), 1] if vt.size else np.empty(0, np.int64)
        self.posted: dict[str, PostedVideo] = {}
        self._synthetic: dict[str, int] = {}
        self.posted_interactions = 0
        self.attacher = Attacher(ds, g, run.config.graph)  # a posted video's links (for its explanations)
        self.explainer = PathExplainer(run)
        self.inductive = inductive_module()
        self.stamp = model_stamp(run)
        self.journal, records = Journal.open(self.state_dir / JOURNAL)
        posted, interactions = self._replay(records)
        rows = [ev.detach().float().cpu()]
        if posted:
            rows.append(torch.from_numpy(np.stack([p.embedding for p in posted])))
        self.index = VideoIndex(torch.cat(rows), model.score_matrix, is_inner_product(model), self.config.index,
                                use_faiss=self.config.use_faiss)
        for p in posted:
            self._apply_video(p, add_to_index=False)
        for items in interactions:
            self._apply_interactions(items)
        self.new_videos = self.inductive is not None
        self.new_videos_reason = "" if self.inductive is not None else "this build has no hhfan.inductive"
        if self.config.warmup and self.inductive is not None:
            self.new_videos = self._warm_up()

    def _replay(self, records: list[dict[str, Any]]) -> tuple[list[PostedVideo], list[list[tuple[str, str]]]]:
        """Posted videos and interaction batches of the journal (re-embedded when the weights changed)."""
        where = self.state_dir / JOURNAL
        if not records:
            self.journal.append(self._header())
            return [], []
        head = records[0]
        if head.get("op") != "header" or head.get("version") != JOURNAL_VERSION:
            raise JournalError(f"{where}: does not start with a version-{JOURNAL_VERSION} header; is it hhfan's "
                               "journal? Move it away to start without its posted videos and interactions")
        posted: list[PostedVideo] = []
        interactions: list[list[tuple[str, str]]] = []
        seen_ids: set[str] = set()
        for no, rec in enumerate(records[1:], 2):
            try:
                if rec["op"] == "video":
                    p = _posted_from_record(rec)
                    if p.video_id in self.video_row:
                        self.say(f"posted video {p.video_id!r} is now part of the run's data; its journal entry "
                                 "is superseded")
                        continue
                    if p.video_id in seen_ids:
                        raise JournalError(f"video {p.video_id!r} is posted twice")
                    seen_ids.add(p.video_id)
                    posted.append(p)
                elif rec["op"] == "interactions":
                    interactions.append([(str(u), str(v)) for u, v, *_ in rec["items"]])
                else:
                    raise JournalError(f"unknown record kind {rec['op']!r}")
            except (KeyError, TypeError, ValueError) as e:
                raise JournalError(f"{where}, line {no}: unreadable record ({e}); the journal is damaged. Move it "
                                   "away to start without its posted videos and interactions") from e
        changed = head.get("model") != self.stamp or any(p.embedding.shape != (self.user_emb.shape[1],)
                                                         for p in posted)
        if changed:
            posted = self._reembed(posted)
            kept = {p.video_id for p in posted}
            body = [self._video_record(p) for p in posted]
            body += [r for r in records[1:] if r["op"] == "interactions"]
            self.journal.rewrite([self._header(), *body])
            if posted:
                self.say(f"the run's weights changed since {where} was written: {len(kept)} posted video(s) "
                         "re-embedded with the current model")
        known = set(self.video_row) | {p.video_id for p in posted}
        batches = []
        for items in interactions:
            ok = [(u, v) for u, v in items if v in known]
            if len(ok) < len(items):
                self.say(f"{len(items) - len(ok)} posted interaction(s) name videos no longer in the catalogue; "
                         "skipped")
            batches.append(ok)
        return posted, batches

    def _reembed(self, posted: list[PostedVideo]) -> list[PostedVideo]:
        if not posted:
            return []
        if self.inductive is None:
            raise JournalError(f"{self.state_dir / JOURNAL} holds {len(posted)} posted video(s) embedded by other "
                               "weights, and this build cannot embed new videos (no hhfan.inductive)")
        try:
            emb = self._embed_call(posted)
        except ValueError as e:  # ColdStartUnsupported included
            raise JournalError(f"{self.state_dir / JOURNAL}: its posted videos cannot be embedded by this run's "
                               f"model ({e}); serve it with a state folder of its own") from e
        out = []
        for p, row in zip(posted, emb, strict=True):
            out.append(PostedVideo(p.video_id, p.features, p.tags, p.text, row.numpy().astype(np.float32),
                                   self.links(p.features, p.tags), p.at))
        return out

    def _warm_up(self) -> bool:
        """Embed a probe copy of a run video; False when the model cannot embed new videos."""
        ds = self.run.dataset
        feats = {m: np.asarray(ds.features[m][0], np.float32) for m in ds.modalities}
        tags = tuple(str(ds.tag_names[t]) for t in self._tag_ids[self._tag_ptr[0] : self._tag_ptr[1]])
        probe = PostedVideo("__hhfan_warmup__", feats, tags, "", np.empty(0, np.float32), np.empty(0, np.int64), 0)
        try:
            self._embed_call([probe])
        except Exception as e:  # ColdStartUnsupported, or any failure: recommendations are served all the same
            self.new_videos_reason = str(e) or type(e).__name__
            self.say(f"warning: new videos cannot be posted to this run: {self.new_videos_reason}")
            return False
        return True

    def _header(self) -> dict[str, Any]:
        return {"op": "header", "version": JOURNAL_VERSION, "run": str(self.run.run_dir.resolve()),
                "fingerprint": self.run.dataset.fingerprint(), "model": self.stamp, "model_name": self.model_name,
                "dim": int(self.user_emb.shape[1]), "at": time.time()}

    def _video_record(self, p: PostedVideo) -> dict[str, Any]:
        return {"op": "video", "video_id": p.video_id, "features": {m: encode_array(x) for m, x in p.features.items()},
                "tags": list(p.tags), "text": p.text, "embedding": encode_array(p.embedding),
                "attributes": p.attributes.tolist(), "at": p.at}

    def close(self) -> None:
        """Close the journal and release the state folder (idempotent)."""
        journal = getattr(self, "journal", None)
        if journal is not None:
            journal.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ------------------------------------------------------------------ embedding
    def _embed_call(self, videos: Sequence[PostedVideo]) -> Tensor:
        """Embeddings ``[n, d]`` of ``videos`` from :func:`hhfan.inductive.embed_new_videos` (one call at a time)."""
        mod = self.inductive
        assert mod is not None
        new = [mod.NewVideo(video_id=p.video_id, features=dict(p.features), tags=tuple(p.tags), text=p.text)
               for p in videos]
        with self._embed, torch.no_grad():
            emb = mod.embed_new_videos(self.run, new, seed=self.config.embed_seed)
        out = torch.as_tensor(emb).detach().float().cpu().reshape(len(videos), -1)
        if out.shape[1] != self.user_emb.shape[1] or not bool(torch.isfinite(out).all()):
            raise RuntimeError(f"hhfan.inductive returned embeddings of shape {tuple(out.shape)} (finite: "
                               f"{bool(torch.isfinite(out).all())}); expected [n, {self.user_emb.shape[1]}]")
        return out

    # ------------------------------------------------------------------ reads
    def health(self) -> HealthOut:
        """``GET /health``."""
        return HealthOut(status="ok", model=self.model_name, run=str(self.run.run_dir), users=len(self.user_row),
                         videos=self.index.size, posted_videos=len(self.posted),
                         posted_interactions=self.posted_interactions, index=self.index.kind,
                         faiss_installed=load_faiss() is not None, new_videos=self.new_videos)

    def answers_fast(self, explain: bool) -> bool:
        """Whether a recommendation takes about a millisecond (FAISS, or a small inner-product catalogue)."""
        index = self.index
        return not explain and index.inner_product and (index.kind != "exact" or index.size <= FAST_EXACT_ROWS)

    def train_seen(self, u: int) -> np.ndarray:
        """Catalogue rows of user ``u``'s training interactions."""
        return self._seen_rows[self._seen_ptr[u] : self._seen_ptr[u + 1]]

    def seen(self, user_id: str) -> np.ndarray:
        """Every row the user has seen: training interactions (if the model knows the user) plus posted ones."""
        u = self.user_row.get(user_id)
        train = self.train_seen(u) if u is not None else np.empty(0, np.int64)
        posted = self._posted_seen.get(user_id)
        return train if posted is None else np.concatenate([train, posted])

    def recommend(self, user_id: str, k: int, explain: bool = False) -> RecommendationsOut:
        """Top-``k`` unseen videos of ``user_id``; an unknown user gets the popular fallback (never an error)."""
        u = self.user_row.get(user_id)
        seen = self.seen(user_id)
        if u is None:
            n = self.index.size
            scores, rows = top_k(torch.from_numpy(self._pop[:n]), k, np.unique(seen[seen < n]))
            recs = [RecommendationOut(video_id=self.video_ids[r], score=float(s))
                    for s, r in zip(scores.tolist(), rows.tolist(), strict=True)]
            return RecommendationsOut(user_id=user_id, k=k, fallback="popular", index="popular",
                                      recommendations=recs)
        index_kind = self.index.kind
        scores, rows = self.index.search(self.user_emb[u], k, seen)
        attention: dict[str, float] | None = None
        paths: list[tuple[list[PathOut], int]] | None = None
        if explain:
            attention = self.attention(u)
            paths = self.paths(u, rows.tolist())
        recs = [RecommendationOut(video_id=self.video_ids[r], score=float(s),
                                  paths=None if paths is None else paths[i][0],
                                  num_paths=None if paths is None else paths[i][1])
                for i, (s, r) in enumerate(zip(scores.tolist(), rows.tolist(), strict=True))]
        return RecommendationsOut(user_id=user_id, k=k, fallback=None, index=index_kind, recommendations=recs,
                                  attention=attention,
                                  relevance_kind=self.explainer.relevance_kind if explain else None)

    def attention(self, u: int) -> dict[str, float] | None:
        """Eq. (7) weights of user ``u``'s embedding over its candidates (HHFAN), else None."""
        if self._alpha is None:
            return None
        return dict(zip(self._alpha_names, self._alpha[u].tolist(), strict=True))

    def attributes(self, row: int) -> np.ndarray:
        """Attribute node ids of catalogue row ``row`` (the run's graph, or as linked when posted)."""
        if row < self.num_run_videos:
            return run_video_attributes(self.run.artifacts.graph, row)
        vid = self.video_ids[row]
        if vid in self._synthetic:
            return run_video_attributes(self.run.artifacts.graph, self._synthetic[vid])
        return self.posted[vid].attributes

    def paths(self, u: int, rows: Sequence[int]) -> list[tuple[list[PathOut], int]]:
        """Explanation paths of user ``u`` towards each of ``rows`` (the strongest, and how many in all)."""
        ex = self.explainer
        by_attr = ex.watched_index(np.unique(self.train_seen(u)).tolist(), self.attributes, self.index.row)
        out = []
        for r in rows:
            found, total = ex.paths(by_attr, r, self.attributes, self.index.row, self.config.paths_per_video)
            named = [(p, ex.name(p.attribute)) for p in found]
            out.append(([PathOut(watched=self.video_ids[p.watched], via=name, via_type=kind, relevance=p.relevance,
                                 watched_weight=p.watched_weight, candidate_weight=p.candidate_weight,
                                 walk_probability=p.walk_probability)
                         for p, (kind, name) in named], total))
        return out

    def video(self, video_id: str) -> VideoOut:
        """``GET /videos/{video_id}``; an unknown id is a 404."""
        row = self.video_row.get(video_id)
        if row is None:
            raise ServeError(404, "not_found", f"unknown video id {video_id!r}")
        n = int(self._pop[row])
        if row < self.num_run_videos:
            ds = self.run.dataset
            tags = [str(ds.tag_names[t]) for t in self._tag_ids[self._tag_ptr[row] : self._tag_ptr[row + 1]]]
            text = "" if ds.video_texts is None else str(ds.video_texts[row])
            return VideoOut(video_id=video_id, source="run", tags=tags, linked_tags=tags, text=text,
                            modalities={m: int(ds.features[m].shape[1]) for m in ds.modalities}, interactions=n)
        if video_id in self._synthetic:
            return VideoOut(video_id=video_id, source="synthetic", tags=[], linked_tags=[], text="", modalities={},
                            interactions=n)
        p = self.posted[video_id]
        return VideoOut(video_id=video_id, source="posted", tags=list(p.tags),
                        linked_tags=[t for t in p.tags if t in self.attacher.tag_index], text=p.text,
                        modalities={m: int(x.shape[0]) for m, x in p.features.items()}, interactions=n)

    # ------------------------------------------------------------------ writes
    def links(self, features: dict[str, np.ndarray], tags: Sequence[str]) -> np.ndarray:
        """Global ids of the attribute nodes a posted video links to (codewords and tags, as the graph builder)."""
        return self.attacher.links([features], [tags])[0]

    def check_video(self, body: VideoIn) -> dict[str, np.ndarray]:
        """The features of a posted video as float32 arrays, or a 422 naming the field at fault."""
        ds = self.run.dataset
        feats: dict[str, np.ndarray] = {}
        for m, values in body.features.items():
            if m not in ds.features:
                have = ", ".join(ds.modalities) or "none"
                raise ServeError(422, "invalid", f"body.features.{m}: the run has no modality {m!r} (its "
                                 f"modalities: {have})")
            want = int(ds.features[m].shape[1])
            if len(values) != want:
                raise ServeError(422, "invalid", f"body.features.{m}: expected {want} values, got {len(values)}")
            x = np.asarray(values, dtype=np.float64)
            if np.abs(x).max(initial=0.0) > FLOAT32_MAX:
                raise ServeError(422, "invalid", f"body.features.{m}: values beyond the float32 range")
            feats[m] = x.astype(np.float32)
        for m in ds.modalities:
            if m not in body.features:
                raise ServeError(422, "invalid", f"body.features.{m}: missing; a new video needs every modality of "
                                 f"the run ({', '.join(ds.modalities)})")
        for i, t in enumerate(body.tags):
            if t not in self.attacher.tag_index:
                known = self.attacher.tag_index
                have = f"{len(known)} known tags" if known else "the run's dataset has no tags"
                raise ServeError(422, "invalid", f"body.tags[{i}]: unknown tag {t!r} ({have})")
        return feats

    def add_video(self, body: VideoIn) -> VideoOut:
        """``POST /videos``: embed, journal, index (module docstring); 409 for an id the catalogue has."""
        feats = self.check_video(body)
        vid = body.video_id
        with self._write:
            if vid in self.video_row or vid in self._pending:
                raise ServeError(409, "video_exists", f"body.video_id: video {vid!r} already exists")
            if not self.new_videos:
                raise ServeError(422, "cold_start_unsupported", f"new videos cannot be posted to this run (model "
                                 f"{self.model_name!r}): {self.new_videos_reason}")
            self._pending.add(vid)
        try:
            p = PostedVideo(vid, feats, tuple(body.tags), body.text, np.empty(0, np.float32),
                            np.empty(0, np.int64), time.time())
            try:
                emb = self._embed_call([p])[0].numpy().astype(np.float32)
            except ValueError as e:
                unsupported = getattr(self.inductive, "ColdStartUnsupported", ())
                code = "cold_start_unsupported" if isinstance(e, unsupported) else "invalid"
                raise ServeError(422, code, f"body: {e}") from None
            p = PostedVideo(vid, feats, p.tags, p.text, emb, self.links(feats, p.tags), p.at)
            with self._write:
                try:
                    self.journal.append(self._video_record(p))
                except OSError as e:
                    raise ServeError(503, "unavailable", f"the journal could not be written ({e.strerror or e}); "
                                     f"video {vid!r} was not added") from None
                self._apply_video(p, add_to_index=True)
        finally:
            with self._write:
                self._pending.discard(vid)
        return self.video(vid)

    def _apply_video(self, p: PostedVideo, add_to_index: bool) -> None:
        row = len(self.video_ids)
        if add_to_index:
            got = self.index.add(torch.from_numpy(p.embedding).reshape(1, -1))
            assert got == row, (got, row)
        if row >= self._pop.shape[0]:
            grown = np.zeros(2 * self._pop.shape[0], np.float32)
            grown[: self._pop.shape[0]] = self._pop
            self._pop = grown
        self.posted[p.video_id] = p
        self.video_ids.append(p.video_id)
        self.video_row[p.video_id] = row  # last: the id is visible only once everything else is in place

    def add_synthetic_videos(self, ids: Sequence[str], embeddings: Tensor, like: np.ndarray) -> None:
        """Load tests only: append videos that live in memory only (never journaled, gone after a restart).

        Video ``ids[i]`` gets embedding row ``embeddings[i]`` and the attribute links of run video ``like[i]``
        (so explanations find paths to it); ``benchmarks/serve.py`` grows the catalogue to 300,000 this way.
        """
        like = np.asarray(like, dtype=np.int64)
        if len(ids) != embeddings.shape[0] or like.shape != (len(ids),):
            raise ValueError("ids, embeddings and like must describe the same videos")
        with self._write:
            clash = next((v for v in ids if v in self.video_row or v in self._pending), None)
            if clash is not None or len(set(ids)) != len(ids):
                raise ValueError(f"synthetic video id {clash!r} is not new (or ids repeat)")
            row = self.index.add(embeddings)
            end = row + len(ids)
            if end > self._pop.shape[0]:
                grown = np.zeros(max(2 * self._pop.shape[0], end), np.float32)
                grown[: self._pop.shape[0]] = self._pop
                self._pop = grown
            for i, v in enumerate(ids):
                self._synthetic[v] = int(like[i])
                self.video_ids.append(v)
                self.video_row[v] = row + i

    def add_interactions(self, body: InteractionsIn) -> InteractionsOut:
        """``POST /interactions``: journal, then update seen-sets and popularity (:data:`INTERACTIONS_EFFECT`)."""
        items = [(i.user_id, i.video_id) for i in body.interactions]
        for j, (_, v) in enumerate(items):
            if v not in self.video_row:
                raise ServeError(422, "unknown_video", f"body.interactions[{j}].video_id: unknown video {v!r}")
        with self._write:
            try:
                self.journal.append({"op": "interactions", "at": time.time(), "items": [
                    [i.user_id, i.video_id, i.timestamp] for i in body.interactions]})
            except OSError as e:
                raise ServeError(503, "unavailable", f"the journal could not be written ({e.strerror or e}); "
                                 "no interaction was recorded") from None
            new = self._apply_interactions(items)
        unknown = sorted({u for u, _ in items if u not in self.user_row})
        return InteractionsOut(accepted=len(items), new=new, unknown_users=unknown, effective=INTERACTIONS_EFFECT)

    def _apply_interactions(self, items: Sequence[tuple[str, str]]) -> int:
        """Apply journaled interactions (under the writer lock or at start); return how many pairs were new."""
        by_user: dict[str, list[int]] = {}
        for u, v in items:
            by_user.setdefault(u, []).append(self.video_row[v])
        new = 0
        for u, rows in by_user.items():
            before = self.seen(u)
            fresh = np.setdiff1d(np.asarray(rows, np.int64), before)
            new += int(fresh.shape[0])
            old = self._posted_seen.get(u, np.empty(0, np.int64))
            self._posted_seen[u] = np.union1d(old, fresh)  # replaced, never mutated: readers see old or new
            np.add.at(self._pop, np.asarray(rows, np.int64), 1.0)
        self.posted_interactions += len(items)
        return new


def _posted_from_record(rec: dict[str, Any]) -> PostedVideo:
    """A :class:`PostedVideo` from its journal record (KeyError/TypeError/ValueError when malformed)."""
    feats = {str(m): decode_array(x).reshape(-1) for m, x in dict(rec["features"]).items()}
    return PostedVideo(str(rec["video_id"]), feats, tuple(str(t) for t in rec["tags"]), str(rec.get("text", "")),
                       decode_array(rec["embedding"]).reshape(-1),
                       np.asarray(rec.get("attributes", []), dtype=np.int64), float(rec.get("at", 0.0)))
