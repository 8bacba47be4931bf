"""``hhfan experiment tables``: Tables II, III and IV of the paper (training rates 0.8, 0.6, 0.4), our rows beside its.

Every chosen model (default: every registered model) at every rate, on every seed: one cell each (see
:mod:`hhfan.experiments.common`). Reported per rate and model: mean ± std over seeds of P@10, R@10, NDCG@10
and AUC under the sampled protocol (the paper's: 1000 never-seen videos per user) and R@20, NDCG@20 under
full ranking, with the paper's numbers beside ours where the paper has the model (the paper's HHFAN row
beside ``hhfan``, the paper's model; never beside a variant such as ``hhfan-hybrid``).

Also reported per rate, from the split itself: the test positives per user and the ceiling they put on
P@10 and R@10 (a user with 2 test videos can reach P@10 = 0.2 at most), which is one fact behind any gap to
the paper's figures.

Writes ``OUT/tables/tables.json``, ``tables.md`` and ``tables_rates.png`` (each metric against the rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hhfan.data.io import read_dataset
from hhfan.data.split import TEST, Split, make_split
from hhfan.experiments.common import (
    LABEL,
    RATES,
    SHOWN,
    Cell,
    CellResult,
    Progress,
    Setting,
    cell_config,
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
from hhfan.experiments.paper import PAPER_SIZES, PROTOCOL_NOTES, TABLE_OF_RATE, paper_row
from hhfan.model.registry import MODEL_NAMES, display_name

NAME = "tables"


def cells(s: Setting, rates: Sequence[float] = RATES) -> list[Cell]:
    """Every chosen model x rate x seed (rate-major, so the 0.8 table fills first)."""
    return [Cell(m, seed, r) for r in rates for m in s.chosen_models(MODEL_NAMES) for seed in s.seeds_for(m)]


def _split_part(s: Setting, result: CellResult) -> np.ndarray:
    """The split of a cell: its run's ``split.npz``, or, for a cell taken from the run ledger (no run directory
    here), the same split made again from its config (deterministic in ``split.seed``)."""
    path = result.run_dir / "graph" / "split.npz"
    if path.exists():
        return Split.load(path).part
    return make_split(read_dataset(s.data), cell_config(s, result.cell).split).part


def ceilings(s: Setting, results: Sequence[CellResult], user: np.ndarray) -> dict[str, float]:
    """Test positives per user of the split of ``results[0]`` and the ceilings they put on P@10 and R@10.

    ``user`` is the user index of every interaction of the dataset. The ceiling of P@10 is the mean over test
    users of ``min(n_u, 10) / 10`` and that of R@10 the mean of ``min(n_u, 10) / n_u``, ``n_u`` the user's
    test positives: what a perfect ranking would score.
    """
    part = _split_part(s, results[0])
    n = np.bincount(user[part == TEST])
    n = n[n > 0].astype(np.float64)
    return {"test_users": int(n.shape[0]), "test_positives_mean": float(n.mean()),
            "test_positives_median": float(np.median(n)),
            "precision@10_ceiling": float(np.mean(np.minimum(n, 10) / 10)),
            "recall@10_ceiling": float(np.mean(np.minimum(n, 10) / n))}


def summarise(s: Setting, results: Sequence[CellResult]) -> dict[str, Any]:
    """Per rate (``"0.8"``...) and model: :func:`~hhfan.experiments.common.summary` plus the paper's row."""
    out: dict[str, Any] = {}
    for rate in dict.fromkeys(r.cell.rate for r in results):
        per: dict[str, Any] = {}
        for model in dict.fromkeys(r.cell.model for r in results if r.cell.rate == rate):
            rs = [r for r in results if r.cell.rate == rate and r.cell.model == model]
            paper = paper_row(s.paper_dataset, model, rate) if s.paper_dataset else {}
            per[model] = {"display": display_name(model), **summary(rs), "paper": paper or None}
        out[f"{rate:g}"] = per
    return out


