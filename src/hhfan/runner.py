"""Experiment runner: train / evaluate / recommend on a run directory (side effects live here and in cli).

``RUN_DIR`` layout::

    config.yaml       resolved RunConfig + data path + data fingerprint
    graph/            split, M-HIG and RWSS tables (see hhfan.graph.artifacts)
    best.pt, last.pt  checkpoints (see hhfan.train.trainer)
    train_log.jsonl   one line per epoch: loss, validation metrics, seconds
    metrics.json      test metrics {"sampled": {...}, "full": {...}} of the best epoch; a cold-start split
                      (split.kind=cold) adds "cold", "warm" and "hybrid", a dataset's own split (split.kind=
                      predefined) "cold_subset" (see :func:`evaluate_run`)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from hhfan import rundir
from hhfan.config import ConfigError, from_dict, resolve, to_dict
from hhfan.data.atomic import atomic_dir, atomic_file
from hhfan.data.dataset import Dataset, DatasetError
from hhfan.data.io import read_dataset
from hhfan.data.outputs import OutputError
from hhfan.data.split import HOLDOUT_RULE, TEST, TRAIN, VAL, SplitConfig
from hhfan.eval.protocols import EvalConfig, cold_start_subsets, evaluate, evaluate_subset, unseen_subset
from hhfan.graph.artifacts import GraphArtifacts, GraphBuildConfig, build_artifacts
from hhfan.graph.mhig import GraphConfig
from hhfan.graph.sampler import SamplerConfig
from hhfan.model import registry
from hhfan.model.base import Recommender, hold_out_video_ids
from hhfan.model.hhfan import HHFAN
from hhfan.model.registry import MODEL_NAMES, BuildContext
from hhfan.train.distributed import SINGLE, Dist
from hhfan.train.trainer import EpochRecord, TrainConfig, TrainJob, load_checkpoint, train
from hhfan.train.triples import TrainingPairs, WalkPositives

MODELS: tuple[str, ...] = MODEL_NAMES


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; saved as ``RUN_DIR/config.yaml``.

    ``model_name`` picks the model (a name of :data:`hhfan.model.registry.REGISTRY`) and ``model`` is that
    model's own config dataclass (its defaults when not given; a mapping is parsed into it, and a key the
    model does not have is an error). Every model goes through the same split, trainer and evaluation.
    """

    model_name: str = "hhfan"
    split: SplitConfig = field(default_factory=SplitConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    model: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.model_name not in MODELS:
            raise ConfigError(f"unknown model {self.model_name!r}; choose one of {', '.join(MODELS)}")
        cls = registry.spec(self.model_name).config_class()
        if self.model is None:
            object.__setattr__(self, "model", cls())
        elif isinstance(self.model, Mapping):
            object.__setattr__(self, "model", model_config(self.model_name, self.model))
        elif type(self.model) is not cls:
            raise ConfigError(f"model {self.model_name!r} needs a {cls.__name__}, got {type(self.model).__name__}")
        k = self.train.val_metric.partition("@")[2]
        if k and int(k) not in self.eval.ks:
            raise ConfigError(f"train.val_metric={self.train.val_metric} needs K={k} among eval.ks "
                              f"({min(self.eval.ks)}..{max(self.eval.ks)}); add it to eval.ks or choose another K")

    def build_config(self) -> GraphBuildConfig:
        """The graph-stage part of the config."""
        return GraphBuildConfig(self.split, self.graph, self.sampler)


@dataclass
class Run:
    """A loaded run: its config, data, graph artifacts and model (weights of the best epoch)."""

    config: RunConfig
    dataset: Dataset
    artifacts: GraphArtifacts
    model: Recommender
    run_dir: Path


Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


def model_config(name: str, data: Mapping[str, Any]) -> Any:
    """The ``model:`` section of a run as model ``name``'s config dataclass; a key it lacks is a ConfigError."""
    cls = registry.spec(name).config_class()
    known = [f.name for f in fields(cls)]
    unknown = [k for k in data if k not in known]
    if unknown:
        has = f"its keys: {', '.join(known)}" if known else "it has no model.* keys"
        raise ConfigError(f"model {name!r} has no config key 'model.{unknown[0]}' ({has})")
    return from_dict(cls, data, prefix="model.")


def preset_model(config_file: Path) -> str | None:
    """The ``model_name`` a preset file names, or None (unreadable files are left to :func:`resolve`)."""
    try:
        doc = yaml.safe_load(Path(config_file).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    name = doc.get("model_name") if isinstance(doc, Mapping) else None
    return name if isinstance(name, str) else None


def resolve_run(config_file: Path | None = None, overrides: Sequence[str] = (), model: str | None = None
                ) -> RunConfig:
    """Defaults, then a preset, then ``key=value`` overrides, then ``model`` (``--model``).

    A preset names its model (``model_name``), so ``model`` may be omitted; a ``model`` that contradicts the
    preset is a ConfigError (a preset's settings belong to its model).
    """
    named = preset_model(config_file) if config_file is not None else None
    if model is not None and named is not None and named != model:
        raise ConfigError(f"--model {model} contradicts {config_file}, a preset for {named}; drop --model or use "
                          f"a preset for {model}")
    return resolve(RunConfig, config_file, [*overrides, *([f"model_name={model}"] if model else [])])


def build_model(cfg: RunConfig, ds: Dataset, art: GraphArtifacts, device: str | None = None) -> Recommender:
    """A freshly initialised ``cfg.model_name``, seeded by ``train.seed``, on ``device`` (default: ``train.device``)."""
    art.check(ds)
    torch.manual_seed(cfg.train.seed)
    ctx = BuildContext(ds, art, cfg.model, cfg.train.seed, pretrained=lambda path: pretrained_embeddings(path, ds, art))
    model = registry.build(cfg.model_name, ctx)
    if art.split.is_cold and model.cold_start is not None:  # the cold videos' id rows: zero, never trained
        hold_out_video_ids(model, art.split.cold_videos)
    return model.to(device or cfg.train.device)


def pretrained_embeddings(run_dir: Path, ds: Dataset, art: GraphArtifacts) -> tuple[torch.Tensor, torch.Tensor]:
    """User and video embeddings of another run on the *same* data and split (else test would leak)."""
    other = load_run(run_dir, ds=ds)
    if not np.array_equal(other.artifacts.split.part, art.split.part):
        raise DatasetError(f"{run_dir} was trained on a different split; pre-trained inputs must come from a run "
                           "with the same split, or its training data would include this run's test data")
    eu, ev = other.model.all_embeddings()
    return eu.float().cpu(), ev.float().cpu()


def validation_fn(ds: Dataset, art: GraphArtifacts, cfg: RunConfig, dist: Dist = SINGLE
                  ) -> Callable[[Any], dict[str, float]]:
    """Validation metrics (full protocol on the validation part) for model selection; never test.

    With ``dist`` of several processes the ranking is shared over the ranks (:func:`evaluate`).
    """
    ecfg = EvalConfig(protocol="full", ks=cfg.eval.ks, seed=cfg.eval.seed, batch_size=cfg.eval.batch_size)
    if art.split.is_cold:
        return _cold_validation_fn(ds, art, cfg, ecfg)

    def validate(model: Any) -> dict[str, float]:
        eu, ev = model.all_embeddings()
        return evaluate(eu, ev, ds, art.split, part=VAL, config=ecfg, scorer=model.score_matrix, dist=dist)["full"]

    return validate


def _cold_validation_fn(ds: Dataset, art: GraphArtifacts, cfg: RunConfig, ecfg: EvalConfig
                        ) -> Callable[[Any], dict[str, float]]:
    """Model selection of a cold-start split: the ``cold`` section on the validation part (the cold validation
    videos' interactions, ranked among the cold videos), plus ``warm:<val_metric>`` (the warm validation) to
    watch. A model that cannot score a video without interactions (:attr:`Recommender.cold_start` None) is
    selected on the warm validation instead (its cold sections are reported as such, never scored)."""
    cold, warm, _ = cold_start_subsets(ds, art.split)

    def validate(model: Any) -> dict[str, float]:
        eu, ev = model.all_embeddings()
        w = evaluate_subset(eu, ev, ds, art.split, warm, part=VAL, config=ecfg, scorer=model.score_matrix)
        if model.cold_start is None:
            return w
        out = evaluate_subset(eu, ev, ds, art.split, cold, part=VAL, config=ecfg, scorer=model.score_matrix)
        out[f"warm:{cfg.train.val_metric}"] = w[cfg.train.val_metric]
        return out

    return validate


def write_config(run_dir: Path, cfg: RunConfig, data_dir: Path, fingerprint: str) -> None:
    """``RUN_DIR/config.yaml``: the resolved config plus where the data is and its fingerprint."""
    doc = {"data": str(Path(data_dir).resolve()), "fingerprint": fingerprint, **to_dict(cfg)}
    with atomic_file(run_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))


def read_config(run_dir: Path) -> tuple[RunConfig, Path, str]:
    """Inverse of :func:`write_config`."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise DatasetError(f"{run_dir}: no config.yaml; is this a run directory written by `hhfan train`?")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DatasetError(f"{path}: invalid YAML or unreadable ({first}); retrain in a new --out") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), str) or "fingerprint" not in doc:
        raise DatasetError(f"{path}: not an hhfan run config (a mapping with 'data' and 'fingerprint'); retrain in "
                           "a new --out")
    data, fp = Path(doc.pop("data")), str(doc.pop("fingerprint"))
    return from_dict(RunConfig, doc), data, fp


def execution_free(cfg: RunConfig) -> RunConfig:
    """``cfg`` without the settings that say where a run executes, not what it computes (threads, device)."""
    return replace(cfg, train=replace(cfg.train, num_threads=0, device="cpu"))


def extends(old: RunConfig, new: RunConfig) -> bool:
    """Whether ``new`` is ``old`` with a higher epoch cap (``train.epochs``) and nothing else changed.

    A run (finished or killed) can then be continued to the new cap with ``resume``, and the result is the
    run that cap would have given from the start: each epoch's triples and in-model randomness are seeded by
    ``(seed, epoch)``, ``last.pt`` holds Adam's state and the early-stopping state, and nothing else in
    training depends on the cap. A run that early-stopped before the old cap stops at once.
    """
    same_cap = replace(new, train=replace(new.train, epochs=old.train.epochs))
    return new.train.epochs > old.train.epochs and same_cap == old


def resumable(old: RunConfig, new: RunConfig) -> bool:
    """Whether a run of ``old`` may be reused or continued as ``new``: the same run apart from where it executes
    (:func:`execution_free`), or that run with a higher epoch cap (:func:`extends`)."""
    a, b = execution_free(old), execution_free(new)
    return a == b or extends(a, b)


def train_run(data_dir: Path, run_dir: Path, cfg: RunConfig, resume: bool = False, say: Say = _quiet,
              on_epoch: Callable[[EpochRecord], None] | None = None,
              on_step: Callable[[int, int], None] | None = None,
              on_sample: Callable[[int, int], None] | None = None,
              overwrite: bool = False, dist: Dist = SINGLE, graph_cache: Path | None = None
              ) -> dict[str, dict[str, float]]:
    """Split + graph + RWSS, train with early stopping on validation, evaluate the best epoch on test.

    A ``run_dir`` that already holds this run is continued from wherever it stopped (config written, graph
    built or half-built, any epoch, finished: then only re-evaluated), also to a higher epoch cap
    (:func:`extends`) and with other threads or on another device (:func:`execution_free`); a run of another
    config is an error, replaced only with ``overwrite`` (:mod:`hhfan.rundir`). ``resume`` insists that there
    is a run to continue. One process trains in a run directory at a time.

    With ``dist`` of several processes (``torchrun``; :mod:`hhfan.train.distributed`) every rank calls this with
    the same arguments: rank 0 alone prepares and locks the run directory, builds the graph, writes the config,
    checkpoints, the log and ``metrics.json``, and calls ``say``/``on_*``; the others wait for it at each of these
    steps, read the graph rank 0 wrote (``run_dir`` must be on a file system every node sees), train on their
    shard of users and share validation and test ranking. Every rank returns the same metrics.

    With ``graph_cache`` (a folder; ``hhfan compare`` and ``tune`` pass ``OUT/graphs``) a run that has to build its
    graph takes it from there when an earlier run of the same split, graph and sampler settings on the same data
    built it (:func:`shared_graph`), and leaves it there otherwise: runs that share a split share its graph.
    """
    run_dir = Path(run_dir)
    if not dist.is_main:  # one voice: rank 0 reports
        say, on_epoch, on_step, on_sample = _quiet, None, None, None
    ds = read_dataset(data_dir)
    if ds.interactions.split is not None and cfg.split.kind != "predefined":
        say(f"warning: {data_dir} has its own train/val/test split, but this run uses a {cfg.split.kind} split "
            "(split.kind); its figures are not comparable with those published on the dataset's split. Set "
            "split.kind=predefined to use it")
    existing = dist.broadcast_object(dist.main_only(lambda: rundir.prepare(run_dir, data_dir, overwrite)))
    if resume and not existing:
        raise DatasetError(f"{run_dir}: no run to resume (no config.yaml); drop --resume to start one")
    with rundir.locked(run_dir) if dist.is_main else nullcontext():
        prepared = dist.main_only(lambda: _prepare_run(run_dir, data_dir, ds, cfg, bool(existing), say, on_sample,
                                                       graph_cache))
        art = prepared if prepared is not None else _load_graph(run_dir, cfg)
        return _train_and_test(run_dir, ds, art, cfg, bool(existing), say, on_epoch, on_step, dist)


def _prepare_run(run_dir: Path, data_dir: Path, ds: Dataset, cfg: RunConfig, existing: bool, say: Say,
                 on_sample: Callable[[int, int], None] | None, graph_cache: Path | None = None) -> GraphArtifacts:
    """Write or check ``config.yaml``, then load the run's graph, or build it (or take it from ``graph_cache``)."""
    if existing:
        old, _, fp = read_config(run_dir)
        if fp != ds.fingerprint():
            raise DatasetError(f"{run_dir} was trained on different data (fingerprint mismatch); "
                               "point --data at the dataset it was trained on")
        if not resumable(old, cfg):
            raise DatasetError(f"{run_dir} holds a run of a different config (only a higher train.epochs, train.device "
                               "or train.num_threads may differ); choose another --out, drop the other overrides, "
                               "or pass --overwrite to replace that run")
        if execution_free(old) != execution_free(cfg):  # a higher cap: the old test metrics go stale
            (run_dir / "metrics.json").unlink(missing_ok=True)
        if old != cfg:
            write_config(run_dir, cfg, data_dir, fp)
        say(f"continuing the run in {run_dir}")
    else:
        write_config(run_dir, cfg, data_dir, ds.fingerprint())
    if (run_dir / "graph").exists():
        return _load_graph(run_dir, cfg)
    if graph_cache is not None:
        shared_graph(Path(graph_cache), ds, cfg, run_dir / "graph", say, on_sample)
        return _load_graph(run_dir, cfg)
    art = build_artifacts(ds, cfg.build_config(), say=say, progress=on_sample)
    art.save(run_dir / "graph")  # atomic: a run killed here has no graph/ and rebuilds it (deterministic)
    return art


def graph_key(cfg: RunConfig, ds: Dataset) -> str:
    """The content address of the graph a run builds: a hash of its split, graph and sampler settings and of the
    data fingerprint (nothing else goes into ``build_artifacts``), and of the version of the holdout rule."""
    doc = json.dumps({"build": to_dict(cfg.build_config()), "fingerprint": ds.fingerprint(),
                      "holdout_rule": HOLDOUT_RULE}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:24]


def shared_graph(cache: Path, ds: Dataset, cfg: RunConfig, target: Path, say: Say = _quiet,
                 on_sample: Callable[[int, int], None] | None = None) -> bool:
    """Put the graph of ``cfg`` on ``ds`` at ``target``, building it only if ``cache`` does not hold it yet.

    The cache holds one GRAPH_DIR per :func:`graph_key` (``cache/<key>``, written atomically, so a build killed
    half-way leaves nothing behind; two processes building the same key at once both succeed, the first save
    kept). Its files are hard-linked into ``target`` (copied where the file system
    cannot link); nothing writes into a graph once built, so the runs share the files. ``target`` is then an
    ordinary graph/ of its run (checked against the run's config as always). Returns whether it was built.
    """
    entry = cache / graph_key(cfg, ds)
    built = not entry.is_dir()
    if built:
        art = build_artifacts(ds, cfg.build_config(), say=say, progress=on_sample)
        try:
            art.save(entry)
        except (OSError, OutputError):  # exists (FileExistsError) or appeared during the rename (ENOTEMPTY)
            if not entry.is_dir():
                raise
            built = False  # another process (a parallel cell) saved the same graph first: it is this one
    else:
        say(f"reusing the graph of {entry.name} (same split, graph and sampler settings)")
    with atomic_dir(target, "graph") as tmp:
        for f in sorted(entry.iterdir()):
            if f.is_file() and not f.name.startswith("."):  # the marker is written afresh
                try:
                    os.link(f, tmp / f.name)
                except OSError:
                    shutil.copy2(f, tmp / f.name)
    return built


def _load_graph(run_dir: Path, cfg: RunConfig) -> GraphArtifacts:
    """The run's ``graph/``, checked against its config (:func:`check_graph`)."""
    art = GraphArtifacts.load(run_dir / "graph")
    check_graph(run_dir, art, cfg)
    return art


def check_graph(run_dir: Path, art: GraphArtifacts, cfg: RunConfig) -> None:
    """The run's ``graph/`` must be the one its config builds (split, M-HIG and sampler settings)."""
    if art.config != cfg.build_config():
        raise DatasetError(f"{run_dir}/graph was built with other split, graph or sampler settings than the run's "
                           "config.yaml (rebuilt or copied since?); its metrics would not be this run's: retrain "
                           "in a new --out")


def _train_and_test(run_dir: Path, ds: Dataset, art: GraphArtifacts, cfg: RunConfig, resume: bool, say: Say,
                    on_epoch: Callable[[EpochRecord], None] | None,
                    on_step: Callable[[int, int], None] | None, dist: Dist = SINGLE) -> dict[str, dict[str, float]]:
    """Train (or continue) with early stopping on validation, then write the best epoch's test metrics."""
    if cfg.train.num_threads:  # before building: some baselines do heavy work (SVD, PathSim) at build time
        torch.set_num_threads(cfg.train.num_threads)
    model = build_model(cfg, ds, art, str(dist.device(cfg.train.device)) if dist.enabled else None)
    train_mask = art.split.mask(TRAIN)
    pool = np.flatnonzero(~art.split.video_is_cold(ds.num_videos)) if art.split.is_cold else None
    pairs = TrainingPairs(ds.interactions.user[train_mask], ds.interactions.video[train_mask],
                          ds.num_users, ds.num_videos, negative_pool=pool)
    extra = (WalkPositives(art.graph, cfg.train.tau, cfg.train.walk_positives)
             if cfg.train.tau > 1 and cfg.train.walk_positives > 0 else None)
    log = run_dir / "train_log.jsonl"
    if dist.is_main and not (run_dir / "last.pt").exists():
        log.unlink(missing_ok=True)  # epochs logged after the last checkpoint are trained again

    def logged(rec: EpochRecord) -> None:
        with open(log, "a") as fh:
            fh.write(json.dumps(vars(rec)) + "\n")
        if on_epoch is not None:
            on_epoch(rec)

    meta = {"fingerprint": ds.fingerprint(), "config": yaml.safe_dump(to_dict(cfg))}
    history = train(model, TrainJob(pairs=pairs, config=cfg.train, validate=validation_fn(ds, art, cfg, dist),
                                    run_dir=run_dir, extra_positives=extra, meta=meta, resume=resume,
                                    on_epoch=logged if dist.is_main else None, on_step=on_step, dist=dist))

    def write_log() -> None:
        with atomic_file(log) as tmp:  # the log is the checkpoint's history: whole, in order, even after a kill
            tmp.write_text("".join(json.dumps(vars(rec)) + "\n" for rec in history))

    dist.main_only(write_log)
    _say_cap(history, cfg, run_dir, say)
    run = load_run(run_dir, ds=ds)
    say("evaluating the best epoch on the test split")
    metrics = evaluate_run(run, dist=dist)

    def write_metrics() -> None:
        with atomic_file(run_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=2))

    dist.main_only(write_metrics)
    return metrics


