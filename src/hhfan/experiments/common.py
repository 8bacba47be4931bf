"""What every experiment shares: settings, cells (one training run each), outputs, machine and compute records.

An experiment is a set of **cells**; a cell is one ordinary training run (:func:`hhfan.compare.ensure_run`)
of one model, seed and training rate, optionally with a few overrides (an ablation flag, a sensitivity
value). Its config is the model's preset (``CONFIGS/<model>.yaml`` if there is one, else the defaults,
:func:`hhfan.compare.run_config`), then the ``--quick`` settings, the common ``--set`` overrides, the
training rate and the cell's own overrides. All experiments of one ``--out`` share one run directory per
distinct config::

    OUT/runs/<model>/rate<R>/<label>/seed<S>   label = "base" when the cell's config is the rate's base
                                               config (preset + common overrides + rate), else the cell's
                                               label (e.g. "aggregator=mean", "depth=2")
    OUT/graphs/<key>                           one built graph per distinct (split, graph, sampler) config,
                                               hard-linked into each run that uses it (as ``hhfan compare``)
    OUT/<experiment>/<experiment>.json         cells, results, machine, compute, the exact command
    OUT/<experiment>/<experiment>.md           Markdown table(s)
    OUT/<experiment>/*.png                     plots (matplotlib, Agg)

so ``ablation``'s full models are ``tables``' runs, and a sensitivity value equal to the preset's is the
base run too. Finished runs are reused and a killed run continues where it stopped (``ensure_run``), so an
interrupted experiment resumes by rerunning the same command; a run directory holding another config is
an error, never silently reused.

The training rate of a cell is applied as ``split.kind=random split.training_rate=R split.val_rate=0.1``:
the paper's per-user random holdout, with 10% of each user's training part carved out for early stopping
(whatever a preset's own split says: TikTok's presets use its predefined split with no validation part).

``OUT`` carries the hhfan marker of kind ``experiments``: an absent or empty folder becomes one, a marked
one is resumed, anything else (a foreign folder, a file, a link) is refused.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hhfan.compare import read_train_log, run_config, run_entry, train_runs
from hhfan.data.atomic import atomic_file
from hhfan.data.dataset import Dataset, DatasetError
from hhfan.data.io import read_dataset
from hhfan.data.outputs import OutputError, check_dir_output, check_not_input, is_empty_dir, marker_kind, write_marker
from hhfan.data.synth import SynthConfig
from hhfan.experiments.paper import paper_dataset
from hhfan.ledger import LedgerEntry, entry_path, lookup, plain_config, read_entry, record
from hhfan.model.registry import MODEL_NAMES, spec
from hhfan.runner import RunConfig, execution_free

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KIND = "experiments"
"""Marker kind of an experiments ``--out`` folder."""

RATES: tuple[float, ...] = (0.8, 0.6, 0.4)
"""The paper's training rates (Tables II, III, IV)."""

SHOWN: dict[str, tuple[str, ...]] = {"sampled": ("precision@10", "recall@10", "ndcg@10", "auc"),
                                     "full": ("recall@20", "ndcg@20")}
"""The metrics the tables show: the paper's four under the sampled protocol, two under full ranking."""

QUICK_WORLD = SynthConfig(num_users=300, num_videos=400, mean_interactions=20, seed=0)
"""The synthetic world of ``--quick``."""

QUICK_OVERRIDES: tuple[str, ...] = ("train.epochs=3", "train.num_threads=1", "train.batch_size=1024",
                                    "train.lr=0.01", "graph.codewords=8", "sampler.num_collect=60",
                                    "eval.num_negatives=100")
"""The tiny settings of ``--quick`` (every model), before the common ``--set`` overrides."""

QUICK_MODELS: tuple[str, ...] = ("hhfan", "hhfan-hybrid", "pop", "bprmf", "lightgcn")
"""The models ``--quick`` trains when ``--models`` is not given."""

Progress = Callable[[str, int, int], None]
"""``progress(description, done, total)``: called before each cell (``done`` cells finished) and at the end."""


