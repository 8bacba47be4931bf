"""Why a video is recommended to a user: watched → attribute → candidate paths, with a relevance each (§IV-G).

Given a loaded run (:class:`hhfan.runner.Run`) and a user, :func:`explain` returns the user's watched
videos (their *training* interactions), the top-k recommendations (:func:`hhfan.runner.recommend`: unseen
videos by score), and for each recommendation ``c`` the strongest paths ``w → a → c`` from a watched video
``w`` through an attribute node ``a`` (a tag, or an image / audio / text codeword) that both videos link to
in the run's M-HIG. That graph is built from training interactions only, and video–attribute edges come
from the videos' own content, so no path uses a validation or test interaction. With HHFAN, the Eq. (7)
attention weights α behind the user's and each candidate's embedding come too
(``HHFAN.nodes_forward(...).alpha``, named by ``HHFAN.candidate_names()``).

Relevance of a path (the paper's case study highlights "the (unnormalized) relevance probability between
videos and tags"; here it is normalised per video, so it is a probability):

.. math::

    r(v, a) = \\frac{\\exp\\langle E_v, f(a)\\rangle}{\\sum_{a' \\in A(v)} \\exp\\langle E_v, f(a')\\rangle},
    \\qquad \\mathrm{relevance}(w \\to a \\to c) = r(w, a)\\, r(c, a)

``E_v`` is the video's final embedding (Eq. 6, the one the score ``⟨E_u, E_c⟩`` uses), ``f(a)`` the attribute
node's transferred embedding (Eq. 1) and ``A(v)`` the attribute neighbours of ``v`` in the M-HIG among the
types the model embeds. So ``r(v, ·)`` is a distribution over ``v``'s own attribute edges (the normalised
edge weights the model's representations give them) and a path's relevance is the product of the two
normalised edge weights along it: in (0, 1], and for a fixed watched/candidate pair the relevances of all
their shared attributes sum to at most 1. It says which shared attributes both representations lean on;
it is an explanation, not an additive decomposition of the score (HHFAN's LSTM and attentions admit none).

For a model that does not embed attribute nodes (every baseline), ``r(v, a) = 1 / |A(v)|`` (the unweighted
graph's normalised edge weights) and the explanation says ``relevance_kind = "uniform"``.

Every path also carries ``walk_probability = 1/deg(w) · 1/deg(a)``: the probability that a uniform random walk
on the training M-HIG starting at ``w`` takes exactly the steps ``w → a → c`` (graph-only evidence, the same
for every model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hhfan.data.dataset import DatasetError
from hhfan.data.split import TRAIN
from hhfan.graph.mhig import NODE_TYPES, HeteroGraph
from hhfan.model.hhfan import HHFAN
from hhfan.runner import Run, recommend

VIDEO_ATTRIBUTE_TYPES: tuple[str, ...] = ("image", "audio", "text", "tag")
"""Attribute node types a video links to in the M-HIG (user attributes link to users only)."""

RELEVANCE: dict[str, str] = {
    "affinity": "r(w,a) * r(c,a), r(v,a) = softmax over v's attribute neighbours a' of <E_v, f(a')> "
                "(E_v: final video embedding, Eq. 6; f(a): transferred attribute embedding, Eq. 1)",
    "uniform": "r(w,a) * r(c,a), r(v,a) = 1 / (number of v's attribute neighbours): the model embeds no "
               "attribute nodes, so every attribute edge of a video weighs the same",
}
"""What ``relevance`` means, per ``relevance_kind``."""


@dataclass(frozen=True)
class PathExplanation:
    """One path ``watched → attribute → candidate`` (indices type-local: videos, and attribute ids of their type).

    Attributes:
        watched: video index of the watched video (a training interaction of the user).
        attribute_type: node type of the attribute (``tag``, ``image``, ``audio``, ``text``).
        attribute: type-local id of the attribute node.
        candidate: video index of the recommended video.
        relevance: ``watched_weight * candidate_weight`` (module docstring).
        watched_weight: r(watched, attribute).
        candidate_weight: r(candidate, attribute).
        walk_probability: ``1/deg(watched) * 1/deg(attribute)`` in the training M-HIG.
    """

    watched: int
    attribute_type: str
    attribute: int
    candidate: int
    relevance: float
    watched_weight: float
    candidate_weight: float
    walk_probability: float


@dataclass(frozen=True)
class RecommendationExplanation:
    """One recommended video, its score, the Eq. (7) weights of its embedding and its strongest paths."""

    video: int
    score: float
    alpha: dict[str, float]
    paths: list[PathExplanation]
    num_paths: int


@dataclass(frozen=True)
class Explanation:
    """Everything :func:`explain` found for one user.

    Attributes:
        user: user index.
        watched: the user's training videos (indices, ascending).
        recommendations: the top-k unseen videos, best first, each with its paths.
        user_alpha: Eq. (7) weights of the user's embedding (empty for models without them).
        relevance_kind: ``affinity`` (HHFAN) or ``uniform`` (:data:`RELEVANCE`).
        attribute_types: the attribute node types paths may go through.
    """

    user: int
    watched: list[int]
    recommendations: list[RecommendationExplanation]
    user_alpha: dict[str, float]
    relevance_kind: str
    attribute_types: list[str] = field(default_factory=list)

    def paths(self) -> list[PathExplanation]:
        """Every kept path of every recommendation, strongest first."""
        return sorted((p for r in self.recommendations for p in r.paths), key=lambda p: -p.relevance)

    def to_dict(self, run: Run) -> dict[str, Any]:
        """JSON-ready: external ids, attribute names and video texts (when the dataset has them)."""
        ds, g = run.dataset, run.artifacts.graph

        def video(v: int) -> dict[str, Any]:
            d: dict[str, Any] = {"video": str(ds.video_ids[v])}
            if ds.video_texts is not None:
                d["text"] = " ".join(str(ds.video_texts[v]).split())
            return d

        def path(p: PathExplanation) -> dict[str, Any]:
            return {"watched": str(ds.video_ids[p.watched]), "attribute_type": p.attribute_type,
                    "attribute": attribute_name(g, p.attribute_type, p.attribute),
                    "candidate": str(ds.video_ids[p.candidate]), "relevance": p.relevance,
                    "watched_weight": p.watched_weight, "candidate_weight": p.candidate_weight,
                    "walk_probability": p.walk_probability}

        return {"user": str(ds.user_ids[self.user]),
                "relevance": {"kind": self.relevance_kind, "definition": RELEVANCE[self.relevance_kind]},
                "attribute_types": self.attribute_types, "user_alpha": self.user_alpha,
                "watched": [video(v) for v in self.watched],
                "recommendations": [{**video(r.video), "score": r.score, "alpha": r.alpha, "num_paths": r.num_paths,
                                     "paths": [path(p) for p in r.paths]} for r in self.recommendations]}


def attribute_name(graph: HeteroGraph, node_type: str, local: int) -> str:
    """``tag:r0.m1`` / ``image:visual#3``: the readable name of an attribute node."""
    names = graph.node_names.get(node_type)
    return f"{node_type}:{names[local] if names is not None and local < len(names) else local}"


