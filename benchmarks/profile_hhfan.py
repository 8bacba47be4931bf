"""Where a training step of the paper's HHFAN spends its time, and how close its LSTMs run to this CPU's matmul rate.

For each case of ``--cases`` a fresh child process loads the data (``synth``: the ML-1M-sized synthetic world of
``benchmarks/train.py``, for machines without ../shared/data), builds the graph and the model ``hhfan`` with its
preset ``configs/<dataset>/hhfan.yaml``, draws epoch 0's triples and then

1. times ``--steps`` training steps (:func:`hhfan.train.trainer.bpr_loss` + Adam, after one warm-up step) with two
   copies of the same model on the same batches, interleaved (the order alternates step by step): (a)
   ``HHFAN.embed``, (b) every row handed to ``embed`` through ``nodes_forward(cat([users, videos + U])).emb`` split
   back, put on the instance, src/ untouched (a check: since 30956ee was reverted in b33a5e9 the two are the same
   code, and equal cost shows that ``bpr_loss`` hands ``embed`` distinct nodes only). It reports
   the median step seconds of each, their ratio, the share of distinct nodes among a batch's ``3 x batch`` rows and
   among the rows reaching ``embed`` (``bpr_loss`` already passes it distinct users and videos), and whether the two
   copies' losses and weights stayed identical;
2. profiles ``--profile-steps`` further steps of (a) with torch.profiler (CPU) and groups the ops' self CPU time:
   LSTM forward / backward (every op under ``aten::lstm`` or the RNN backward nodes), other matmul (mm, addmm, bmm),
   gathers (index, index_select, embedding, gather, unique and their backward), optimizer (ops under Adam's step and
   zero_grad), other ops; Python/framework overhead is the profiled wall time minus the ops' self time (autograd
   engine and ``record_function`` wrappers count as overhead, and so does the profiler's own cost);
3. measures this CPU's matmul throughput at the case's threads (a 2048^3 fp32 matmul, median of 5; also one GEMM of
   the LSTM's recurrent shape ``[distinct nodes, d] x [d, 4d]``) and the LSTMs' achieved rate: per distinct node and
   neighbour type ``2 (4d^2 + 4d^2) k_t`` FLOPs forward (``k_t`` = the type's table width; padded slots run too),
   backward counted as 2x forward.

Results: ``benchmarks/results/profile_hhfan.json`` (or ``--out``), with the command, torch threads and the
machine's load average before and after; a short table is printed.

    python benchmarks/profile_hhfan.py                          # tiktok and ml-1m, 5 steps, 1 thread
    python benchmarks/profile_hhfan.py --cases synth --steps 3  # no ../shared/data needed
    python benchmarks/profile_hhfan.py --cases tiktok --threads 2 --out /tmp/profile.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from common import REPO, SHARED, peak_rss_gib, run_child, write_results
from train import SYNTH, preset

RESULTS = REPO / "benchmarks" / "results" / "profile_hhfan.json"
CATEGORIES = ("lstm_forward", "lstm_backward", "other_matmul", "gathers", "optimizer", "other_ops")
MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm", "aten::mv", "aten::addmv",
          "aten::dot"}
GATHER = {"aten::index", "aten::index_select", "aten::embedding", "aten::embedding_dense_backward",
          "aten::embedding_backward", "aten::gather", "aten::_unique2", "aten::unique_dim", "aten::_unique",
          "aten::unique_consecutive", "aten::index_put_", "aten::_index_put_impl_", "aten::index_add_",
          "aten::index_select_backward", "aten::gather_backward", "aten::scatter_add_"}
GATHER_NODES = ("IndexBackward", "IndexSelectBackward", "EmbeddingBackward", "GatherBackward")


def _is_wrapper(name: str) -> bool:
    """Profiler ranges that are not ops: the autograd engine's per-node ranges and ``record_function`` labels."""
    return name.startswith(("autograd::engine::evaluate_function", "Optimizer.", "ProfilerStep", "## ", "["))


