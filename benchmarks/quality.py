"""One model's quality on a real dataset, mean ± std over seeds, against the paper's and published numbers.

Each seed is an ordinary training run with the preset ``configs/<dataset>/<model>.yaml``
(``train.seed`` and ``split.seed`` = the seed; TikTok keeps its predefined split), run by
:func:`hhfan.compare.run_all` into ``--runs/<dataset>/runs/<model>/seed<S>`` (finished runs are
reused, killed ones resumed); the test metrics of the best validation epoch are summarised into
``benchmarks/results/quality_<dataset>.json`` / ``.md`` (``quality_<dataset>_<model>`` for other
models). Model selection never sees test data.

    python benchmarks/quality.py --dataset ml-1m --seeds 0,1,2
    python benchmarks/quality.py --dataset tiktok --model lightgcn --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common import REPO, SOURCES, ensure_data, paper_table2, published_full_ranking, write_atomic

SHOWN = {"sampled": ["precision@10", "recall@10", "recall_capped@10", "ndcg@10", "auc"],
         "full": ["recall@20", "ndcg@20", "auc"]}


def report(summary: dict[str, Any], label: str) -> str:
    """Markdown tables of one model's summary with the paper's / published reference rows."""
    lines = [f"{label} on {summary['dataset']}, {len(summary['seeds'])} seeds (mean ± std), "
             f"preset `{summary['preset']}`", ""]
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
    return "\n".join(lines)


def main() -> None:
    """Train one run per seed (reusing finished ones), then summarise."""
    from hhfan.compare import run_all, summarise
    from hhfan.model.registry import display_name

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(SOURCES), required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--model", default="hhfan", help="any name of `hhfan train --model`")
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "quality")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra key=value overrides")
    a = ap.parse_args()
    data = ensure_data(a.dataset, a.runs)
    configs = REPO / "configs" / a.dataset
    seeds = [int(s) for s in a.seeds.split(",")]
    records = run_all(data, [a.model], seeds, a.runs / a.dataset, configs, a.sets)
    res = summarise(records)[a.model]
    preset = configs / f"{a.model}.yaml"
    summary: dict[str, Any] = {"dataset": a.dataset, "model": a.model,
                               "preset": str(preset.relative_to(REPO)) if preset.exists() else "defaults",
                               "overrides": a.sets, "seeds": seeds, "paper_hhfan_table2": paper_table2(a.dataset),
                               "published_full_ranking": published_full_ranking(a.dataset),
                               "protocols": res["protocols"], "train_wall_seconds": res["train_wall_seconds"],
                               "seconds_per_epoch": res["seconds_per_epoch"], "epochs": res["epochs"]}
    suffix = "" if a.model == "hhfan" else f"_{a.model}"
    out = REPO / "benchmarks" / "results" / f"quality_{a.dataset}{suffix}.json"
    write_atomic(out, json.dumps(summary, indent=2))
    text = report(summary, display_name(a.model))
    write_atomic(out.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
