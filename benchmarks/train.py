"""Training and evaluation cost of HHFAN (and of every baseline) on TikTok and MovieLens-1M.

For each dataset (and model, ``--models``) a fresh child process imports the data from
../shared/data, builds the graph and neighbour tables, then times ``--epochs`` full BPR epochs
(seconds per epoch and training triples per second, median over epochs) and the full-ranking
evaluation of every test user (median over ``--repeats``), and reports the child's peak memory.
Each model runs with its preset ``configs/<dataset>/<model>.yaml`` (defaults when there is none).
Results are printed and written to ``benchmarks/results/train.json`` (HHFAN only) or ``--out``;
with several models each case also gets its epoch time as a ratio to BPR-MF's, measured in the
same run (when ``bprmf`` is among the models).

    python benchmarks/train.py                          # HHFAN, both datasets, preset configs
    python benchmarks/train.py --cases ml-1m --epochs 1
    python benchmarks/train.py --models all --epochs 2 --out benchmarks/results/train_models.json
    python benchmarks/train.py --models all --cases tiktok --epochs 2 --threads 1   # one core each, steadier
    python benchmarks/train.py --cases synth --models all --device cuda --out benchmarks/results/train_synth_cuda.json

The case ``synth`` needs no real data: a synthetic world the size of MovieLens-1M (:data:`SYNTH`: 6,040 users,
3,706 videos, about 0.63 M interactions), trained with the ML-1M presets; it times the GPU path (``--device
cuda``) on a machine that has a GPU but not ../shared/data.
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
SYNTH = {"num_users": 6040, "num_videos": 3706, "mean_interactions": 120.0, "seed": 0}


def preset(dataset: str, model: str) -> Path | None:
    """``configs/<dataset>/<model>.yaml`` if it exists."""
    path = REPO / "configs" / dataset / f"{model}.yaml"
    return path if path.exists() else None


def run_case(case: str, epochs: int, repeats: int, threads: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Runs inside the child process; returns the figures of one ``dataset[:model]`` case.

    ``threads`` > 0 sets torch's intra-op threads (1 gives steadier figures when another job shares the
    machine); 0 keeps torch's default. ``device`` is where the model trains and evaluates; on a GPU each
    timed span ends with a synchronisation, and the first epoch (kernel warm-up) is timed but left out of
    the median when more than one is timed.
    """
    import torch

    if threads > 0:
        torch.set_num_threads(threads)

    from hhfan.data.importers import load_movielens_1m, load_tiktok
    from hhfan.data.split import TEST, TRAIN
    from hhfan.data.synth import SynthConfig, generate
    from hhfan.eval.protocols import EvalConfig, evaluate
    from hhfan.graph.artifacts import build_artifacts
    from hhfan.runner import build_model, resolve_run
    from hhfan.train.trainer import bpr_loss
    from hhfan.train.triples import TrainingPairs, epoch_triples

    dataset, _, model_name = case.partition(":")
    model_name = model_name or "hhfan"
    if dataset == "synth":
        ds = generate(SynthConfig(**SYNTH))  # type: ignore[arg-type]
    else:
        ds = load_tiktok(SHARED / "tiktok-mmssl") if dataset == "tiktok" else load_movielens_1m(SHARED / "ml-1m")
    conf = preset("ml-1m" if dataset == "synth" else dataset, model_name)

    on_gpu = device.startswith("cuda")

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize(device)

    cfg = resolve_run(conf, [], model_name)
    t0 = time.perf_counter()
    art = build_artifacts(ds, cfg.build_config())
    out: dict[str, Any] = {"config": str(conf.relative_to(REPO)) if conf else "defaults",
                           "graph_and_tables_s": time.perf_counter() - t0, "torch_threads": torch.get_num_threads()}
    t0 = time.perf_counter()
    model = build_model(cfg, ds, art, device)
    sync()
    out["build_model_s"] = time.perf_counter() - t0
    trainable = any(p.requires_grad for p in model.parameters())
    m = art.split.mask(TRAIN)
    pairs = TrainingPairs(ds.interactions.user[m], ds.interactions.video[m], ds.num_users, ds.num_videos)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr) if trainable else None
    secs, n = [], 0
    for epoch in range(epochs if trainable else 0):
        t0 = time.perf_counter()
        model.start_epoch(epoch)  # as the trainer does (FREEDOM draws its pruned graph here)
        u, v, neg = (torch.from_numpy(a).to(device) for a in epoch_triples(pairs, None,
                                                                cfg.train.negatives, 0, epoch))
        b = cfg.train.batch_size
        for s in range(0, u.shape[0], b):
            loss, _ = bpr_loss(model, u[s : s + b], v[s : s + b], neg[s : s + b], cfg.train.l2)
            assert opt is not None
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()
        secs.append(time.perf_counter() - t0)
        n = int(u.shape[0])
    steady = secs[1:] if on_gpu and len(secs) > 1 else secs
    model.eval()
    ev_secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        eu, ev = model.all_embeddings()
        res = evaluate(eu, ev, ds, art.split, part=TEST, config=EvalConfig(protocol="full"),
                       scorer=model.score_matrix)
        sync()
        ev_secs.append(time.perf_counter() - t0)
    out.update({
        "users": ds.num_users, "videos": ds.num_videos, "train_triples_per_epoch": n,
        "batch_size": cfg.train.batch_size, "model": model_name, "epochs_timed": len(secs), "device": device,
        "device_name": (torch.cuda.get_device_name(device) if on_gpu
                        else platform.processor() or platform.machine()),
        "epoch_seconds": secs,
        "parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "seconds_per_epoch": float(np.median(steady)) if secs else 0.0,
        "triples_per_s": n / float(np.median(steady)) if secs else 0.0,
        "full_eval_s": float(np.median(ev_secs)), "full_eval_users": int(res["full"]["num_users"]),
        "peak_rss_gib": peak_rss_gib(),
    })
    if on_gpu:
        out["gpu_peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def main() -> None:
    """Run each case in a child process, print a line per case and write the JSON results."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="tiktok,ml-1m")
    ap.add_argument("--models", default="hhfan", help="comma-separated model names, or 'all'")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per case (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (where the models train and evaluate)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_case(a.child, a.epochs, a.repeats, a.threads, a.device)))
        return
    if not SHARED.is_dir() and any(c != "synth" for c in a.cases.split(",")):
        raise SystemExit(f"{SHARED} not found: this benchmark needs the real datasets")
    from hhfan.runner import MODELS

    models = list(MODELS) if a.models == "all" else a.models.split(",")
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "device": a.device, "cases": {}}
    failed: list[str] = []
    for dataset in a.cases.split(","):
        for model in models:
            case = dataset if model == "hhfan" and len(models) == 1 else f"{dataset}:{model}"
            try:
                r = run_child(__file__, case, ["--epochs", str(a.epochs), "--repeats", str(a.repeats),
                                               "--threads", str(a.threads), "--device", a.device])
            except SystemExit as e:  # keep going: one broken case must not hide the others' figures
                failed.append(case)
                results["cases"][case] = {"error": str(e)}
                continue
            results["cases"][case] = r
            print(f"{case:18s} epoch={r['seconds_per_epoch']:6.1f}s triples/s={r['triples_per_s']:>9,.0f} "
                  f"full-ranking eval of {r['full_eval_users']:,} users={r['full_eval_s']:.2f}s "
                  f"peak={r['peak_rss_gib']:.2f}GiB", flush=True)
        base = results["cases"].get(f"{dataset}:bprmf")
        for model in models:
            r = results["cases"].get(f"{dataset}:{model}")
            if base and r and "error" not in r and base.get("seconds_per_epoch", 0) > 0:
                r["epoch_time_vs_bprmf"] = r["seconds_per_epoch"] / base["seconds_per_epoch"]
    write_results(a.out, results)
    if failed:
        raise SystemExit(f"failed cases (stderr above): {', '.join(failed)}")


if __name__ == "__main__":
    main()
