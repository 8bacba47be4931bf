"""The ``hhfan`` command line (Typer + Rich). All side effects of the package live here.

Every failure caused by input (bad data, bad config, an existing output, a full disk) ends with a short
red message that says what to do and a non-zero exit code (2 for configuration and usage errors, 1
otherwise), never a traceback. Nothing printed is read as Rich markup or emoji codes: ids, texts and
paths show as they are (a user id ``[/u]`` is just a string), and one error is one line even when stderr
is not a terminal (no wrapping at 80 columns). Outputs go through :mod:`hhfan.data.outputs`: an output
is never an input, and ``--overwrite`` replaces only what hhfan wrote.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from hhfan.config import ConfigError, resolve
from hhfan.data.dataset import DatasetError
from hhfan.data.outputs import OutputError, check_dir_output, check_file_output, check_not_input
from hhfan.model.registry import MODEL_NAMES


class _OneLineErrorsGroup(TyperGroup):
    """The top-level command group: a usage error (a bad option value, an unknown option) is one line too,
    not a boxed panel wrapped at 80 columns; exit code 2 as usual."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        """Run the CLI; in standalone mode print usage errors on one line and exit with their code."""
        def run() -> Any:
            return super(_OneLineErrorsGroup, self).main(args, prog_name, complete_var, False, windows_expand_args,
                                                         **extra)

        if not standalone_mode:
            return run()
        try:
            rv = run()
        except typer.TyperException as e:
            code = int(getattr(e, "exit_code", 2))
            show = getattr(e, "show", None)
            if type(e).__name__ == "NoArgsIsHelpError" or not hasattr(e, "format_message"):
                show() if show is not None else err.print(str(e))  # the help text, as typer prints it
                sys.exit(code)
            ctx = getattr(e, "ctx", None)
            hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
            err.print(Text.assemble(("usage error:", "red"), " ", " ".join(e.format_message().split()) + hint))
            sys.exit(code)
        except typer.Abort:
            err.print("aborted")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(help="HHFAN micro-video recommendation: data, graph, sampling.", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=_OneLineErrorsGroup)
data_app = typer.Typer(help="Validate, describe, import and generate datasets.", no_args_is_help=True)
graph_app = typer.Typer(help="Build the M-HIG and its RWSS neighbour tables.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(graph_app, name="graph")
# markup/emoji off: data and paths are printed as they are; stderr never wraps a message (one error, one line)
console = Console(markup=False, emoji=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)

OutOpt = Annotated[Path, typer.Option("--out", help="Output directory (written atomically).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output directory that hhfan "
                                            "wrote (never a folder it did not write).")]
FileOverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")]


def _fail(message: str, code: int = 1, label: str = "error") -> NoReturn:
    """Print ``label: message`` (red label, message as is) on one line and exit with ``code``.

    Under ``torchrun`` the ranks other than 0 name themselves (``rank 1 error: ...``).
    """
    rank = env_rank()
    err.print(Text.assemble((f"rank {rank} {label}:" if rank else f"{label}:", "red"), " ", message))
    raise typer.Exit(code)


def _os_message(e: OSError) -> str:
    """One line for an operating-system error: what failed on which path, and what to do."""
    where = f" ({e.filename})" if e.filename else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on the device{where}; free some space and rerun. Datasets and graphs are "
                "written atomically, so nothing half-written was kept; a run can be continued with --resume")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where}: {e.strerror}; choose a path you can write to"
    if e.errno == errno.ENOTDIR:
        return f"not a folder{where}: a path component is a file"
    if e.errno == errno.EISDIR:
        return f"is a folder{where}; give a file name"
    return f"{e.strerror or e}{where}"


_TORCH_WRITE_FAILURES = ("inline_container", "PytorchStreamWriter", "file write failed")
"""How torch.save reports a failed write (it raises RuntimeError, not OSError, on a full disk)."""
_TORCH_OUT_OF_MEMORY = ("can't allocate memory", "CUDA out of memory", "not enough memory")
"""How torch reports a failed allocation (RuntimeError or its subclass OutOfMemoryError, not MemoryError)."""


@contextmanager
def _errors() -> Iterator[None]:
    """Turn input errors into a one-line red message + exit code 1 (2 for configuration errors)."""
    try:
        yield
    except ConfigError as e:
        if env_rank():  # every rank parses the same command line; rank 0 says it once
            raise typer.Exit(2) from None
        _fail(str(e), 2, "config error")
    except (DatasetError, ValueError) as e:  # OutputError included
        _fail(str(e))
    except yaml.YAMLError as e:  # a damaged YAML file of a run
        _fail(f"invalid YAML: {' '.join(str(e).split())[:300]}")
    except OSError as e:  # ours (FileExistsError...) carry a message, the system's an errno
        _fail(str(e) if e.errno is None else _os_message(e))
    except RuntimeError as e:
        from hhfan.train.distributed import RankZeroError  # torch is loaded: the error came from it

        if isinstance(e, RankZeroError):  # rank 0 failed in a step only it runs and has said why
            raise typer.Exit(2 if e.kind == "ConfigError" else 1) from None
        if any(s in str(e) for s in _TORCH_OUT_OF_MEMORY):
            _fail("ran out of memory; the model or data is larger than this machine can hold (a smaller "
                  "model.dim / baseline.dim or train.batch_size?)")
        if not any(s in str(e) for s in _TORCH_WRITE_FAILURES):
            raise
        _fail(f"writing a checkpoint failed ({' '.join(str(e).split())[:120]}); the disk is probably full: free "
              "some space and continue the run with --resume (every file of a run is written atomically)")
    except MemoryError:
        _fail("ran out of memory; the input is larger than this machine can hold (or declares sizes it does "
              "not have)")


def env_rank() -> int:
    """This process's ``RANK`` under torchrun (0 otherwise); read here so that the CLI imports no torch."""
    return int(os.environ.get("RANK", "0") or 0)