@dataclass(frozen=True)
class Quick:
    """The ``--quick`` mode: a built-in synthetic world and tiny settings.

    Attributes:
        world: the synthetic world, written to ``OUT/data`` (reused when identical).
        overrides: settings of every run, before the common ``--set`` overrides.
        dim: ``model.dim`` of every model that has one (a sensitivity cell's own ``model.dim`` wins).
        models: the models trained when ``--models`` is not given.
        sensitivity_dims: the d values of ``sensitivity`` (the paper's 50-400 take minutes each on 2 cores
            even on the tiny world: the LSTM's cost grows with d²).
    """

    world: SynthConfig = QUICK_WORLD
    overrides: tuple[str, ...] = QUICK_OVERRIDES
    dim: int = 16
    models: tuple[str, ...] = QUICK_MODELS
    sensitivity_dims: tuple[int, ...] = (8, 16, 32, 64)


@dataclass(frozen=True)
class Setting:
    """Everything an experiment needs besides its own grid.

    Attributes:
        data: dataset directory (with ``--quick``: ``OUT/data``, see :func:`prepare`).
        out: the experiments folder (see the module docstring).
        configs: directory of presets ``<model>.yaml`` (e.g. ``configs/ml-1m``); None = defaults.
        models: the models to run; None = the experiment's default.
        seeds: seeds ``0..N-1`` per model: ``seeds[model]``, else ``seeds["*"]`` (see :func:`parse_seeds`).
        overrides: common ``--set key=value`` overrides of every run.
        quick: the ``--quick`` settings, or None for a real run.
        paper_dataset: the paper's name of the dataset (``MLs``, ``Tiktok``, ``Kwai``) whose rows go beside
            ours; None = none (a synthetic world).
        command: the command that produced the experiment (recorded in its JSON).
        info: name, path and sizes of the dataset (:func:`dataset_info`; filled by :func:`prepare`, else read
            when first needed).
        ledger: a run ledger (:mod:`hhfan.ledger`): a cell whose run is recorded there and not on disk is taken
            from it instead of trained, and every cell trained is recorded; None = none.
        workers: how many runs train at once, each in its own process (1: one after another in this one).
    """

    data: Path
    out: Path
    configs: Path | None = None
    models: tuple[str, ...] | None = None
    seeds: Mapping[str, int] = field(default_factory=lambda: {"*": 1})
    overrides: tuple[str, ...] = ()
    quick: Quick | None = None
    paper_dataset: str | None = None
    command: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    ledger: Path | None = None
    workers: int = 1

    def seeds_for(self, model: str) -> list[int]:
        """The seeds of ``model``: ``0..N-1``."""
        return list(range(int(self.seeds.get(model, self.seeds.get("*", 1)))))

    def chosen_models(self, default: Sequence[str]) -> list[str]:
        """``models`` if given, else the quick models (``--quick``) or ``default``."""
        if self.models is not None:
            return list(self.models)
        return list(self.quick.models) if self.quick is not None else list(default)


@dataclass(frozen=True)
class Cell:
    """One training run of an experiment.

    Attributes:
        model: registry name.
        seed: seed of split, graph, sampler and training (:func:`hhfan.compare.run_config`).
        rate: training rate (``split.training_rate``, random per-user holdout).
        label: what the cell changes from the base config, as a short name (``aggregator=mean``); ``""``
            for the base config itself.
        overrides: the ``--set`` overrides that make that change.
    """

    model: str
    seed: int
    rate: float
    label: str = ""
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class CellResult:
    """A finished cell: where its run is, its test metrics and what it cost.

    Attributes:
        cell: the cell.
        run_dir: its run directory.
        metrics: the run's ``metrics.json`` (``{"sampled": {...}, "full": {...}}``, every K from 1 to 20).
        seconds: training wall seconds (``wall.json``: summed over the continuations of a killed run).
        device: ``train.device`` of the run.
        threads: ``train.num_threads`` of the run (0 = torch's default).
        epochs: epochs trained.
        seconds_per_epoch: median seconds per epoch (training + validation).
        trained_now: whether this call trained (or continued) it, rather than reusing a finished run.
        preset: the preset file the config started from, or None (defaults).
        ledger_entry: its entry in the setting's run ledger (relative to the ledger), or None without a ledger.
        from_ledger: whether its figures were taken from the ledger (no run directory on this machine).
    """

    cell: Cell
    run_dir: Path
    metrics: dict[str, dict[str, float]]
    seconds: float
    device: str
    threads: int
    epochs: int
    seconds_per_epoch: float
    trained_now: bool
    preset: str | None
    ledger_entry: str | None = None
    from_ledger: bool = False

    def record(self, out: Path) -> dict[str, Any]:
        """The JSON record of this cell (run directory relative to ``out``, the :data:`SHOWN` metrics)."""
        c = self.cell
        return {"model": c.model, "seed": c.seed, "rate": c.rate, "label": c.label or "base",
                "overrides": list(c.overrides), "run_dir": str(self.run_dir.relative_to(out)),
                "preset": self.preset,
                "metrics": {p: {n: self.metrics[p][n] for n in ns if n in self.metrics.get(p, {})}
                            for p, ns in SHOWN.items()},
                "seconds": self.seconds, "device": self.device, "threads": self.threads, "epochs": self.epochs,
                "seconds_per_epoch": self.seconds_per_epoch, "trained_now": self.trained_now,
                **({"ledger": self.ledger_entry, "from_ledger": self.from_ledger} if self.ledger_entry else {})}


