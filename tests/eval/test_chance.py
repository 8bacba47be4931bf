"""The chance level of a restricted ranking: exact expectations against random rankings averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hhfan.data.split import VAL, SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from hhfan.eval.chance import chance_metrics
from hhfan.eval.protocols import EvalConfig, cold_start_subsets, evaluate_subset, unseen_subset


@pytest.mark.parametrize("section", [0, 1, 2])
def test_expectations_match_random_rankings(section: int) -> None:
    ds = generate(SynthConfig(num_users=60, num_videos=80, mean_interactions=8, seed=3))
    split = make_split(ds, SplitConfig(kind="cold", cold_rate=0.3, training_rate=0.8, val_rate=0.1, seed=1))
    sub = cold_start_subsets(ds, split)[section]
    ks = (1, 5, 20)
    want = chance_metrics(ds, split, sub, ks)
    cfg = EvalConfig(protocol="full", ks=ks)
    g = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(400):  # independent uniform scores per (user, video): a random order of every user's candidates
        scores = torch.rand(ds.num_users, ds.num_videos, generator=g)
        draws.append(evaluate_subset(torch.eye(ds.num_users), scores.T.contiguous(), ds, split, sub, config=cfg,
                                     scorer=lambda u, v: u @ v.T))
    assert want["num_users"] == draws[0]["num_users"] > 0
    for name in ("precision@1", "recall@5", "ndcg@5", "hit@5", "recall@20", "ndcg@20", "auc"):
        got = float(np.mean([d[name] for d in draws]))
        assert got == pytest.approx(want[name], rel=0.06, abs=2e-3), name


def test_a_bigger_candidate_set_lowers_chance_and_validation_is_supported() -> None:
    ds = generate(SynthConfig(num_users=60, num_videos=80, mean_interactions=8, seed=3))
    split = make_split(ds, SplitConfig(kind="cold", cold_rate=0.3, training_rate=0.8, val_rate=0.1, seed=1))
    cold, _, hybrid = cold_start_subsets(ds, split)
    assert chance_metrics(ds, split, cold, (5,))["recall@5"] > chance_metrics(ds, split, hybrid, (5,))["recall@5"]
    assert chance_metrics(ds, split, cold, (5,), part=VAL)["num_users"] > 0
    plain = make_split(ds, SplitConfig(kind="random", training_rate=0.8, seed=1))
    assert chance_metrics(ds, plain, unseen_subset(ds, plain), (5,))["auc"] == 0.5