def _single_process(command: str) -> None:
    """Refuse a command that runs in one process when it was started by ``torchrun`` with several."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise ValueError(f"`hhfan {command}` runs in one process; start it without torchrun (only `hhfan train` "
                         "trains across processes: torchrun --nproc_per_node N -m hhfan train ...)")


@contextmanager
def _no_bar() -> Iterator[None]:
    """What ranks other than 0 show instead of a progress bar: nothing."""
    yield None


@contextmanager
def _bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar driven by ``progress(done, total)`` callbacks."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _say(msg: str) -> None:
    """A progress note (dim), or a warning (yellow) when the message starts with ``warning:``."""
    err.print(Text(f"! {msg}", style="yellow") if msg.startswith("warning:") else Text(f"· {msg}", style="dim"))


def _print_dict(title: str, d: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value")

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}", v)
        else:
            table.add_row(prefix.rstrip("."), f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"
                          if isinstance(value, int) and not isinstance(value, bool) else str(value))

    add("", d)
    console.print(table)


# ---------------------------------------------------------------------------------------------- data
@data_app.command("validate")
def data_validate(directory: Annotated[Path, typer.Argument(help="Dataset directory.")]) -> None:
    """Check a dataset directory and name every problem (file, row, column); never modifies anything."""
    from hhfan.data.io import validate_dir

    with _errors():
        problems = validate_dir(directory)
    if not problems:
        console.print(Text.assemble(("ok", "green"), f": {directory} is a valid hhfan dataset"))
        return
    for p in problems:
        err.print(Text.assemble(("✗", "red"), f" {p}"))
    err.print(Text.assemble((f"{len(problems)} problem(s)", "red"), f" in {directory}"))
    raise typer.Exit(1)


@data_app.command("stats")
def data_stats(directory: Annotated[Path, typer.Argument(help="Dataset directory.")],
               json_out: Annotated[Path | None, typer.Option("--json", help="Also write the stats to this file "
                                                            "(outside the dataset).")] = None,
               overwrite: FileOverwriteOpt = False,
               ) -> None:
    """Counts per node and edge type, density, interactions per user/video quantiles."""
    from hhfan.data.atomic import atomic_file
    from hhfan.data.io import read_dataset
    from hhfan.data.stats import dataset_stats

    with _errors():
        if json_out is not None:
            check_file_output(json_out, overwrite, inputs=[directory], option="--json")
        stats = dataset_stats(read_dataset(directory))
    _print_dict(f"dataset {stats['name']}" + (" (synthetic)" if stats["synthetic"] else ""), stats)
    if json_out is not None:
        with _errors(), atomic_file(json_out) as tmp:
            tmp.write_text(json.dumps(stats, indent=2))
        console.print(f"wrote {json_out}")


@data_app.command("import")
def data_import(
    kind: Annotated[str, typer.Argument(help="tiktok | movielens-1m")],
    source: Annotated[Path, typer.Option("--source", help="Directory with the original files.")],
    out: OutOpt,
    fmt: Annotated[str, typer.Option("--format", help="csv | parquet")] = "csv",
    overwrite: OverwriteOpt = False,
) -> None:
    """Convert a public dataset into the hhfan directory format (see README for each source layout)."""
    from hhfan.data.importers import IMPORTERS
    from hhfan.data.io import write_dataset

    if kind not in IMPORTERS:
        _fail(f"unknown dataset {kind!r}; choose one of {', '.join(IMPORTERS)}", 2)
    if fmt not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, got {fmt!r}", 2)
    with _errors():
        check_dir_output(out, "dataset", overwrite, inputs=[source])
        t0 = time.perf_counter()
        _say(f"reading {kind} from {source}")
        ds = IMPORTERS[kind](source)
        _say(f"writing {out}")
        write_dataset(ds, out, fmt=fmt, overwrite=overwrite, inputs=[source])
    console.print(Text.assemble(("wrote", "green"), f" {out}: {ds.num_users:,} users, {ds.num_videos:,} videos, "
                                f"{len(ds.interactions):,} interactions in {time.perf_counter() - t0:.1f}s"))


@data_app.command("synth")
def data_synth(
    out: OutOpt,
    users: Annotated[int, typer.Option("--users", help="Number of users.")] = 1000,
    videos: Annotated[int, typer.Option("--videos", help="Number of videos.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    mean_interactions: Annotated[float, typer.Option("--mean-interactions", help="Per user.")] = 40.0,
    fmt: Annotated[str, typer.Option("--format", help="csv | parquet (parquet for millions of rows)")] = "csv",
    overwrite: OverwriteOpt = False,
) -> None:
    """Generate a synthetic micro-video world with planted structure (labelled synthetic everywhere)."""
    from hhfan.data.io import write_dataset
    from hhfan.data.synth import SynthConfig, generate

    if fmt not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, got {fmt!r}", 2)
    with _errors():
        try:
            cfg = SynthConfig(num_users=users, num_videos=videos, seed=seed, mean_interactions=mean_interactions)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        check_dir_output(out, "dataset", overwrite)
        with _bar("generating users") as progress:
            ds = generate(cfg, progress=progress)
        _say(f"writing {out}")
        write_dataset(ds, out, fmt=fmt, overwrite=overwrite)
    console.print(Text.assemble(("wrote", "green"), f" synthetic world {out}: {ds.num_users:,} users, "
                                f"{ds.num_videos:,} videos, {len(ds.interactions):,} interactions"))


# --------------------------------------------------------------------------------------------- graph
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config value: key=value "
                                                  "(e.g. sampler.restart_prob=0.3, split.training_rate=0.6).")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML file with split/graph/sampler sections.")]
LedgerOpt = Annotated[Path | None, typer.Option("--ledger", help="A run ledger folder (e.g. benchmarks/ledger): runs "
                                                "it records are not trained again, runs trained are recorded "
                                                "there.")]


def _ledger_dir(ledger: Path | None) -> Path | None:
    """``--ledger``: a folder (made when first written) or nothing; a file there is an error."""
    if ledger is not None and ledger.exists() and not ledger.is_dir():
        raise FileNotFoundError(f"--ledger {ledger}: not a directory")
    return ledger


def _build(data: Path, out: Path, config: Path | None, overrides: list[str], overwrite: bool) -> dict[str, Any]:
    from hhfan.data.io import read_dataset
    from hhfan.graph.artifacts import GraphBuildConfig, build_artifacts

    cfg = resolve(GraphBuildConfig, config, overrides)
    check_dir_output(out, "graph", overwrite, inputs=[data])
    _say(f"reading {data}")
    ds = read_dataset(data)
    with _bar("sampling neighbours (RWSS)") as progress:
        art = build_artifacts(ds, cfg, say=_say, progress=progress)
    art.save(out, overwrite=overwrite, inputs=[data])
    stats = art.stats()
    stats["timings"] = art.timings
    return stats


@graph_app.command("build")
def graph_build(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    out: OutOpt,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    split: Annotated[str | None, typer.Option("--split", help="random | predefined | cold")] = None,
    training_rate: Annotated[float | None, typer.Option("--training-rate", help="e.g. 0.8, 0.6, 0.4")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Split seed.")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Split the data, build the M-HIG from training interactions and sample RWSS neighbour tables."""
    sets = list(overrides or [])
    if split is not None:
        sets.append(f"split.kind={split}")
    if training_rate is not None:
        sets.append(f"split.training_rate={training_rate}")
    if seed is not None:
        sets.append(f"split.seed={seed}")
    with _errors():
        stats = _build(data, out, config, sets, overwrite)
    _print_dict(f"graph {out}", stats)


