"""Probe: how far one Adam step moves a trained run's validation NDCG@20, by the size of the step's batch.

Loads ``RUN_DIR/last.pt`` (weights and optimizer state), draws the next epoch's triples as the trainer does, and for
four slices of each size (``--small`` and the run's ``train.batch_size``) takes one step of Eq. (10) from that same
state and validates. Prints the figures; records nothing (its result is quoted in ``benchmarks/results/probes.md``).

    python benchmarks/probe_last_step.py RUN_DIR --small 149
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch


def main() -> None:
    """Validate the run's last state, then after one step on each slice."""
    from hhfan.data.split import TRAIN
    from hhfan.runner import load_run, validation_fn
    from hhfan.train.trainer import bpr_loss, load_checkpoint
    from hhfan.train.triples import TrainingPairs, epoch_triples

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--small", type=int, default=149, help="size of the short batch (the epoch's last one)")
    ap.add_argument("--slices", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(1)
    run = load_run(a.run_dir)
    cfg, ds, art, model = run.config, run.dataset, run.artifacts, run.model
    ck = load_checkpoint(a.run_dir / "last.pt")
    model.load_state_dict(ck["model"])
    validate = validation_fn(ds, art, cfg)
    mask = art.split.mask(TRAIN)
    pairs = TrainingPairs(ds.interactions.user[mask], ds.interactions.video[mask], ds.num_users, ds.num_videos)
    u, v, n = (torch.from_numpy(x) for x in epoch_triples(pairs, None, cfg.train.negatives, cfg.train.seed,
                                                          int(ck["epoch"]) + 1))
    model.eval()
    print(f"epoch {ck['epoch']} state: validation {cfg.train.val_metric} {validate(model)[cfg.train.val_metric]:.4f}")
    for size in (a.small, cfg.train.batch_size):
        out = []
        for k in range(a.slices):
            lo = k * max(size, 3000)
            m = copy.deepcopy(model)
            opt = torch.optim.Adam(m.parameters(), lr=cfg.train.lr)
            opt.load_state_dict(ck["optimizer"])
            m.train()
            loss, _ = bpr_loss(m, u[lo:lo + size], v[lo:lo + size], n[lo:lo + size], cfg.train.l2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            m.eval()
            out.append(f"{validate(m)[cfg.train.val_metric]:.4f}")
        print(f"one step on {size} triples: {', '.join(out)}")


if __name__ == "__main__":
    main()
