"""Grid search of one model's hyperparameters on the validation split (the engine of ``hhfan tune``).

Every grid point is one ordinary training run (:func:`hhfan.runner.train_run`, early stopping on
validation) in ``OUT/trials/<point>``, from the model's preset ``CONFIGS/<model>.yaml`` (if any), the
seed, the common ``--set`` overrides, then the point's values. Each trial is scored by its best
validation ``train.val_metric`` (the epoch early stopping keeps); test metrics are computed by the run
but never used for the choice. Finished trials are reused and killed ones resumed, so an interrupted
search continues where it stopped (a trial directory holding another config is an error). Trials whose split,
graph and sampler settings agree share one built graph (``OUT/graphs``, :func:`hhfan.runner.shared_graph`).

Results: ``OUT/tune.json`` (every trial, the best point) and ``OUT/tune.md`` (trials by validation
score); optionally the chosen preset: the base preset with the best point's values, headed by comment
lines (``# [tune] ...``) that record the grid, every trial's score and the command that chose it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hhfan.compare import ensure_run, read_train_log, run_config, run_entry
from hhfan.config import ConfigError, merge, parse_overrides
from hhfan.data.atomic import atomic_file
from hhfan.data.io import read_dataset
from hhfan.ledger import lookup, plain_config, record
from hhfan.model.registry import display_name

TAG = "# [tune] "  # prefix of the preset lines this module writes (one block per search, newest first)
BY = f"{TAG}by: "  # the last line of each block: the command that made it


@dataclass(frozen=True)
class Trial:
    """One finished grid point: its overrides, best validation score and what it cost."""

    point: tuple[str, ...]
    val: float
    best_epoch: int
    epochs: int
    seconds_per_epoch: float


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["train.lr=0.001,0.005", "model.dim=32,64"]`` -> ``{"train.lr": ["0.001", "0.005"], ...}``.

    Values stay text (each is parsed and type-checked as a ``--set`` override when its run is
    configured). A list value needs brackets and ``;`` between values: ``model.mlp=[64];[128,64]``.
    """
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        sep_char = ";" if raw.strip().startswith("[") else ","
        values = [v.strip() for v in raw.split(sep_char) if v.strip()]
        if not sep or not key or not values:
            raise ConfigError(f"--grid {spec!r} must look like key=v1,v2 (lists: key=[a,b];[c])")
        if key in grid:
            raise ConfigError(f"--grid names {key!r} twice; give all its values in one --grid")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {spec!r} repeats a value")
        grid[key] = values
    if not grid:
        raise ConfigError("give at least one --grid key=v1,v2")
    return grid