def _neighbors(graph: HeteroGraph, node: int) -> np.ndarray:
    return graph.indices[graph.indptr[node] : graph.indptr[node + 1]].astype(np.int64)


def _attributes(graph: HeteroGraph, video: int, codes: np.ndarray) -> np.ndarray:
    """Global ids of ``video``'s attribute neighbours whose type code is in ``codes``."""
    nb = _neighbors(graph, graph.offset("video") + video)
    return nb[np.isin(graph.node_type[nb], codes)]


class _Weights:
    """r(v, ·) of module docstring, computed once per video on demand."""

    def __init__(self, run: Run, codes: np.ndarray) -> None:
        self.run, self.codes = run, codes
        self.cache: dict[int, dict[int, float]] = {}
        self.hhfan = isinstance(run.model, HHFAN)
        self.video_emb: torch.Tensor | None = None
        if self.hhfan:
            with torch.no_grad():
                self.video_emb = run.model.all_embeddings()[1].float().cpu()

    def of(self, video: int) -> dict[int, float]:
        """``{global attribute id: r(video, attribute)}`` over the video's attribute neighbours."""
        if video in self.cache:
            return self.cache[video]
        g = self.run.artifacts.graph
        attrs = _attributes(g, video, self.codes)
        if attrs.size == 0:
            self.cache[video] = {}
            return {}
        if self.hhfan and self.video_emb is not None:
            model = self.run.model
            assert isinstance(model, HHFAN)
            feats = torch.empty(attrs.shape[0], model.config.dim)
            kinds = g.node_type[attrs]
            with torch.no_grad():
                for code in np.unique(kinds).tolist():
                    t = NODE_TYPES[code]
                    rows = np.flatnonzero(kinds == code)
                    local = torch.from_numpy(attrs[rows] - g.offset(t)).to(model.device)
                    feats[torch.from_numpy(rows)] = model.transform[t](local).float().cpu()
                logits = feats @ self.video_emb[video, : feats.shape[1]]  # a video_bias column aside
                w = torch.softmax(logits.double(), dim=0).numpy()
        else:
            w = np.full(attrs.shape[0], 1.0 / attrs.shape[0])
        self.cache[video] = dict(zip(attrs.tolist(), w.tolist(), strict=True))
        return self.cache[video]


