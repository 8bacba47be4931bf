"""Side-by-side comparison of models on one dataset (the engine of ``hhfan compare``).

Every ``(model, seed)`` pair is one ordinary training run (:func:`hhfan.runner.train_run`) in
``OUT/runs/<model>/seed<S>`` with ``train.seed = split.seed = graph.seed = sampler.seed = S``: all models of one
seed share the same split and graph, and a seed varies everything random (the split for random splits, the
k-means codebooks, the RWSS walks, initialisation and triples), so the spread over seeds is the whole variance.
A model's config is ``CONFIGS/<model>.yaml`` when a config directory is given and holds one, else the
defaults, then the common ``--set`` overrides. Finished runs (``metrics.json`` present) are reused and a
killed run is resumed, so an interrupted comparison continues where it stopped; a run directory whose
config differs from the one asked for (other than threads and device) is an error, never silently reused.

Runs that share a split share its graph: a graph is built once per distinct (split, graph, sampler) config in
``OUT/graphs/<key>`` (:func:`hhfan.runner.shared_graph`, keyed by a hash of those settings and the data
fingerprint) and hard-linked into each run's ``graph/``; every model of a seed uses the same graph unless its
preset changes one of those settings.

With a run ledger (:mod:`hhfan.ledger`; the benchmark scripts keep one in ``benchmarks/ledger``, committed) a
run recorded there on an earlier machine is taken from it instead of being trained again, and every run
trained is recorded; a results file then names, per model and seed, any run whose figures came from elsewhere
than a training run (``sources``).

Results: ``OUT/compare.json`` (per model: per-seed test metrics, mean and std per protocol and metric,
training wall time, seconds per epoch and what λ penalises, :func:`hhfan.model.registry.l2_scope`) and
``OUT/compare.md`` (a Markdown table, mean ± std).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hhfan.data.atomic import atomic_file
from hhfan.data.io import read_dataset
from hhfan.ledger import LedgerEntry, lookup, plain_config, record
from hhfan.model.registry import MODEL_NAMES, display_name, l2_scope
from hhfan.runner import RunConfig, execution_free, extends, read_config, resolve_run, resumable, train_run

SHOWN: dict[str, tuple[str, ...]] = {"sampled": ("precision@10", "recall@10", "ndcg@10", "auc"),
                                     "full": ("recall@20", "ndcg@20")}
"""The columns of :func:`markdown` by default: protocol -> metrics."""
COLD_SHOWN: dict[str, tuple[str, ...]] = {"cold": ("recall@20", "ndcg@20", "precision@20", "auc"),
                                          "warm": ("recall@20", "ndcg@20"), "hybrid": ("recall@20", "ndcg@20")}
"""The columns of a cold-start table (runs with ``split.kind=cold``)."""

@dataclass(frozen=True)
class RunRecord:
    """One finished ``(model, seed)`` run: its test metrics and what it cost."""

    model: str
    seed: int
    metrics: dict[str, dict[str, float]]
    wall_seconds: float
    epochs: int
    seconds_per_epoch: float
    source: str = "trained"


def parse_models(text: str) -> list[str]:
    """``"a,b,c"`` -> ``["a", "b", "c"]``, checking every name against :data:`hhfan.model.registry.MODEL_NAMES`."""
    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(MODEL_NAMES)}")
    if len(set(models)) != len(models):
        raise ValueError(f"--models lists a model twice: {text}")
    return models


def run_config(model: str, seed: int, configs: Path | None, overrides: Sequence[str]) -> RunConfig:
    """The config of one run: ``configs/<model>.yaml`` (if present), then the seed, then ``overrides``."""
    preset = configs / f"{model}.yaml" if configs is not None else None
    sets = [f"train.seed={seed}", f"split.seed={seed}", f"graph.seed={seed}", f"sampler.seed={seed}", *overrides]
    return resolve_run(preset if preset is not None and preset.exists() else None, sets, model)


def ensure_run(data_dir: Path, run_dir: Path, cfg: RunConfig, graph_cache: Path | None = None) -> None:
    """Train ``cfg`` in ``run_dir`` unless it already finished there (resume a killed run; refuse another config).

    ``graph_cache``: where runs of the same split, graph and sampler settings share one built graph
    (:func:`hhfan.runner.shared_graph`).

    A run whose config is ``cfg`` with a lower epoch cap is continued to ``cfg``'s cap (exact; see
    :func:`hhfan.runner.extends`). Writes ``wall.json`` (training wall seconds, summed over the continuations)
    next to the run's own files.
    """
    extend = False
    if (run_dir / "config.yaml").exists():  # reuse or continue only the same run (threads and device aside)
        found = read_config(run_dir)[0]
        if not resumable(found, cfg):
            raise ValueError(f"{run_dir} holds a run with a different config than this comparison asks for; "
                             "use another --out, or the same presets and --set overrides as before")
        extend = extends(execution_free(found), execution_free(cfg))
    if extend or not (run_dir / "metrics.json").exists():
        stamp = run_dir / "wall.json"
        before = json.loads(stamp.read_text())["wall_seconds"] if extend and stamp.exists() else 0.0
        t0 = time.perf_counter()
        train_run(data_dir, run_dir, cfg, graph_cache=graph_cache)  # continues a killed run from wherever it stopped
        with atomic_file(stamp) as tmp:
            tmp.write_text(json.dumps({"wall_seconds": before + time.perf_counter() - t0}))


def read_train_log(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records of a run's ``train_log.jsonl`` (loss, validation metrics, seconds)."""
    return [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines() if x.strip()]


