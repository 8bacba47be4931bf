"""``hhfan experiment NAME --plan``: what an experiment would train, reuse and cost, before anything runs.

For every cell the experiment would run (its module's ``planned``, the very list its ``run`` trains) one
status, decided exactly as :func:`hhfan.experiments.common.run_cells` decides it:

* ``finished``: its run directory in ``OUT`` holds ``metrics.json``; reused.
* ``ledger``: the run ledger (``--ledger``) holds its run; taken from there, not trained (a case-study cell
  still trains: it needs the model itself).
* ``resume``: its run directory holds a killed run; continued from its last checkpoint.
* ``train``: trained from scratch.
* ``shared``: another cell of the experiment has the same run directory (an ablation switch the preset already
  sets); trained once.

Cells to resume or train get an estimate of their training wall seconds: the median over the same model's
finished runs on the same data that ``OUT`` and the ledger hold (run directories' ``wall.json``; ledger entries
of the same dataset fingerprint): those of the very same setting on other seeds if there are any, else those of
the same split kind and training rate, else all of them; None ("unknown") when there is none. So a cell whose
change alters the cost (a larger d) is priced at the model's usual run until one run of its setting exists.
The estimate is what those runs took on the machines that trained them. A plan writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hhfan.experiments.common import Cell, Setting, cell_config, run_dir_of
from hhfan.ledger import entries, lookup, plain_config, run_key
from hhfan.runner import read_config

STATUSES: tuple[str, ...] = ("finished", "ledger", "resume", "train", "shared")
"""The statuses of a planned cell, in the order a plan lists them."""


@dataclass(frozen=True)
class CellPlan:
    """One planned cell.

    Attributes:
        cell: the cell.
        run_dir: where it runs.
        status: one of :data:`STATUSES`.
        estimate_s: estimated training wall seconds for ``resume`` and ``train`` (None: no such run to go by);
            0 for the others.
    """

    cell: Cell
    run_dir: Path
    status: str
    estimate_s: float | None


def fingerprint(s: Setting) -> str:
    """The fingerprint of the setting's dataset (the quick world made in memory if it is not written yet)."""
    from hhfan.data.io import read_dataset
    from hhfan.data.outputs import marker_kind
    from hhfan.data.synth import generate

    if s.quick is not None and marker_kind(s.data) != "dataset":
        return generate(s.quick.world).fingerprint()
    return read_dataset(s.data).fingerprint()


SEEDS = (("split", "seed"), ("graph", "seed"), ("sampler", "seed"), ("train", "seed"), ("eval", "seed"))
"""The seed fields of a plain config: runs that differ only in these cost alike."""


def _setting_key(config: Mapping[str, Any]) -> str:
    """A plain config without its seeds, as a string (the key of runs of the same setting)."""
    doc = {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()}
    for section, name in SEEDS:
        if isinstance(doc.get(section), dict):
            doc[section].pop(name, None)
    return json.dumps(doc, sort_keys=True)


def known_seconds(s: Setting, fingerprint: str) -> dict[tuple[str, str], list[float]]:
    """Wall seconds of finished runs on this data, keyed ``(model, key)``: ``key`` is the run's config without
    its seeds (:func:`_setting_key`), ``"<split kind> <rate>"`` or ``"*"`` (every run of that model)."""
    out: dict[tuple[str, str], list[float]] = {}

    def add(model: str, config: Mapping[str, Any], seconds: float) -> None:
        sp = config.get("split", {})
        for key in (_setting_key(config), f"{sp.get('kind')} {float(sp.get('training_rate', 0)):g}", "*"):
            out.setdefault((model, key), []).append(seconds)

    runs: dict[str, tuple[str, dict[str, Any], float]] = {}  # one per run: OUT's and the ledger's may be one
    for wall in sorted((s.out / "runs").glob("*/rate*/*/seed*/wall.json")):
        if (wall.parent / "metrics.json").exists() and (wall.parent / "config.yaml").exists():
            cfg = read_config(wall.parent)[0]
            pc = plain_config(cfg)
            runs[run_key(pc, fingerprint)] = (cfg.model_name, pc, float(json.loads(wall.read_text())["wall_seconds"]))
    if s.ledger is not None and s.ledger.is_dir():
        for e in entries(s.ledger):
            if e.fingerprint == fingerprint:
                runs.setdefault(run_key(e.config, fingerprint), (e.model, e.config, e.wall_seconds))
    for model, config, seconds in runs.values():
        add(model, config, seconds)
    return out


def plan(s: Setting, cells: Sequence[Cell], fingerprint: str, need_runs: bool = False) -> list[CellPlan]:
    """The status and cost estimate of every cell (see the module docstring); reads, never writes.

    ``fingerprint`` is the dataset's (:meth:`hhfan.data.dataset.Dataset.fingerprint`); ``need_runs``: the
    experiment loads the trained models (case-study), so a ledger entry does not spare a run.
    """
    known = known_seconds(s, fingerprint)
    seen: set[Path] = set()
    out: list[CellPlan] = []
    for cell in cells:
        cfg = cell_config(s, cell)
        run_dir = run_dir_of(s, cell, cfg)
        if run_dir in seen:
            out.append(CellPlan(cell, run_dir, "shared", 0.0))
            continue
        seen.add(run_dir)
        if (run_dir / "metrics.json").exists():
            out.append(CellPlan(cell, run_dir, "finished", 0.0))
            continue
        pc = plain_config(cfg)
        if s.ledger is not None and not need_runs and lookup(s.ledger, cell.model, pc, fingerprint) is not None:
            out.append(CellPlan(cell, run_dir, "ledger", 0.0))
            continue
        keys = (_setting_key(pc), f"{cfg.split.kind} {cfg.split.training_rate:g}", "*")
        secs = next((known[cell.model, k] for k in keys if (cell.model, k) in known), None)
        out.append(CellPlan(cell, run_dir, "resume" if run_dir.exists() else "train",
                            float(np.median(secs)) if secs else None))
    return out


def summarise(plans: Sequence[CellPlan]) -> list[dict[str, Any]]:
    """One row per model (in plan order), then a ``"total"`` row: cells per status, estimated seconds of the
    cells to run (those with an estimate) and how many have none."""
    models = list(dict.fromkeys(p.cell.model for p in plans))

    def row(name: str, ps: Sequence[CellPlan]) -> dict[str, Any]:
        todo = [p for p in ps if p.status in ("resume", "train")]
        counts: Mapping[str, int] = {st: sum(p.status == st for p in ps) for st in STATUSES}
        return {"model": name, "cells": len(ps), **counts,
                "estimate_s": float(sum(p.estimate_s for p in todo if p.estimate_s is not None)),
                "unknown": sum(p.estimate_s is None for p in todo)}

    return [*(row(m, [p for p in plans if p.cell.model == m]) for m in models), row("total", plans)]


def describe(total: Mapping[str, Any]) -> str:
    """One sentence for the ``total`` row of :func:`summarise`."""
    parts = [f"{total[st]} {st}" for st in STATUSES if total[st]]
    cost = f"about {total['estimate_s'] / 60:.0f} CPU minutes to train"
    if total["unknown"]:
        cost += f" plus {total['unknown']} cell(s) with no run to estimate from"
    if not total["resume"] and not total["train"]:
        cost = "nothing to train"
    return f"{total['cells']} cells: {', '.join(parts) or 'none'}; {cost}"
