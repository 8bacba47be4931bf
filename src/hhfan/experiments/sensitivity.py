"""``hhfan experiment sensitivity``: depth of sampling, d and the number of sampled neighbours (Fig. 9–10, §IV-F).

One parameter at a time, every other setting the preset's, at training rate 0.8, for each chosen model
(default: ``hhfan``, the paper's model):

* depth of sampling ``sampler.max_depth`` in {2, 4, 6, 8, 10, 14};
* embedding dimension d ``model.dim`` in {50, 100, 150, 200, 250, 300, 400};
* sampled neighbours N in {10, 20, 35, 50, 60}: ``sampler.k_per_type`` scaled so that its total is N
  (:func:`scale_k`; the default table, user 10, video 10 and five attribute types 3 each, totals 35).

Reported: AUC and NDCG@10 under the sampled protocol (the paper's two figures) and NDCG@20 under full
ranking, mean ± std over seeds; the paper's chosen values (depth 6, d 250, 35 neighbours) are marked on
the plots. A value equal to the preset's is the preset's run itself (shared with ``tables``).

Writes ``OUT/sensitivity/sensitivity.json``, ``sensitivity.md``, ``sensitivity_auc.png`` (Fig. 9) and
``sensitivity_ndcg.png`` (Fig. 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hhfan.experiments.ablation import check_family
from hhfan.experiments.common import (
    Cell,
    CellResult,
    Progress,
    Setting,
    base_config,
    compute,
    figure,
    fmt,
    header,
    num_negatives,
    run_cells,
    summary,
    write_outputs,
)
from hhfan.experiments.paper import CHOSEN, PROTOCOL_NOTES
from hhfan.model.registry import display_name

NAME = "sensitivity"
RATE = 0.8
GRID: dict[str, tuple[int, ...]] = {"depth": (2, 4, 6, 8, 10, 14), "dim": (50, 100, 150, 200, 250, 300, 400),
                                    "neighbors": (10, 20, 35, 50, 60)}
"""The paper's grids of §IV-F."""
AXIS: dict[str, str] = {"depth": "depth of sampling (sampler.max_depth)", "dim": "embedding dimension d (model.dim)",
                        "neighbors": "sampled neighbours (sum of sampler.k_per_type)"}
METRICS: dict[str, tuple[str, ...]] = {"sampled": ("auc", "ndcg@10"), "full": ("ndcg@20",)}
DEFAULT_MODELS: tuple[str, ...] = ("hhfan",)


def scale_k(k: Mapping[str, int], total: int) -> dict[str, int]:
    """``k`` (type -> neighbours) scaled proportionally to sum to ``total``, every type with k > 0 keeping >= 1.

    Largest-remainder apportionment: each type first gets ``max(1, floor(q_t))`` with quota
    ``q_t = k_t * total / sum(k)``, then one more goes to the type with the largest ``q_t - k'_t`` (ties in the
    table's order) until the sum is ``total`` (or, when the floor of one overshoots, the type most above its
    quota gives one back). Types with k = 0 stay 0. The
    default table (10, 10, 3, 3, 3, 3, 3) becomes (3, 2, 1, 1, 1, 1, 1) for 10 and (18, 17, 5, 5, 5, 5, 5)
    for 60.
    """
    names = [t for t, v in k.items() if v > 0]
    if total < len(names):
        raise ValueError(f"{total} neighbours cannot keep one of each of the {len(names)} sampled types")
    whole = sum(k[t] for t in names)
    quota = {t: k[t] * total / whole for t in names}
    alloc = {t: max(1, int(np.floor(quota[t]))) for t in names}
    while sum(alloc.values()) < total:  # one more to the largest remainder (ties: the table's order)
        alloc[min(names, key=lambda t: (-round(quota[t] - alloc[t], 9), names.index(t)))] += 1
    while sum(alloc.values()) > total:  # the floor of one overshot: the type most above its quota gives one back
        alloc[max((t for t in names if alloc[t] > 1),
                  key=lambda t: (round(alloc[t] - quota[t], 9), -names.index(t)))] -= 1
    return {t: alloc.get(t, 0) for t in k}


def overrides(s: Setting, model: str, param: str, value: int) -> tuple[str, ...]:
    """The ``--set`` overrides of one grid point (for ``neighbors``: the preset's k table scaled to ``value``)."""
    if param == "depth":
        return (f"sampler.max_depth={value}",)
    if param == "dim":
        return (f"model.dim={value}",)
    base = base_config(s, Cell(model, 0, RATE)).sampler.k_per_type
    return tuple(f"sampler.k_per_type.{t}={v}" for t, v in scale_k(base, value).items())


def cells(s: Setting, models: Sequence[str], grid: Mapping[str, Sequence[int]] = GRID) -> list[Cell]:
    """Every model x parameter x value x seed at rate 0.8."""
    return [Cell(m, seed, RATE, f"{p}={v}", overrides(s, m, p, v)) for m in models for p, vs in grid.items()
            for v in vs for seed in s.seeds_for(m)]


def summarise(results: Sequence[CellResult], models: Sequence[str], grid: Mapping[str, Sequence[int]]
              ) -> dict[str, Any]:
    """``results[model][param][value]``: the summary over seeds of :data:`METRICS`."""
    out: dict[str, Any] = {}
    for m in models:
        out[m] = {p: {str(v): summary([r for r in results if r.cell.model == m and r.cell.label == f"{p}={v}"],
                                      METRICS) for v in vs} for p, vs in grid.items()}
    return out