@graph_app.command("stats")
def graph_stats(directory: Annotated[Path, typer.Argument(help="GRAPH_DIR written by `hhfan graph build`.")]
                ) -> None:
    """Print the statistics of a built graph."""
    from hhfan.graph.artifacts import GraphArtifacts

    with _errors():
        art = GraphArtifacts.load(directory)
    _print_dict(f"graph {directory}", art.stats())


# ------------------------------------------------------------------------------------- train / eval
def _check_run_dir(out: Path, data: Path, option: str = "--out") -> None:
    """A run (or compare/tune) directory must be a folder (or not exist yet) and never the data or near it."""
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise OutputError(f"{option} {out} exists and is not a folder; choose another {option}")
    check_not_input(out, [data], option)


def _epoch_line(rec: Any) -> None:
    val = ", ".join(f"{k}={v:.4f}" for k, v in rec.val.items() if k in ("recall@20", "ndcg@20"))
    err.print(f"epoch {rec.epoch:3d}  loss {rec.loss:.4f}  val {val}  ({rec.seconds:.1f}s, {rec.triples:,} triples)")


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    out: OutOpt,
    config: Annotated[Path | None, typer.Option("--config", help="YAML with split/graph/sampler/model/train/eval.")
                      ] = None,
    overrides: SetOpt = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue a killed run in --out, or any run to a higher --set train.epochs.")] = False,
    device: Annotated[str | None, typer.Option("--device", help="cpu | cuda | cuda:N")] = None,
    model: Annotated[str | None, typer.Option("--model", help="A registered model (default: the preset's, else "
                                              f"hhfan): {', '.join(MODEL_NAMES)}")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run of another config in --out (only a "
                                            "run directory hhfan wrote).")] = False,
) -> None:
    """Train a model with BPR, select the best epoch on validation, write test metrics to RUN_DIR/metrics.json.

    Running the same command again continues the run in --out from wherever it stopped. Started by torchrun
    (``torchrun --nproc_per_node N -m hhfan train ...``) it trains across the N processes (gloo on CPU, NCCL
    with --device cuda, one GPU per process); rank 0 alone writes and prints.
    """
    from hhfan.runner import resolve_run, train_run
    from hhfan.train import distributed

    sets = list(overrides or []) + ([f"train.device={device}"] if device else [])
    with _errors():
        _check_run_dir(out, data)
        cfg = resolve_run(config, sets, model)
        if cfg.train.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"--device {cfg.train.device}: no CUDA device here; use --device cpu")
        dist = distributed.init_from_env(cfg.train.device)
        try:
            with _bar("training") if dist.is_main else _no_bar() as step:
                metrics = train_run(data, out, cfg, resume=resume, say=_say, on_epoch=_epoch_line, on_step=step,
                                    overwrite=overwrite, dist=dist)
        finally:
            distributed.shutdown(dist)
    if dist.is_main:
        _print_metrics(metrics)
        console.print(Text.assemble(("done", "green"), f": {out}/metrics.json"))


