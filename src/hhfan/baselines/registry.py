"""Baselines by name: each lives in its own module exposing ``build(ctx: BuildContext) -> Recommender``.

Modules are imported lazily, so a baseline's optional heavy imports cost nothing until it is used.
Every builder receives the same :class:`BuildContext`: the dataset, the graph artifacts (split, M-HIG
built from *training* interactions only, RWSS neighbour tables) and the :class:`BaselineConfig`; a
baseline that needs interactions must take them from :attr:`BuildContext.train_user` /
:attr:`BuildContext.train_video` (never from ``dataset.interactions`` directly, which holds
validation and test too).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hhfan.baselines.config import BaselineConfig
from hhfan.data.dataset import Dataset
from hhfan.data.split import TRAIN
from hhfan.graph.artifacts import GraphArtifacts
from hhfan.model.base import Recommender

BASELINES: dict[str, str] = {
    "pop": "hhfan.baselines.pop",
    "bprmf": "hhfan.baselines.mf",
    "neumf": "hhfan.baselines.neumf",
    "fm": "hhfan.baselines.fm",
    "deepfm": "hhfan.baselines.deepfm",
    "lightgcn": "hhfan.baselines.lightgcn",
    "graphsage": "hhfan.baselines.graphsage",
    "pinsage": "hhfan.baselines.pinsage",
    "mmgcn": "hhfan.baselines.mmgcn",
    "han": "hhfan.baselines.han",
    "hetgnn": "hhfan.baselines.hetgnn",
    "herec": "hhfan.baselines.herec",
    "semrec": "hhfan.baselines.semrec",
}


@dataclass(frozen=True, eq=False)
class BuildContext:
    """Everything a baseline may be built from.

    Attributes:
        dataset: the full dataset (ids, features, tags, attributes; its interactions include held-out ones).
        artifacts: split, training-only M-HIG and RWSS neighbour tables of the run.
        config: the run's baseline hyperparameters.
        seed: the run's seed (``train.seed``), for any randomness at build time (walks, pre-training).
    """

    dataset: Dataset
    artifacts: GraphArtifacts
    config: BaselineConfig
    seed: int = 0

    @cached_property
    def train_mask(self) -> np.ndarray:
        """Bool mask over ``dataset.interactions`` of the training part."""
        return self.artifacts.split.mask(TRAIN)

    @property
    def train_user(self) -> np.ndarray:
        """User index of every training interaction."""
        return self.dataset.interactions.user[self.train_mask]

    @property
    def train_video(self) -> np.ndarray:
        """Video index of every training interaction."""
        return self.dataset.interactions.video[self.train_mask]


def build_baseline(name: str, ctx: BuildContext) -> Recommender:
    """Construct baseline ``name`` (a key of :data:`BASELINES`)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    module = importlib.import_module(BASELINES[name])
    model: Recommender = module.build(ctx)
    return model