def markdown(doc: dict[str, Any]) -> str:
    """One table per model and parameter: value x (AUC, NDCG@10, full NDCG@20), the paper's choice marked."""
    lines = ["# Sensitivity (Fig. 9–10): depth of sampling, d and sampled neighbours, training rate 0.8", ""]
    if doc.get("grid_note"):
        lines += [f"Note: {doc['grid_note']}.", ""]
    for m, per in doc["results"].items():
        for p, vals in per.items():
            lines += [f"## {display_name(m)}: {AXIS[p]}", "", "| value | seeds | sampled AUC | sampled NDCG@10 | "
                      "full NDCG@20 |", "|---|---|---|---|---|"]
            for v, r in vals.items():
                k = len(r["seeds"])
                mark = " (paper's choice)" if int(v) == CHOSEN[p] else ""
                lines.append(f"| {v}{mark} | {k} | {fmt(r['sampled'].get('auc'), k)} | "
                             f"{fmt(r['sampled'].get('ndcg@10'), k)} | {fmt(r['full'].get('ndcg@20'), k)} |")
            lines.append("")
    lines += ["Every other setting is the preset's. Neighbour counts scale the preset's sampler.k_per_type "
              "(largest remainder, at least one per sampled type); the exact tables are in sensitivity.json. "
              f"Sampled protocol: {' / '.join(map(str, doc['num_negatives']))} negatives per user.", ""]
    lines += [f"- {note}" for note in PROTOCOL_NOTES]
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], proto: str, metric: str) -> Any:
    """One panel per parameter: ``metric`` against the value, one line per model, the paper's choice dashed."""
    fig, axes = figure(1, 3)
    fig.suptitle(f"{proto} {metric} against HHFAN's hyper-parameters (training rate 0.8)")
    for ax, p in zip(axes, GRID, strict=True):
        for m, per in doc["results"].items():
            if p not in per:
                continue
            pts = [(int(v), r[proto][metric]["mean"]) for v, r in per[p].items() if metric in r[proto]]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=display_name(m))
        values = [int(v) for per in doc["results"].values() for v in per.get(p, {})]
        if values and min(values) <= CHOSEN[p] <= max(values):  # a marker far off the grid would squash the curve
            ax.axvline(CHOSEN[p], color="k", linestyle="--", linewidth=1, label=f"paper's choice ({CHOSEN[p]})")
        else:
            ax.set_title(f"{p} (paper's choice {CHOSEN[p]}: off this grid)")
        ax.set_xlabel(AXIS[p])
        if not ax.get_title():
            ax.set_title(p)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def resolve_grid(s: Setting, grid: Mapping[str, Sequence[int]] | None) -> tuple[dict[str, Sequence[int]], str]:
    """The grid to run (``grid``, else the paper's :data:`GRID`, with ``--quick``'s d values) and a note saying
    how it departs from the paper's (``""`` if not). Raises ValueError for an unknown parameter."""
    note = ""
    if grid is None:
        grid = dict(GRID)
        if s.quick is not None:
            grid["dim"] = tuple(s.quick.sensitivity_dims)
            note = (f"--quick: d in {{{', '.join(map(str, grid['dim']))}}} instead of the paper's 50-400, which take "
                    "minutes per run on 2 cores even on the quick world")
    unknown = [p for p in grid if p not in GRID]
    if unknown:
        raise ValueError(f"unknown sensitivity parameter(s) {', '.join(unknown)}; choose from {', '.join(GRID)}")
    return dict(grid), note


def planned(s: Setting, grid: Mapping[str, Sequence[int]] | None = None) -> list[Cell]:
    """The cells :func:`run` trains with these arguments (for ``hhfan experiment --plan``)."""
    models = list(s.models) if s.models is not None else list(DEFAULT_MODELS)
    check_family(models)
    return cells(s, models, resolve_grid(s, grid)[0])


def run(s: Setting, progress: Progress | None = None, grid: Mapping[str, Sequence[int]] | None = None
        ) -> dict[str, Any]:
    """Train every grid point (reusing finished runs), write ``OUT/sensitivity/`` and return its JSON document.

    ``grid`` defaults to the paper's :data:`GRID`; with ``--quick`` its d values are the quick mode's
    ``sensitivity_dims`` (said in the JSON and the Markdown).
    """
    grid, note = resolve_grid(s, grid)
    models = list(s.models) if s.models is not None else list(DEFAULT_MODELS)
    todo = planned(s, grid)
    results = run_cells(s, todo, progress, NAME)
    doc = {**header(s, NAME), "rate": RATE, "models": models, "grid": {p: list(v) for p, v in grid.items()},
           "paper_choice": dict(CHOSEN), "grid_note": note or None,
           "k_per_type": {m: {str(v): dict(scale_k(base_config(s, Cell(m, 0, RATE)).sampler.k_per_type, v))
                              for v in grid.get("neighbors", ())} for m in models},
           "num_negatives": num_negatives(s, todo), "protocol_notes": list(PROTOCOL_NOTES),
           "results": summarise(results, models, grid),
           "cells": [r.record(s.out) for r in results], "compute": compute(results)}
    figs = {"sensitivity_auc": plot(doc, "sampled", "auc"), "sensitivity_ndcg": plot(doc, "sampled", "ndcg@10")}
    return write_outputs(s, NAME, doc, markdown(doc), figs)
