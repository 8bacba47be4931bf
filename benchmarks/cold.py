"""Cold-start tables: every model on the cold-start split of a real dataset (issue 14), for the README.

The cold protocol (``split.kind=cold``, ``split.cold_rate`` 0.2; README "Cold start"): a fifth of the videos lose
every interaction from training, half of them serve cold validation (model selection), half cold test; the
warm interactions are split per user at training rate 0.8 with a tenth of training carved out for validation
(:data:`COLD`, the same on both datasets). Each ``(model, seed)`` is an ordinary run of the preset
``configs/<dataset>/<model>.yaml`` with these overrides, trained by :func:`hhfan.compare.run_all` into
``--runs/<dataset>-cold/runs/<model>/seed<S>`` (finished runs reused, killed ones resumed, runs recorded in the
run ledger ``benchmarks/ledger`` taken from it; a seed varies the split, graph, walks and training). Writes
``benchmarks/results/cold_<dataset>.json`` / ``.md``: mean ± std of
the ``cold`` section (only cold videos ranked, for the users who watched one), ``warm`` and ``hybrid``, the
margin of HHFAN and of our variants (:data:`OURS`) over the best baseline on cold Recall@20 and NDCG@20, and,
for a model that cannot score a video without interactions, that sentence instead of numbers.

    python benchmarks/cold.py --dataset tiktok --seeds 3
    python benchmarks/cold.py --dataset tiktok --models hhfan,pop --seeds 1 --results cold_tiktok_quick
    python benchmarks/cold.py --dataset ml-1m --seeds 3,lightgcn=1,bprmf=1   # no cold figure: one seed
    python benchmarks/cold.py --dataset tiktok --predefined --seeds 1

``--predefined`` (TikTok) reports instead every model on the dataset's own split (the runs of
``benchmarks/compare.py``, reused) restricted to ``cold_subset``: the test interactions whose video has no
training interaction (7.3 % of TikTok's), every video a candidate, each model as it is (no id row zeroed:
nothing tells a model which videos these are). Written to ``cold_subset_tiktok.json`` / ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from common import LEDGER, REPO, SOURCES, ensure_data, write_atomic

COLD = ("split.kind=cold", "split.cold_rate=0.2", "split.training_rate=0.8", "split.val_rate=0.1")
CONTENT = ("hhfan", "hhfan-hybrid", "hhfan-cold", "dropoutnet", "pop", "fm", "deepfm", "neumf", "graphsage",
           "pinsage", "mmgcn", "han", "hetgnn", "herec", "freedom", "bm3")
"""The models that embed a video from content or graph links (README "How each model embeds a cold video")."""
OURS = ("hhfan", "hhfan-hybrid", "hhfan-cold", "hhfan-cl")
SUBSET_SHOWN = {"cold_subset": ("recall@20", "ndcg@20", "auc"), "full": ("recall@20", "ndcg@20")}
"""Columns of the ``--predefined`` table."""


def markdown(doc: dict[str, Any]) -> str:
    """The cold-start table (one row per model), the margins of ours, the sentence of each model that cannot score."""
    from hhfan.compare import COLD_SHOWN, cannot_score, sources_note
    from hhfan.compare import markdown as table
    from hhfan.model.registry import display_name

    res = doc["results"]
    title = (f"Cold-start split of {doc['dataset']} (`{' '.join(COLD)}`), full ranking, test, mean ± std over seeds; "
             f"`cold` ranks only the held-out videos. Command: `{doc['command']}`")
    lines = [table(res, title, COLD_SHOWN).replace(str(REPO / "configs"), "configs")]
    for ours, row in doc["margins"].items():
        parts = [f"{m} {v['ours']:.4f} against {display_name(v['best_other'])}'s {v['best_other_value']:.4f}"
                 + (f" ({100 * v['relative']:+.1f} %)" if v["relative"] is not None else "") for m, v in row.items()]
        ahead = ", ".join(f"{m} {v['seeds_ahead'][0]} of {v['seeds_ahead'][1]}" for m, v in row.items())
        lines.append(f"- {display_name(ours)}, cold " + "; ".join(parts) + f"; seeds ahead of it: {ahead}")
    if doc.get("chance"):
        c = doc["chance"]
        lines.append("- A uniformly random ranking would score (exact expectation on the same splits, mean over seeds "
                     f"{', '.join(map(str, doc['chance_seeds']))}): " + "; ".join(
                         f"{p} Recall@20 {c[p]['recall@20']:.4f}, NDCG@20 {c[p]['ndcg@20']:.4f}" for p in c))
    for model, s in res.items():
        why = cannot_score(s, "cold")
        if why:
            lines.append(f"- {display_name(model)} cannot score a video without interactions: {why}")
    note = sources_note(res)
    if note:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def compact(doc: dict[str, Any], ks: tuple[int, ...] = (10, 20)) -> dict[str, Any]:
    """``doc`` with every metric section cut to K in ``ks`` plus the K-free entries (AUC, counts, notes), so the
    results file stays small; the run directories keep every K."""
    def keep(name: str) -> bool:
        return "@" not in name or int(name.rsplit("@", 1)[1]) in ks

    def cut(section: Any) -> Any:
        return {n: v for n, v in section.items() if keep(n)} if isinstance(section, dict) else section

    out = dict(doc)
    out["results"] = {m: {**r, "protocols": {p: cut(v) for p, v in r["protocols"].items()},
                          "per_seed": {s: {p: cut(v) for p, v in met.items()} for s, met in r["per_seed"].items()}}
                      for m, r in doc["results"].items()}
    return out


def subset_markdown(doc: dict[str, Any]) -> str:
    """The ``--predefined`` table: ``cold_subset`` and the whole test part of every model, and the margins of ours."""
    from hhfan.compare import markdown as table
    from hhfan.compare import sources_note
    from hhfan.model.registry import display_name

    title = (f"TikTok's predefined split, test interactions on videos without a training interaction "
             f"(`cold_subset`; every video a candidate) beside the whole test part (`full`), mean ± std over seeds. "
             f"Command: `{doc['command']}`")
    lines = [table(doc["results"], title, SUBSET_SHOWN)]
    for ours, row in doc["margins"].items():
        lines += [f"- {display_name(ours)}, cold_subset {m} {v['ours']:.4f} against {display_name(v['best_other'])}'s "
                  f"{v['best_other_value']:.4f}" for m, v in row.items()]
    if doc.get("chance"):
        c = doc["chance"]["cold_subset"]
        lines.append(f"- A uniformly random ranking would score (exact expectation): cold_subset Recall@20 "
                     f"{c['recall@20']:.4f}, NDCG@20 {c['ndcg@20']:.4f}")
    note = sources_note(doc["results"])
    if note:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def chance(data: Path, dataset: str, seeds: list[int], overrides: tuple[str, ...], predefined: bool
           ) -> dict[str, dict[str, float]]:
    """Expected metrics of a uniformly random ranking (:func:`hhfan.eval.chance.chance_metrics`) per section, on the
    split of each seed (every model of a seed shares it), averaged over ``seeds``."""
    import numpy as np

    from hhfan.compare import run_config
    from hhfan.data.io import read_dataset
    from hhfan.data.split import make_split
    from hhfan.eval.chance import chance_metrics
    from hhfan.eval.protocols import cold_start_subsets, unseen_subset

    ds = read_dataset(data)
    per: dict[str, list[dict[str, float]]] = {}
    for seed in seeds:
        cfg = run_config("pop", seed, REPO / "configs" / dataset, overrides)
        split = make_split(ds, cfg.split)
        subs = (unseen_subset(ds, split),) if predefined else cold_start_subsets(ds, split)
        for sub in subs:
            per.setdefault(sub.name, []).append(chance_metrics(ds, split, sub, cfg.eval.ks))
    return {name: {m: float(np.mean([r[m] for r in rs])) for m in ("recall@20", "ndcg@20", "precision@20", "auc")}
            for name, rs in per.items()}


def main() -> None:
    """Train (or reuse) every run, then write the results file and its Markdown table."""
    from hhfan.compare import compare, margins, parse_models
    from hhfan.experiments.common import parse_seeds
    from hhfan.model.registry import MODEL_NAMES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(SOURCES), required=True)
    ap.add_argument("--models", default="", help=f"comma-separated (default: {','.join(CONTENT)}; with "
                    "--predefined every registered model)")
    ap.add_argument("--seeds", default="3", help="seeds 0..N-1 per model: N, or N,model=M,... (fewer or more "
                    "for some models)")
    ap.add_argument("--predefined", action="store_true", help="TikTok's own split, its cold_subset section")
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "compare")
    ap.add_argument("--results", default="", help="results file name without extension (default: cold_<dataset>, "
                    "with --predefined cold_subset_tiktok)")
    ap.add_argument("--workers", type=int, default=1, help="runs trained at once, each in its own process and "
                    "then at one thread (train.num_threads=1); e.g. 2 on 2 cores")
    ap.add_argument("--ledger", default=str(LEDGER), help="run ledger: runs recorded there are not trained again, "
                    "runs trained are recorded ('' for none; default benchmarks/ledger)")
    a = ap.parse_args()
    if a.predefined and a.dataset != "tiktok":
        raise SystemExit("--predefined: only TikTok has a predefined split with videos unseen in training")
    try:
        models = parse_models(a.models or ",".join(MODEL_NAMES if a.predefined else CONTENT))
    except ValueError as e:
        raise SystemExit(f"--models: {e}") from None
    try:
        counts = parse_seeds(a.seeds)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    data = ensure_data(a.dataset, a.runs)
    seeds = {m: list(range(counts.get(m, counts["*"]))) for m in models}
    out, overrides = (a.runs / a.dataset, ()) if a.predefined else (a.runs / f"{a.dataset}-cold", COLD)
    if a.workers > 1:  # threads are not part of a run's identity (the ledger key ignores them)
        overrides = (*overrides, "train.num_threads=1")
    doc = compare(data, models, seeds, out, REPO / "configs" / a.dataset, overrides,
                  on_run=lambda m, s, i, n: print(f"[{i + 1}/{n}] {m} seed {s}", flush=True),
                  ledger=Path(a.ledger) if a.ledger else None, workers=a.workers)
    doc.update(dataset=a.dataset, configs=f"configs/{a.dataset}", overrides=list(overrides),
               data=f"imported from ../shared/data ({SOURCES[a.dataset][0]})",
               command="python benchmarks/cold.py " + " ".join(sys.argv[1:]))
    all_seeds = sorted({s for ss in seeds.values() for s in ss})
    doc["chance"] = chance(data, a.dataset, [0] if a.predefined else all_seeds, overrides, a.predefined)
    doc["chance_seeds"] = [0] if a.predefined else all_seeds
    if a.predefined:
        doc["margins"] = margins(doc["results"], OURS, "cold_subset", ("recall@20", "ndcg@20", "auc"))
        text, name = subset_markdown(doc), "cold_subset_tiktok"
    else:
        doc["margins"] = margins(doc["results"], OURS)
        text, name = markdown(doc), f"cold_{a.dataset}"
    result = REPO / "benchmarks" / "results" / f"{a.results or name}.json"
    write_atomic(result, json.dumps(compact(doc), indent=1))
    write_atomic(result.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