def grid_points(grid: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """The Cartesian product of ``grid`` as override tuples ``("train.lr=0.001", "train.l2=0", ...)``."""
    keys = list(grid)
    return [tuple(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def point_name(point: Sequence[str]) -> str:
    """A directory name for a grid point: its overrides joined by ``__``, unsafe characters as ``-``."""
    return re.sub(r"[^A-Za-z0-9._=-]", "-", "__".join(point))


def _trial(point: tuple[str, ...], log: Sequence[Mapping[str, Any]], metric: str) -> Trial:
    scores = [r["val"][metric] for r in log]
    best = int(np.argmax(scores))
    return Trial(point, float(scores[best]), int(log[best]["epoch"]), len(log),
                 float(np.median([r["seconds"] for r in log])))


def tune(data_dir: Path, model: str, grid: Mapping[str, Sequence[str]], out: Path, configs: Path | None = None,
         overrides: Sequence[str] = (), seed: int = 0,
         on_trial: Callable[[tuple[str, ...], int, int], None] | None = None, ledger: Path | None = None
         ) -> dict[str, Any]:
    """Train every grid point of ``model`` (reusing finished trials); write ``OUT/tune.json`` and ``tune.md``.

    With ``ledger`` (:mod:`hhfan.ledger`) a trial whose run the ledger holds with its training log is scored
    from that log and not trained; every trial trained is recorded there.
    Returns the document written to ``tune.json``: the grid, every trial and the best point.
    """
    points = grid_points(grid)
    cfgs = {p: run_config(model, seed, configs, [*overrides, *p]) for p in points}  # fail fast on a bad value
    metric = next(iter(cfgs.values())).train.val_metric
    fp = read_dataset(data_dir).fingerprint() if ledger is not None else ""
    trials = []
    for i, point in enumerate(points):
        if on_trial is not None:
            on_trial(point, i, len(points))
        run_dir = out / "trials" / point_name(point)
        plain = plain_config(cfgs[point]) if ledger is not None else {}
        entry = lookup(ledger, model, plain, fp) if ledger is not None else None
        if entry is not None and entry.train_log:
            trials.append(_trial(point, entry.train_log, metric))
            continue
        ensure_run(data_dir, run_dir, cfgs[point], graph_cache=out / "graphs")  # points of one split share its graph
        trials.append(_trial(point, read_train_log(run_dir), metric))
        if ledger is not None:
            record(ledger, run_entry(model, seed, run_dir, plain, fp))
    best = max(trials, key=lambda t: t.val)  # ties: the first point in grid order
    preset = configs / f"{model}.yaml" if configs is not None else None
    doc = {"model": model, "seed": seed, "metric": f"validation {metric}",
           "grid": {k: list(v) for k, v in grid.items()},
           "overrides": list(overrides), "base_preset": str(preset) if preset and preset.exists() else None,
           "trials": [vars(t) | {"point": list(t.point)} for t in trials],
           "best": list(best.point)}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "tune.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    with atomic_file(out / "tune.md") as tmp:
        tmp.write_text(markdown(doc) + "\n")
    return doc


def markdown(doc: Mapping[str, Any]) -> str:
    """Trials of a :func:`tune` document as a Markdown table, best validation score first."""
    keys = list(doc["grid"])
    lines = [f"{display_name(doc['model'])}: grid search on {doc['metric']} (seed {doc['seed']})", "",
             "| " + " | ".join(keys) + f" | val {doc['metric'].split()[-1]} | best epoch | epochs | s/epoch |",
             "|---" * (len(keys) + 4) + "|"]
    for t in sorted(doc["trials"], key=lambda t: -t["val"]):
        values = [p.split("=", 1)[1] for p in t["point"]]
        mark = " **(chosen)**" if t["point"] == doc["best"] else ""
        lines.append("| " + " | ".join(values) + f" | {t['val']:.4f}{mark} | {t['best_epoch']} | {t['epochs']} "
                     f"| {t['seconds_per_epoch']:.1f} |")
    return "\n".join(lines)


def preset_header(doc: Mapping[str, Any], command: str) -> list[str]:
    """The ``# [tune]`` block of one search (its choice, grid, every trial, and the command), last line ``by:``."""
    axes = "; ".join(f"{k} in {{{', '.join(v)}}}" for k, v in doc["grid"].items())
    header = [f"{TAG}chosen on {doc['metric']}, seed {doc['seed']}: {' '.join(doc['best'])}",
              f"{TAG}grid: {axes}"]
    header += [f"{TAG}  {' '.join(t['point'])}: {t['val']:.4f} (best epoch {t['best_epoch']})" for t in doc["trials"]]
    if doc["overrides"]:
        header.append(f"{TAG}search-time overrides (not kept here): {' '.join(doc['overrides'])}")
    return [*header, f"{BY}{command}"]


def _tune_blocks(lines: Sequence[str]) -> list[list[str]]:
    """Split ``# [tune]`` header lines into one block per search, each ending with its ``by:`` line."""
    blocks: list[list[str]] = [[]]
    for ln in lines:
        blocks[-1].append(ln)
        if ln.startswith(BY):
            blocks.append([])
    return [b for b in blocks if b]


def check_preset_target(path: Path, model: str) -> None:
    """``--write-preset`` may create a new file or replace a preset of ``model``; anything else is refused.

    A file that exists must be a YAML mapping naming ``model_name: <model>`` (a preset this command improves);
    any other file (another model's preset, a dataset table, a non-YAML file) is never overwritten.
    """
    from hhfan.data.outputs import OutputError  # the output guard's error: one line, exit 1

    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        if not path.parent.is_dir():
            raise OutputError(f"--write-preset {path}: the folder {path.parent} does not exist; create it first")
        return
    if path.is_symlink() or not path.is_file():
        raise OutputError(f"--write-preset {path} is not a regular file; hhfan never replaces it")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        doc = None
    named = doc.get("model_name") if isinstance(doc, dict) else None
    if named != model:
        raise OutputError(f"--write-preset {path} exists and is not a preset for {model} (model_name: {named}); "
                          "hhfan replaces only a preset of the tuned model; choose another file")


def write_preset(doc: Mapping[str, Any], path: Path, command: str) -> None:
    """Write ``path``: the base preset (if any) with the best point's values, headed by ``# [tune]`` lines.

    Successive searches stack: the new ``# [tune]`` block comes first, then the base preset's earlier
    blocks (history of a coordinate-wise search; a block made by the same ``command`` is replaced, not
    repeated), then its other comment lines. ``--set`` overrides used during the search are *not*
    written: they were search-time settings.
    """
    base_text = Path(doc["base_preset"]).read_text() if doc["base_preset"] else ""
    base = yaml.safe_load(base_text) or {}
    comments = list(itertools.takewhile(lambda ln: ln.startswith("#"), base_text.splitlines()))
    notes = [ln for ln in comments if not ln.startswith(TAG.rstrip())]
    header = preset_header(doc, command)
    earlier = _tune_blocks([ln for ln in comments if ln.startswith(TAG.rstrip())])
    header += [ln for blk in earlier if blk[-1] != header[-1] for ln in blk]  # same command: replaced
    data = {"model_name": doc["model"], **merge(base, parse_overrides(list(doc["best"])))}  # a preset names its model
    with atomic_file(path) as tmp:
        tmp.write_text("\n".join(header + notes) + "\n" + yaml.safe_dump(data, sort_keys=False))
