"""``hhfan experiment topk``: P@K, R@K and NDCG@K for K = 1..10 (Fig. 6–8), from the runs of ``tables``.

No training: every run of ``tables`` at training rate 0.8 in the same ``--out`` already wrote every metric at
every K from 1 to 20 under both protocols (its ``metrics.json``); this reads them, averages over seeds and
plots the curves. ``tables`` must have finished first (its ``tables.json``); ``--models`` picks a subset of
its models. The paper's K = 10 values (Table II) are marked on the sampled-protocol plot.

Writes ``OUT/topk/topk.json``, ``topk.md``, ``topk_sampled.png`` and ``topk_full.png``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from hhfan.data.dataset import DatasetError
from hhfan.experiments.common import (
    Cell,
    Progress,
    Setting,
    cell_metrics,
    experiment_dir,
    figure,
    header,
    mean_std,
    write_outputs,
)
from hhfan.experiments.paper import PROTOCOL_NOTES
from hhfan.model.registry import display_name

NAME = "topk"
KS: tuple[int, ...] = tuple(range(1, 11))
METRICS: tuple[str, ...] = ("precision", "recall", "ndcg")
PROTOCOLS: tuple[str, ...] = ("sampled", "full")


def read_tables(s: Setting) -> dict[str, Any]:
    """The finished ``tables`` experiment of ``s.out``; a DatasetError saying what to run when it is missing."""
    path = experiment_dir(s, "tables") / "tables.json"
    if not path.exists():
        raise DatasetError(f"topk reads the runs of the tables experiment, but {path} does not exist; run "
                           f"`hhfan experiment tables` with the same --out first")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def curves(s: Setting, tables: dict[str, Any], rate: float = 0.8) -> dict[str, Any]:
    """``{model: {"display", "seeds", protocol: {metric: {K: {mean, std}}}}}`` from the runs of ``tables``."""
    cells = [c for c in tables["cells"] if abs(float(c["rate"]) - rate) < 1e-9]
    if not cells:
        raise DatasetError(f"the tables experiment in {s.out} has no runs at training rate {rate:g}; run "
                           f"`hhfan experiment tables` with that rate first")
    models = list(dict.fromkeys(c["model"] for c in cells))
    if s.models is not None:
        missing = [m for m in s.models if m not in models]
        if missing:
            raise DatasetError(f"the tables experiment in {s.out} has no runs of {', '.join(missing)}; it has "
                               f"{', '.join(models)}")
        models = list(s.models)
    out: dict[str, Any] = {}
    for m in models:
        runs = [c for c in cells if c["model"] == m]
        metrics = [cell_metrics(s, c) for c in runs]
        for c, x in zip(runs, metrics, strict=True):
            if any(f"{n}@{k}" not in x.get(p, {}) for p in PROTOCOLS for n in METRICS for k in KS):
                raise DatasetError(f"{c['run_dir']}: its figures ({c.get('ledger') or 'metrics.json'}) lack some "
                                   f"K of 1..{max(KS)} (a ledger entry backfilled from a results file keeps K 10 "
                                   "and 20 only); delete that entry and rerun tables to train the run")
        doc: dict[str, Any] = {"display": display_name(m), "seeds": [c["seed"] for c in runs],
                               "run_dirs": [c["run_dir"] for c in runs]}
        for p in PROTOCOLS:
            doc[p] = {n: {str(k): mean_std([x[p][f"{n}@{k}"] for x in metrics]) for k in KS} for n in METRICS}
        out[m] = doc
    return out


def paper_at_10(tables: dict[str, Any], rate: float = 0.8) -> dict[str, dict[str, float]]:
    """The paper's K = 10 values (precision, recall, ndcg) of the models that have a row at ``rate``."""
    per = tables["results"].get(f"{rate:g}", {})
    return {m: {n: v["paper"][f"{n}@10"] for n in METRICS if f"{n}@10" in v["paper"]}
            for m, v in per.items() if v.get("paper")}


def markdown(doc: dict[str, Any]) -> str:
    """One table per protocol and metric: models x K."""
    lines = [f"# Top-K (Fig. 6–8): K = 1..10 at training rate {doc['rate']:g}, from the runs of `tables`", ""]
    for p in PROTOCOLS:
        for n in METRICS:
            lines += [f"## {p} {n}@K", "", "| model | " + " | ".join(f"K={k}" for k in KS) + " |",
                      "|---|" + "---|" * len(KS)]
            for m, v in doc["results"].items():
                lines.append(f"| {v['display']} | " + " | ".join(f"{v[p][n][str(k)]['mean']:.4f}" for k in KS) + " |")
                paper = doc["paper_at_10"].get(m, {}).get(n)
                if p == "sampled" and paper is not None:
                    lines.append(f"| {v['display']} (paper, K=10) | " + " | " * (len(KS) - 1) + f"{paper:.4f} |")
            lines.append("")
    lines += ["Means over seeds (seeds per model in topk.json).", ""] + [f"- {note}" for note in PROTOCOL_NOTES]
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], protocol: str) -> Any:
    """P@K, R@K, NDCG@K against K, one line per model (and the paper's K = 10 points on ``sampled``)."""
    fig, axes = figure(1, 3)
    fig.suptitle(f"top-K, {protocol} protocol, training rate {doc['rate']:g}")
    for ax, n in zip(axes, METRICS, strict=True):
        for m, v in doc["results"].items():
            line = ax.plot(KS, [v[protocol][n][str(k)]["mean"] for k in KS], marker=".", label=v["display"])
            paper = doc["paper_at_10"].get(m, {}).get(n)
            if protocol == "sampled" and paper is not None:
                ax.plot([10], [paper], marker="*", markersize=11, linestyle="none", color=line[0].get_color(),
                        label=f"{v['display']} (paper @10)")
        ax.set_title(f"{n}@K")
        ax.set_xlabel("K")
        ax.set_xticks(KS)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def planned(s: Setting, rate: float = 0.8) -> list[Cell]:
    """No cell: ``topk`` trains nothing, it reads the runs of ``tables`` (for ``hhfan experiment --plan``)."""
    return []


def run(s: Setting, progress: Progress | None = None, rate: float = 0.8) -> dict[str, Any]:
    """Read the runs of ``tables`` at ``rate``, write ``OUT/topk/`` and return its JSON document."""
    tables = read_tables(s)
    if progress is not None:
        progress(f"{NAME}: reading the runs of tables", 0, 1)
    results = curves(s, tables, rate)
    secs = [c["seconds"] for c in tables["cells"] if c["model"] in results and abs(float(c["rate"]) - rate) < 1e-9]
    doc = {**header(s, NAME), "rate": rate, "ks": list(KS), "source": "tables",
           "source_command": tables["command"], "results": results,
           "paper_at_10": {m: v for m, v in paper_at_10(tables, rate).items() if m in results},
           "protocol_notes": list(PROTOCOL_NOTES),
           "compute": {"seconds": 0.0, "by_device": {}, "runs": 0, "trained_now": 0,
                       "source_runs_seconds": float(np.sum(secs)),
                       "note": "no training: reads the metrics.json of the tables runs (source_runs_seconds: what "
                               "those runs took)"}}
    figs = {f"topk_{p}": plot(doc, p) for p in PROTOCOLS}
    out = write_outputs(s, NAME, doc, markdown(doc), figs)
    if progress is not None:
        progress(f"{NAME}: done", 1, 1)
    return out