@app.command("compare")
def compare_cmd(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names, e.g. hhfan,lightgcn,pop.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory: runs/, compare.json, compare.md.")],
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds (0..N-1) per model.")] = 3,
    configs: Annotated[Path | None, typer.Option("--configs", help="Directory of per-model presets <model>.yaml "
                                                 "(e.g. configs/tiktok); models without one use the defaults.")
                       ] = None,
    overrides: SetOpt = None,
    ledger: LedgerOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="Runs trained at once, each in its own process (set "
                                         "train.num_threads so that workers x threads fits the cores).")] = 1,
) -> None:
    """Train several models side by side (same splits, trainer, protocols); write mean ± std tables."""
    from hhfan.compare import compare, parse_models

    with _errors():
        _single_process("compare")
        _check_run_dir(out, data)
        if seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {seeds}")
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        if configs is not None and not configs.is_dir():
            raise FileNotFoundError(f"--configs {configs}: not a directory")
        names = parse_models(models)
        with _bar("runs") as bar:
            def on_run(model: str, seed: int, done: int, total: int) -> None:
                bar(done, total)
                _say(f"{model} seed {seed}")

            doc = compare(data, names, list(range(seeds)), out, configs, list(overrides or []), on_run,
                          _ledger_dir(ledger), workers)
            bar(len(names) * seeds, len(names) * seeds)
    typer.echo((out / "compare.md").read_text())
    console.print(Text.assemble(("done", "green"), f": {out}/compare.json ({len(doc['results'])} models)"))


@app.command("tune")
def tune_cmd(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    model: Annotated[str, typer.Option("--model", help="Model name, e.g. lightgcn.")],
    grid: Annotated[list[str], typer.Option("--grid", help="key=v1,v2 (repeatable; lists: key=\\[a,b];\\[c]); "
                                            "every combination is one trial.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory: trials/, tune.json, tune.md.")],
    configs: Annotated[Path | None, typer.Option("--configs", help="Directory of presets <model>.yaml the grid "
                                                 "starts from (e.g. configs/tiktok).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every trial (split and training).")] = 0,
    write_preset: Annotated[Path | None, typer.Option("--write-preset", help="Write the chosen config here "
                                                      "(e.g. configs/tiktok/lightgcn.yaml).")] = None,
    overrides: SetOpt = None,
    ledger: LedgerOpt = None,
) -> None:
    """Grid-search one model on the validation split; optionally write the chosen preset."""
    import shlex
    import sys

    from hhfan.compare import parse_models
    from hhfan.tune import check_preset_target, grid_points, parse_grid, tune
    from hhfan.tune import write_preset as write

    with _errors():
        _single_process("tune")
        _check_run_dir(out, data)
        if write_preset is not None:
            check_not_input(write_preset, [data], "--write-preset")
        names = parse_models(model)
        if len(names) != 1:
            raise ValueError(f"--model takes one model, got {model!r}")
        name = names[0]
        if write_preset is not None:
            check_preset_target(write_preset, name)
        if configs is not None and not configs.is_dir():
            raise FileNotFoundError(f"--configs {configs}: not a directory")
        axes = parse_grid(grid)
        total = len(grid_points(axes))
        with _bar("trials") as bar:
            def on_trial(point: tuple[str, ...], done: int, n: int) -> None:
                bar(done, n)
                _say(" ".join(point))

            doc = tune(data, name, axes, out, configs, list(overrides or []), seed, on_trial, _ledger_dir(ledger))
            bar(total, total)
        if write_preset is not None:
            write(doc, write_preset, "hhfan " + shlex.join(sys.argv[1:]))
    typer.echo((out / "tune.md").read_text())
    console.print(Text.assemble(("done", "green"), f": {out}/tune.json"
                                + (f", preset {write_preset}" if write_preset else "")))


