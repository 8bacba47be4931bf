"""A new user's first run: every model with no preset and no ``--set`` on worlds nobody tuned for (issue 17, item 3).

Runs what ``hhfan train --data DIR --model M`` runs (the package defaults, seed 0, one thread) on synthetic worlds of
several shapes and on the real datasets in ../shared/data, and writes ``benchmarks/results/defaults.json`` / ``.md``:
validation NDCG@20 at the chosen epoch, test full Recall@20 / NDCG@20, epochs, median seconds per epoch, and whether
each model beats most-popular on test. Finished runs are reused (``--runs``), so the same command continues.

    python benchmarks/defaults.py                                   # every world, the default models
    python benchmarks/defaults.py --worlds synth-lastfm,tiktok --models pop,hhfan,lightgcn

Worlds (the synthetic ones are labelled synthetic in their ``dataset.json``):

* ``synth``: ``hhfan data synth`` as it comes (1,000 users, 2,000 videos, tag tree, three feature modalities).
* ``synth-lastfm``: the shape of the unseen dataset of issue 17 (1,900 users, 17,600 items, about 90 K
  interactions, about 9 K flat tags, no content features, no user attributes) with weak planted structure
  (30 % of interactions ignore the user's interests, Zipf exponent 1.3): its tree tags are split into 40 flat
  synonyms each (1-3 per video), the tree and the user attributes dropped.
* ``synth-dense``: 600 users x 400 videos, 80 interactions per user (dense, like MovieLens).
* ``tiktok``, ``ml-1m``: the real datasets, imported once into ``--runs`` (skipped when ../shared/data lacks them).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import REPO, SOURCES, ensure_data, write_atomic

MODELS = "pop,hhfan,hhfan-hybrid,lightgcn,bprmf"
SYNTH: dict[str, dict[str, Any]] = {
    "synth": {},
    "synth-lastfm": {"num_users": 1900, "num_videos": 17600, "mean_interactions": 48.0, "seed": 3,
                     "tag_branching": (6, 6, 6), "exploration": 0.3, "popularity_exponent": 1.3, "dims": {},
                     "noise": {}},
    "synth-dense": {"num_users": 600, "num_videos": 400, "mean_interactions": 80.0, "seed": 5},
}
WORLDS = ",".join([*SYNTH, *SOURCES])


def flatten_tags(src: Path, dst: Path, synonyms: int = 40, seed: int = 0) -> None:
    """``dst``: ``src`` with flat, sparse tags (each tree tag split into ``synonyms`` names, 1-3 per video), no tag
    tree and no user attributes: the shape of a tag-only catalogue such as Last.fm's."""
    rng = np.random.default_rng(seed)
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("interactions.csv", "videos.csv"):
        shutil.copy(src / name, tmp)
    pd.read_csv(src / "users.csv")[["user_id"]].to_csv(tmp / "users.csv", index=False)
    vt = pd.read_csv(src / "video_tags.csv")
    rows = vt.loc[vt.index.repeat(rng.integers(1, 4, size=len(vt)))].reset_index(drop=True)
    names = rows["tag"].str.replace(".", "_", regex=False) + "~" + rng.integers(0, synonyms, len(rows)).astype(str)
    flat = pd.DataFrame({"video_id": rows["video_id"], "tag": names}).drop_duplicates()
    flat.to_csv(tmp / "video_tags.csv", index=False)
    pd.DataFrame({"tag": sorted(flat["tag"].unique())}).to_csv(tmp / "tags.csv", index=False)
    (tmp / "dataset.json").write_text(json.dumps({"name": "synthetic, Last.fm-shaped (flat tags)",
                                                  "synthetic": True}))
    tmp.rename(dst)


def ensure_world(world: str, root: Path) -> Path | None:
    """The data directory of ``world`` under ``root`` (generated or imported once), or None if unavailable."""
    from hhfan.data.io import write_dataset
    from hhfan.data.synth import SynthConfig, generate

    if world in SOURCES:
        return ensure_data(world, root) if SOURCES[world][1].exists() else None
    data = root / world / "data"
    if data.exists():
        return data
    raw = root / world / "raw" if world == "synth-lastfm" else data
    if not raw.exists():
        write_dataset(generate(SynthConfig(**SYNTH[world])), raw)
    if world == "synth-lastfm":
        flatten_tags(raw, data)
    return data


def summary(run_dir: Path, metric: str = "ndcg@20") -> dict[str, Any]:
    """What one finished run reports: chosen epoch and its validation figure, test full ranking, epoch seconds."""
    from hhfan.compare import read_train_log

    log = read_train_log(run_dir)
    best = max(log, key=lambda r: r["val"][metric])
    full = json.loads((run_dir / "metrics.json").read_text())["full"]
    return {"best_epoch": best["epoch"], "epochs": len(log), "val_ndcg@20": best["val"][metric],
            "test_recall@20": full["recall@20"], "test_ndcg@20": full["ndcg@20"],
            "median_epoch_s": float(np.median([r["seconds"] for r in log]))}


def table(doc: dict[str, Any]) -> str:
    """The Markdown table of ``doc["rows"]``, one line per world and model."""
    lines = ["| world | model | val NDCG@20 | test R@20 | test NDCG@20 | vs pop (test NDCG@20) | best epoch / run | "
             "s / epoch |", "|---|---|---|---|---|---|---|---|"]
    for world, rows in doc["rows"].items():
        pop = rows.get("pop", {}).get("test_ndcg@20")
        for model, r in rows.items():
            vs = f"{r['test_ndcg@20'] / pop:.2f}x" if pop and model != "pop" else ""
            lines.append(f"| {world} | {model} | {r['val_ndcg@20']:.4f} | {r['test_recall@20']:.4f} | "
                         f"{r['test_ndcg@20']:.4f} | {vs} | {r['best_epoch']} / {r['epochs']} | "
                         f"{r['median_epoch_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run every (world, model) with the package defaults, then write the results."""
    from hhfan.compare import run_all

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", default=WORLDS)
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "defaults")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "defaults.json")
    a = ap.parse_args(argv)
    models = a.models.split(",")
    path = a.results
    doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    doc.setdefault("rows", {})
    for world in a.worlds.split(","):
        if world not in SYNTH and world not in SOURCES:
            raise SystemExit(f"unknown world {world!r}; choose from {WORLDS}")
        data = ensure_world(world, a.runs)
        if data is None:
            print(f"skipping {world}: ../shared/data has no copy", flush=True)
            continue
        for model in models:
            print(f"{world}: {model}", flush=True)
            run_all(data, [model], [0], a.runs / world, configs=None, overrides=["train.num_threads=1"])
            row = summary(a.runs / world / "runs" / model / "seed0")
            row["command"] = f"python benchmarks/defaults.py --worlds {world} --models {model}"
            doc["rows"].setdefault(world, {})[model] = row
            doc["note"] = ("package defaults (no preset, no --set), seed 0, one thread; the test figure is at the "
                           "epoch chosen on validation NDCG@20; seconds on a shared 2-core machine")
            write_atomic(path, json.dumps(doc, indent=2))
            write_atomic(path.with_suffix(".md"), table(doc) + "\n\n" + doc["note"] + "\n")
    print(table(doc))


if __name__ == "__main__":
    main()
