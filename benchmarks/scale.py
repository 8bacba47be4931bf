"""Scaling benchmark (issue 19): epoch and evaluation seconds and peak memory per stage, by size and processes.

Rows: interactions in ``--interactions`` (default 1M; the issue's grid is 1M, 5M, 20M) x processes in
``--processes`` (1, 2) x models in ``--models`` (hhfan, lightgcn). Each size is a synthetic world with Kwai's
proportions (170 K users and 310 K videos at 20 M interactions, about 118 per user; labelled synthetic). Stages,
each in fresh processes so that their peak memory is their own:

* ``generate`` — the synthetic world, written to disk;
* ``graph`` — split + M-HIG + RWSS tables, built once per size into a graph cache that the training runs
  reuse (:func:`hhfan.runner.shared_graph`);
* ``train`` — ``torchrun --nproc_per_node P`` over ``train_run`` (gloo, 127.0.0.1), ``--epochs`` epochs: per
  epoch the training seconds (triples + steps), the validation seconds (full ranking of the validation part),
  then the test evaluation seconds (both protocols, every test user); peak resident memory of each window,
  the maximum over ranks and their sum. Threads: all cores for one process, an equal share for several.

Results: ``benchmarks/results/scale.json`` (one row per size x processes x model). The rows not run say why.

    python benchmarks/scale.py                                  # 1M rows (1 and 2 processes, both models)
    python benchmarks/scale.py --interactions 1M,5M,20M         # the issue's grid (hours on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import REPO, free_port, peak_rss_gib, write_results

RESULTS = REPO / "benchmarks" / "results" / "scale.json"
KWAI = (170_000, 310_000, 20_000_000)
"""Kwai-scale users, videos and interactions: the proportions of every size."""
FAST = ["eval.ks=[10,20]"]


def parse_size(text: str) -> int:
    """``1M`` / ``500K`` / ``20000000`` -> an int."""
    t = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if t[-1:] in "KM" else t) * mult)


class RssSampler:
    """Samples this process's resident memory every ``interval`` seconds; max over any time window."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self._proc = psutil.Process()
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self._proc.memory_info().rss / 2**30))
            self._stop.wait(interval)

    def peak(self, start: float, end: float) -> float:
        """Highest sampled RSS (GiB) between ``start`` and ``end`` (perf_counter times)."""
        inside = [r for t, r in self.samples if start <= t <= end]
        return max(inside) if inside else self._proc.memory_info().rss / 2**30

    def stop(self) -> None:
        """End sampling."""
        self._stop.set()
        self._thread.join()


@contextmanager
def window(log: list[tuple[str, float, float]], name: str) -> Iterator[None]:
    """Record ``(name, start, end)`` of the enclosed block."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        log.append((name, t0, time.perf_counter()))


def child_generate(data: str, interactions: int, seed: int) -> dict[str, Any]:
    """Generate and write the world of ``interactions``."""
    from hhfan.data.io import write_dataset
    from hhfan.data.synth import SynthConfig, generate

    users = max(100, round(KWAI[0] * interactions / KWAI[2]))
    videos = max(200, round(KWAI[1] * interactions / KWAI[2]))
    t0 = time.perf_counter()
    ds = generate(SynthConfig(num_users=users, num_videos=videos, mean_interactions=interactions / users, seed=seed))
    seconds = time.perf_counter() - t0
    write_dataset(ds, Path(data))
    return {"seconds": seconds, "peak_rss_gib": peak_rss_gib(), "users": ds.num_users, "videos": ds.num_videos,
            "interactions": len(ds.interactions)}


def run_config(model: str, threads: int, epochs: int) -> Any:
    """The benchmark's run config of ``model`` (its defaults, ``epochs`` epochs, ``threads`` torch threads)."""
    from hhfan.runner import resolve_run

    return resolve_run(None, [*FAST, f"train.epochs={epochs}", f"train.num_threads={threads}"], model)


def child_graph(data: str, cache: str, threads: int) -> dict[str, Any]:
    """Build the graph every model's run shares (same split/graph/sampler settings for both models)."""
    from hhfan.data.io import read_dataset
    from hhfan.graph.artifacts import build_artifacts
    from hhfan.runner import graph_key

    ds = read_dataset(Path(data))
    cfg = run_config("hhfan", threads, 1)
    assert cfg.build_config() == run_config("lightgcn", threads, 1).build_config()  # one graph for both models
    entry = Path(cache) / graph_key(cfg, ds)  # where train_run(graph_cache=cache) looks (hhfan.runner.shared_graph)
    t0 = time.perf_counter()
    built = not entry.is_dir()
    timings: dict[str, float] = {}
    if built:
        art = build_artifacts(ds, cfg.build_config())
        art.save(entry)
        timings = art.timings
    return {"seconds": time.perf_counter() - t0, "peak_rss_gib": peak_rss_gib(), "built": built, **timings}


