"""Contrastive losses shared by models (SimGCL's views, the ``hhfan-cl`` variant's two views)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(view1: Tensor, view2: Tensor, temperature: float) -> Tensor:
    """InfoNCE with cosine similarity: row ``i`` of ``view1`` against every row of ``view2``, positive ``i``.

    .. math::
        \\mathcal{L} = \\frac{1}{n} \\sum_i -\\log \\frac{\\exp(\\hat z'_i{}^\\top \\hat z''_i / \\tau)}
                       {\\sum_j \\exp(\\hat z'_i{}^\\top \\hat z''_j / \\tau)}

    Shapes: ``view1, view2 [n, d]`` -> scalar.
    """
    z1, z2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    logits = z1 @ z2.T / temperature
    return -torch.diagonal(F.log_softmax(logits, dim=1)).mean()