def run_entry(model: str, seed: int, run_dir: Path, config: dict[str, Any], fingerprint: str) -> LedgerEntry:
    """The ledger entry of the finished run in ``run_dir`` (its metrics, log and cost)."""
    log = read_train_log(run_dir)
    stamp = json.loads((run_dir / "wall.json").read_text()) if (run_dir / "wall.json").exists() else {}
    secs = [r["seconds"] for r in log]
    train = read_config(run_dir)[0].train
    return LedgerEntry(model, seed, fingerprint, config, json.loads((run_dir / "metrics.json").read_text()),
                       float(stamp.get("wall_seconds", sum(secs))), len(log),
                       float(np.median(secs)) if secs else 0.0, log, "trained", train.device, train.num_threads)


def _record(entry: LedgerEntry) -> RunRecord:
    return RunRecord(entry.model, entry.seed, entry.metrics, entry.wall_seconds, entry.epochs,
                     entry.seconds_per_epoch, entry.source)


def train_runs(data_dir: Path, jobs: Mapping[Path, RunConfig], graph_cache: Path | None, workers: int = 1,
               on_start: Callable[[Path], None] | None = None, on_done: Callable[[Path], None] | None = None
               ) -> None:
    """:func:`ensure_run` every ``run_dir -> config`` of ``jobs``: one after another, or with ``workers`` > 1 in
    that many processes at once (spawned; each run is the same as trained alone: its config, seeds, threads).

    ``on_start`` is called before each run (one after another only), ``on_done`` after each, as it ends (so a
    caller can record it at once). A failed run raises its own error once the runs under way have ended.
    """
    if workers <= 1 or len(jobs) <= 1:
        for run_dir, cfg in jobs.items():
            if on_start is not None:
                on_start(run_dir)
            ensure_run(data_dir, run_dir, cfg, graph_cache=graph_cache)
            if on_done is not None:
                on_done(run_dir)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(ensure_run, data_dir, d, cfg, graph_cache): d for d, cfg in jobs.items()}
        for fut in as_completed(futures):
            fut.result()
            if on_done is not None:
                on_done(futures[fut])


def run_all(data_dir: Path, models: Sequence[str], seeds: Sequence[int] | Mapping[str, Sequence[int]], out: Path,
            configs: Path | None = None, overrides: Sequence[str] = (),
            on_run: Callable[[str, int, int, int], None] | None = None, ledger: Path | None = None,
            workers: int = 1) -> list[RunRecord]:
    """Train every ``(model, seed)`` (reusing finished runs), return their records in model-major order.

    ``seeds`` is one list for every model, or a mapping ``model -> seeds`` (fewer seeds for costly models).
    With ``ledger`` (:mod:`hhfan.ledger`) a run the ledger holds is taken from it and not trained, and every
    other run is recorded there as soon as it is finished. ``workers``: runs trained at once (see
    :func:`train_runs`). ``on_run(model, seed, done, total)`` is called before each run (one after another) or
    as each ends (in parallel).
    """
    per_model = {m: list(seeds[m] if isinstance(seeds, Mapping) else seeds) for m in models}
    pairs = [(m, s) for m in models for s in per_model[m]]
    total = len(pairs)
    cfgs = {(m, s): run_config(m, s, configs, overrides) for m, s in pairs}  # fail fast on a bad config
    fingerprint = read_dataset(data_dir).fingerprint() if ledger is not None else ""
    plain = {p: plain_config(cfg) for p, cfg in cfgs.items()}
    found = {p: lookup(ledger, p[0], plain[p], fingerprint) if ledger is not None else None for p in pairs}
    where = {out / "runs" / m / f"seed{s}": (m, s) for m, s in pairs if found[m, s] is None}
    done: list[Path] = []

    def started(run_dir: Path) -> None:
        if on_run is not None:
            on_run(*where[run_dir], pairs.index(where[run_dir]), total)

    def ended(run_dir: Path) -> None:
        m, s = where[run_dir]
        found[m, s] = entry = run_entry(m, s, run_dir, plain[m, s], fingerprint)
        if ledger is not None:
            record(ledger, entry)
        done.append(run_dir)
        if on_run is not None and workers > 1:
            on_run(m, s, total - len(where) + len(done), total)

    train_runs(data_dir, {d: cfgs[p] for d, p in where.items()}, out / "graphs", workers,
               started if workers <= 1 else None, ended)
    return [_record(e) for p in pairs if (e := found[p]) is not None]