def parse_seeds(text: str) -> dict[str, int]:
    """``"3"`` -> every model 3 seeds; ``"1,hhfan=3,lightgcn=3"`` -> 1 seed, but 3 for hhfan and lightgcn.

    The result maps ``"*"`` (every model not named) and model names to a number of seeds >= 1.
    """
    out: dict[str, int] = {"*": 1}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, eq, value = part.rpartition("=")
        if eq and name.strip() not in MODEL_NAMES:
            raise ValueError(f"--seeds: unknown model {name.strip()!r} in {text!r}; choose from "
                             f"{', '.join(MODEL_NAMES)}")
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"--seeds takes N or N,model=N,... (numbers of seeds), got {text!r}") from None
        if n < 1:
            raise ValueError(f"--seeds: a number of seeds must be >= 1, got {n} in {text!r}")
        out[name.strip() if eq else "*"] = n
    return out


def parse_rates(text: str) -> tuple[float, ...]:
    """``"0.8"`` -> ``(0.8,)``; ``"0.8,0.6,0.4"`` -> the paper's three rates. Each in (0, 1), none twice."""
    out: list[float] = []
    for part in (p.strip() for p in str(text).split(",")):
        try:
            rate = float(part)
        except ValueError:
            raise ValueError(f"--rates takes comma-separated training rates such as 0.8,0.6,0.4, got {text!r}"
                             ) from None
        if not 0.0 < rate < 1.0:
            raise ValueError(f"--rates: a training rate must be between 0 and 1 (exclusive), got {part} in {text!r}")
        if rate in out:
            raise ValueError(f"--rates: {part} is given twice in {text!r}")
        out.append(rate)
    return tuple(out)


def rate_overrides(rate: float) -> list[str]:
    """The overrides of training rate ``rate``: the paper's per-user random holdout, 10% of training for validation."""
    return ["split.kind=random", f"split.training_rate={rate}", "split.val_rate=0.1"]


def has_model_key(model: str, key: str) -> bool:
    """Whether ``model``'s config dataclass has the field ``key`` (``model.<key>``)."""
    return key in {f.name for f in dataclasses.fields(spec(model).config_class())}


def common_overrides(s: Setting, model: str) -> list[str]:
    """``--quick`` settings (and its ``model.dim`` where the model has one), then the common ``--set``."""
    quick: list[str] = []
    if s.quick is not None:
        quick = [*s.quick.overrides, *([f"model.dim={s.quick.dim}"] if has_model_key(model, "dim") else [])]
    return [*quick, *s.overrides]


def preset_path(s: Setting, model: str) -> Path | None:
    """The preset file a model's configs start from, or None."""
    p = s.configs / f"{model}.yaml" if s.configs is not None else None
    return p if p is not None and p.exists() else None


def cell_config(s: Setting, cell: Cell) -> RunConfig:
    """The resolved config of ``cell`` (see the module docstring for the order of the overrides)."""
    return run_config(cell.model, cell.seed, s.configs,
                      [*common_overrides(s, cell.model), *rate_overrides(cell.rate), *cell.overrides])


def base_config(s: Setting, cell: Cell) -> RunConfig:
    """The config of ``cell`` without its own overrides (the rate's base config)."""
    return cell_config(s, dataclasses.replace(cell, label="", overrides=()))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", text).strip("_") or "cell"