def _say_cap(history: Sequence[EpochRecord], cfg: RunConfig, run_dir: Path, say: Say) -> None:
    """Warn when the best validation epoch is the cap's last: validation may still be rising."""
    if len(history) < 2 or history[-1].epoch != cfg.train.epochs - 1:
        return
    best = max(history, key=lambda r: r.val[cfg.train.val_metric])
    if best.epoch == history[-1].epoch:
        say(f"warning: the best validation epoch is the last one the cap allows (train.epochs={cfg.train.epochs}); "
            f"validation may still be rising. Continue exactly with the same command and --set "
            f"train.epochs={2 * cfg.train.epochs} (same --out {run_dir})")


def load_run(run_dir: Path, ds: Dataset | None = None, data_dir: Path | None = None, device: str = "cpu") -> Run:
    """Load config, data (checked by fingerprint), graph artifacts and the best weights of a run."""
    run_dir = Path(run_dir)
    cfg, data_path, fp = read_config(run_dir)
    if ds is None:
        ds = read_dataset(data_dir or data_path)
    if ds.fingerprint() != fp:
        raise DatasetError(f"{run_dir} was trained on different data (fingerprint mismatch); "
                           "pass --data with the dataset it was trained on")
    art = GraphArtifacts.load(run_dir / "graph")
    art.check(ds)
    check_graph(run_dir, art, cfg)
    best = run_dir / "best.pt"
    if not best.exists():
        raise DatasetError(f"{run_dir}: best.pt is missing; training has not finished an epoch (use --resume)")
    ck = load_checkpoint(best)
    if ck.get("fingerprint") != fp:
        raise DatasetError(f"{best}: checkpoint belongs to different data; retrain")
    model = build_model(cfg, ds, art, device)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise DatasetError(f"{best}: weights do not fit the configured model ({str(e)[:200]}); retrain") from e
    model.eval()
    return Run(cfg, ds, art, model, run_dir)