def _print_metrics(metrics: dict[str, dict[str, float]], ks: tuple[int, ...] = (10, 20)) -> None:
    table = Table(title="test metrics", title_justify="left")
    table.add_column("protocol")
    names = [f"{m}@{k}" for k in ks for m in ("precision", "recall", "ndcg")] + ["auc"]
    for n in names:
        table.add_column(n, justify="right")
    for proto, vals in metrics.items():
        if "cannot_score" in vals:  # a cold-start section of a model that cannot score videos without interactions
            table.add_row(proto, *(["cannot score"] + ["—"] * (len(names) - 1)))
        else:
            table.add_row(proto, *(f"{vals[n]:.4f}" for n in names))
    console.print(table)


@app.command("evaluate")
def evaluate_cmd(
    run: Annotated[Path, typer.Option("--run", help="RUN_DIR written by `hhfan train`.")],
    protocol: Annotated[str | None, typer.Option("--protocol", help="sampled | full (default: both)")] = None,
    dump_rankings: Annotated[Path | None, typer.Option("--dump-rankings", help="JSON lines: top-100 per test user "
                                                       "(a new file outside the run and the data).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every metric of this evaluation here "
                                                  "(K = 1..20, hit, mrr, auc...).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Dataset directory if it moved.")] = None,
    overwrite: FileOverwriteOpt = False,
) -> None:
    """Recompute the test metrics of a run: a table of K = 10, 20 (and optionally every metric, every ranking)."""
    from hhfan.data.atomic import atomic_file
    from hhfan.eval.protocols import dump_rankings as dump
    from hhfan.runner import evaluate_run, load_run, read_config

    if protocol not in (None, "sampled", "full"):
        _fail(f"--protocol must be sampled or full, got {protocol!r}", 2)
    with _errors():
        inputs = [run, data or read_config(run)[1]]
        for path, option in ((dump_rankings, "--dump-rankings"), (json_out, "--json")):
            if path is not None:
                check_file_output(path, overwrite, inputs=inputs, option=option)
        if dump_rankings is not None and json_out is not None and \
                Path(dump_rankings).resolve() == Path(json_out).resolve():
            raise OutputError("--dump-rankings and --json name the same file; give two files")
        r = load_run(run, data_dir=data)
        metrics = evaluate_run(r, protocol)
        if dump_rankings is not None:
            eu, ev = r.model.all_embeddings()
            dump(eu, ev, r.dataset, r.artifacts.split, dump_rankings, scorer=r.model.score_matrix)
        if json_out is not None:
            with atomic_file(json_out) as tmp:
                tmp.write_text(json.dumps(metrics, indent=2))
    _print_metrics(metrics)
    if json_out is not None:
        console.print(f"every metric of this evaluation: {json_out}")
    else:
        console.print(f"every metric (K = 1..20, hit, mrr, recall_capped): {run / 'metrics.json'} (written by "
                      "training), or --json FILE for this evaluation")
    if dump_rankings is not None:
        console.print(f"rankings: {dump_rankings}")