def run_dir_of(s: Setting, cell: Cell, cfg: RunConfig | None = None) -> Path:
    """Where ``cell`` runs: ``OUT/runs/<model>/rate<R>/<label or base>/seed<S>`` (see the module docstring)."""
    cfg = cfg or cell_config(s, cell)
    same = not cell.overrides or execution_free(cfg) == execution_free(base_config(s, cell))
    label = "base" if same else _slug(cell.label or "-".join(cell.overrides))
    return s.out / "runs" / cell.model / f"rate{cell.rate:g}" / label / f"seed{cell.seed}"


def _wall(run_dir: Path) -> float | None:
    path = run_dir / "wall.json"
    if not path.exists():
        return None
    return float(json.loads(path.read_text())["wall_seconds"])


def _result(cell: Cell, run_dir: Path, cfg: RunConfig, trained_now: bool, preset: Path | None) -> CellResult:
    log = read_train_log(run_dir) if (run_dir / "train_log.jsonl").exists() else []
    secs = [float(r["seconds"]) for r in log]
    wall = _wall(run_dir)
    return CellResult(cell, run_dir, json.loads((run_dir / "metrics.json").read_text()),
                      wall if wall is not None else float(sum(secs)), cfg.train.device, cfg.train.num_threads,
                      len(log), float(np.median(secs)) if secs else 0.0, trained_now,
                      str(preset) if preset is not None else None)


def run_cells(s: Setting, cells: Sequence[Cell], progress: Progress | None = None, what: str = "runs",
              need_runs: bool = False) -> list[CellResult]:
    """Train every cell (reusing finished runs, continuing killed ones); return their results in order.

    Every config is resolved before the first run, so a bad preset or override fails at once. Two cells with
    the same run directory (an ablation flag the preset already sets) are trained once. With ``s.ledger`` a
    cell without a finished run directory whose run the ledger holds is taken from it (unless ``need_runs``:
    the caller loads the models), and every run finished here is recorded there. With ``s.workers`` > 1 the
    runs to train go to that many processes at once (each run is the same as trained alone: its own config,
    seeds and ``train.num_threads``).
    """
    cfgs = [cell_config(s, c) for c in cells]
    dirs = [run_dir_of(s, c, cfg) for c, cfg in zip(cells, cfgs, strict=True)]
    fp = read_dataset(s.data).fingerprint() if s.ledger is not None else ""
    plain = [plain_config(cfg) if s.ledger is not None else {} for cfg in cfgs]
    entries: list[LedgerEntry | None] = []
    todo: dict[Path, tuple[Cell, RunConfig]] = {}
    plain_of: dict[Path, dict[str, Any]] = {}
    for cell, cfg, run_dir, pc in zip(cells, cfgs, dirs, plain, strict=True):
        on_disk = (run_dir / "metrics.json").exists()
        entry = lookup(s.ledger, cell.model, pc, fp) if s.ledger is not None and not on_disk else None
        entries.append(entry if not need_runs else None)
        if entries[-1] is None:
            todo.setdefault(run_dir, (cell, cfg))
            plain_of.setdefault(run_dir, pc)

    def ended(d: Path) -> None:  # recorded at once: a session cut short keeps every run it finished
        if s.ledger is not None:
            record(s.ledger, run_entry(todo[d][0].model, todo[d][0].seed, d, plain_of[d], fp))

    trained = _train(s, todo, progress, what, len(cells), ended)
    out: list[CellResult] = []
    for cell, cfg, run_dir, pc, entry in zip(cells, cfgs, dirs, plain, entries, strict=True):
        preset = preset_path(s, cell.model)
        if entry is not None and s.ledger is not None:
            out.append(_ledger_result(cell, run_dir, cfg, entry, preset, s.ledger))
            continue
        res = _result(cell, run_dir, cfg, trained[run_dir], preset)
        if s.ledger is not None:
            path = record(s.ledger, run_entry(cell.model, cell.seed, run_dir, pc, fp))
            res = dataclasses.replace(res, ledger_entry=str(path.relative_to(s.ledger)))
        out.append(res)
    if progress is not None:
        progress(f"{what}: done", len(cells), len(cells))
    return out


