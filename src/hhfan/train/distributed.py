"""Multi-process plumbing for ``torchrun`` (``torch.distributed``): ranks, shards, gathers, gradient all-reduce.

``torchrun --nproc_per_node N -m hhfan train ...`` starts N copies of the CLI; each reads torchrun's
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) in :func:`init_from_env`,
joins one process group (gloo on CPU, NCCL on CUDA, one GPU per process: ``cuda:LOCAL_RANK``) and gets a
:class:`Dist` that the runner, the trainer and the evaluator share. With ``WORLD_SIZE`` 1 or unset
:data:`SINGLE` is returned, nothing is initialised and every method below is a no-op: a single process runs
exactly the code it always ran.

What is split over ranks (see :mod:`hhfan.train.trainer` and :func:`hhfan.eval.protocols.evaluate`):

* training triples: rank ``r`` of ``W`` owns the users ``u`` with ``u % W == r`` (:func:`user_shard`) and draws
  the triples of its users only, from streams seeded by ``(seed, epoch, r, W)``;
* the steps of an epoch: every rank takes the same number of steps, ``ceil(total triples / batch_size)``, so a
  step's global batch holds about ``batch_size`` triples, spread over the ranks (:func:`step_bounds`);
* evaluation: the evaluator's user batches are dealt round-robin (batch ``b`` to rank ``b % W``) and their
  per-batch sums gathered and added up in batch order, which is the single-process arithmetic exactly.

Gradients are all-reduced explicitly (:meth:`Dist.all_reduce_gradients`) rather than through
``DistributedDataParallel``'s wrapper: DDP synchronises the parameters that its ``forward`` used, but a
:class:`~hhfan.model.base.Recommender` trains through ``embed``/``score``/``l2_terms``/``aux_loss``, some models
use a parameter on one rank and not on another in the same step (sampled neighbourhoods, the rows of a batch),
and a rank whose shard has no triple left for a step must still take part. Adam skips a parameter whose
gradient is ``None`` and steps one whose gradient is zero, so a parameter no rank touched must keep ``None``
(as in one process) and one touched by some rank must get the summed gradient everywhere; one flat all-reduce
per dtype after ``backward`` does exactly that, for every model.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as tdist
from torch import Tensor, nn

T = TypeVar("T")

ENV_VARS: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""The environment variables ``torchrun`` sets and :func:`init_from_env` reads."""


