"""``hhfan experiment case-study``: one user's watched videos, recommendations and their explanation (Fig. 11, §IV-G).

For each chosen model (default: ``hhfan``, the paper's model) its run at training rate 0.8, seed 0 (the very
run of ``tables`` in the same ``--out``; trained here if missing), and one user (``--user``; default a seeded
choice among the users with test interactions, :func:`hhfan.explain.pick_user`): the user's watched
(training) videos, the top-k recommendations, the strongest watched → tag/attribute → candidate paths with
their relevance, and the Eq. (7) attention weights (see :mod:`hhfan.explain` for the definitions). Also
reported: which of the recommendations are among the user's held-out test videos.

Writes ``OUT/case-study/case-study.json``, ``case-study.md`` and ``case_study_<model>.png`` (a small graph:
watched videos, shared attributes, candidates; edge labels r(v, a)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hhfan.data.split import TEST
from hhfan.experiments.ablation import check_family
from hhfan.experiments.common import Cell, Progress, Setting, compute, figure, header, run_cells, write_outputs
from hhfan.explain import RELEVANCE, Explanation, explain, pick_user
from hhfan.model.registry import display_name
from hhfan.runner import Run, load_run

NAME = "case-study"
RATE = 0.8
DEFAULT_MODELS: tuple[str, ...] = ("hhfan",)


def held_out(run: Run, user: int) -> set[int]:
    """The user's test videos (to mark recommendations that are hits)."""
    it = run.dataset.interactions
    return set(it.video[(it.user == user) & run.artifacts.split.mask(TEST)].tolist())


def short(text: str | None, width: int = 32) -> str:
    """The start of a video's text (its title, where the text starts with one), at most ``width`` characters."""
    words = " ".join(str(text or "").split())
    if len(words) <= width:
        return words
    head = words[: width - 1]
    return (head.rsplit(" ", 1)[0] if " " in head else head).rstrip(",.;:") + "…"


def _label(video: str, text: str | None) -> str:
    """``video`` with the start of its text in parentheses, when the dataset has texts."""
    return f"{video} ({short(text)})" if text else video


def markdown(doc: dict[str, Any]) -> str:
    """Per model: the user's attention weights, the recommendations with their strongest path, the definitions."""
    lines = ["# Case study (Fig. 11): why these videos, for one user", ""]
    for m, v in doc["results"].items():
        e = v["explanation"]
        texts = {w["video"]: w.get("text") for w in e["watched"]}
        lines += [f"## {display_name(m)}: user {e['user']}", "",
                  f"{len(e['watched'])} watched (training) videos; {v['test_videos']} held-out test videos. "
                  "Eq. (7) attention of the user's embedding: "
                  + (", ".join(f"{n} {w:.3f}" for n, w in e["user_alpha"].items()) or "— (not an HHFAN)") + ".", "",
                  "| rank | candidate | score | test hit | α (Eq. 7) | strongest path (watched → attribute) | "
                  "relevance | paths |", "|---|---|---|---|---|---|---|---|"]
        for i, r in enumerate(e["recommendations"], 1):
            p = r["paths"][0] if r["paths"] else None
            alpha = ", ".join(f"{n} {w:.2f}" for n, w in r["alpha"].items()) or "—"
            lines.append(f"| {i} | {_label(r['video'], r.get('text'))} | {r['score']:.4f} | "
                         f"{'yes' if r['hit'] else ''} | {alpha} | "
                         + (f"{_label(p['watched'], texts.get(p['watched']))} → {p['attribute']} | "
                            f"{p['relevance']:.4f}" if p else "— | —")
                         + f" | {r['num_paths']} |")
        lines += ["", f"Relevance ({e['relevance']['kind']}): {e['relevance']['definition']}. Every path uses "
                  "edges of the run's training M-HIG only; its walk probability is 1/deg(watched) · 1/deg(attribute).",
                  ""]
    return "\n".join(lines) + "\n"


