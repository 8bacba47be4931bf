"""Graph-build benchmark on the shape of a real catalogue with many flat tags (issue 19).

A synthetic dataset shaped like the one the issue reports (17,632 videos, 9,749 flat tags without a tree,
about 92 K interactions, no feature vectors): ``hhfan graph build`` then derives the tag tree from the tags'
co-occurrence profiles. Each repetition runs in a fresh child process that reads the dataset from disk and
times ``build_graph`` (split + M-HIG; the RWSS tables are not part of this case) and, inside it, the tag-tree
step; the child reports its peak resident memory and its resident memory before the build. Medians over the
repetitions are written to ``benchmarks/results/graph_build.json``.

The real datasets (``tiktok``: no tags, the tree is derived from the features; ``ml-1m``: 18 genres grouped under
derived parents) are built the same way, to show their derived trees are unchanged.

``--before REV`` also runs the same children on the code of git revision ``REV`` (a temporary ``git worktree``
of this repository, removed afterwards), so the file holds before/after figures from the same machine and run.

    python benchmarks/graph_build.py --before HEAD~1 --repeats 3
    python benchmarks/graph_build.py --videos 4000 --tags 2000        # a smaller case
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import REPO, SOURCES, ensure_data, peak_rss_gib, write_results

RESULTS = REPO / "benchmarks" / "results" / "graph_build.json"


def flat_tag_dataset(num_users: int, num_videos: int, num_tags: int, interactions: int, seed: int
                     ) -> tuple[Any, np.ndarray]:
    """Videos with 1 + Poisson(3) tags from one of ``num_tags // 100`` topics (Zipf popularity inside a topic, 10 %
    from anywhere), users with topic interests and power-law activity; no features, no tag tree.

    Returns the dataset and the planted topic of every tag (what a derived grouping should recover)."""
    from hhfan.data.dataset import Dataset, Interactions

    rng = np.random.default_rng(seed)
    topics = max(1, num_tags // 100)
    tag_topic = rng.integers(0, topics, num_tags)
    members = [np.flatnonzero(tag_topic == t) for t in range(topics)]
    video_topic = rng.integers(0, topics, num_videos)
    rows: list[tuple[int, int]] = []
    for v in range(num_videos):
        pool = members[video_topic[v]]
        n = 1 + rng.poisson(3)
        w = 1.0 / np.arange(1, pool.shape[0] + 1)
        own = pool[rng.choice(pool.shape[0], min(n, pool.shape[0]), replace=False, p=w / w.sum())] if pool.size else []
        anywhere = rng.integers(0, num_tags, rng.binomial(n, 0.1))
        rows += [(v, int(t)) for t in {*map(int, own), *map(int, anywhere)}]
    video_tags = np.array(sorted(rows), dtype=np.int32)
    activity = rng.pareto(1.5, num_users) + 1
    per_user = np.maximum(1, np.round(activity / activity.sum() * interactions)).astype(np.int64)
    user_topic = rng.integers(0, topics, num_users)
    by_topic = [np.flatnonzero(video_topic == t) for t in range(topics)]
    pairs: set[tuple[int, int]] = set()
    for u in range(num_users):
        pool = by_topic[user_topic[u]]
        k = min(int(per_user[u]), num_videos)
        inside = rng.choice(pool, min(pool.shape[0], (k + 1) // 2), replace=False) if pool.size else []
        outside = rng.integers(0, num_videos, k - len(inside))
        pairs |= {(u, int(v)) for v in [*inside, *outside]}
    p = np.array(sorted(pairs), dtype=np.int64)
    return Dataset(
        name="flat-tags-synthetic",
        user_ids=np.array([f"u{i}" for i in range(num_users)], dtype=object),
        video_ids=np.array([f"v{i}" for i in range(num_videos)], dtype=object),
        interactions=Interactions(p[:, 0].astype(np.int32), p[:, 1].astype(np.int32),
                                  timestamp=np.arange(p.shape[0], dtype=np.int64)),
        features={},
        tag_names=np.array([f"tag{i}" for i in range(num_tags)], dtype=object),
        video_tags=video_tags,
        tag_tree=np.empty((0, 2), dtype=np.int32),
    ), tag_topic


def child(data: str, tree_out: str) -> None:
    """One timed build in this (fresh) process; prints one JSON line and saves the tag tree to ``tree_out``."""
    import psutil

    from hhfan.data.io import read_dataset
    from hhfan.data.split import SplitConfig, make_split
    from hhfan.graph import mhig
    from hhfan.graph.mhig import GraphConfig, build_graph

    ds = read_dataset(Path(data))
    split = make_split(ds, SplitConfig())
    rss_before = psutil.Process().memory_info().rss / 2**30
    tag_seconds: list[float] = []
    inner = mhig._tags

    def timed_tags(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        out = inner(*a, **k)
        tag_seconds.append(time.perf_counter() - t0)
        return out

    mhig._tags = timed_tags  # type: ignore[assignment]
    t0 = time.perf_counter()
    g = build_graph(ds, split, GraphConfig())
    seconds = time.perf_counter() - t0
    tree = g.tag_tree
    np.save(tree_out, tree)
    print(json.dumps({"build_seconds": seconds, "tag_tree_seconds": sum(tag_seconds),
                      "peak_rss_gib": peak_rss_gib(), "rss_before_build_gib": rss_before,
                      "parents": int(np.unique(tree[:, 0]).shape[0]),
                      "tree_sha1": hashlib.sha1(tree.tobytes()).hexdigest()}))


def run_children(src: Path, data: Path, repeats: int, tree_out: Path) -> dict[str, Any]:
    """``repeats`` fresh children on the code under ``src``; medians and every run (the tree of the last in
    ``tree_out``)."""
    runs = []
    env = {**os.environ, "PYTHONPATH": str(src)}
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, __file__, "--child", str(data), str(tree_out)], capture_output=True,
                              text=True, env=env, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"build under {src} failed")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in runs) for k in ("build_seconds", "tag_tree_seconds", "peak_rss_gib",
                                                               "rss_before_build_gib")}
    return {"median": med, "runs": runs}


def grouping(tree: np.ndarray, num_tags: int) -> np.ndarray:
    """The parent of each of the ``num_tags`` original tags in a derived (parent, child) tree."""
    leaf = tree[tree[:, 1] < num_tags]
    return leaf[np.argsort(leaf[:, 1]), 0]


def compare_trees(before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """How two derived (parent, child) tag trees differ: identical, and the agreement of their groupings."""
    from sklearn.metrics import adjusted_rand_score

    same_shape = before.shape == after.shape and np.array_equal(np.sort(before[:, 1]), np.sort(after[:, 1]))
    out: dict[str, Any] = {"identical": bool(same_shape and np.array_equal(before, after))}
    if same_shape:
        gb, ga = (t[np.argsort(t[:, 1]), 0] for t in (before, after))  # the parent of every child
        out["adjusted_rand_index"] = float(adjusted_rand_score(gb, ga))
        out["groups_split_differently"] = int(sum(len(set(ga[gb == p].tolist())) > 1 for p in np.unique(gb)))
    return out


def main() -> None:
    """Prepare each case's data once, build it ``--repeats`` times per revision, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=2, metavar=("DATA", "TREE_NPY"))
    ap.add_argument("--cases", default="flat-tags,tiktok,ml-1m",
                    help="flat-tags (synthetic), tiktok, ml-1m (real ones skipped when ../shared/data lacks them)")
    ap.add_argument("--before", help="git revision to measure as 'before' (temporary worktree)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before-repeats", type=int, default=None,
                    help="repetitions of the 'before' code (default: --repeats; the old flat-tag build is slow)")
    ap.add_argument("--users", type=int, default=6_000)
    ap.add_argument("--videos", type=int, default=17_632)
    ap.add_argument("--tags", type=int, default=9_749)
    ap.add_argument("--interactions", type=int, default=92_000)
    ap.add_argument("--data-root", type=Path, default=Path(tempfile.gettempdir()) / "hhfan-bench",
                    help="where the real datasets are imported once (never the repository)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    from hhfan.data.io import read_dataset, write_dataset

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], capture_output=True,
                                text=True, check=False).stdout.strip())
    result: dict[str, Any] = {"repeats": {"after": args.repeats, "before": args.before_repeats or args.repeats},
                              "command": " ".join(["python", "benchmarks/graph_build.py", *sys.argv[1:]]),
                              "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "before"
        if args.before:
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(wt), args.before], check=True,
                           capture_output=True)
        try:
            for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
                planted = None
                if case == "flat-tags":
                    ds, planted = flat_tag_dataset(args.users, args.videos, args.tags, args.interactions, seed=0)
                    data = write_dataset(ds, Path(tmp) / "flat-tags")
                elif case in SOURCES:
                    if not SOURCES[case][1].is_dir():
                        print(f"skipping {case}: {SOURCES[case][1]} not found")
                        continue
                    data = ensure_data(case, args.data_root)
                    ds = read_dataset(data)
                else:
                    raise SystemExit(f"unknown case {case!r}")
                shape = {"users": ds.num_users, "videos": ds.num_videos, "tags": ds.num_tags,
                         "interactions": len(ds.interactions), "video_tag_pairs": int(ds.video_tags.shape[0]),
                         "features": list(ds.modalities), "tag_tree": "given" if ds.tag_tree.size else "derived"}
                print(f"{case}: {shape}")
                out: dict[str, Any] = {"dataset": shape}
                if args.before:
                    rev = subprocess.run(["git", "-C", str(wt), "rev-parse", "--short", "HEAD"], capture_output=True,
                                         text=True, check=True).stdout.strip()
                    out["before"] = {"revision": rev, **run_children(wt / "src", data,
                                                                     args.before_repeats or args.repeats,
                                                                     Path(tmp) / f"{case}.before.npy")}
                    print(f"  before ({rev}): {out['before']['median']}")
                out["after"] = {"revision": commit + ("+working tree" if dirty else ""),
                                **run_children(REPO / "src", data, args.repeats, Path(tmp) / f"{case}.after.npy")}
                print(f"  after: {out['after']['median']}")
                if args.before:
                    out["trees"] = compare_trees(np.load(Path(tmp) / f"{case}.before.npy"),
                                                 np.load(Path(tmp) / f"{case}.after.npy"))
                    print(f"  trees: {out['trees']}")
                if planted is not None:  # how well each grouping recovers the planted topics
                    from sklearn.metrics import adjusted_rand_score

                    for side in ("before", "after") if args.before else ("after",):
                        g = grouping(np.load(Path(tmp) / f"{case}.{side}.npy"), ds.num_tags)
                        out[side]["planted_topics"] = {
                            "adjusted_rand_index": float(adjusted_rand_score(planted, g)),
                            "largest_group": int(np.bincount(g - g.min()).max()), "groups": int(np.unique(g).size),
                            "topics": int(np.unique(planted).size)}
                        print(f"  {side} vs planted topics: {out[side]['planted_topics']}")
                result["cases"][case] = out
        finally:
            if args.before:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(wt)], check=False)
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "note": "a shared 2-core machine; each case's before/after children ran back to back"}
    write_results(args.out, result)


if __name__ == "__main__":
    main()
