"""One BPR trainer for every :class:`~hhfan.model.base.Recommender` (Eq. 9–10, §IV-C).

``L = Σ_{⟨u,v,v'⟩} −ln σ(E_uᵀE_v − E_uᵀE_{v'}) + λ‖θ‖²`` (Eq. 10), optimised with mini-batch Adam.
Per batch the loss is the mean over the batch's triples and the penalty is ``λ Σ‖θ‖² / batch_size``
over the tensors the model names for that batch (:meth:`Recommender.l2_terms`), which keeps λ on the
same scale whatever the batch size. A model with an objective of its own beyond BPR (SimGCL's contrastive
term, BM3's bootstrapped losses, FREEDOM's modality BPR) returns it from :meth:`Recommender.aux_loss`, which is
added to the batch's loss; the default returns ``None`` and nothing is added, so every other model's loss is
exactly Eq. (10). The training log's ``loss`` stays the BPR part.

Model selection and early stopping use a validation callback (the runner wires the evaluator on
the validation split into it; this module never sees test data). Checkpoints are plain dicts of
tensors and primitives loaded with ``torch.load(weights_only=True)``:

* ``best.pt`` — weights of the best validation epoch;
* ``last.pt`` — weights, optimizer state, epoch, history and best-so-far after every epoch, so
  ``resume`` continues a killed run; each epoch's triples come from a generator seeded by
  ``(seed, epoch)`` and torch's global generator (dropout inside models) is re-seeded from
  ``(seed, epoch)`` at the start of each epoch, so a resumed run gives the same result as an
  uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hhfan.data.atomic import atomic_file
from hhfan.data.dataset import DatasetError
from hhfan.model.base import Recommender
from hhfan.train.distributed import SINGLE, Dist, step_bounds
from hhfan.train.triples import TrainingPairs, WalkPositives, epoch_triples


@dataclass(frozen=True)
class TrainConfig:
    """BPR training settings (paper's search grid in brackets).

    Attributes:
        epochs: maximum number of epochs.
        batch_size: triples per step [128, 256, 512 in the paper; larger is faster on CPU].
        lr: Adam learning rate [1e-4 ... 1e-2].
        l2: λ of Eq. (10) [0 ... 0.1].
        negatives: M negatives per positive pair.
        tau: walk distance of positives (1 = observed interactions only).
        walk_positives: extra walk-found positives per user and epoch when tau > 1.
        patience: stop after this many validations without improvement.
        val_metric: metric (from the validation callback) that selects the best epoch.
        seed: seeds weights, triples and negatives; the same seed repeats a run.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        num_threads: torch intra-op threads (0 = torch's default).
    """

    epochs: int = 30
    batch_size: int = 2048
    lr: float = 1e-3
    l2: float = 1e-4
    negatives: int = 1
    tau: int = 1
    walk_positives: int = 0
    patience: int = 5
    val_metric: str = "ndcg@20"
    seed: int = 0
    device: str = "cpu"
    num_threads: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "negatives", "tau", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {self.l2}")
        if self.walk_positives < 0:
            raise ValueError(f"walk_positives must be >= 0, got {self.walk_positives}")
        # the per-K names of hhfan.eval.metrics.METRIC_NAMES (training may not import evaluation; tested equal)
        per_k = ("precision", "recall", "ndcg", "hit", "mrr", "recall_capped")
        name, at, k = str(self.val_metric).partition("@")
        if not (self.val_metric == "auc" or (at and name in per_k and k.isdigit() and int(k) >= 1)):
            raise ValueError(f"val_metric must be auc or NAME@K with NAME one of {', '.join(per_k)} and K >= 1 "
                             f"(e.g. ndcg@20), got {self.val_metric!r}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be cpu or cuda[:N], got {self.device!r}")


@dataclass
class EpochRecord:
    """One line of the training log."""

    epoch: int
    loss: float
    val: dict[str, float]
    seconds: float
    triples: int


ValidateFn = Callable[[Recommender], dict[str, float]]


def bpr_loss(model: Recommender, u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, l2: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (10) on one batch plus the model's :meth:`~Recommender.aux_loss` when it has one: (total loss, BPR part).

    Unique nodes are embedded once. A model whose ``aux_loss`` returns ``None`` (the default) gets exactly
    Eq. (10): nothing is added to it.
    """
    uu, u_inv = torch.unique(u, return_inverse=True)
    vv, v_inv = torch.unique(torch.cat([pos, neg]), return_inverse=True)
    model.start_batch(u, pos, neg)
    eu, ev = model.embed(uu, vv)
    e_u, e_pos, e_neg = eu[u_inv], ev[v_inv[: pos.shape[0]]], ev[v_inv[pos.shape[0] :]]
    bpr = -F.logsigmoid(model.score(e_u, e_pos) - model.score(e_u, e_neg)).mean()
    reg = sum((t.pow(2).sum() for t in model.l2_terms(uu, vv)), torch.zeros((), device=u.device))
    total = bpr + l2 * reg / u.shape[0]
    aux = model.aux_loss(u, pos, neg)
    if aux is not None:
        total = total + aux
    return total, bpr


def shard_loss(model: Recommender, u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, l2: float,
               batch_users: torch.Tensor, batch_videos: torch.Tensor, global_size: int, world_size: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One rank's share of Eq. (10) on a step's global batch (multi-process training): (loss, local BPR part).

    Summed over the ranks — which is what :meth:`~hhfan.train.distributed.Dist.all_reduce_gradients` does to the
    gradients — the losses are :func:`bpr_loss` of the global batch: the rank's BPR mean (with whatever else
    :func:`bpr_loss` adds to it) weighted by its share ``len(u) / global_size`` of the batch, and ``1 / world_size``
    of the penalty ``λ Σ‖θ‖² / global_size`` over the tensors :meth:`Recommender.l2_terms` names for the *whole*
    step (``batch_users``: every rank's users, ``batch_videos``: every rank's positives and negatives), so a
    model's λ means the same with any number of processes. A rank without triples in the step (``len(u) == 0``)
    contributes the penalty only.
    """
    if u.shape[0]:
        total, bpr = bpr_loss(model, u, pos, neg, 0.0)
        loss = total * (u.shape[0] / global_size)
    else:
        bpr = loss = torch.zeros((), device=u.device)
    if l2:
        uu, vv = torch.unique(batch_users), torch.unique(batch_videos)
        reg = sum((t.pow(2).sum() for t in model.l2_terms(uu, vv)), torch.zeros((), device=u.device))
        loss = loss + l2 * reg / global_size / world_size
    return loss, bpr


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically."""
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a corrupt or truncated file is a clear error."""
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise DatasetError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}); retrain, "
                           "or resume from an intact last.pt") from e
    if not isinstance(obj, dict) or "model" not in obj:
        raise DatasetError(f"{path}: not an hhfan checkpoint")
    return obj


@dataclass(frozen=True, eq=False)
class TrainJob:
    """Everything one training run needs besides the model.

    Attributes:
        pairs: the training interactions (positives of Eq. 9).
        config: BPR settings.
        validate: the validation callback (the runner wires the evaluator on the validation split; never test).
        run_dir: where ``best.pt``, ``last.pt`` go.
        extra_positives: the τ-walk positives of Eq. (9) (τ > 1), redrawn every epoch; None for observed only.
        meta: stored in every checkpoint (resolved config, data fingerprint...).
        resume: continue from ``run_dir/last.pt`` when it exists.
        on_epoch: called with each epoch's record.
        on_step: called with ``(step, steps)`` after each batch.
        dist: this process's place in a multi-process run (:mod:`hhfan.train.distributed`; one process by
            default): each rank trains on its users' triples, gradients are summed over the ranks, rank 0 alone
            writes checkpoints, and ``validate`` must be the same collective call on every rank.
    """

    pairs: TrainingPairs
    config: TrainConfig
    validate: ValidateFn
    run_dir: Path
    extra_positives: WalkPositives | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    on_epoch: Callable[[EpochRecord], None] | None = None
    on_step: Callable[[int, int], None] | None = None
    dist: Dist = SINGLE


def train(model: Recommender, job: TrainJob) -> list[EpochRecord]:
    """Train ``model`` with BPR until ``epochs`` or early stopping; return the per-epoch history.

    With ``job.dist`` of several processes every rank calls this with the same job (its own ``pairs`` are cut
    to its users here); they return the same history.
    """
    cfg, pairs, validate, run_dir, meta, on_epoch, on_step = (job.config, job.pairs, job.validate, job.run_dir,
                                                              job.meta, job.on_epoch, job.on_step)
    dist = job.dist
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = dist.device(cfg.device)
    if not any(p.requires_grad for p in model.parameters()):
        return _fit_free(model, validate, run_dir, cfg.val_metric, meta, on_epoch, dist)
    dist.broadcast_module(model)  # identical replicas, whatever each rank's build drew
    if dist.enabled:
        pairs = pairs.shard(dist.rank, dist.world_size)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[EpochRecord] = []
    best, best_epoch, start_epoch = -math.inf, -1, 0
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if job.resume and last_path.exists():
        ck = load_checkpoint(last_path, str(device))
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, best, best_epoch = int(ck["epoch"]) + 1, float(ck["best"]), int(ck["best_epoch"])
        history = [EpochRecord(**h) for h in ck["history"]]
    for epoch in range(start_epoch, cfg.epochs):
        if best_epoch >= 0 and epoch - best_epoch > cfg.patience:
            break
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # in-model randomness (dropout) per (seed, epoch): exact resume
        model.start_epoch(epoch)  # per-epoch model state (FREEDOM's pruned graph), drawn after the seed
        if dist.enabled:  # the same model state on every rank (above), then each rank's own dropout stream
            torch.manual_seed(_rank_seed(cfg.seed, epoch, dist))
        triples = epoch_triples(pairs, job.extra_positives, cfg.negatives, cfg.seed, epoch,  # walk positives: per
                                dist.shard)  # epoch; several processes: this rank's users
        u, v, n = (torch.from_numpy(a).to(device) for a in triples)
        model.train()
        bounds, sizes = step_bounds(dist.all_gather_ints(u.shape[0]), cfg.batch_size)
        total, steps = 0.0, int(sizes.shape[0])
        for s in range(steps):
            lo, hi = int(bounds[dist.rank, s]), int(bounds[dist.rank, s + 1])
            if dist.enabled:
                loss, bpr = _shard_step(model, u[lo:hi], v[lo:hi], n[lo:hi], cfg.l2, dist, bounds[:, s + 1] -
                                        bounds[:, s], int(sizes[s]))
            else:
                loss, bpr = bpr_loss(model, u[lo:hi], v[lo:hi], n[lo:hi], cfg.l2)
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:  # always, but on a rank with neither triples nor a penalty in the step
                loss.backward()
            dist.all_reduce_gradients(model.parameters())
            opt.step()
            total += float(bpr.detach()) * (hi - lo)
            if on_step is not None:
                on_step(s + 1, steps)
        total, count = dist.sum_floats([total, u.shape[0]])
        dist.sync_buffers(model)  # BatchNorm's running statistics: rank 0's, as DDP does
        model.eval()
        val = validate(model)
        dist.check_replicas(model)
        rec = EpochRecord(epoch, total / count, val, time.perf_counter() - t0, int(count))
        history.append(rec)
        score = val[cfg.val_metric]
        payload = {"model": model.state_dict(), "epoch": epoch, **(meta or {})}
        improved = score > best
        if improved:
            best, best_epoch = score, epoch
        last = {**payload, "optimizer": opt.state_dict(), "best": best, "best_epoch": best_epoch,
                "history": [vars(h) for h in history]}
        dist.main_only(partial(_save_epoch, best_path if improved else None, last_path, payload, last))
        if on_epoch is not None:
            on_epoch(rec)
    dist.barrier()
    return history


def _save_epoch(best_path: Path | None, last_path: Path, payload: dict[str, Any], last: dict[str, Any]) -> None:
    """An epoch's checkpoints: ``best.pt`` when it improved (``best_path`` given), then ``last.pt``."""
    if best_path is not None:
        save_checkpoint(best_path, payload)
    save_checkpoint(last_path, last)


def _rank_seed(seed: int, epoch: int, dist: Dist) -> int:
    """torch's seed of one rank's in-model randomness (dropout) in one epoch of a multi-process run."""
    return int(np.random.SeedSequence([int(seed), int(epoch), dist.rank, dist.world_size]).generate_state(
        1, np.uint64)[0])


def _shard_step(model: Recommender, u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, l2: float, dist: Dist,
                shares: np.ndarray, global_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`shard_loss` of one step, with the step's users and videos of every rank gathered for the penalty."""
    if not l2:
        empty = torch.empty(0, dtype=torch.int64, device=u.device)
        return shard_loss(model, u, pos, neg, l2, empty, empty, global_size, dist.world_size)
    parts = dist.all_gather_padded(torch.stack([u, pos, neg]), [int(x) for x in shares])
    users = torch.cat([p[0] for p in parts])
    videos = torch.cat([p[i] for i in (1, 2) for p in parts])
    return shard_loss(model, u, pos, neg, l2, users, videos, global_size, dist.world_size)


def _fit_free(model: Recommender, validate: ValidateFn, run_dir: Path, val_metric: str,
              meta: dict[str, Any] | None, on_epoch: Callable[[EpochRecord], None] | None,
              dist: Dist = SINGLE) -> list[EpochRecord]:
    """A model without trainable parameters (fitted when built): validate once, checkpoint it as epoch 0."""
    t0 = time.perf_counter()
    model.eval()
    rec = EpochRecord(0, 0.0, validate(model), time.perf_counter() - t0, 0)
    payload = {"model": model.state_dict(), "epoch": 0, **(meta or {})}
    last = {**payload, "optimizer": {}, "best": rec.val[val_metric], "best_epoch": 0, "history": [vars(rec)]}
    dist.main_only(partial(_save_epoch, run_dir / "best.pt", run_dir / "last.pt", payload, last))
    if on_epoch is not None:
        on_epoch(rec)
    return [rec]