def categorise(chain: list[str]) -> str:
    """Category of an op from its own name and its ancestors' (``chain[0]`` is the op, then parent, ...)."""
    if any(n.startswith("Optimizer.") for n in chain):
        return "optimizer"
    low = [n.lower() for n in chain]
    if any("lstm" in n or "rnn" in n for n in low):
        return "lstm_backward" if any("backward" in n for n in low) else "lstm_forward"
    if any(n in GATHER or n.startswith(GATHER_NODES) for n in chain):
        return "gathers"
    if any(n in MATMUL for n in chain):
        return "other_matmul"
    return "other_ops"


def per_row_embed(self: Any, users: Any, videos: Any) -> tuple[Any, Any]:
    """``HHFAN.embed`` before the distinct-node change: every row of the batch through ``nodes_forward``."""
    import torch

    out = self.nodes_forward(torch.cat([users, videos + self.num_users])).emb
    return out[: users.shape[0]], out[users.shape[0] :]


def matmul_gflops(m: int, k: int, n: int, repeats: int) -> float:
    """Median GFLOP/s of ``[m, k] @ [k, n]`` fp32 (one warm-up) at torch's current threads."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
    torch.mm(a, b)
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        secs.append(time.perf_counter() - t0)
    return 2.0 * m * k * n / float(np.median(secs)) / 1e9


def run_case(case: str, steps: int, profile_steps: int, threads: int) -> dict[str, Any]:
    """Runs inside the child process; returns the figures of one case (see the module docstring)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(threads)
    from hhfan.data.importers import load_movielens_1m, load_tiktok
    from hhfan.data.split import TRAIN
    from hhfan.data.synth import SynthConfig, generate
    from hhfan.graph.artifacts import build_artifacts
    from hhfan.model.hhfan import HHFAN
    from hhfan.runner import build_model, resolve_run
    from hhfan.train.trainer import bpr_loss
    from hhfan.train.triples import TrainingPairs, epoch_triples

    load_before = os.getloadavg()
    if case == "synth":
        ds = generate(SynthConfig(**SYNTH))
    else:
        ds = load_tiktok(SHARED / "tiktok-mmssl") if case == "tiktok" else load_movielens_1m(SHARED / "ml-1m")
    conf = preset("ml-1m" if case == "synth" else case, "hhfan")
    cfg = resolve_run(conf, [], "hhfan")
    t0 = time.perf_counter()
    art = build_artifacts(ds, cfg.build_config())
    graph_s = time.perf_counter() - t0
    base = build_model(cfg, ds, art, "cpu").train()
    assert isinstance(base, HHFAN)
    model_a, model_b = copy.deepcopy(base), copy.deepcopy(base)  # both copies: the same memory layout
    del base
    model_b.embed = types.MethodType(per_row_embed, model_b)
    models = {"a": model_a, "b": model_b}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.train.lr) for k, m in models.items()}
    for m in models.values():
        m.start_epoch(0)
    mask = art.split.mask(TRAIN)
    pairs = TrainingPairs(ds.interactions.user[mask], ds.interactions.video[mask], ds.num_users, ds.num_videos)
    u, v, neg = (torch.from_numpy(x) for x in epoch_triples(pairs, None, cfg.train.negatives, 0, 0))
    b = cfg.train.batch_size
    full = max(1, u.shape[0] // b)  # full batches only (the last partial one is not typical)

    def batch(i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = (i % full) * b
        return u[s : s + b], v[s : s + b], neg[s : s + b]

    def step(key: str, i: int) -> tuple[float, float]:
        """One training step of model ``key`` on batch ``i``: (seconds, loss)."""
        bu, bv, bn = batch(i)
        t = time.perf_counter()
        loss, _ = bpr_loss(models[key], bu, bv, bn, cfg.train.l2)
        opts[key].zero_grad(set_to_none=True)
        loss.backward()
        opts[key].step()
        return time.perf_counter() - t, float(loss.detach())

    def distinct(i: int) -> tuple[int, int, float]:
        """(rows of batch i, distinct nodes, share of distinct nodes among the rows reaching ``embed``)."""
        bu, bv, bn = batch(i)
        uu, vv = torch.unique(bu), torch.unique(torch.cat([bv, bn]))
        nodes = torch.cat([uu, vv + model_a.num_users])
        return 3 * bu.shape[0], int(nodes.numel()), torch.unique(nodes).numel() / nodes.numel()

    # 1. current embed (a) against the former per-row path (b), interleaved, same weights and batches
    secs: dict[str, list[float]] = {"a": [], "b": []}
    losses: dict[str, list[float]] = {"a": [], "b": []}
    for i in range(1 + steps):
        for key in ("a", "b") if i % 2 == 0 else ("b", "a"):
            s, loss = step(key, i)
            losses[key].append(loss)
            if i > 0:  # step 0 is the warm-up
                secs[key].append(s)
    with torch.no_grad():
        max_diff = max(float((pa - pb).abs().max()) for pa, pb in zip(model_a.parameters(), model_b.parameters(),
                                                                      strict=True))
    rows, nodes, embed_share = zip(*(distinct(i) for i in range(1, 1 + steps)), strict=True)
    med = {k: float(np.median(x)) for k, x in secs.items()}

    # 2. profile further steps of (a)
    prof_batches = range(1 + steps, 1 + steps + profile_steps)
    wall = 0.0
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in prof_batches:
            wall += step("a", i)[0]
    by_cat = dict.fromkeys(CATEGORIES, 0.0)
    wrappers = 0.0
    for e in prof.events():
        self_s = e.self_cpu_time_total / 1e6
        if getattr(e, "is_user_annotation", False) or _is_wrapper(e.name):
            wrappers += self_s
            continue
        chain, p = [e.name], e.cpu_parent
        while p is not None:
            chain.append(p.name)
            p = p.cpu_parent
        by_cat[categorise(chain)] += self_s
    per_step = {k: x / profile_steps for k, x in by_cat.items()}
    wall_step = wall / profile_steps
    per_step["python_framework_overhead"] = wall_step - sum(by_cat.values()) / profile_steps
    shares = {k: x / wall_step for k, x in per_step.items()}

    # 3. matmul throughput and the LSTMs' achieved rate
    d = model_a.config.dim
    widths = {t: int(getattr(model_a, f"nbr_{t}").shape[1]) for t in model_a.group_types}
    flops_per_node = sum(2 * (4 * d * d + 4 * d * d) * k for k in widths.values()) if model_a.config.aggregator == \
        "lstm" else 0
    prof_nodes = float(np.mean([distinct(i)[1] for i in prof_batches]))
    fwd_flops = flops_per_node * prof_nodes
    peak = matmul_gflops(2048, 2048, 2048, 5)
    n_med = int(np.median(nodes))
    lstm_shape = matmul_gflops(n_med, d, 4 * d, 20)
    fwd_s, bwd_s = per_step["lstm_forward"], per_step["lstm_backward"]
    rates = {"forward": fwd_flops / fwd_s / 1e9 if fwd_s else 0.0,
             "backward": 2 * fwd_flops / bwd_s / 1e9 if bwd_s else 0.0,
             "total": 3 * fwd_flops / (fwd_s + bwd_s) / 1e9 if fwd_s + bwd_s else 0.0}
    lstm: dict[str, Any] = {"flops_per_node_forward": flops_per_node, "table_widths": widths,
                            "distinct_nodes_per_step": prof_nodes, "forward_gflop_per_step": fwd_flops / 1e9}
    lstm.update({f"{k}_gflops": x for k, x in rates.items()})
    lstm.update({f"{k}_vs_matmul_peak": x / peak for k, x in rates.items()})
    lstm["total_vs_lstm_shaped_gemm"] = rates["total"] / lstm_shape
    return {
        "config": str(conf.relative_to(REPO)) if conf else "defaults", "model": "hhfan",
        "users": ds.num_users, "videos": ds.num_videos, "dim": d, "batch_size": b,
        "train_triples_per_epoch": int(u.shape[0]), "batches_per_epoch": -(-int(u.shape[0]) // b),
        "graph_and_tables_s": graph_s, "torch_threads": torch.get_num_threads(),
        "embed": {
            "steps_timed": steps, "warmup_steps": 1,
            "current_step_s": med["a"], "per_row_step_s": med["b"], "per_row_over_current": med["b"] / med["a"],
            "current_step_min_s": min(secs["a"]), "per_row_step_min_s": min(secs["b"]),
            "current_step_seconds": secs["a"], "per_row_step_seconds": secs["b"],
            "rows_per_batch": int(np.median(rows)), "distinct_nodes_per_batch": n_med,
            "distinct_share_of_batch_rows": float(np.mean(np.divide(nodes, rows))),
            "distinct_share_of_embed_input": float(np.mean(embed_share)),
            "losses_identical": losses["a"] == losses["b"], "max_abs_weight_diff": max_diff,
            "epoch_estimate_s": med["a"] * -(-int(u.shape[0]) // b),
        },
        "profile": {"steps": profile_steps, "wall_s_per_step": wall_step, "seconds_per_step": per_step,
                    "shares": shares, "wrapper_self_s_per_step": wrappers / profile_steps},
        "matmul": {"gflops_2048_cubed": peak, "lstm_recurrent_shape": [n_med, d, 4 * d],
                   "gflops_lstm_recurrent_shape": lstm_shape},
        "lstm": lstm,
        "load_before": list(load_before), "load_after": list(os.getloadavg()), "peak_rss_gib": peak_rss_gib(),
    }


def main() -> None:
    """Run each case in a child process, print a short table and write the JSON results."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="tiktok,ml-1m", help="comma-separated: tiktok, ml-1m, synth")
    ap.add_argument("--steps", type=int, default=5, help="timed steps of each embed path (after 1 warm-up)")
    ap.add_argument("--profile-steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_case(a.child, a.steps, a.profile_steps, a.threads)))
        return
    cases = a.cases.split(",")
    if not SHARED.is_dir() and any(c != "synth" for c in cases):
        raise SystemExit(f"{SHARED} not found: use --cases synth")
    results: dict[str, Any] = {
        "command": "python benchmarks/profile_hhfan.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "torch_threads": a.threads, "load_before": list(os.getloadavg()), "cases": {},
    }
    for case in cases:
        r = run_child(__file__, case, ["--steps", str(a.steps), "--profile-steps", str(a.profile_steps),
                                       "--threads", str(a.threads)])
        results["cases"][case] = r
        e, p, m, lstm = r["embed"], r["profile"], r["matmul"], r["lstm"]
        print(f"{case}: d={r['dim']} batch={r['batch_size']:,} distinct nodes {e['distinct_nodes_per_batch']:,} of "
              f"{e['rows_per_batch']:,} rows ({e['distinct_share_of_batch_rows']:.1%}; "
              f"{e['distinct_share_of_embed_input']:.0%} of embed's input)")
        print(f"  step: current embed {e['current_step_s']:.3f} s, per-row {e['per_row_step_s']:.3f} s "
              f"(x{e['per_row_over_current']:.3f}; fastest {e['current_step_min_s']:.3f} / "
              f"{e['per_row_step_min_s']:.3f} s), "
              f"identical: {e['losses_identical']} "
              f"(max |dw| {e['max_abs_weight_diff']:.1e})")
        print(f"  profiled step {p['wall_s_per_step']:.3f} s: " + ", ".join(
            f"{k} {p['seconds_per_step'][k]:.3f} s ({p['shares'][k]:.0%})" for k in p["shares"]))
        print(f"  matmul {m['gflops_2048_cubed']:.1f} GFLOP/s (LSTM-shaped GEMM "
              f"{m['gflops_lstm_recurrent_shape']:.1f}); LSTM fwd {lstm['forward_gflops']:.1f}, "
              f"bwd {lstm['backward_gflops']:.1f}, total "
              f"{lstm['total_gflops']:.1f} GFLOP/s = {lstm['total_vs_matmul_peak']:.0%} of the matmul rate",
              flush=True)
    results["load_after"] = list(os.getloadavg())
    write_results(a.out, results)


if __name__ == "__main__":
    main()
