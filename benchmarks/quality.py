"""Model quality on the real datasets, mean ± std over seeds, against the paper's and published numbers.

Each seed is a full ``hhfan train --model MODEL`` run with the preset ``configs/<dataset>/<model>.yaml``
(``train.seed`` and ``split.seed`` = the seed; TikTok keeps its predefined split) into
``--runs/<dataset>/<model>/seed<S>``; the test metrics of the best validation epoch are summarised into
``benchmarks/results/quality_<dataset>.json`` / ``.md`` (``quality_<dataset>_<model>`` for other
models). Model selection never sees test data.

    python benchmarks/quality.py --dataset ml-1m --seeds 0,1,2
    python benchmarks/quality.py --dataset tiktok --model lightgcn --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from common import REPO, SHARED

REFERENCE = REPO.parent / "shared" / "reference"
SOURCES = {"ml-1m": ("movielens-1m", SHARED / "ml-1m"), "tiktok": ("tiktok", SHARED / "tiktok-mmssl")}
SHOWN = {"sampled": ["precision@10", "recall@10", "recall_capped@10", "ndcg@10", "auc"],
         "full": ["recall@20", "ndcg@20", "auc"]}


def _paper(dataset: str) -> dict[str, float]:
    """The paper's Table II HHFAN row (training rate 0.8) for a dataset, if the reference CSV is present."""
    name = {"ml-1m": "MLs", "tiktok": "Tiktok"}[dataset]
    path = REFERENCE / "hhfan_paper_tables.csv"
    if not path.exists():
        return {}
    keys = {"Pre": "precision@10", "Rec": "recall@10", "NDCG": "ndcg@10", "AUC": "auc"}
    with open(path) as fh:
        return {keys[r["metric"]]: float(r["value"]) for r in csv.DictReader(fh)
                if r["table"] == "II" and r["dataset"] == name and r["model"] == "HHFAN"}


def _published(dataset: str) -> dict[str, dict[str, float]]:
    """Published full-ranking numbers on the same TikTok split (LightGCN, MMGCN...)."""
    path = REFERENCE / "published_full_ranking.csv"
    if dataset != "tiktok" or not path.exists():
        return {}
    out: dict[str, dict[str, float]] = {}
    with open(path) as fh:
        for r in csv.DictReader(fh):
            if r["dataset"] == "tiktok-mmssl":
                out.setdefault(r["model"], {})[r["metric"].lower()] = float(r["value"])
    return out


def main() -> None:
    """Train one run per seed (skipping finished ones), then summarise."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(SOURCES), required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--model", default="hhfan", help="hhfan | bprmf | lightgcn")
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "quality")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra key=value overrides")
    a = ap.parse_args()
    kind, source = SOURCES[a.dataset]
    data = a.runs / a.dataset / "data"
    if not data.exists():
        subprocess.run([sys.executable, "-m", "hhfan", "data", "import", kind, "--source", str(source),
                        "--out", str(data)], check=True)
    preset = REPO / "configs" / a.dataset / f"{a.model}.yaml"
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    for seed in (int(s) for s in a.seeds.split(",")):
        run = a.runs / a.dataset / a.model / f"seed{seed}"
        if not (run / "metrics.json").exists():
            sets = [f"train.seed={seed}", f"split.seed={seed}", *a.sets]
            args = [x for s in sets for x in ("--set", s)]
            resume = ["--resume"] if (run / "last.pt").exists() else []
            subprocess.run([sys.executable, "-m", "hhfan", "train", "--model", a.model, "--data", str(data),
                            "--out", str(run), "--config", str(preset), *args, *resume], check=True)
        per_seed[seed] = json.loads((run / "metrics.json").read_text())
    summary: dict[str, Any] = {"dataset": a.dataset, "model": a.model, "preset": str(preset.relative_to(REPO)),
                               "overrides": a.sets, "seeds": sorted(per_seed), "paper_hhfan_table2": _paper(a.dataset),
                               "published_full_ranking": _published(a.dataset), "protocols": {}}
    for proto in ("sampled", "full"):
        names = sorted(per_seed[next(iter(per_seed))][proto])
        summary["protocols"][proto] = {
            n: {"mean": float(np.mean([m[proto][n] for m in per_seed.values()])),
                "std": float(np.std([m[proto][n] for m in per_seed.values()]))} for n in names}
    suffix = "" if a.model == "hhfan" else f"_{a.model}"
    out = REPO / "benchmarks" / "results" / f"quality_{a.dataset}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=out.parent, delete=False, suffix=".tmp") as fh:
        json.dump(summary, fh, indent=2)
    os.replace(fh.name, out)
    label = {"hhfan": "HHFAN", "bprmf": "BPR-MF", "lightgcn": "LightGCN"}[a.model]
    lines = [f"{label} on {a.dataset}, {len(per_seed)} seeds (mean ± std), preset `{summary['preset']}`", ""]
    for proto, names in SHOWN.items():
        s = summary["protocols"][proto]
        lines += [f"| {proto} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
                  f"| {label} (ours) | " + " | ".join(f"{s[n]['mean']:.4f} ± {s[n]['std']:.4f}" for n in names) + " |"]
        if proto == "sampled" and summary["paper_hhfan_table2"]:
            p = summary["paper_hhfan_table2"]
            lines.append("| HHFAN (paper, Table II) | " + " | ".join(f"{p[n]:.4f}" if n in p else "—" for n in names)
                         + " |")
        if proto == "full":
            for model, vals in summary["published_full_ranking"].items():
                lines.append(f"| {model} (published) | " + " | ".join(
                    f"{vals[n]:.4f}" if n in vals else "—" for n in names) + " |")
        lines.append("")
    (out.with_suffix(".md")).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