def _train(s: Setting, todo: Mapping[Path, tuple[Cell, RunConfig]], progress: Progress | None, what: str,
           total: int, finished: Callable[[Path], None]) -> dict[Path, bool]:
    """Train (or finish) the run of every ``todo`` directory, in ``s.workers`` processes
    (:func:`hhfan.compare.train_runs`), calling ``finished`` on each as it ends; return for each whether this
    call trained anything in it (a finished run is only reused)."""
    before = {d: _wall(d) if (d / "metrics.json").exists() else None for d in todo}
    start = total - len(todo)
    order = list(todo)
    ended: list[Path] = []

    def name(d: Path) -> str:
        cell = todo[d][0]
        return f"{cell.model} rate {cell.rate:g} {cell.label or 'base'} seed {cell.seed}"

    def started(d: Path) -> None:
        if progress is not None:
            progress(f"{what}: {name(d)}", start + order.index(d), total)

    def done(d: Path) -> None:
        finished(d)
        ended.append(d)
        if progress is not None and s.workers > 1:
            progress(f"{what}: finished {name(d)}", start + len(ended), total)

    if progress is not None and s.workers > 1 and len(todo) > 1:
        progress(f"{what}: {len(todo)} runs, {s.workers} at a time", start, total)
    train_runs(s.data, {d: cfg for d, (_, cfg) in todo.items()}, s.out / "graphs",  # one split: one graph
               s.workers, started if s.workers <= 1 else None, done)
    return {d: before[d] is None or _wall(d) != before[d] for d in todo}


def _ledger_result(cell: Cell, run_dir: Path, cfg: RunConfig, entry: LedgerEntry, preset: Path | None,
                   ledger: Path) -> CellResult:
    """A cell's result from its ledger entry (run directory: where it would run)."""
    path = entry_path(ledger, entry.model, entry.config, entry.fingerprint)
    return CellResult(cell, run_dir, entry.metrics, entry.wall_seconds, entry.device or "cpu", entry.threads,
                      entry.epochs, entry.seconds_per_epoch, False, str(preset) if preset is not None else None,
                      str(path.relative_to(ledger)), True)


def cell_metrics(s: Setting, rec: Mapping[str, Any]) -> dict[str, Any]:
    """The full ``metrics.json`` of a cell record (:meth:`CellResult.record`): from its run directory, or from
    the setting's ledger when the record says its figures came from there."""
    path = Path(s.out) / rec["run_dir"] / "metrics.json"
    if path.exists() or not rec.get("from_ledger"):
        doc: dict[str, Any] = json.loads(path.read_text())
        return doc
    if s.ledger is None:
        raise DatasetError(f"{rec['run_dir']}: this cell's figures came from a run ledger; pass the same --ledger")
    return read_entry(s.ledger / rec["ledger"]).metrics


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean": ..., "std": ...}`` (population std, 0 for one value)."""
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


LABEL: dict[str, str] = {"precision@10": "P@10", "recall@10": "R@10", "ndcg@10": "NDCG@10", "auc": "AUC",
                         "recall@20": "R@20", "ndcg@20": "NDCG@20"}
"""Short column names of the :data:`SHOWN` metrics."""


def summary(results: Sequence[CellResult], metrics: Mapping[str, Sequence[str]] = SHOWN) -> dict[str, Any]:
    """Mean and std over the seeds of one group of cells: ``{"seeds", "sampled": {...}, "full": {...}, "seconds"}``."""
    doc: dict[str, Any] = {"seeds": [r.cell.seed for r in results]}
    for proto, names in metrics.items():
        doc[proto] = {n: mean_std([r.metrics[proto][n] for r in results]) for n in names
                      if all(n in r.metrics.get(proto, {}) for r in results)}
    doc["seconds"] = mean_std([r.seconds for r in results])
    return doc


def fmt(v: Mapping[str, float] | None, n: int = 1) -> str:
    """A Markdown cell: ``mean ± std`` over ``n`` seeds (the mean alone for one seed), ``—`` when missing."""
    if not v:
        return "—"
    return f"{v['mean']:.4f}" if n <= 1 else f"{v['mean']:.4f} ± {v['std']:.4f}"


