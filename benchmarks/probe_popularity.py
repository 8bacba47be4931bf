"""Probe: how much of each run's ranking is popularity (the question of issue 17, item 3).

For every RUN_DIR: the Spearman correlation between a video's training popularity and its mean score over all
users, the same with the norm of its embedding, and the share of the users' top-20 (training videos excluded) that
falls among the 1 % most popular videos. Prints one line per run; records nothing (quoted in
``benchmarks/results/probes.md``).

    python benchmarks/probe_popularity.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr


def main() -> None:
    """One line per run."""
    from hhfan.data.split import TRAIN
    from hhfan.runner import load_run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dirs", type=Path, nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(1)
    for run_dir in a.run_dirs:
        run = load_run(run_dir)
        ds, split, model = run.dataset, run.artifacts.split, run.model
        train = split.mask(TRAIN)
        user, video = ds.interactions.user[train], ds.interactions.video[train]
        pop = np.bincount(video, minlength=ds.num_videos)
        model.eval()
        with torch.no_grad():
            eu, ev = model.all_embeddings()
            scores = model.score_matrix(eu, ev).float().numpy()
        scores[user, video] = -np.inf  # the users' training videos are never recommended
        top = np.argsort(-scores, axis=1)[:, :20]
        head = pop >= np.quantile(pop, 0.99)
        finite = np.where(np.isfinite(scores), scores, np.nan)
        rho = spearmanr(pop, np.nanmean(finite, axis=0)).statistic
        norm = spearmanr(pop, ev.float().norm(dim=1).numpy()).statistic
        print(f"{run.config.model_name} ({run_dir}): Spearman(popularity, mean score) {rho:.3f}; "
              f"Spearman(popularity, embedding norm) {norm:.3f}; "
              f"top-20 in the 1 % most popular videos: {head[top].mean():.3f}")


if __name__ == "__main__":
    main()