def evaluate_run(run: Run, protocol: str | None = None, dist: Dist = SINGLE) -> dict[str, dict[str, Any]]:
    """Test metrics of a loaded run under ``protocol`` (default: the run's eval config, both protocols); with
    ``dist`` of several processes the ranking is shared over the ranks and every rank gets the metrics."""
    ecfg = run.config.eval if protocol is None else EvalConfig(**{**vars(run.config.eval), "protocol": protocol})
    eu, ev = run.model.all_embeddings()
    found = evaluate(eu, ev, run.dataset, run.artifacts.split, part=TEST, config=ecfg, scorer=run.model.score_matrix,
                     dist=dist)
    metrics: dict[str, dict[str, Any]] = dict(found)
    if protocol is None:
        metrics.update(extra_sections(run, ecfg))
    return metrics


def extra_sections(run: Run, ecfg: EvalConfig) -> dict[str, dict[str, Any]]:
    """The test sections a run reports besides ``sampled`` and ``full`` (full ranking, ``ecfg.ks``).

    * A cold-start split (``split.kind=cold``): ``cold``, ``warm`` and ``hybrid``
      (:func:`hhfan.eval.protocols.cold_start_subsets`). A model that cannot score a video without interactions
      (:attr:`Recommender.cold_start` None: BPR-MF, LightGCN, SemRec...) gets ``{"cannot_score": reason}`` for
      ``cold`` and ``hybrid`` and also for ``sampled`` and ``full``, whose candidates include the cold videos its
      untrained rows would score at random; ``warm`` is always computed.
    * A dataset's own split (``split.kind=predefined``): ``cold_subset``, the test interactions on videos without
      any training interaction (:func:`hhfan.eval.protocols.unseen_subset`; 7.3 % of TikTok's), for every model
      as it is (such videos are in its tables, trained as negatives only).
    """
    split, ds, model = run.artifacts.split, run.dataset, run.model
    cfg = EvalConfig(**{**vars(ecfg), "protocol": "full"})
    out: dict[str, dict[str, Any]] = {}
    if not split.is_cold and split.config.kind != "predefined":
        return out
    eu, ev = model.all_embeddings()
    if split.is_cold:
        cold, warm, hybrid = cold_start_subsets(ds, split)
        if model.cold_start is None:
            why = {"cannot_score": f"{registry.display_name(run.config.model_name)} cannot score a video without "
                                   "interactions (its only video input is learned from them)"}
            out.update({"cold": dict(why), "hybrid": dict(why), "sampled": dict(why), "full": dict(why)})
            out["warm"] = evaluate_subset(eu, ev, ds, split, warm, config=cfg, scorer=model.score_matrix)
        else:
            for sub in (cold, warm, hybrid):
                out[sub.name] = evaluate_subset(eu, ev, ds, split, sub, config=cfg, scorer=model.score_matrix)
            out["cold"]["how"] = model.cold_start
    else:
        sub = unseen_subset(ds, split)
        out[sub.name] = evaluate_subset(eu, ev, ds, split, sub, config=cfg, scorer=model.score_matrix)
    return out