def seconds(x: float) -> str:
    """Seconds for a table: one decimal below 10 s, whole seconds above."""
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def num_negatives(s: Setting, cells: Sequence[Cell]) -> list[int]:
    """The distinct ``eval.num_negatives`` (sampled protocol) of the cells' configs."""
    return sorted({cell_config(s, c).eval.num_negatives for c in cells})


def machine() -> dict[str, Any]:
    """The machine an experiment ran on: CPUs, torch threads, accelerator, versions."""
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    cuda = torch.cuda.is_available()
    return {"cpu_count": os.cpu_count(), "cpus_usable": usable, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if cuda else None, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "torch": torch.__version__}


def compute(results: Sequence[CellResult]) -> dict[str, Any]:
    """What the experiment's runs cost: training wall seconds per device (CPU or GPU), cells, runs trained now.

    Each distinct run counts once; a reused run counts the seconds it took when it was trained.
    """
    seen: dict[Path, CellResult] = {}
    for r in results:
        seen.setdefault(r.run_dir, r)
    by: dict[str, float] = {}
    for r in seen.values():
        kind = "gpu" if r.device.startswith("cuda") else "cpu"
        by[kind] = by.get(kind, 0.0) + r.seconds
    return {"seconds": float(sum(by.values())), "by_device": by, "runs": len(seen), "cells": len(results),
            "trained_now": sum(r.trained_now for r in seen.values()),
            "threads": sorted({r.threads for r in seen.values()}),
            "note": "training wall seconds of each run (its wall.json, summed over the continuations of a killed "
                    "run; graph building and test evaluation included); a run reused from an earlier call or "
                    "another experiment counts what it took when it was trained"}


def dataset_info(data: Path, ds: Dataset) -> dict[str, Any]:
    """Name, path and sizes of a dataset."""
    return {"name": ds.name, "path": str(Path(data).resolve()), "synthetic": bool(ds.synthetic),
            "users": ds.num_users, "videos": ds.num_videos, "interactions": len(ds.interactions)}


def header(s: Setting, name: str, rates: Sequence[float] = RATES) -> dict[str, Any]:
    """The fields every experiment JSON starts with: name, command, date, machine, dataset, settings.

    ``rates``: the training rates of an experiment that takes them (tables, ablation), for the equivalent command.
    """
    from hhfan.data.io import read_dataset

    info = dict(s.info) if s.info else dataset_info(s.data, read_dataset(s.data))
    return {"experiment": name, "command": s.command or equivalent_command(s, name, rates),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(), "dataset": {**info, "paper_dataset": s.paper_dataset},
            "out": str(Path(s.out).resolve()),
            "configs": str(s.configs) if s.configs is not None else None, "overrides": list(s.overrides),
            "quick": dataclasses.asdict(s.quick) if s.quick is not None else None, "seeds": dict(s.seeds),
            "split": "split.kind=random split.training_rate=R split.val_rate=0.1 (per-user random holdout)"}


def equivalent_command(s: Setting, name: str, rates: Sequence[float] = RATES) -> str:
    """The ``hhfan experiment`` command line equivalent to ``s`` (for library calls, which have no argv)."""
    args = ["hhfan", "experiment", name, "--out", str(s.out)]
    if s.quick is not None:
        args.append("--quick")
    else:
        args += ["--data", str(s.data)]
    if s.configs is not None:
        args += ["--configs", str(s.configs)]
    if s.models is not None:
        args += ["--models", ",".join(s.models)]
    seeds = [str(s.seeds.get("*", 1))] + [f"{m}={n}" for m, n in s.seeds.items() if m != "*"]
    args += ["--seeds", ",".join(seeds)]
    if tuple(rates) != RATES:
        args += ["--rates", ",".join(f"{r:g}" for r in rates)]
    for o in s.overrides:
        args += ["--set", o]
    text = shlex.join(args)
    if s.quick is not None and s.quick != Quick():
        text += "  # library call with non-default quick settings (see 'quick')"
    return text


def experiment_dir(s: Setting, name: str) -> Path:
    """``OUT/<name>``."""
    return Path(s.out) / name