def _is_number(value: object) -> bool:
    """A metric value (int or float, not a bool); sections may also carry notes such as ``cannot_score``."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def summarise(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Per model: seeds, per-seed metrics, mean/std of every metric per protocol, and cost."""
    out: dict[str, Any] = {}
    for model in dict.fromkeys(r.model for r in records):
        rs = [r for r in records if r.model == model]
        protos: dict[str, Any] = {}
        notes: dict[str, Any] = {}
        for proto in rs[0].metrics:
            if not all(proto in r.metrics for r in rs):  # e.g. cold_subset, absent from runs finished before it existed
                continue
            section = rs[0].metrics[proto]
            names = [n for n, v in section.items()
                     if n != "num_users" and _is_number(v) and all(_is_number(r.metrics[proto].get(n)) for r in rs)]
            other = {n: v for n, v in section.items() if not _is_number(v)}  # e.g. cold: cannot_score, how
            if other:
                notes[proto] = other
            protos[proto] = {n: {"mean": float(np.mean([r.metrics[proto][n] for r in rs])),
                                 "std": float(np.std([r.metrics[proto][n] for r in rs]))} for n in names}
        out[model] = {"seeds": [r.seed for r in rs], "per_seed": {str(r.seed): r.metrics for r in rs},
                      "protocols": protos, **({"notes": notes} if notes else {}),
                      "train_wall_seconds": {"mean": float(np.mean([r.wall_seconds for r in rs])),
                                             "std": float(np.std([r.wall_seconds for r in rs]))},
                      "seconds_per_epoch": float(np.median([r.seconds_per_epoch for r in rs])),
                      "l2": l2_scope(model),
                      "epochs": [r.epochs for r in rs],
                      **({"sources": {str(r.seed): r.source for r in rs}}
                         if any(r.source != "trained" for r in rs) else {})}
    return out


def cannot_score(summary: dict[str, Any], proto: str) -> str | None:
    """Why a model cannot score protocol ``proto`` (a cold-start section of BPR-MF, LightGCN...), else None."""
    note = summary.get("notes", {}).get(proto, {})
    return str(note["cannot_score"]) if "cannot_score" in note else None


def markdown(summary: dict[str, Any], title: str, shown: Mapping[str, Sequence[str]] = SHOWN) -> str:
    """A Markdown table: one row per model, mean ± std of the ``shown`` metrics (the value alone for a single
    seed; "cannot score" where the model cannot score that protocol), training wall time and median seconds per
    epoch (training + validation)."""
    cols = [(p, n) for p, ns in shown.items() for n in ns]
    head = "| model | seeds | " + " | ".join(f"{p} {n}" for p, n in cols) + " | train s (wall) | s/epoch |"
    lines = [title, "", head, "|---" * (len(cols) + 4) + "|"]
    for model, s in summary.items():
        cells = []
        for p, n in cols:
            v = s["protocols"].get(p, {}).get(n)
            one = len(s["seeds"]) == 1  # no spread to report from a single run
            cells.append("cannot score" if cannot_score(s, p) else "—" if not v
                         else f"{v['mean']:.4f}" if one else f"{v['mean']:.4f} ± {v['std']:.4f}")
        w = s["train_wall_seconds"]
        lines.append(f"| {display_name(model)} | {len(s['seeds'])} | " + " | ".join(cells)
                     + (f" | {w['mean']:.0f}" if len(s["seeds"]) == 1 else f" | {w['mean']:.0f} ± {w['std']:.0f}")
                     + f" | {s['seconds_per_epoch']:.2f} |")
    return "\n".join(lines) + "\n"