@app.command("recommend")
def recommend_cmd(
    run: Annotated[Path, typer.Option("--run", help="RUN_DIR written by `hhfan train`.")],
    user: Annotated[str, typer.Option("--user", help="External user id.")],
    k: Annotated[int, typer.Option("-k", help="How many videos (>= 1).")] = 10,
    data: Annotated[Path | None, typer.Option("--data", help="Dataset directory if it moved.")] = None,
) -> None:
    """Top-K unseen videos for a user, with scores (and texts), and the neighbour-attention weights behind them."""
    from hhfan.runner import load_run, recommend

    if k < 1:
        _fail(f"-k must be at least 1, got {k}", 2)
    with _errors():
        loaded = load_run(run, data_dir=data)
        result = recommend(loaded, user, k)
    texts = loaded.dataset.video_texts
    table = Table(title=f"top {k} for user {user}", title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("video")
    table.add_column("score", justify="right")
    if texts is not None:
        table.add_column("text")
        row_of = {str(v): i for i, v in enumerate(loaded.dataset.video_ids.tolist())}
    for i, r in enumerate(result["recommendations"], 1):
        cells = [str(i), r["video"], f"{r['score']:.4f}"]
        if texts is not None:
            text = " ".join(str(texts[row_of[r["video"]]]).split())
            cells.append(text if len(text) <= 70 else text[:69] + "…")
        table.add_row(*cells)
    console.print(table)
    if len(result["recommendations"]) < k:
        console.print(f"only {len(result['recommendations'])} unseen videos are left for this user")
    if result["neighbor_attention"]:
        att = ", ".join(f"{n} {w:.2f}" for n, w in result["neighbor_attention"].items())
        console.print(f"neighbour attention (Eq. 7) of the user's embedding: {att}")


# ---------------------------------------------------------------------------------------- experiments
@app.command("experiment")
def experiment_cmd(
    name: Annotated[str, typer.Argument(help="tables | ablation | topk | sensitivity | case-study")],
    out: Annotated[Path, typer.Option("--out", help="Experiments folder (one per dataset): runs/, <name>/ with JSON, "
                                      "Markdown and PNG; rerun the same command to resume.")],
    data: Annotated[Path | None, typer.Option("--data", help="Dataset directory (from `hhfan data import`).")
                    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A small built-in synthetic world and tiny settings "
                                        "(no --data): the whole experiment in minutes.")] = False,
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds 0..N-1 per model: N, or N,model=M,... (e.g. "
                                       "1,hhfan=3,hhfan-hybrid=3).")] = "1",
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated models (default: every model for "
                                               "tables, hhfan,hhfan-hybrid for ablation, hhfan for sensitivity "
                                               "and case-study, tables' models for topk).")] = None,
    configs: Annotated[Path | None, typer.Option("--configs", help="Directory of presets <model>.yaml (e.g. "
                                                 "configs/ml-1m); models without one use the defaults.")] = None,
    overrides: SetOpt = None,
    user: Annotated[str | None, typer.Option("--user", help="case-study: the user to explain (default: a seeded "
                                             "choice among users with test interactions).")] = None,
    rates: Annotated[str | None, typer.Option("--rates", help="tables and ablation: comma-separated training rates "
                                              "(default: the paper's 0.8,0.6,0.4); e.g. 0.8 to fill Table II "
                                              "first.")] = None,
    paper_dataset: Annotated[str | None, typer.Option("--paper-dataset", help="The paper's dataset whose rows go "
                                                      "beside ours: MLs | Tiktok | Kwai (default: from the "
                                                      "dataset's name).")] = None,
    ledger: LedgerOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="Runs trained at once, each in its own process (set "
                                         "train.num_threads so that workers x threads fits the cores; e.g. 2 "
                                         "workers x 1 thread on 2 cores).")] = 1,
    plan: Annotated[bool, typer.Option("--plan", help="Print what the command would train, resume and take "
                                       "from finished runs or the ledger, with the CPU minutes it would cost "
                                       "(from runs already done); run and write nothing.")] = False,
) -> None:
    """Run one of the paper's experiments (§IV): resumable, one run per cell, JSON + Markdown + plots."""
    import importlib
    import shlex
    import sys

    from hhfan.experiments import EXPERIMENTS, MODULES
    from hhfan.experiments.paper import PAPER_DATASETS

    if name not in MODULES:
        _fail(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}", 2)
    if data is None and not quick:
        _fail(f"`hhfan experiment {name}` needs --data DIR (a dataset from `hhfan data import`), or --quick for a "
              "built-in synthetic world", 2)
    if data is not None and quick:
        _fail("--quick runs on its own synthetic world; drop --data (or drop --quick)", 2)
    if user is not None and name != "case-study":
        _fail(f"--user is an option of case-study, not of {name}", 2)
    if rates is not None and name not in ("tables", "ablation"):
        _fail(f"--rates is an option of tables and ablation, not of {name}", 2)
    if workers < 1:
        _fail(f"--workers must be >= 1, got {workers}", 2)
    if paper_dataset is not None and paper_dataset not in PAPER_DATASETS:
        _fail(f"--paper-dataset must be one of {', '.join(PAPER_DATASETS)}, got {paper_dataset!r}", 2)
    with _errors():
        from hhfan.compare import parse_models
        from hhfan.experiments.common import Quick, parse_rates, parse_seeds, prepare

        names = tuple(parse_models(models)) if models is not None else None
        seed_counts = parse_seeds(seeds)
        chosen_rates = parse_rates(rates) if rates is not None else None
        if configs is not None and not configs.is_dir():
            raise FileNotFoundError(f"--configs {configs}: not a directory")
        extra: dict[str, Any] = {} if paper_dataset is None else {"paper_dataset": paper_dataset}
        if ledger is not None:
            extra["ledger"] = _ledger_dir(ledger)
        setting = prepare(out, data, Quick() if quick else None, write=not plan, workers=workers, configs=configs,
                          models=names, seeds=seed_counts, overrides=tuple(overrides or ()),
                          command="hhfan " + shlex.join(sys.argv[1:]), **extra)
        module = importlib.import_module(MODULES[name])
        kwargs: dict[str, Any] = {"user": user} if name == "case-study" else {}
        if chosen_rates is not None:
            kwargs["rates"] = chosen_rates
        if plan:
            _print_plan(name, setting, module.planned(setting, **kwargs))
            return
        with _bar(name) as bar:
            def progress(what: str, done: int, total: int) -> None:
                bar(done, total)
                if done < total:
                    _say(what)

            doc = module.run(setting, progress, **kwargs)
    where = out / name
    typer.echo((where / doc["files"]["markdown"]).read_text())
    c = doc["compute"]
    console.print(Text.assemble(("done", "green"), f": {where / doc['files']['json']} (+ {doc['files']['markdown']}, "
                                f"{len(doc['files']['plots'])} plots); {c.get('runs', 0)} runs, "
                                f"{c.get('trained_now', 0)} trained now, {c['seconds'] / 60:.1f} min of training"))