class RankZeroError(RuntimeError):
    """Raised on ranks > 0 when rank 0 failed in a step only it runs (:meth:`Dist.main_only`).

    Attributes:
        kind: the class name of rank 0's exception (``ConfigError``, ``DatasetError``...).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"rank 0 failed: {kind}: {message}")
        self.kind = kind


class ReplicaMismatchError(RuntimeError):
    """The model replicas of the ranks hold different weights (they must stay identical)."""


@dataclass(frozen=True)
class Dist:
    """This process's place in the process group (``world_size`` 1: a single process, nothing shared).

    Attributes:
        rank: global rank, 0 .. world_size - 1 (rank 0 alone writes files).
        world_size: number of processes.
        local_rank: rank on this machine (selects the GPU, ``cuda:local_rank``).
        backend: ``gloo`` or ``nccl`` (empty for a single process).
        owns_group: whether :func:`init_from_env` created the process group (and :func:`shutdown` ends it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes checkpoints, logs and metrics)."""
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(rank, world_size)`` when distributed, ``None`` for a single process."""
        return (self.rank, self.world_size) if self.enabled else None

    @property
    def comm_device(self) -> torch.device:
        """Where collective buffers live: the process's GPU for NCCL, the CPU for gloo."""
        return torch.device(f"cuda:{self.local_rank}") if self.backend == "nccl" else torch.device("cpu")

    def device(self, requested: str) -> torch.device:
        """The device this rank computes on: ``cuda`` means ``cuda:LOCAL_RANK`` under torchrun."""
        if self.enabled and requested == "cuda":
            return torch.device(f"cuda:{self.local_rank}")
        return torch.device(requested)

    # ---------------------------------------------------------------------------------- collectives
    def barrier(self) -> None:
        """Wait until every rank arrives (no-op for one process)."""
        if self.enabled:
            tdist.barrier()

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled; small objects only)."""
        if not self.enabled:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0, device=self.comm_device)
        out: T = box[0]
        return out

    def all_gather_object(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank (pickled; small objects only)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def all_gather_ints(self, value: int) -> list[int]:
        """Every rank's integer, in rank order."""
        if not self.enabled:
            return [int(value)]
        t = torch.tensor([int(value)], dtype=torch.int64, device=self.comm_device)
        parts = [torch.empty_like(t) for _ in range(self.world_size)]
        tdist.all_gather(parts, t)
        return [int(p.item()) for p in parts]

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over ranks of float64 ``values`` (the same on every rank)."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor(list(values), dtype=torch.float64, device=self.comm_device)
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return [float(v) for v in t.cpu().tolist()]

    def all_gather_padded(self, t: Tensor, sizes: Sequence[int], fill: int = -1) -> list[Tensor]:
        """Every rank's ``t`` (``[..., sizes[rank]]``, int64), in rank order; ``sizes`` are every rank's lengths."""
        if not self.enabled:
            return [t]
        width = max(max(sizes), 1)
        pad = torch.full((*t.shape[:-1], width), fill, dtype=t.dtype, device=self.comm_device)
        pad[..., : t.shape[-1]] = t.to(self.comm_device)
        parts = [torch.empty_like(pad) for _ in range(self.world_size)]
        tdist.all_gather(parts, pad)
        return [p[..., :n].to(t.device) for p, n in zip(parts, sizes, strict=True)]

    def main_only(self, fn: Callable[[], T]) -> T | None:
        """Run ``fn`` on rank 0 while the others wait; return its result there (``None`` elsewhere).

        A failure on rank 0 is re-raised there and, as :class:`RankZeroError`, on every other rank, so no rank
        is left waiting at a collective that will never come.
        """
        if not self.enabled:
            return fn()
        out: T | None = None
        failure: Exception | None = None
        if self.is_main:
            try:
                out = fn()
            except Exception as e:  # relayed below, then re-raised
                failure = e
        status = self.broadcast_object(None if failure is None else (type(failure).__name__, str(failure)))
        if failure is not None:
            raise failure
        if status is not None:
            raise RankZeroError(*status)
        return out

    def broadcast_module(self, module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers into every rank's ``module`` (identical replicas)."""
        if not self.enabled:
            return
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                buf = t.detach().to(self.comm_device)
                tdist.broadcast(buf, src=0)
                if buf.data_ptr() != t.data_ptr():
                    t.copy_(buf.to(t.device))

    def all_reduce_gradients(self, params: Iterable[Tensor]) -> None:
        """Sum every parameter's gradient over the ranks (each rank's loss is already weighted; see the module).

        A parameter without a gradient on any rank keeps ``None``; one with a gradient on some rank gets the sum
        on every rank (``None`` counting as zero). One flat all-reduce per dtype.
        """
        if not self.enabled:
            return
        groups: dict[torch.dtype, list[Tensor]] = {}
        for p in params:
            if p.requires_grad:
                groups.setdefault(p.dtype, []).append(p)
        for dtype, ps in groups.items():
            flags = torch.tensor([p.grad is not None for p in ps], dtype=dtype, device=self.comm_device)
            grads = [(p.grad.to_dense() if p.grad.is_sparse else p.grad) if p.grad is not None
                     else torch.zeros_like(p) for p in ps]
            flat = torch.cat([flags, *(g.reshape(-1).to(self.comm_device) for g in grads)])
            tdist.all_reduce(flat, op=tdist.ReduceOp.SUM)
            used = flat[: len(ps)].cpu().tolist()
            at = len(ps)
            for p, u in zip(ps, used, strict=True):
                n = p.numel()
                p.grad = flat[at : at + n].view_as(p).to(p.device).clone() if u > 0 else None
                at += n

    def check_replicas(self, module: nn.Module) -> None:
        """Raise :class:`ReplicaMismatchError` unless every rank's parameters are the same."""
        if not self.enabled:
            return
        every = self.all_gather_object(_checksums(module.parameters()))
        if any(s != every[0] for s in every[1:]):
            raise ReplicaMismatchError("the ranks' model replicas differ (a model that updates weights outside the "
                                       "optimizer from rank-local data?)")

    def sync_buffers(self, module: nn.Module) -> int:
        """Give every rank rank 0's copy of each buffer that differs between ranks; return how many did.

        Buffers a model changes while it trains (BatchNorm's running statistics) follow each rank's own batches;
        DDP broadcasts rank 0's before every forward, this does it once (the trainer: after every epoch, before
        validation), so evaluation and checkpoints see one model. Buffers that agree (graphs, features) are only
        compared, never sent.
        """
        if not self.enabled:
            return 0
        buffers = list(module.buffers())
        every = self.all_gather_object(_checksums(buffers))
        differ = [i for i in range(len(buffers)) if any(e[i] != every[0][i] for e in every[1:])]
        with torch.no_grad():
            for i in differ:
                buf = buffers[i].detach().to(self.comm_device)
                tdist.broadcast(buf, src=0)
                if buf.data_ptr() != buffers[i].data_ptr():
                    buffers[i].copy_(buf.to(buffers[i].device))
        return len(differ)


def _checksums(tensors: Iterable[Tensor]) -> list[float]:
    """A float64 sum per tensor (replica comparison: identical tensors give identical sums)."""
    with torch.no_grad():
        return [float(t.detach().double().sum()) if t.numel() else 0.0 for t in tensors]


SINGLE = Dist()
"""The single-process :class:`Dist` (no process group)."""


def env_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when unset)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def env_rank() -> int:
    """``RANK`` as torchrun sets it (0 when unset)."""
    return int(os.environ.get("RANK", "0") or 0)