def recommend(run: Run, user_id: str, k: int = 10) -> dict[str, Any]:
    """Top-k unseen videos of a user with scores, and the attention weights behind the user's embedding."""
    ds = run.dataset
    hits = np.flatnonzero(ds.user_ids == user_id)
    if hits.size == 0:
        raise DatasetError(f"unknown user id {user_id!r}; see users.csv of {read_config(run.run_dir)[1]}")
    u = int(hits[0])
    eu, ev = run.model.all_embeddings()
    with torch.no_grad():
        scores = run.model.score_matrix(eu[u : u + 1], ev)[0].cpu()
    it = ds.interactions
    seen = it.video[(it.user == u) & run.artifacts.split.mask(TRAIN)]
    scores[torch.from_numpy(seen.astype(np.int64))] = -torch.inf
    top = torch.topk(scores, min(k, ds.num_videos - seen.shape[0]))
    alpha: dict[str, float] = {}
    if isinstance(run.model, HHFAN):
        with torch.no_grad():
            out = run.model.nodes_forward(torch.tensor([u]))
        alpha = dict(zip(run.model.candidate_names(), out.alpha[0].tolist(), strict=True))
    return {"user": user_id, "recommendations": [
        {"video": str(ds.video_ids[i]), "score": float(s)} for s, i in zip(top.values.tolist(), top.indices.tolist(),
                                                                             strict=True)],
        "neighbor_attention": alpha}