def _print_plan(name: str, setting: Any, cells: list[Any]) -> None:
    """The table of ``hhfan experiment --plan``: cells per model and status, estimated minutes, one total line."""
    from rich.table import Table

    from hhfan.experiments.plan import STATUSES, describe, fingerprint, plan, summarise

    rows = summarise(plan(setting, cells, fingerprint(setting), need_runs=name == "case-study"))
    table = Table("model", "cells", *STATUSES, "est. CPU min", title=f"hhfan experiment {name}: plan")
    for r in rows:
        est = "—" if not (r["resume"] or r["train"]) else (
            f"{r['estimate_s'] / 60:.0f}" + (f" + {r['unknown']} unknown" if r["unknown"] else ""))
        table.add_row(r["model"], str(r["cells"]), *(str(r[st]) for st in STATUSES), est,
                      end_section=r["model"] == rows[-2]["model"] if len(rows) > 1 else False)
    console.print(table)
    typer.echo(f"plan: {describe(rows[-1])} (nothing was run or written)")


@app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Option("--out", help="The page to write, e.g. docs/RESULTS.md (its folder must "
                                      "exist); pictures go to <page>-figures/ beside it.")],
    experiments: Annotated[list[Path] | None, typer.Option("--experiments", help="An experiments folder (--out of "
                                                           "`hhfan experiment`); repeatable.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing page and its figure folder "
                                            "(only one hhfan wrote).")] = False,
) -> None:
    """Assemble every finished experiment into one Markdown page (tables, pictures, commands, compute, comparison)."""
    import shlex
    import sys

    from hhfan.experiments.report import assemble

    roots = list(experiments or [Path("runs/experiments")])
    with _errors():
        res = assemble(roots, out, overwrite, command="hhfan " + shlex.join(sys.argv[1:]))
    console.print(Text.assemble(("wrote", "green"), f" {res['page']}: {len(res['experiments'])} experiments, "
                                f"{len(res['figures'])} pictures"))