def sources_note(summary: Mapping[str, Any]) -> str | None:
    """A sentence naming the runs whose figures did not come from a training run recorded as such (ledger
    entries backfilled from an earlier results file), grouped by where they came from; None when every run
    was trained."""
    by_source: dict[str, list[str]] = {}
    for model, s in summary.items():
        seeds: dict[str, list[str]] = {}
        for seed, src in s.get("sources", {}).items():
            if src != "trained":
                seeds.setdefault(src, []).append(seed)
        for src, ss in seeds.items():
            by_source.setdefault(src, []).append(f"{display_name(model)} {', '.join(sorted(ss))}")
    if not by_source:
        return None
    return ("Runs taken from the run ledger (benchmarks/ledger) as recorded from an earlier results file, by seed: "
            + "; ".join(f"{'; '.join(runs)} ({src})" for src, runs in by_source.items()))


def margins(summary: dict[str, Any], ours: Sequence[str], proto: str = "cold",
            metrics: Sequence[str] = ("recall@20", "ndcg@20")) -> dict[str, dict[str, dict[str, Any]]]:
    """Each model of ``ours`` in ``summary`` against the best model not in ``ours``, per metric of ``proto``.

    Returns ``{ours: {metric: {"ours", "best_other", "best_other_value", "relative", "seeds_ahead"}}}`` with
    ``relative`` = ours / best - 1 (None when the best is 0) and ``seeds_ahead`` = ``[k, n]``: ours is above the
    best on k of the n seeds both ran (seeds share their split, so this is a paired count). Models without the
    metric (cannot score, not run) are left out.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for mine in (m for m in ours if m in summary):
        row: dict[str, dict[str, Any]] = {}
        for metric in metrics:
            vals = {m: s["protocols"][proto][metric]["mean"] for m, s in summary.items()
                    if metric in s["protocols"].get(proto, {})}
            others = {m: v for m, v in vals.items() if m not in ours}
            if mine not in vals or not others:
                continue
            best = max(others, key=lambda m: others[m])
            a, b = summary[mine]["per_seed"], summary[best]["per_seed"]
            common = [sd for sd in a if sd in b and metric in a[sd].get(proto, {}) and metric in b[sd].get(proto, {})]
            ahead = sum(a[sd][proto][metric] > b[sd][proto][metric] for sd in common)
            row[metric] = {"ours": vals[mine], "best_other": best, "best_other_value": others[best],
                           "relative": vals[mine] / others[best] - 1.0 if others[best] > 0 else None,
                           "seeds_ahead": [int(ahead), len(common)]}
        out[mine] = row
    return out


def compare(data_dir: Path, models: Sequence[str], seeds: Sequence[int] | Mapping[str, Sequence[int]], out: Path,
            configs: Path | None = None, overrides: Sequence[str] = (),
            on_run: Callable[[str, int, int, int], None] | None = None, ledger: Path | None = None,
            workers: int = 1) -> dict[str, Any]:
    """Run :func:`run_all` (with ``ledger`` and ``workers``, see there), then write ``OUT/compare.json`` and
    ``OUT/compare.md``; return the JSON document."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = run_all(Path(data_dir), models, seeds, out, configs, overrides, on_run, ledger, workers)
    results = summarise(records)
    seed_doc = {m: list(v) for m, v in seeds.items()} if isinstance(seeds, Mapping) else list(seeds)
    doc: dict[str, Any] = {"data": str(Path(data_dir).resolve()), "models": list(models), "seeds": seed_doc,
           "configs": str(configs) if configs is not None else None, "overrides": list(overrides),
           "results": results}
    with atomic_file(out / "compare.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    title = (f"Test split, mean ± std over seeds; configs: {doc['configs'] or 'defaults'}"
             + (f"; overrides: {' '.join(overrides)}" if overrides else ""))
    cold = any("cold" in s["protocols"] or "cold" in s.get("notes", {}) for s in results.values())
    with atomic_file(out / "compare.md") as tmp:  # a cold-start split: its cold, warm and hybrid sections
        note = sources_note(results)
        tmp.write_text(markdown(results, title, COLD_SHOWN if cold else SHOWN) + (f"\n{note}\n" if note else ""))
    return doc
