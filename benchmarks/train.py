"""Training and evaluation cost of HHFAN on TikTok and MovieLens-1M.

For each dataset a fresh child process imports the data from ../shared/data, builds the graph and
neighbour tables, then times ``--epochs`` full BPR epochs (seconds per epoch and training triples
per second, median over epochs) and the full-ranking evaluation of every test user (median over
``--repeats``), and reports the child's peak memory. Results are printed and written to
``benchmarks/results/train.json``.

    python benchmarks/train.py                          # both datasets, preset configs
    python benchmarks/train.py --cases ml-1m --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import REPO, SHARED, peak_rss_gib, run_child, write_results

RESULTS = REPO / "benchmarks" / "results" / "train.json"
PRESETS = {"ml-1m": REPO / "configs" / "ml-1m" / "hhfan.yaml", "tiktok": REPO / "configs" / "tiktok" / "hhfan.yaml"}


def run_case(case: str, epochs: int, repeats: int) -> dict[str, Any]:
    """Runs inside the child process; returns the figures of one dataset."""
    import torch

    from hhfan.config import resolve
    from hhfan.data.importers import load_movielens_1m, load_tiktok
    from hhfan.data.split import TEST, TRAIN
    from hhfan.eval.protocols import EvalConfig, evaluate
    from hhfan.graph.artifacts import build_artifacts
    from hhfan.runner import RunConfig, build_model
    from hhfan.train.trainer import bpr_loss
    from hhfan.train.triples import TrainingPairs, epoch_triples

    ds = load_tiktok(SHARED / "tiktok-mmssl") if case == "tiktok" else load_movielens_1m(SHARED / "ml-1m")
    cfg = resolve(RunConfig, PRESETS[case], [])
    t0 = time.perf_counter()
    art = build_artifacts(ds, cfg.build_config())
    out: dict[str, Any] = {"config": str(PRESETS[case].relative_to(REPO)),
                           "graph_and_tables_s": time.perf_counter() - t0, "torch_threads": torch.get_num_threads()}
    model = build_model(cfg, ds, art)
    m = art.split.mask(TRAIN)
    pairs = TrainingPairs(ds.interactions.user[m], ds.interactions.video[m], ds.num_users, ds.num_videos)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    secs, n = [], 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        u, v, neg = (torch.from_numpy(a) for a in epoch_triples(pairs, np.empty((0, 2), np.int64),
                                                                cfg.train.negatives, 0, epoch))
        b = cfg.train.batch_size
        for s in range(0, u.shape[0], b):
            loss, _ = bpr_loss(model, u[s : s + b], v[s : s + b], neg[s : s + b], cfg.train.l2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        secs.append(time.perf_counter() - t0)
        n = int(u.shape[0])
    model.eval()
    ev_secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        eu, ev = model.all_embeddings()
        res = evaluate(eu, ev, ds, art.split, part=TEST, config=EvalConfig(protocol="full"))
        ev_secs.append(time.perf_counter() - t0)
    out.update({
        "users": ds.num_users, "videos": ds.num_videos, "train_triples_per_epoch": n,
        "batch_size": cfg.train.batch_size, "dim": cfg.model.dim, "epochs_timed": epochs,
        "seconds_per_epoch": float(np.median(secs)), "triples_per_s": n / float(np.median(secs)),
        "full_eval_s": float(np.median(ev_secs)), "full_eval_users": int(res["full"]["num_users"]),
        "peak_rss_gib": peak_rss_gib(),
    })
    return out


def main() -> None:
    """Run each case in a child process, print a line per case and write the JSON results."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="tiktok,ml-1m")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_case(a.child, a.epochs, a.repeats)))
        return
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: this benchmark needs the real datasets")
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "cases": {}}
    for case in a.cases.split(","):
        r = run_child(__file__, case, ["--epochs", str(a.epochs), "--repeats", str(a.repeats)])
        results["cases"][case] = r
        print(f"{case:7s} epoch={r['seconds_per_epoch']:6.1f}s triples/s={r['triples_per_s']:>9,.0f} "
              f"full-ranking eval of {r['full_eval_users']:,} users={r['full_eval_s']:.2f}s "
              f"peak={r['peak_rss_gib']:.2f}GiB", flush=True)
    write_results(a.out, results)


if __name__ == "__main__":
    main()