def write_outputs(s: Setting, name: str, doc: dict[str, Any], markdown: str,
                  figures: Mapping[str, Figure]) -> dict[str, Any]:
    """Write ``OUT/<name>/<name>.json`` (``doc`` plus the file list), ``<name>.md`` and the PNGs; return the JSON."""
    where = experiment_dir(s, name)
    where.mkdir(parents=True, exist_ok=True)
    doc = {**doc, "files": {"json": f"{name}.json", "markdown": f"{name}.md",
                            "plots": [f"{k}.png" for k in figures]}}
    for key, fig in figures.items():
        with atomic_file(where / f"{key}.png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    title = f"<!-- produced by: {doc['command']} -->\n"
    with atomic_file(where / f"{name}.md") as tmp:
        tmp.write_text(title + markdown)
    text = json.dumps(doc, indent=2)
    with atomic_file(where / f"{name}.json") as tmp:
        tmp.write_text(text)
    return dict(json.loads(text))  # what a reader of the file gets (lists, string keys)


def figure(nrows: int, ncols: int, width: float = 4.0, height: float = 3.2) -> tuple[Figure, list[Any]]:
    """A matplotlib figure of ``nrows x ncols`` panels on the Agg canvas, and its axes in reading order.

    No pyplot: no display, no global state, so experiments can draw from any thread or test.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.subplots_adjust(left=0.5 / (width * ncols), right=1 - 0.15 / (width * ncols), bottom=0.55 / (height * nrows),
                        top=1 - 0.6 / (height * nrows), wspace=0.28, hspace=0.5)  # fixed: a layout engine doubles
    # the drawing time
    return fig, [ax for row in axes for ax in row]


def prepare_out(out: Path, inputs: Sequence[Path] = (), write: bool = True) -> None:
    """Make ``out`` an experiments folder, or check that it is one (resumed); refuse anything else.

    Never an input or inside/around one; absent or empty: created and marked (unless ``write`` is False: only
    checked); marked ``experiments``: resumed; anything else (a folder hhfan's experiments did not write, a
    file, a link): refused.
    """
    out = Path(out)
    check_not_input(out, inputs)
    if marker_kind(out) == KIND:
        return
    if out.is_dir() and not out.is_symlink() and not is_empty_dir(out):
        raise OutputError(f"--out {out} exists and was not written by hhfan experiment (no {KIND} marker); "
                          "experiments resume only in their own folder: choose another --out")
    check_dir_output(out, KIND, inputs=inputs)  # a file or a link in the way: refused with its own message
    if write:
        out.mkdir(parents=True, exist_ok=True)
        write_marker(out, KIND)


def prepare(out: Path, data: Path | None = None, quick: Quick | None = None, write: bool = True,
            **kwargs: Any) -> Setting:
    """The :class:`Setting` of an experiment in ``out``: checks the folder, and with ``quick`` writes its world
    (with ``write`` False, for a plan: checks only; the quick world is made in memory).

    Exactly one of ``data`` and ``quick`` must be given. ``paper_dataset`` (in ``kwargs``) defaults to the
    paper's name of the dataset's own name (``ml-1m`` -> ``MLs``; a synthetic world: None).
    """
    from hhfan.data.io import read_dataset
    from hhfan.data.synth import generate

    if (data is None) == (quick is None):
        raise ValueError("give --data DIR (a dataset written by `hhfan data import`) or --quick (a built-in "
                         "synthetic world), not both" if data is not None else
                         "--data DIR is required (a dataset written by `hhfan data import`), or pass --quick")
    out = Path(out)
    prepare_out(out, [data] if data is not None else [], write=write)
    if quick is not None:
        data = _quick_data(out / "data", quick.world) if write else out / "data"
    assert data is not None
    ds = generate(quick.world) if quick is not None and not write else read_dataset(data)  # fails fast if bad
    if "paper_dataset" not in kwargs:
        kwargs["paper_dataset"] = paper_dataset(ds.name)
    return Setting(data=Path(data), out=out, quick=quick, info=dataset_info(data, ds), **kwargs)


def _quick_data(path: Path, world: SynthConfig) -> Path:
    """Write the synthetic ``world`` to ``path``, or reuse the identical one written there before."""
    from hhfan.data.io import read_dataset, write_dataset
    from hhfan.data.synth import generate

    ds = generate(world)
    if marker_kind(path) == "dataset" and read_dataset(path).fingerprint() == ds.fingerprint():
        return path
    return write_dataset(ds, path, overwrite=marker_kind(path) == "dataset")