def child_train(data: str, run_dir: str, model: str, epochs: int, threads: int, cache: str, out: str) -> None:
    """One rank of a training run under torchrun: stage windows and their peak memory, to ``out.rank<R>.json``."""
    import torch

    from hhfan import runner
    from hhfan.train import distributed, trainer

    torch.set_num_threads(threads)
    rss = RssSampler()
    log: list[tuple[str, float, float]] = []
    dist = distributed.init_from_env("cpu", timeout_s=7200)
    real_triples, real_validation, real_evaluate = trainer.epoch_triples, runner.validation_fn, runner.evaluate_run
    marks: list[float] = []

    def triples(*a: Any, **k: Any) -> Any:
        marks.append(time.perf_counter())  # an epoch starts
        return real_triples(*a, **k)

    def validation(*a: Any, **k: Any) -> Callable[[Any], dict[str, float]]:
        inner = real_validation(*a, **k)

        def validate(model_: Any) -> dict[str, float]:
            log.append(("train", marks[-1], time.perf_counter()))
            with window(log, "validation"):
                return inner(model_)

        return validate

    def evaluate(*a: Any, **k: Any) -> Any:
        with window(log, "test"):
            return real_evaluate(*a, **k)

    trainer.epoch_triples = triples  # type: ignore[assignment]
    runner.validation_fn = validation  # type: ignore[assignment]
    runner.evaluate_run = evaluate  # type: ignore[assignment]
    t0 = time.perf_counter()
    try:
        runner.train_run(Path(data), Path(run_dir), run_config(model, threads, epochs), dist=dist,
                         graph_cache=Path(cache))
    finally:
        distributed.shutdown(dist)
    rss.stop()
    stages: dict[str, Any] = {}
    for name in ("train", "validation", "test"):
        spans = [(a, b) for n, a, b in log if n == name]
        stages[name] = {"seconds": [b - a for a, b in spans], "peak_rss_gib": max((rss.peak(a, b) for a, b in spans),
                                                                                  default=0.0)}
    setup_end = min((a for _, a, _ in log), default=time.perf_counter())
    stages["setup"] = {"seconds": [setup_end - t0], "peak_rss_gib": rss.peak(t0, setup_end)}
    Path(f"{out}.rank{dist.rank}.json").write_text(json.dumps({"rank": dist.rank, "stages": stages,
                                                                 "wall_seconds": time.perf_counter() - t0,
                                                                 "peak_rss_gib": peak_rss_gib()}))


def _child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"child {args[:2]} failed")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def train_row(data: Path, root: Path, model: str, procs: int, epochs: int, cores: int, cache: Path) -> dict[str, Any]:
    """One torchrun launch; the rank reports merged into one row."""
    threads = max(1, cores // procs)
    run_dir, out = root / f"run-{model}-p{procs}", root / f"train-{model}-p{procs}"
    if run_dir.exists():  # a fresh run every time (the scratch folder is this benchmark's own)
        shutil.rmtree(run_dir)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(procs),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), __file__, "--child-train", str(data),
           str(run_dir), model, str(epochs), str(threads), str(cache), str(out)]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"training {model} with {procs} processes failed")
    ranks = [json.loads(Path(f"{out}.rank{r}.json").read_text()) for r in range(procs)]
    stages: dict[str, Any] = {}
    for name in ("setup", "train", "validation", "test"):
        per = [r["stages"][name] for r in ranks]
        stages[name] = {"seconds": per[0]["seconds"],  # rank 0's clock (the ranks wait for each other)
                        "peak_rss_gib_max_rank": max(p["peak_rss_gib"] for p in per),
                        "peak_rss_gib_all_ranks": sum(p["peak_rss_gib"] for p in per)}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    log = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return {"model": model, "processes": procs, "threads_per_process": threads, "epochs": len(log),
            "epoch_seconds": stages["train"]["seconds"], "validation_seconds": stages["validation"]["seconds"],
            "test_eval_seconds": stages["test"]["seconds"][0] if stages["test"]["seconds"] else None,
            "stages": stages, "launch_wall_seconds": wall, "triples_per_epoch": log[0]["triples"],
            "machine_load": {"1min_before": load_before, "1min_after": load_after[0], "15min_after": load_after[2]},
            "test": {"full_ndcg@20": metrics["full"]["ndcg@20"], "full_recall@20": metrics["full"]["recall@20"],
                     "sampled_auc": metrics["sampled"]["auc"]},
            "val_ndcg@20": [r["val"]["ndcg@20"] for r in log]}


