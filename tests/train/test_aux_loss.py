"""The trainer's two optional model hooks: ``aux_loss`` (added to Eq. 10) and ``start_epoch`` (per epoch, seeded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hhfan.baselines.mf import BPRMF, MFConfig
from hhfan.model.base import Recommender
from hhfan.train.trainer import TrainConfig, TrainJob, bpr_loss, train
from hhfan.train.triples import TrainingPairs


def _batch() -> tuple[Tensor, Tensor, Tensor]:
    return torch.tensor([0, 1, 1, 3]), torch.tensor([2, 0, 4, 2]), torch.tensor([1, 3, 3, 0])


def _eq10(model: Recommender, u: Tensor, p: Tensor, n: Tensor, l2: float) -> Tensor:
    """Eq. (10) written out: mean BPR over the triples + λ Σ‖θ‖² / B over the batch's unique rows."""
    eu, ep, en = *model.embed(u, p), model.embed(u, n)[1]
    bpr = -F.logsigmoid(model.score(eu, ep) - model.score(eu, en)).mean()
    reg = sum(t.pow(2).sum() for t in model.l2_terms(torch.unique(u), torch.unique(torch.cat([p, n]))))
    return bpr + l2 * reg / u.shape[0]


def test_the_default_aux_loss_is_none_and_the_loss_stays_eq10() -> None:
    torch.manual_seed(0)
    m = BPRMF(4, 5, MFConfig(dim=3))
    u, p, n = _batch()
    assert m.aux_loss(u, p, n) is None
    total, bpr = bpr_loss(m, u, p, n, 0.1)
    torch.testing.assert_close(total, _eq10(m, u, p, n, 0.1), rtol=0, atol=1e-7)
    torch.testing.assert_close(bpr, _eq10(m, u, p, n, 0.0), rtol=0, atol=1e-7)


class _WithAux(BPRMF):
    """BPR-MF plus an auxiliary term ``c·Σ_i ‖p_{u_i}‖²`` and a start_epoch recorder."""

    def __init__(self) -> None:
        super().__init__(4, 5, MFConfig(dim=3))
        self.calls: list[tuple[int, float, bool]] = []

    def aux_loss(self, users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
        return 0.5 * self.user(users).pow(2).sum()

    def start_epoch(self, epoch: int) -> None:
        self.calls.append((epoch, float(torch.rand(())), self.training))


def test_an_aux_loss_is_added_to_the_total_not_to_the_logged_bpr() -> None:
    torch.manual_seed(0)
    m = _WithAux()
    u, p, n = _batch()
    total, bpr = bpr_loss(m, u, p, n, 0.1)
    aux = 0.5 * m.user(u).pow(2).sum()
    torch.testing.assert_close(total, _eq10(m, u, p, n, 0.1) + aux)
    torch.testing.assert_close(bpr, _eq10(m, u, p, n, 0.0))
    w = m.user.weight
    g_total, = torch.autograd.grad(total, w)
    g_eq10, = torch.autograd.grad(_eq10(m, u, p, n, 0.1), w)
    g_aux, = torch.autograd.grad(0.5 * m.user(u).pow(2).sum(), w)
    assert g_aux.abs().sum() > 0
    torch.testing.assert_close(g_total, g_eq10 + g_aux)


def test_start_epoch_runs_once_per_epoch_after_the_epoch_seed(tmp_path: Path) -> None:
    m = _WithAux()
    pairs = TrainingPairs(np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4]), 4, 5)
    job = TrainJob(pairs, TrainConfig(epochs=3, batch_size=2, seed=7, patience=10),
                   lambda model: {"ndcg@20": 0.0}, tmp_path)
    train(m, job)
    assert [c[0] for c in m.calls] == [0, 1, 2]
    for epoch, drawn, _ in m.calls:  # drawn right after torch.manual_seed(seed * 1_000_003 + epoch)
        torch.manual_seed(7 * 1_000_003 + epoch)
        assert drawn == float(torch.rand(()))
