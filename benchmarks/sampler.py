"""RWSS sampler benchmark: compiled walker vs plain Python (and torch-cluster when installed).

For each case (TikTok, MovieLens-1M from ../shared/data, and a Kwai-scale synthetic world) a fresh
child process loads or generates the data, builds the M-HIG, times the compiled sampler over every
user and video, then times the plain-Python reference walker with the same RWSS semantics
(``tests/graph/reference_walker.py``, the sampler's test oracle) on a random subset of the same
start nodes, and reports steps per second, the ratio and the child's peak memory. Results are
printed and written to ``benchmarks/results/sampler.json``. Every figure depends on the walk
semantics (``SamplerConfig()`` defaults: restart scope, depth, restart probability): the number of
steps per start, hence the table times, and the steps per second.

    python benchmarks/sampler.py                    # all cases
    python benchmarks/sampler.py --cases ml-1m      # one case
    python benchmarks/sampler.py --kwai-users 20000 --kwai-videos 36000   # smaller "kwai" case
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import REPO, SHARED, peak_rss_gib, run_child, write_results

RESULTS = REPO / "benchmarks" / "results" / "sampler.json"


def _load(case: str, kwai_users: int, kwai_videos: int) -> tuple[Any, str, dict[str, float]]:
    t0 = time.perf_counter()
    if case == "tiktok":
        from hhfan.data.importers import load_tiktok

        ds, kind = load_tiktok(SHARED / "tiktok-mmssl"), "predefined"
    elif case == "ml-1m":
        from hhfan.data.importers import load_movielens_1m

        ds, kind = load_movielens_1m(SHARED / "ml-1m"), "predefined"
    else:
        from hhfan.data.synth import SynthConfig, generate

        ds = generate(SynthConfig(num_users=kwai_users, num_videos=kwai_videos, mean_interactions=120.0))
        kind = "random"
    return ds, kind, {"load_or_generate_s": time.perf_counter() - t0}


def run_case(case: str, python_starts: int, kwai_users: int, kwai_videos: int, repeats: int) -> dict[str, Any]:
    """Runs inside the child process; returns the figures of one case."""
    from hhfan.data.split import SplitConfig, make_split
    from hhfan.graph.mhig import NODE_TYPES, build_graph
    from hhfan.graph.sampler import SamplerConfig, sample_neighbors

    if str(REPO) not in sys.path:  # the plain-Python walker is the test oracle in tests/graph/
        sys.path.insert(0, str(REPO))
    from tests.graph.reference_walker import reference_sample

    ds, kind, out = _load(case, kwai_users, kwai_videos)
    out.update({"users": ds.num_users, "videos": ds.num_videos, "interactions": len(ds.interactions)})
    t0 = time.perf_counter()
    split = make_split(ds, SplitConfig(kind=kind, training_rate=0.8))
    g = build_graph(ds, split)
    out["graph_build_s"] = time.perf_counter() - t0
    out["graph_nodes"], out["graph_edges"] = g.num_nodes, g.num_edges
    cfg = SamplerConfig()
    starts = np.arange(g.offset("video") + g.count("video"), dtype=np.int64)
    args = (g.indptr, g.indices, g.node_type, g.type_offsets, list(NODE_TYPES))
    sample_neighbors(*args, starts[:64], cfg)  # JIT warm-up (cached on disk after the first run)
    secs_all, tables = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        tables = sample_neighbors(*args, starts, cfg)
        secs_all.append(time.perf_counter() - t0)
    assert tables is not None
    secs = float(np.median(secs_all))
    out.update({"starts": int(starts.shape[0]), "repeats": repeats, "tables_s": secs, "tables_s_all": secs_all,
                "steps": tables.steps, "steps_per_s": tables.steps / secs, "coverage": tables.coverage()})
    import numba

    one = SamplerConfig(num_threads=1)
    sub = np.sort(np.random.default_rng(0).choice(starts, size=min(python_starts * 20, starts.shape[0]),
                                                  replace=False))
    py_sub = sub[:: max(1, sub.shape[0] // python_starts)][:python_starts]
    one_rates, py_rates = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        t0 = time.perf_counter()
        t1 = sample_neighbors(*args, sub, one)
        one_rates.append(t1.steps / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        ref = reference_sample(*args, py_sub, cfg)
        py_rates.append(ref.steps / (time.perf_counter() - t0))
    out["steps_per_s_1thread"] = float(np.median(one_rates))
    out["numba_threads"] = numba.get_num_threads()
    out.update({"python_starts": int(py_sub.shape[0]), "python_steps_per_s": float(np.median(py_rates))})
    out["speedup_vs_python"] = out["steps_per_s"] / out["python_steps_per_s"]
    out["speedup_vs_python_1thread"] = out["steps_per_s_1thread"] / out["python_steps_per_s"]
    out["torch_cluster"] = _torch_cluster(g, starts)
    out["peak_rss_gib"] = peak_rss_gib()
    return out


def _torch_cluster(g: Any, starts: np.ndarray) -> dict[str, Any]:
    """Uniform random walks with torch-cluster's C++ kernel on the same CSR, when it is installed."""
    try:
        import torch
        import torch_cluster  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return {"available": False, "note": "torch-cluster is not installed (it builds from source only)"}
    rowptr = torch.from_numpy(g.indptr)
    col = torch.from_numpy(g.indices.astype(np.int64))
    start = torch.from_numpy(starts)
    walk_length = 200
    t0 = time.perf_counter()
    torch.ops.torch_cluster.random_walk(rowptr, col, start, walk_length, 1.0, 1.0)
    secs = time.perf_counter() - t0
    return {"available": True, "steps_per_s": starts.shape[0] * walk_length / secs}


def main() -> None:
    """Run the requested cases in child processes, print a table and write the JSON results."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="tiktok,ml-1m,kwai")
    ap.add_argument("--python-starts", type=int, default=300, help="starts timed with the plain-Python walker")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported); kwai uses 1")
    ap.add_argument("--kwai-users", type=int, default=170_000)
    ap.add_argument("--kwai-videos", type=int, default=310_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if a.child:
        reps = 1 if a.child == "kwai" else a.repeats
        print(json.dumps(run_case(a.child, a.python_starts, a.kwai_users, a.kwai_videos, reps)))
        return
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "processor": platform.processor()}, "cases": {}}
    for case in a.cases.split(","):
        if case in ("tiktok", "ml-1m") and not SHARED.is_dir():
            print(f"skip {case}: {SHARED} not found")
            continue
        t0 = time.perf_counter()
        r = run_child(__file__, case, ["--python-starts", str(a.python_starts), "--repeats", str(a.repeats),
                                       "--kwai-users", str(a.kwai_users), "--kwai-videos", str(a.kwai_videos)])
        r["case_wall_s"] = time.perf_counter() - t0
        results["cases"][case] = r
        print(f"{case:7s} starts={r['starts']:>7,} tables={r['tables_s']:7.2f}s "
              f"steps/s={r['steps_per_s'] / 1e6:6.1f}M (1 thread {r['steps_per_s_1thread'] / 1e6:5.1f}M) "
              f"python={r['python_steps_per_s'] / 1e6:5.3f}M speedup={r['speedup_vs_python']:6.0f}x "
              f"(1 thread {r['speedup_vs_python_1thread']:5.0f}x) peak={r['peak_rss_gib']:.2f}GiB "
              f"torch-cluster={'yes' if r['torch_cluster']['available'] else 'not installed'}", flush=True)
    write_results(a.out, results)


if __name__ == "__main__":
    main()