def init_from_env(device: str = "cpu", timeout_s: float = 1800.0) -> Dist:
    """Join the process group torchrun describes in the environment (:data:`ENV_VARS`); :data:`SINGLE` when
    ``WORLD_SIZE`` is 1 or unset.

    The backend is NCCL when ``device`` is CUDA (each process on ``cuda:LOCAL_RANK``), gloo otherwise. A group
    initialised earlier in the process (a test harness, a notebook) is reused. Collectives wait at most
    ``timeout_s`` for a rank that stopped answering.
    """
    world = env_world_size()
    if world <= 1:
        return SINGLE
    missing = [v for v in ENV_VARS if v not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={world} but {', '.join(missing)} not set; launch with torchrun "
                         "(torchrun --nproc_per_node N -m hhfan train ...)")
    rank, local = env_rank(), int(os.environ["LOCAL_RANK"])
    cuda = device.startswith("cuda")
    if cuda and device != "cuda":
        raise ValueError(f"--device {device} names one GPU for {world} processes; use --device cuda (each process "
                         "then takes cuda:LOCAL_RANK)")
    if cuda:
        torch.cuda.set_device(local)
    owns = not tdist.is_initialized()
    if owns:
        backend = "nccl" if cuda else "gloo"
        tdist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    else:
        backend = str(tdist.get_backend())
    if tdist.get_world_size() != world or tdist.get_rank() != rank:
        raise ValueError(f"the process group ({tdist.get_rank()}/{tdist.get_world_size()}) is not the one the "
                         f"environment describes ({rank}/{world})")
    return Dist(rank, world, local, backend, owns)


def shutdown(d: Dist) -> None:
    """Leave the process group :func:`init_from_env` created (no-op for one process or a group it reused)."""
    if d.enabled and d.owns_group and tdist.is_initialized():
        tdist.destroy_process_group()


def user_shard(num_users: int, rank: int, world_size: int) -> np.ndarray:
    """The users of rank ``rank``: ``u`` with ``u % world_size == rank`` (interleaved, so busy and quiet users mix)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    return np.arange(rank, num_users, world_size, dtype=np.int64)


def step_bounds(counts: Sequence[int], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """How the ranks' triples split into the steps of one epoch.

    Args:
        counts: triples of every rank this epoch, in rank order.
        batch_size: target size of a step's global batch.

    Returns:
        ``(bounds [W, S + 1], sizes [S])``: rank ``r``'s triples of step ``s`` are ``bounds[r, s]:bounds[r, s + 1]``
        and ``sizes[s]`` is the global batch of step ``s`` (every rank's share added up), with
        ``S = ceil(sum(counts) / batch_size)`` steps for every rank. Each rank's triples are split as evenly as
        integers allow, so a step's global batch is ``batch_size`` triples give or take the ranks' rounding; a
        rank with fewer triples than steps has empty shares (it still takes part in every all-reduce).
        With one rank these are exactly the consecutive slices of ``batch_size`` (the last one shorter).
    """
    c = np.asarray(counts, dtype=np.int64)
    total = int(c.sum())
    steps = -(-total // batch_size) if total else 0
    if c.shape[0] == 1:
        b = np.minimum(np.arange(steps + 1, dtype=np.int64) * batch_size, total)[None, :]
    else:
        b = (c[:, None] * np.arange(steps + 1, dtype=np.int64)[None, :]) // max(steps, 1)
    sizes = (b[:, 1:] - b[:, :-1]).sum(0)
    return b, sizes