def _alpha(run: Run, nodes: list[int]) -> list[dict[str, float]]:
    """Eq. (7) weights of global start nodes (users ``u``, videos ``U + v``); empty dicts for non-HHFAN models."""
    model = run.model
    if not isinstance(model, HHFAN) or not nodes:
        return [{} for _ in nodes]
    with torch.no_grad():
        alpha = model.nodes_forward(torch.tensor(nodes, device=model.device)).alpha.cpu()
    names = model.candidate_names()
    return [dict(zip(names, row.tolist(), strict=True)) for row in alpha]


def attribute_types(run: Run) -> list[str]:
    """The attribute node types paths may use: the video attribute types of the graph (and, for HHFAN, embedded)."""
    g = run.artifacts.graph
    types = [t for t in VIDEO_ATTRIBUTE_TYPES if g.count(t) > 0]
    if isinstance(run.model, HHFAN):
        types = [t for t in types if t in run.model.transform]
    return types


def explain(run: Run, user_id: str, k: int = 5, paths_per_candidate: int = 3) -> Explanation:
    """Recommendations for ``user_id`` with their strongest watched → attribute → candidate paths.

    ``k`` recommendations (:func:`hhfan.runner.recommend`), and for each up to ``paths_per_candidate`` paths,
    strongest ``relevance`` first (ties: watched video, then attribute, ascending); ``num_paths`` counts all.
    """
    if k < 1 or paths_per_candidate < 0:
        raise ValueError(f"k must be >= 1 and paths_per_candidate >= 0, got {k} and {paths_per_candidate}")
    rec = recommend(run, user_id, k)
    ds, g = run.dataset, run.artifacts.graph
    u = int(np.flatnonzero(ds.user_ids == user_id)[0])
    it = ds.interactions
    watched = np.unique(it.video[(it.user == u) & run.artifacts.split.mask(TRAIN)]).astype(np.int64)
    is_watched = np.zeros(ds.num_videos, dtype=bool)
    is_watched[watched] = True
    types = attribute_types(run)
    codes = np.array([NODE_TYPES.index(t) for t in types], dtype=np.int8)
    weights = _Weights(run, codes)
    deg = np.diff(g.indptr)
    v0 = g.offset("video")
    row_of = {str(v): i for i, v in enumerate(ds.video_ids.tolist())}
    cands = [row_of[r["video"]] for r in rec["recommendations"]]
    alphas = _alpha(run, [v0 + c for c in cands])
    out: list[RecommendationExplanation] = []
    for c, r, alpha in zip(cands, rec["recommendations"], alphas, strict=True):
        found: list[PathExplanation] = []
        for a, wc in weights.of(c).items():
            nb = _neighbors(g, a)
            vids = nb[(nb >= v0) & (nb < v0 + ds.num_videos)] - v0
            for w in vids[is_watched[vids]].tolist():
                ww = weights.of(w)[a]
                t = NODE_TYPES[int(g.node_type[a])]
                found.append(PathExplanation(int(w), t, int(a - g.offset(t)), c, ww * wc, ww, wc,
                                             1.0 / float(deg[v0 + w]) / float(deg[a])))
        found.sort(key=lambda p: (-p.relevance, p.watched, p.attribute_type, p.attribute))
        out.append(RecommendationExplanation(c, float(r["score"]), alpha, found[:paths_per_candidate], len(found)))
    return Explanation(u, watched.tolist(), out, dict(rec["neighbor_attention"]),
                       "affinity" if isinstance(run.model, HHFAN) else "uniform", types)


def pick_user(run: Run, seed: int = 0) -> str:
    """A seeded choice among the users with test interactions (the case study's default user)."""
    from hhfan.data.split import TEST

    users = np.unique(run.dataset.interactions.user[run.artifacts.split.mask(TEST)])
    if users.size == 0:
        raise DatasetError(f"{run.run_dir}: no user has test interactions")
    return str(run.dataset.user_ids[int(np.random.default_rng(seed).choice(users))])
