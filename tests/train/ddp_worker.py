"""One rank of a multi-process test, started by ``torchrun`` from tests/train/test_distributed.py (not a test itself).

Usage: ``torchrun --nproc_per_node 2 ... tests/train/ddp_worker.py PLAN.json``. The plan is a list of steps:

* ``{"kind": "eval", "data": DIR, "out": FILE}``: random embeddings evaluated on the validation and test parts with
  the ranking shared over the ranks and, on every rank, in this process alone; rank 0 writes both results.
* ``{"kind": "grads", "out": FILE}``: the gradient all-reduce on parameters used by one rank, the other, neither;
  buffers a BatchNorm filled from each rank's own batch, synchronised.
* ``{"kind": "cli", "args": [...], "writes": FILE}``: ``hhfan <args>`` (the real CLI, joining the process group
  the worker created); every file the rank writes meanwhile is recorded and the list saved to
  ``FILE.rank<R>.json`` (the recorder's own write is not recorded).
"""

from __future__ import annotations

import builtins
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from hhfan.data.io import read_dataset
from hhfan.data.split import TEST, VAL, SplitConfig, make_split
from hhfan.eval.protocols import EvalConfig, evaluate
from hhfan.train import distributed


@contextmanager
def recording(root: Path) -> Iterator[list[str]]:
    """Record every path under ``root`` this process writes: renames into place, ``open`` for writing, write_text."""
    seen: list[str] = []
    real_replace, real_rename, real_open = os.replace, os.rename, builtins.open
    real_write_text = Path.write_text

    def note(path: Any) -> None:
        p = os.path.abspath(os.fspath(path))
        if p.startswith(str(root)):
            seen.append(p)

    def replace(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        note(dst)
        real_replace(src, dst, *a, **k)

    def rename(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        note(dst)
        real_rename(src, dst, *a, **k)

    def opener(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if isinstance(file, str | os.PathLike) and any(c in mode for c in "wax+"):
            note(file)
        return real_open(file, mode, *a, **k)

    def write_text(self: Path, *a: Any, **k: Any) -> int:
        note(self)
        return real_write_text(self, *a, **k)

    patches: list[tuple[Any, str, Callable[..., Any]]] = [(os, "replace", replace), (os, "rename", rename),
                                                          (builtins, "open", opener), (Path, "write_text", write_text)]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, fn in patches:
        setattr(obj, name, fn)
    try:
        yield seen
    finally:
        for obj, name, fn in saved:
            setattr(obj, name, fn)


def eval_step(step: dict[str, Any], dist: distributed.Dist) -> None:
    """Sharded vs single-process evaluation of seeded random embeddings, several user batches per rank."""
    ds = read_dataset(Path(step["data"]))
    split = make_split(ds, SplitConfig(seed=0))
    g = torch.Generator().manual_seed(0)
    eu, ev = torch.randn(ds.num_users, 8, generator=g), torch.randn(ds.num_videos, 8, generator=g)
    cfg = EvalConfig(protocol="both", ks=(1, 5, 20), num_negatives=30, batch_size=7)
    out = {}
    for name, part in (("val", VAL), ("test", TEST)):
        out[name] = {"sharded": evaluate(eu, ev, ds, split, part=part, config=cfg, dist=dist),
                     "single": evaluate(eu, ev, ds, split, part=part, config=cfg)}
    gathered = dist.all_gather_object(out["test"]["sharded"])  # every rank holds the same result
    out["ranks_agree"] = all(g_ == gathered[0] for g_ in gathered)
    if dist.is_main:
        Path(step["out"]).write_text(json.dumps(out))


def grads_step(step: dict[str, Any], dist: distributed.Dist) -> None:
    """Gradient all-reduce: a parameter only rank 0 uses, one only rank 1 uses, one nobody uses."""
    a, b, c = (torch.nn.Parameter(torch.full((3,), float(i + 1))) for i in range(3))
    loss = (a * (dist.rank + 1)).sum() if dist.rank == 0 else (b * b).sum()
    loss.backward()
    dist.all_reduce_gradients([a, b, c])
    result = {"a": a.grad.tolist() if a.grad is not None else None, "b": b.grad.tolist() if b.grad is not None
              else None, "c": None if c.grad is None else c.grad.tolist()}
    bn = torch.nn.BatchNorm1d(2)
    bn.register_buffer("constant", torch.full((3,), 0.1))
    bn.train()
    bn(torch.randn(8, 2, generator=torch.Generator().manual_seed(dist.rank)) + dist.rank)  # rank-own statistics
    result["buffers_sent"] = dist.sync_buffers(bn)
    result["bn"] = [bn.running_mean.tolist(), bn.running_var.tolist(), bn.constant.tolist()]
    every = dist.all_gather_object(result)
    if dist.is_main:
        Path(step["out"]).write_text(json.dumps(every))


def cli_step(step: dict[str, Any], dist: distributed.Dist) -> None:
    """The real ``hhfan`` CLI on this rank, with the files it writes recorded."""
    from hhfan.cli import app

    root = Path(step["root"]).resolve()
    with recording(root) as seen:
        try:
            app(step["args"], standalone_mode=False)
        except SystemExit as e:  # typer.Exit surfaces as SystemExit / click exceptions in non-standalone mode
            if e.code not in (0, None):
                raise
    Path(f"{step['writes']}.rank{dist.rank}.json").write_text(json.dumps(seen))


def main() -> None:
    """Run the plan of ``sys.argv[1]`` on this rank."""
    plan = json.loads(Path(sys.argv[1]).read_text())
    dist = distributed.init_from_env("cpu", timeout_s=300)
    try:
        for step in plan:
            {"eval": eval_step, "grads": grads_step, "cli": cli_step}[step["kind"]](step, dist)
            dist.barrier()
    finally:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