def markdown(s: Setting, doc: dict[str, Any]) -> str:
    """One table per rate: our mean ± std beside the paper's value for each sampled metric, then full ranking."""
    pd = s.paper_dataset
    lines = [f"# Tables II–IV: every model at training rates {', '.join(doc['results'])}", ""]
    ds = doc["dataset"]
    lines.append(f"Dataset {ds['name']}: {ds['users']:,} users, {ds['videos']:,} videos, "
                 f"{ds['interactions']:,} interactions" + (f"; the paper's {pd}: {PAPER_SIZES[pd]['users']:,} users, "
                                                           f"{PAPER_SIZES[pd]['videos']:,} videos" if pd else
                                                           " (no counterpart in the paper)") + ".")
    lines.append("")
    for rate, per in doc["results"].items():
        table = TABLE_OF_RATE.get(float(rate))
        lines += [f"## Training rate {rate}" + (f" (paper: Table {table}, {pd})" if table and pd else ""), ""]
        head = ["model", "seeds"]
        for n in SHOWN["sampled"]:
            head += [f"{LABEL[n]}", "paper"]
        head += [f"full {LABEL[n]}" for n in SHOWN["full"]] + ["train s"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in per.values():
            k = len(r["seeds"])
            cells = [r["display"], str(k)]
            for n in SHOWN["sampled"]:
                paper = (r["paper"] or {}).get(n)
                cells += [fmt(r["sampled"].get(n), k), f"{paper:.4f}" if paper is not None else "—"]
            cells += [fmt(r["full"].get(n), k) for n in SHOWN["full"]] + [seconds(r["seconds"]["mean"])]
            lines.append("| " + " | ".join(cells) + " |")
        c = doc["ceilings"][rate]
        lines += ["", f"Test positives per user: mean {c['test_positives_mean']:.1f}, median "
                  f"{c['test_positives_median']:.0f} ({c['test_users']:,} test users); a perfect ranking scores "
                  f"P@10 {c['precision@10_ceiling']:.4f}, R@10 {c['recall@10_ceiling']:.4f}.", ""]
    lines += ["Mean ± std over seeds (the value alone for one seed); `paper` = the paper's printed value (sampled "
              "protocol, K = 10); '—' = the paper has no such row (our variants, models it did not run); `train s` "
              "= training wall seconds per run. Our sampled protocol drew "
              f"{' / '.join(str(n) for n in doc['num_negatives'])} negatives per user.", ""]
    lines += [f"- {note}" for note in PROTOCOL_NOTES]
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any]) -> Any:
    """Each shown metric against the training rate, one line per model; the paper's HHFAN dashed."""
    names = [("sampled", n) for n in SHOWN["sampled"]] + [("full", n) for n in SHOWN["full"]]
    fig, axes = figure(2, 3)
    rates = [float(r) for r in doc["results"]]
    models = list(dict.fromkeys(m for per in doc["results"].values() for m in per))
    for ax, (proto, n) in zip(axes, names, strict=True):
        for m in models:
            pts = [(float(r), per[m][proto][n]["mean"]) for r, per in doc["results"].items()
                   if m in per and n in per[m][proto]]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=display_name(m))
        paper = [(float(r), per["hhfan"]["paper"][n]) for r, per in doc["results"].items()
                 if "hhfan" in per and per["hhfan"]["paper"] and n in per["hhfan"]["paper"]]
        if paper:
            ax.plot(*zip(*paper, strict=True), "k--", marker="s", label="HHFAN (paper)")
        ax.set_title(f"{proto} {LABEL[n]}")
        ax.set_xlabel("training rate")
        ax.set_xticks(rates)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def planned(s: Setting, rates: Sequence[float] = RATES) -> list[Cell]:
    """The cells :func:`run` trains with these arguments (for ``hhfan experiment --plan``)."""
    return cells(s, rates)


def run(s: Setting, progress: Progress | None = None, rates: Sequence[float] = RATES) -> dict[str, Any]:
    """Train every cell (reusing finished ones), write ``OUT/tables/`` and return its JSON document."""
    from hhfan.data.io import read_dataset

    todo = planned(s, rates)
    results = run_cells(s, todo, progress, NAME)
    user = read_dataset(s.data).interactions.user
    doc = {**header(s, NAME, rates), "rates": list(rates), "models": list(dict.fromkeys(r.cell.model for r in results)),
           "paper_sizes": PAPER_SIZES.get(s.paper_dataset) if s.paper_dataset else None,
           "protocol_notes": list(PROTOCOL_NOTES), "num_negatives": num_negatives(s, todo),
           "results": summarise(s, results),
           "ceilings": {f"{rate:g}": ceilings(s, [r for r in results if r.cell.rate == rate], user) for rate in rates},
           "cells": [r.record(s.out) for r in results], "compute": compute(results)}
    return write_outputs(s, NAME, doc, markdown(s, doc), {"tables_rates": plot(doc)})
