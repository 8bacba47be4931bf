"""All models side by side on a real dataset (``hhfan compare`` with the repo's presets), for the README.

Imports the dataset from ../shared/data once (into ``--runs``, never into the repo), runs
:func:`hhfan.compare.compare` with ``configs/<dataset>/<model>.yaml`` presets and ``--seeds`` seeds
(finished runs are reused, and so are runs recorded in the
run ledger ``benchmarks/ledger``), and writes ``benchmarks/results/compare_<dataset>.json`` / ``.md``: our
mean ± std per model, then the paper's Table II rows (ML-1M, TikTok; the paper's own split and
sampled protocol) and published full-ranking numbers on the TikTok split, for reference.

    python benchmarks/compare.py --dataset tiktok --seeds 3
    python benchmarks/compare.py --dataset ml-1m --models hhfan,lightgcn,bprmf,pop --seeds 3
    python benchmarks/compare.py --dataset tiktok --seeds 3 --one-seed neumf,deepfm,semrec   # costly ones: seed 0 only
    python benchmarks/compare.py --dataset tiktok --models hhfan,hhfan-hybrid,lightgcn --results compare_tiktok_head

The Markdown table has a ``seeds`` column, so a model run on fewer seeds is visible as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import LEDGER, PAPER_NAMES, REPO, SOURCES, ensure_data, paper_table2, published_full_ranking, write_atomic


def main() -> None:
    """Run the comparison, then write the results with reference rows."""
    from hhfan.compare import compare
    from hhfan.runner import MODELS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(SOURCES), required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--one-seed", default="", help="comma-separated models run on seed 0 only (cost)")
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "compare")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra key=value overrides")
    ap.add_argument("--workers", type=int, default=1, help="runs trained at once, each in its own process "
                    "(with --set train.num_threads=1 on 2 cores: --workers 2)")
    ap.add_argument("--ledger", default=str(LEDGER), help="run ledger: runs recorded there are not trained again, "
                    "runs trained are recorded ('' for none; default benchmarks/ledger)")
    ap.add_argument("--results", default="", help="results file name without extension (default: "
                    "compare_<dataset>); a subset of models goes to its own file so the full table stays whole")
    a = ap.parse_args()
    data = ensure_data(a.dataset, a.runs)
    models = a.models.split(",")
    out = a.runs / a.dataset
    few = set(filter(None, a.one_seed.split(",")))
    seeds = {m: [0] if m in few else list(range(a.seeds)) for m in models}
    doc = compare(data, models, seeds, out, REPO / "configs" / a.dataset, a.sets,
                  on_run=lambda m, s, i, n: print(f"[{i + 1}/{n}] {m} seed {s}", flush=True),
                  ledger=Path(a.ledger) if a.ledger else None, workers=a.workers)
    doc["configs"] = f"configs/{a.dataset}"
    doc["data"] = f"imported from ../shared/data ({SOURCES[a.dataset][0]})"
    doc["paper_table2"] = {m: paper_table2(a.dataset, m) for m in PAPER_NAMES if paper_table2(a.dataset, m)}
    doc["published_full_ranking"] = published_full_ranking(a.dataset)
    doc["command"] = "python benchmarks/compare.py " + " ".join(sys.argv[1:])
    result = REPO / "benchmarks" / "results" / f"{a.results or 'compare_' + a.dataset}.json"
    write_atomic(result, json.dumps(doc, indent=2))
    lines = [(out / "compare.md").read_text().replace(str(REPO / "configs"), "configs"), ""]
    if doc["paper_table2"]:
        lines += ["Paper, Table II (its own split, training rate 0.8, sampled protocol; for reference):", "",
                  "| model | precision@10 | recall@10 | ndcg@10 | auc |", "|---|---|---|---|---|"]
        for m, v in doc["paper_table2"].items():
            lines.append(f"| {PAPER_NAMES[m]} | " + " | ".join(
                f"{v[k]:.4f}" if k in v else "—" for k in ("precision@10", "recall@10", "ndcg@10", "auc")) + " |")
        lines.append("")
    if doc["published_full_ranking"]:
        lines += ["Published full-ranking results on the same TikTok split (for reference):", "",
                  "| model | recall@20 | ndcg@20 |", "|---|---|---|"]
        for m, v in doc["published_full_ranking"].items():
            lines.append(f"| {m} | {v.get('recall@20', float('nan')):.4f} | {v.get('ndcg@20', float('nan')):.4f} |")
    write_atomic(result.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
