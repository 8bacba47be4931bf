"""``hhfan experiment ablation``: HHFAN-l, HHFAN-a and HHFAN-n at the three training rates (Fig. 3–5, §IV-E).

For each model of the HHFAN family (default: ``hhfan``, the paper's model, and ``hhfan-hybrid``, our variant)
four variants at every rate and seed, each one switch of the model's config:

* the full model (its preset: the very runs of ``tables`` in the same ``--out``);
* ``-l``: ``model.aggregator=mean``, the mean of the transferred neighbour embeddings instead of the LSTM
  of Eq. (3);
* ``-a``: ``model.attribute_attention=false``, equal weights for the attribute groups instead of the
  self-attention of Eq. (4)–(5);
* ``-n``: ``model.neighbor_attention=false``, uniform α instead of the neighbour-aware attention of
  Eq. (6)–(7).

The paper prints these results only as figures, so no paper number goes beside the variants; the paper's
HHFAN row (Tables II–IV) is shown beside the full ``hhfan`` for reference.

Writes ``OUT/ablation/ablation.json``, ``ablation.md`` and ``ablation_<model>.png`` (each metric against
the rate, one line per variant).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hhfan.experiments.common import (
    LABEL,
    RATES,
    SHOWN,
    Cell,
    CellResult,
    Progress,
    Setting,
    compute,
    figure,
    fmt,
    header,
    num_negatives,
    run_cells,
    seconds,
    summary,
    write_outputs,
)
from hhfan.experiments.paper import PROTOCOL_NOTES, paper_row
from hhfan.model.registry import display_name, spec

NAME = "ablation"

VARIANTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "", ()),
    ("l", "aggregator=mean", ("model.aggregator=mean",)),
    ("a", "attribute_attention=false", ("model.attribute_attention=false",)),
    ("n", "neighbor_attention=false", ("model.neighbor_attention=false",)),
)
"""``(suffix, cell label, overrides)`` of the full model and the paper's three ablations."""

DEFAULT_MODELS: tuple[str, ...] = ("hhfan", "hhfan-hybrid")


def check_family(models: Sequence[str]) -> None:
    """Every model must be an HHFAN (its config has the ablation switches); else a ValueError naming it."""
    from hhfan.model.hhfan import HHFANConfig

    other = [m for m in models if not issubclass(spec(m).config_class(), HHFANConfig)]
    if other:
        raise ValueError(f"the ablation varies HHFAN's aggregator and attentions; {', '.join(other)} "
                         "has none (choose hhfan or an hhfan-... variant)")


def variant_name(model: str, suffix: str) -> str:
    """``HHFAN`` / ``HHFAN-l`` / ``HHFAN-hybrid-a``...: the display name of a variant."""
    return display_name(model) + (f"-{suffix}" if suffix else "")


def cells(s: Setting, models: Sequence[str], rates: Sequence[float] = RATES) -> list[Cell]:
    """Every model x variant x rate x seed."""
    return [Cell(m, seed, r, label, over) for m in models for r in rates for _, label, over in VARIANTS
            for seed in s.seeds_for(m)]


def summarise(s: Setting, results: Sequence[CellResult], models: Sequence[str],
              rates: Sequence[float]) -> dict[str, Any]:
    """``results[model][variant][rate]``: the summary over seeds (and the paper's HHFAN row for full ``hhfan``)."""
    out: dict[str, Any] = {}
    for m in models:
        fam: dict[str, Any] = {}
        for suffix, label, _ in VARIANTS:
            per: dict[str, Any] = {}
            for r in rates:
                rs = [x for x in results if x.cell.model == m and x.cell.rate == r and x.cell.label == label]
                paper = paper_row(s.paper_dataset, m, r) if s.paper_dataset and not suffix else {}
                per[f"{r:g}"] = {**summary(rs), "run_dir": str(rs[0].run_dir.relative_to(s.out)),
                                 "paper": paper or None}
            fam[variant_name(m, suffix)] = {"suffix": suffix, "label": label or "full model", "rates": per}
        out[m] = fam
    return out


