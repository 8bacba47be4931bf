"""The ``hhfan`` command line (Typer + Rich). All side effects of the package live here.

Every failure caused by input (bad data, bad config, an existing output) ends with a short red
message that says what to do and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hhfan.config import ConfigError, resolve
from hhfan.data.dataset import DatasetError
from hhfan.model.registry import MODEL_NAMES

app = typer.Typer(help="HHFAN micro-video recommendation: data, graph, sampling.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Validate, describe, import and generate datasets.", no_args_is_help=True)
graph_app = typer.Typer(help="Build the M-HIG and its RWSS neighbour tables.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(graph_app, name="graph")
console = Console()
err = Console(stderr=True)

OutOpt = Annotated[Path, typer.Option("--out", help="Output directory (written atomically).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output directory.")]


@contextmanager
def _errors() -> Iterator[None]:
    """Turn input errors into a red message + exit code 1 (2 for configuration errors)."""
    try:
        yield
    except ConfigError as e:
        err.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2) from None
    except (DatasetError, FileExistsError, FileNotFoundError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None


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
    err.print(f"[dim]· {msg}[/dim]")


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

    problems = validate_dir(directory)
    if not problems:
        console.print(f"[green]ok[/green]: {directory} is a valid hhfan dataset")
        return
    for p in problems:
        err.print(f"[red]✗[/red] {p}")
    err.print(f"[red]{len(problems)} problem(s)[/red] in {directory}")
    raise typer.Exit(1)


@data_app.command("stats")
def data_stats(directory: Annotated[Path, typer.Argument(help="Dataset directory.")],
               json_out: Annotated[Path | None, typer.Option("--json", help="Also write the stats here.")] = None,
               ) -> None:
    """Counts per node and edge type, density, interactions per user/video quantiles."""
    from hhfan.data.io import read_dataset
    from hhfan.data.stats import dataset_stats

    with _errors():
        stats = dataset_stats(read_dataset(directory))
    _print_dict(f"dataset {stats['name']}" + (" (synthetic)" if stats["synthetic"] else ""), stats)
    if json_out is not None:
        json_out.write_text(json.dumps(stats, indent=2))


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
        err.print(f"[red]error:[/red] unknown dataset {kind!r}; choose one of {', '.join(IMPORTERS)}")
        raise typer.Exit(2)
    with _errors():
        t0 = time.perf_counter()
        _say(f"reading {kind} from {source}")
        ds = IMPORTERS[kind](source)
        _say(f"writing {out}")
        write_dataset(ds, out, fmt=fmt, overwrite=overwrite)
    console.print(f"[green]wrote[/green] {out}: {ds.num_users:,} users, {ds.num_videos:,} videos, "
                  f"{len(ds.interactions):,} interactions in {time.perf_counter() - t0:.1f}s")


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

    with _errors():
        cfg = SynthConfig(num_users=users, num_videos=videos, seed=seed, mean_interactions=mean_interactions)
        with _bar("generating users") as progress:
            ds = generate(cfg, progress=progress)
        _say(f"writing {out}")
        write_dataset(ds, out, fmt=fmt, overwrite=overwrite)
    console.print(f"[green]wrote[/green] synthetic world {out}: {ds.num_users:,} users, {ds.num_videos:,} "
                  f"videos, {len(ds.interactions):,} interactions")


# --------------------------------------------------------------------------------------------- graph
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config value: key=value "
                                                  "(e.g. sampler.restart_prob=0.3, split.training_rate=0.6).")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML file with split/graph/sampler sections.")]


def _build(data: Path, out: Path, config: Path | None, overrides: list[str], overwrite: bool) -> dict[str, Any]:
    from hhfan.data.io import read_dataset
    from hhfan.graph.artifacts import GraphBuildConfig, build_artifacts

    cfg = resolve(GraphBuildConfig, config, overrides)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; choose another --out or pass --overwrite")
    _say(f"reading {data}")
    ds = read_dataset(data)
    with _bar("sampling neighbours (RWSS)") as progress:
        art = build_artifacts(ds, cfg, say=_say, progress=progress)
    art.save(out, overwrite=overwrite)
    stats = art.stats()
    stats["timings"] = art.timings
    return stats


@graph_app.command("build")
def graph_build(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    out: OutOpt,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    split: Annotated[str | None, typer.Option("--split", help="random | predefined")] = None,
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
) -> None:
    """Train a model with BPR, select the best epoch on validation, write test metrics to RUN_DIR/metrics.json."""
    from hhfan.runner import resolve_run, train_run

    sets = list(overrides or []) + ([f"train.device={device}"] if device else [])
    with _errors():
        cfg = resolve_run(config, sets, model)
        if cfg.train.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"--device {cfg.train.device}: no CUDA device here; use --device cpu")
        with _bar("training") as step:
            metrics = train_run(data, out, cfg, resume=resume, say=_say, on_epoch=_epoch_line, on_step=step)
    _print_metrics(metrics)
    console.print(f"[green]done[/green]: {out}/metrics.json")


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
) -> None:
    """Train several models side by side (same splits, trainer, protocols); write mean ± std tables."""
    from hhfan.compare import compare, parse_models

    with _errors():
        if seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {seeds}")
        if configs is not None and not configs.is_dir():
            raise FileNotFoundError(f"--configs {configs}: not a directory")
        names = parse_models(models)
        with _bar("runs") as bar:
            def on_run(model: str, seed: int, done: int, total: int) -> None:
                bar(done, total)
                _say(f"{model} seed {seed}")

            doc = compare(data, names, list(range(seeds)), out, configs, list(overrides or []), on_run)
            bar(len(names) * seeds, len(names) * seeds)
    typer.echo((out / "compare.md").read_text())
    console.print(f"[green]done[/green]: {out}/compare.json ({len(doc['results'])} models)")


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
) -> None:
    """Grid-search one model on the validation split; optionally write the chosen preset."""
    import shlex
    import sys

    from hhfan.compare import parse_models
    from hhfan.tune import grid_points, parse_grid, tune
    from hhfan.tune import write_preset as write

    with _errors():
        names = parse_models(model)
        if len(names) != 1:
            raise ValueError(f"--model takes one model, got {model!r}")
        name = names[0]
        if configs is not None and not configs.is_dir():
            raise FileNotFoundError(f"--configs {configs}: not a directory")
        axes = parse_grid(grid)
        total = len(grid_points(axes))
        with _bar("trials") as bar:
            def on_trial(point: tuple[str, ...], done: int, n: int) -> None:
                bar(done, n)
                _say(" ".join(point))

            doc = tune(data, name, axes, out, configs, list(overrides or []), seed, on_trial)
            bar(total, total)
        if write_preset is not None:
            write(doc, write_preset, "hhfan " + shlex.join(sys.argv[1:]))
    typer.echo((out / "tune.md").read_text())
    console.print(f"[green]done[/green]: {out}/tune.json" + (f", preset {write_preset}" if write_preset else ""))


def _print_metrics(metrics: dict[str, dict[str, float]], ks: tuple[int, ...] = (10, 20)) -> None:
    table = Table(title="test metrics", title_justify="left")
    table.add_column("protocol")
    names = [f"{m}@{k}" for k in ks for m in ("precision", "recall", "ndcg")] + ["auc"]
    for n in names:
        table.add_column(n, justify="right")
    for proto, vals in metrics.items():
        table.add_row(proto, *(f"{vals[n]:.4f}" for n in names))
    console.print(table)


@app.command("evaluate")
def evaluate_cmd(
    run: Annotated[Path, typer.Option("--run", help="RUN_DIR written by `hhfan train`.")],
    protocol: Annotated[str | None, typer.Option("--protocol", help="sampled | full (default: both)")] = None,
    dump_rankings: Annotated[Path | None, typer.Option("--dump-rankings", help="JSON lines: top-100 per test user."
                                                       )] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Dataset directory if it moved.")] = None,
) -> None:
    """Recompute the test metrics of a run (and optionally dump every test user's ranking)."""
    from hhfan.eval.protocols import dump_rankings as dump
    from hhfan.runner import evaluate_run, load_run

    if protocol not in (None, "sampled", "full"):
        err.print(f"[red]error:[/red] --protocol must be sampled or full, got {protocol!r}")
        raise typer.Exit(2)
    with _errors():
        r = load_run(run, data_dir=data)
        metrics = evaluate_run(r, protocol)
        if dump_rankings is not None:
            eu, ev = r.model.all_embeddings()
            dump(eu, ev, r.dataset, r.artifacts.split, dump_rankings, scorer=r.model.score_matrix)
    _print_metrics(metrics)
    console.print_json(json.dumps(metrics))


@app.command("recommend")
def recommend_cmd(
    run: Annotated[Path, typer.Option("--run", help="RUN_DIR written by `hhfan train`.")],
    user: Annotated[str, typer.Option("--user", help="External user id.")],
    k: Annotated[int, typer.Option("-k", help="How many videos.")] = 10,
    data: Annotated[Path | None, typer.Option("--data", help="Dataset directory if it moved.")] = None,
) -> None:
    """Top-K unseen videos for a user, with scores and the neighbour-attention weights behind them."""
    from hhfan.runner import load_run, recommend

    with _errors():
        result = recommend(load_run(run, data_dir=data), user, k)
    table = Table(title=f"top {k} for user {user}", title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("video")
    table.add_column("score", justify="right")
    for i, r in enumerate(result["recommendations"], 1):
        table.add_row(str(i), r["video"], f"{r['score']:.4f}")
    console.print(table)
    if result["neighbor_attention"]:
        att = ", ".join(f"{n} {w:.2f}" for n, w in result["neighbor_attention"].items())
        console.print(f"neighbour attention (Eq. 7) of the user's embedding: {att}")


# ---------------------------------------------------------------------------------------- quickstart
@app.command("quickstart")
def quickstart(
    out: Annotated[Path, typer.Option("--out", help="Where the world, graph and run go.")] = Path("runs/quickstart"),
    users: Annotated[int, typer.Option("--users")] = 1000,
    videos: Annotated[int, typer.Option("--videos")] = 2000,
    epochs: Annotated[int, typer.Option("--epochs")] = 8,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """The main job on built-in data: synthetic world -> M-HIG -> RWSS -> training -> evaluation -> recommendations."""
    import shutil

    from hhfan.data.io import write_dataset
    from hhfan.data.synth import SynthConfig, generate
    from hhfan.runner import RunConfig, load_run, recommend, train_run

    with _errors():
        with _bar("generating a synthetic world") as progress:
            ds = generate(SynthConfig(num_users=users, num_videos=videos, seed=seed), progress=progress)
        write_dataset(ds, out / "data", overwrite=True)
        shutil.rmtree(out / "run", ignore_errors=True)
        cfg = resolve(RunConfig, None, [f"split.seed={seed}", f"train.seed={seed}", f"train.epochs={epochs}",
                                        "model.dim=32", "train.batch_size=4096", "train.lr=0.005"])
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
    console.print(f"[green]done[/green]: synthetic data in {out / 'data'}, run (graph, checkpoints, "
                  f"metrics.json) in {out / 'run'}")


def main() -> None:
    """Entry point for ``python -m hhfan``."""
    app()