def plot(e: Explanation, run: Run, candidates: int = 3, title: str = "") -> Any:
    """A small graph: watched videos (left), shared attributes (middle), candidates (right), edges r(v, a)."""
    from hhfan.explain import attribute_name

    fig, axes = figure(1, 1, width=9.0, height=5.5)
    ax = axes[0]
    ds, g = run.dataset, run.artifacts.graph
    recs = e.recommendations[:candidates]
    paths = [p for r in recs for p in r.paths]
    watched = list(dict.fromkeys(p.watched for p in paths))
    attrs = list(dict.fromkeys((p.attribute_type, p.attribute) for p in paths))
    cands = [r.video for r in recs]

    def ys(n: int) -> list[float]:
        return [0.5] if n == 1 else list(np.linspace(0.95, 0.05, n)) if n else []

    pos: dict[tuple[Any, ...], tuple[float, float]] = {}
    pos |= {("w", w): (0.0, y) for w, y in zip(watched, ys(len(watched)), strict=True)}
    pos |= {("a", *a): (1.0, y) for a, y in zip(attrs, ys(len(attrs)), strict=True)}
    pos |= {("c", c): (2.0, y) for c, y in zip(cands, ys(len(cands)), strict=True)}
    edges: dict[tuple[tuple[Any, ...], tuple[Any, ...]], float] = {}
    for p in paths:
        edges[(("w", p.watched), ("a", p.attribute_type, p.attribute))] = p.watched_weight
        edges[(("a", p.attribute_type, p.attribute), ("c", p.candidate))] = p.candidate_weight
    for (s, t), w in edges.items():
        (x0, y0), (x1, y1) = pos[s], pos[t]
        ax.plot([x0, x1], [y0, y1], color="tab:red", alpha=0.35 + 0.65 * w, linewidth=0.8 + 4 * w, zorder=1)
        f = 0.75 if s[0] == "w" else 0.25  # label near the video end, where a node's edges fan out
        ax.text(x1 + f * (x0 - x1), y1 + f * (y0 - y1), f"{w:.2f}", fontsize=7, ha="center", va="bottom",
                color="tab:red")
    for key, (x, y) in pos.items():
        if key[0] == "a":
            label, colour = attribute_name(g, key[1], key[2])[:28], "tab:green"
        else:
            label, colour = str(ds.video_ids[key[1]]), "tab:blue" if key[0] == "w" else "tab:orange"
            if ds.video_texts is not None:
                label += "\n" + short(str(ds.video_texts[key[1]]), 26)
        ax.scatter([x], [y], s=220, color=colour, zorder=2)
        ax.text(x, y - 0.045, label, fontsize=8, ha="center", va="top", zorder=3)
    for x, name in ((0.0, "watched"), (1.0, "shared attribute"), (2.0, "recommended")):
        ax.text(x, 1.05, name, ha="center", fontsize=10, weight="bold")
    ax.set_xlim(-0.4, 2.4)
    ax.set_ylim(-0.08, 1.12)
    ax.axis("off")
    alpha = ", ".join(f"{n} {w:.2f}" for n, w in e.user_alpha.items())
    ax.set_title(title + (f"\nuser's Eq. (7) attention: {alpha}" if alpha else ""), fontsize=9)
    if not paths:
        ax.text(1.0, 0.5, "no watched video shares an attribute with these candidates", ha="center")
    return fig


def planned(s: Setting, user: str | None = None, seed: int = 0) -> list[Cell]:
    """The cells :func:`run` trains with these arguments (for ``hhfan experiment --plan``): each model's rate-0.8
    run of ``seed``."""
    models = list(s.models) if s.models is not None else list(DEFAULT_MODELS)
    check_family(models)
    return [Cell(m, seed, RATE) for m in models]


def run(s: Setting, progress: Progress | None = None, user: str | None = None, k: int = 5,
        paths_per_candidate: int = 3, seed: int = 0) -> dict[str, Any]:
    """Train or reuse each model's rate-0.8 run, explain one user's recommendations, write ``OUT/case-study/``."""
    todo = planned(s, user, seed)
    models = [c.model for c in todo]
    results = run_cells(s, todo, progress, NAME, need_runs=True)  # loads them
    out: dict[str, Any] = {}
    figs: dict[str, Any] = {}
    for r in results:
        loaded = load_run(r.run_dir, data_dir=s.data)
        uid = user if user is not None else pick_user(loaded, seed)
        e = explain(loaded, uid, k, paths_per_candidate)
        hits = held_out(loaded, e.user)
        d = e.to_dict(loaded)
        for rec, x in zip(d["recommendations"], e.recommendations, strict=True):
            rec["hit"] = x.video in hits
        out[r.cell.model] = {"run_dir": str(r.run_dir.relative_to(s.out)), "test_videos": len(hits),
                             "user_choice": "given (--user)" if user is not None else
                             f"seeded choice (seed {seed}) among the users with test interactions",
                             "explanation": d}
        figs[f"case_study_{r.cell.model}"] = plot(e, loaded, title=f"{display_name(r.cell.model)}, user {d['user']}")
    doc = {**header(s, NAME), "rate": RATE, "models": models, "k": k, "paths_per_candidate": paths_per_candidate,
           "relevance_definitions": dict(RELEVANCE), "results": out,
           "cells": [r.record(s.out) for r in results], "compute": compute(results)}
    return write_outputs(s, NAME, doc, markdown(doc), figs)