@app.command("serve")
def serve_cmd(
    run: Annotated[Path, typer.Option("--run", help="RUN_DIR written by `hhfan train`.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    data: Annotated[Path | None, typer.Option("--data", help="Dataset directory if it moved.")] = None,
    state: Annotated[Path | None, typer.Option("--state", help="Folder of the service's journal (posted videos "
                                               "and interactions); default RUN_DIR/serve.")] = None,
    faiss_min_videos: Annotated[int, typer.Option("--faiss-min-videos", help="Catalogue size from which top-K "
                                                  "comes from FAISS (if installed; inner-product models); 0 = "
                                                  "always exact.")] = 100_000,
    threads: Annotated[int, typer.Option("--threads", help="torch/FAISS threads of the server (1: concurrent "
                                         "requests run side by side; 0: torch's default).")] = 1,
) -> None:
    """Serve recommendations, explanations, new videos and interactions over HTTP (API docs at /docs)."""
    from hhfan.serve.index import IndexConfig
    from hhfan.serve.state import ServeConfig

    if not 0 <= port < 65536:
        _fail(f"--port must be in 0..65535, got {port}", 2)
    if faiss_min_videos < 0:
        _fail(f"--faiss-min-videos must be >= 0, got {faiss_min_videos}", 2)
    if threads < 0:
        _fail(f"--threads must be >= 0, got {threads}", 2)
    with _errors():
        import uvicorn

        from hhfan.serve.app import create_app

        cfg = ServeConfig(index=IndexConfig(faiss_min_videos=faiss_min_videos), state_dir=state, threads=threads)
        application = create_app(run, data_dir=data, config=cfg, say=_say)
        _say(f"serving {run} ({application.state.serve.index.size:,} videos, index "
             f"{application.state.serve.index.kind}) on http://{host}:{port}; API docs at /docs")
        uvicorn.run(application, host=host, port=port, log_level="info")


# ---------------------------------------------------------------------------------------- quickstart
def _quickstart_dir(out: Path) -> None:
    """Make ``out`` a quickstart folder, or check that it is one: quickstart never touches what it did not write.

    Absent or empty: created and marked. Marked by an earlier quickstart: reused, unless it holds
    anything besides ``data/``, ``run/`` and their temporaries. Anything else is refused.
    """
    from hhfan.data.outputs import MARKER, is_empty_dir, marker_kind, write_marker

    if not (out.exists() or out.is_symlink()) or is_empty_dir(out):
        out.mkdir(parents=True, exist_ok=True)
        write_marker(out, "quickstart")
        return
    if marker_kind(out) != "quickstart":
        raise OutputError(f"--out {out} exists and was not written by hhfan quickstart (no {MARKER} marker); "
                          "quickstart never replaces or deletes what it did not write: choose another --out")
    ours = ("data", "run", MARKER)
    foreign = sorted(p.name for p in out.iterdir()
                     if p.name not in ours and not p.name.startswith((".data.", ".run.")))
    if foreign:
        raise OutputError(f"--out {out} holds {', '.join(foreign[:5])}, which quickstart did not write; move "
                          "it away or choose another --out")


def _quickstart_data(ds: Any, data: Path) -> None:
    """Write the synthetic world to ``data``, or reuse the identical one an earlier quickstart wrote there."""
    from hhfan.data.io import read_dataset, write_dataset
    from hhfan.data.outputs import MARKER, marker_kind

    if data.exists() or data.is_symlink():
        if marker_kind(data) != "dataset":
            raise OutputError(f"{data} was not written by hhfan (no {MARKER} marker); quickstart will not replace "
                              "it: move it away or choose another --out")
        try:
            if read_dataset(data).fingerprint() == ds.fingerprint():
                _say(f"reusing the identical synthetic world in {data}")
                return
        except DatasetError:
            pass
        write_dataset(ds, data, overwrite=True)
        return
    write_dataset(ds, data)


def _quickstart_run(run: Path, data: Path, cfg: Any, fingerprint: str) -> dict[str, Any] | None:
    """The metrics of a finished identical run in ``run`` (reused), else None after removing a stale one of ours.

    A run is ours when its ``config.yaml`` points at this quickstart's ``data``; any other content is refused.
    """
    import os
    import shutil

    from hhfan.data.atomic import clean_stale
    from hhfan.data.outputs import is_empty_dir
    from hhfan.runner import read_config

    clean_stale(run)
    if not (run.exists() or run.is_symlink()) or is_empty_dir(run):
        return None
    try:
        old, old_data, old_fp = read_config(run)
    except (DatasetError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
        old_data = None
    if run.is_symlink() or old_data is None or Path(old_data) != data.resolve():
        raise OutputError(f"{run} is not a run this quickstart wrote (its config.yaml does not point at {data}); "
                          "quickstart will not delete it: move it away or choose another --out")
    metrics = run / "metrics.json"
    if old == cfg and old_fp == fingerprint and metrics.is_file():
        _say(f"reusing the finished run in {run}")
        return dict(json.loads(metrics.read_text()))
    stale = run.with_name(f".run.old-{os.getpid()}")
    os.replace(run, stale)  # ours, but for another world or config: retrain from scratch
    shutil.rmtree(stale)
    return None


@app.command("quickstart")
def quickstart(
    out: Annotated[Path, typer.Option("--out", help="Where the world, graph and run go (a new folder, or one an "
                                      "earlier quickstart wrote).")] = Path("runs/quickstart"),
    users: Annotated[int, typer.Option("--users")] = 1000,
    videos: Annotated[int, typer.Option("--videos")] = 2000,
    epochs: Annotated[int, typer.Option("--epochs")] = 8,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """The main job on built-in data: synthetic world -> M-HIG -> RWSS -> training -> evaluation -> recommendations."""
    from hhfan.data.synth import SynthConfig, generate
    from hhfan.runner import RunConfig, load_run, recommend, train_run

    with _errors():
        try:
            synth = SynthConfig(num_users=users, num_videos=videos, seed=seed)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        cfg = resolve(RunConfig, None, [f"split.seed={seed}", f"train.seed={seed}", f"train.epochs={epochs}",
                                        "model.dim=32", "train.batch_size=4096", "train.lr=0.005"])
        _quickstart_dir(out)
        with _bar("generating a synthetic world") as progress:
            ds = generate(synth, progress=progress)
        _quickstart_data(ds, out / "data")
        metrics = _quickstart_run(out / "run", out / "data", cfg, ds.fingerprint())
        if metrics is None:
            with _bar("training") as step:
                metrics = train_run(out / "data", out / "run", cfg, say=_say, on_epoch=_epoch_line, on_step=step)
        rec = recommend(load_run(out / "run", ds=ds), str(ds.user_ids[0]), k=5)
    stats = json.loads((out / "run" / "graph" / "graph.json").read_text())["stats"]
    _print_dict("graph of the synthetic world", {k: stats[k] for k in ("nodes", "edges", "split")})
    _print_metrics(metrics)
    att = ", ".join(f"{n} {w:.2f}" for n, w in rec["neighbor_attention"].items())
    console.print(f"top 5 for user {rec['user']}: " + ", ".join(f"{r['video']} ({r['score']:.2f})"
                                                               for r in rec["recommendations"]))
    console.print(f"neighbour attention of that user (Eq. 7): {att}")
    console.print(Text.assemble(("done", "green"), f": synthetic data in {out / 'data'}, run (graph, checkpoints, "
                                f"metrics.json) in {out / 'run'}"))


def main() -> None:
    """Entry point for ``python -m hhfan``."""
    app()
