"""The paper's experiments (§IV), one command each: ``hhfan experiment NAME`` (see :data:`EXPERIMENTS`).

One module per experiment (:mod:`~hhfan.experiments.tables`, :mod:`~hhfan.experiments.ablation`,
:mod:`~hhfan.experiments.topk`, :mod:`~hhfan.experiments.sensitivity`, :mod:`~hhfan.experiments.case_study`),
what they share in :mod:`~hhfan.experiments.common`, the paper's numbers in :mod:`~hhfan.experiments.paper`
and the page that assembles them in :mod:`~hhfan.experiments.report`. The runners sit above evaluation and
below ``cli.py``; like the CLI they have side effects (training, files). Nothing runs at import time.
"""

from __future__ import annotations

EXPERIMENTS: tuple[str, ...] = ("tables", "ablation", "topk", "sensitivity", "case-study")
"""The names ``hhfan experiment`` accepts, in the order a full reproduction runs them."""

MODULES: dict[str, str] = {"tables": "hhfan.experiments.tables", "ablation": "hhfan.experiments.ablation",
                           "topk": "hhfan.experiments.topk", "sensitivity": "hhfan.experiments.sensitivity",
                           "case-study": "hhfan.experiments.case_study"}
"""Experiment name -> the module whose ``run(setting, progress, ...)`` runs it."""