def main() -> None:
    """Run the requested grid; write ``scale.json``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child-generate", nargs=3, metavar=("DATA", "INTERACTIONS", "SEED"))
    ap.add_argument("--child-graph", nargs=3, metavar=("DATA", "CACHE", "THREADS"))
    ap.add_argument("--child-train", nargs=7)
    ap.add_argument("--interactions", default="1M")
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--models", default="hhfan,lightgcn")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--root", type=Path, default=Path("/tmp/hhfan-scale"), help="scratch space (never the repo)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.child_generate:
        d, n, s = args.child_generate
        print(json.dumps(child_generate(d, int(n), int(s))))
        return
    if args.child_graph:
        d, c, t = args.child_graph
        os.environ.setdefault("OMP_NUM_THREADS", t)
        print(json.dumps(child_graph(d, c, int(t))))
        return
    if args.child_train:
        d, r, m, e, t, c, o = args.child_train
        child_train(d, r, m, int(e), int(t), c, o)
        return
    cores = os.cpu_count() or 1
    sizes = [parse_size(x) for x in args.interactions.split(",")]
    procs = [int(x) for x in args.processes.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    rows: list[dict[str, Any]] = []
    sizes_doc: dict[str, Any] = {}
    for n in sizes:
        root = args.root / f"{n}"
        data = root / "data"
        gen = _child(["--child-generate", str(data), str(n), "0"]) if not data.exists() else {"reused": True}
        graph = _child(["--child-graph", str(data), str(root / "graphs"), str(cores)])
        sizes_doc[str(n)] = {"generate": gen, "graph": graph}
        print(f"{n:,} interactions: generate {gen}, graph {graph}", flush=True)
        for model in models:
            for p in procs:
                row = {"interactions": n, **train_row(data, root, model, p, args.epochs, cores, root / "graphs")}
                print(json.dumps(row), flush=True)
                rows.append(row)
    command = " ".join(["python", "benchmarks/scale.py", *sys.argv[1:]])
    doc = merge_previous(args.out, {"sizes": sizes_doc, "rows": [{**r, "command": command} for r in rows]})
    done = {r["interactions"] for r in doc["rows"]}
    not_run = [f"{s:,}" for s in (1_000_000, 5_000_000, 20_000_000) if s not in done]
    write_results(args.out, {"command": command,
                             "synthetic": "Kwai proportions (170 K users, 310 K videos at 20 M interactions)",
                             **doc,
                             "not_run": {"interactions": not_run,
                                         "why": "not run yet (a shared 2-core machine); run with "
                                                "--interactions " + ",".join(not_run).replace(",000,000", "M")}
                             if not_run else None,
                             "machine": {"python": platform.python_version(), "cpus": cores}})
    plot(doc["rows"], args.out.with_suffix(".png"))


def merge_previous(path: Path, new: dict[str, Any]) -> dict[str, Any]:
    """``new``'s sizes and rows over those of an earlier ``path`` (rows keyed by size, model and processes):
    sizes run separately (hours each) add up in one file; each row keeps the command that measured it."""
    old: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    key = lambda r: (r["interactions"], r["model"], r["processes"])  # noqa: E731
    rows = {key(r): {**r, "command": r.get("command", old.get("command"))} for r in old.get("rows", [])}
    rows.update({key(r): r for r in new["rows"]})
    return {"sizes": {**old.get("sizes", {}), **new["sizes"]}, "rows": [rows[k] for k in sorted(rows)]}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Epoch seconds and peak memory against interactions, a line per (model, processes); log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for (model, procs) in sorted({(r["model"], r["processes"]) for r in rows}):
        mine = sorted((r for r in rows if r["model"] == model and r["processes"] == procs),
                      key=lambda r: r["interactions"])
        x = [r["interactions"] / 1e6 for r in mine]
        label = f"{model}, {procs} process{'es' if procs > 1 else ''}"
        ax_t.plot(x, [min(r["epoch_seconds"]) for r in mine], marker="o", label=label)
        ax_m.plot(x, [max(s["peak_rss_gib_all_ranks"] for s in r["stages"].values()) for r in mine], marker="o",
                  label=label)
    for ax, what in ((ax_t, "training epoch (s)"), (ax_m, "peak resident memory, all ranks (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("interactions (millions, synthetic, Kwai proportions)")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
    ax_m.axhline(16, color="grey", linestyle="--", linewidth=1)
    ax_t.legend(fontsize=8)
    fig.suptitle("benchmarks/scale.py (2 shared CPU cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
