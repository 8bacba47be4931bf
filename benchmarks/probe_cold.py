"""Probe: how personal is each cold-split run's ranking of the cold videos (issue 14's commentary)?

For every RUN_DIR of a ``split.kind=cold`` run whose model can score cold videos: each user with a cold test
interaction gets the top 20 of the cold videos (as the ``cold`` section ranks them); printed are the share of all
those top-20 slots taken by the 20 cold videos recommended most often (1.0 = one list shared by every user, 20 /
#cold = every video equally often), the mean Jaccard overlap of the top-20 lists of 2,000 random user pairs,
and, over the cold test videos, the Spearman correlation between a video's mean score over those users and its
number of test interactions (how far the model predicts which new videos will be popular). Prints one line per
run; records nothing (quoted in ``benchmarks/results/probes.md``).

    python benchmarks/probe_cold.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr


def main() -> None:
    """One line per run."""
    from hhfan.data.split import TEST
    from hhfan.runner import load_run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dirs", type=Path, nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    for run_dir in a.run_dirs:
        run = load_run(run_dir)
        ds, split, model = run.dataset, run.artifacts.split, run.model
        if not split.is_cold or model.cold_start is None or run.config.model_name == "pop":
            print(f"{run_dir}: not a cold-split run of a model that scores cold videos; skipped")
            continue
        cold = split.cold_videos
        test = split.mask(TEST) & split.cold_rows(ds.interactions.video)
        users = np.unique(ds.interactions.user[test])
        model.eval()
        with torch.no_grad():
            eu, ev = model.all_embeddings()
            scores = model.score_matrix(eu[torch.from_numpy(users)], ev[torch.from_numpy(cold)]).float().numpy()
        top = np.argsort(-scores, axis=1, kind="stable")[:, :20]
        counts = np.bincount(top.ravel(), minlength=cold.size)
        concentration = np.sort(counts)[::-1][:20].sum() / top.size
        i, j = rng.integers(0, users.size, 2000), rng.integers(0, users.size, 2000)
        sets = [set(row) for row in top.tolist()]
        jac = np.mean([len(sets[x] & sets[y]) / len(sets[x] | sets[y]) for x, y in zip(i, j, strict=True)])
        test_pop = np.bincount(np.searchsorted(cold, ds.interactions.video[test]), minlength=cold.size)
        half = test_pop > 0  # the test half of the cold videos (the other half's interactions are validation)
        rho = spearmanr(scores.mean(axis=0)[half], test_pop[half]).statistic
        print(f"{run.config.model_name} ({run_dir}): {users.size} users, {cold.size} cold videos; top-20 slots in the "
              f"20 most-recommended cold videos {concentration:.3f}; mean Jaccard of two users' top-20 {jac:.3f}; "
              f"Spearman(mean score, test popularity) {rho:.3f}")


if __name__ == "__main__":
    main()