def markdown(doc: dict[str, Any]) -> str:
    """Per model and rate: the variants' metrics and their NDCG@10 change against the full model."""
    lines = ["# Ablation (Fig. 3–5): HHFAN-l (mean aggregator), HHFAN-a (no attribute attention), "
             "HHFAN-n (no neighbour attention)", ""]
    cols = [("sampled", n) for n in SHOWN["sampled"]] + [("full", n) for n in SHOWN["full"]]
    for model, fam in doc["results"].items():
        full = next(iter(fam.values()))
        for rate in full["rates"]:
            lines += [f"## {display_name(model)}, training rate {rate}", ""]
            head = ["variant", "changes", "seeds", *(f"{p} {LABEL[n]}" for p, n in cols), "Δ NDCG@10 vs full",
                    "train s"]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            ref = full["rates"][rate]["sampled"].get("ndcg@10")
            for name, v in fam.items():
                r = v["rates"][rate]
                k = len(r["seeds"])
                mine = r["sampled"].get("ndcg@10")
                delta = f"{(mine['mean'] - ref['mean']) / ref['mean']:+.1%}" if ref and mine and ref["mean"] else "—"
                same = " (= full)" if v["suffix"] and r["run_dir"] == full["rates"][rate]["run_dir"] else ""
                lines.append("| " + " | ".join([name, v["label"] + same, str(k),
                                                 *(fmt(r[p].get(n), k) for p, n in cols), delta,
                                                 seconds(r["seconds"]["mean"])]) + " |")
                if r["paper"]:
                    lines.append("| " + " | ".join([f"{name} (paper, Tables II–IV)", "", "", *(
                        f"{r['paper'][n]:.4f}" if p == "sampled" and n in r["paper"] else "—" for p, n in cols),
                        "", ""]) + " |")
            lines.append("")
    lines += ["Mean ± std over seeds. '(= full)': the preset already has this setting, so the variant is the full "
              f"model's run. Sampled protocol: {' / '.join(map(str, doc['num_negatives']))} negatives per user.", ""]
    lines += [f"- {note}" for note in PROTOCOL_NOTES]
    return "\n".join(lines) + "\n"


def plot(fam: dict[str, Any], model: str) -> Any:
    """Fig. 3–5 for one model: each metric against the rate, one line per variant."""
    cols = [("sampled", n) for n in SHOWN["sampled"]] + [("full", n) for n in SHOWN["full"]]
    fig, axes = figure(2, 3)
    fig.suptitle(f"ablation of {display_name(model)}")
    for ax, (proto, n) in zip(axes, cols, strict=True):
        for name, v in fam.items():
            pts = [(float(r), x[proto][n]["mean"]) for r, x in v["rates"].items() if n in x[proto]]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=name)
        ax.set_title(f"{proto} {LABEL[n]}")
        ax.set_xlabel("training rate")
        ax.set_xticks([float(r) for r in next(iter(fam.values()))["rates"]])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def chosen(s: Setting) -> list[str]:
    """The models of the experiment: ``--models`` or :data:`DEFAULT_MODELS`, all of the HHFAN family."""
    models = list(s.models) if s.models is not None else list(DEFAULT_MODELS)
    check_family(models)
    return models


def planned(s: Setting, rates: Sequence[float] = RATES) -> list[Cell]:
    """The cells :func:`run` trains with these arguments (for ``hhfan experiment --plan``)."""
    return cells(s, chosen(s), rates)


def run(s: Setting, progress: Progress | None = None, rates: Sequence[float] = RATES) -> dict[str, Any]:
    """Train every variant (reusing finished runs, ``tables``' included), write ``OUT/ablation/``, return the JSON."""
    models = chosen(s)
    todo = planned(s, rates)
    results = run_cells(s, todo, progress, NAME)
    doc = {**header(s, NAME, rates), "rates": list(rates), "models": models,
           "variants": {sfx or "full": list(over) for sfx, _, over in VARIANTS},
           "num_negatives": num_negatives(s, todo), "protocol_notes": list(PROTOCOL_NOTES),
           "results": summarise(s, results, models, rates),
           "cells": [r.record(s.out) for r in results], "compute": compute(results)}
    figs = {f"ablation_{m}": plot(doc["results"][m], m) for m in models}
    return write_outputs(s, NAME, doc, markdown(doc), figs)
