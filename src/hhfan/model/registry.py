"""One registry for every model, HHFAN included: name -> module, config class, display name.

Each model lives in one module that defines its frozen config dataclass and ``build(ctx: BuildContext) ->
Recommender``. Adding a model is that module plus one line in :data:`SPECS`; every list of model names (the
CLI's help, ``compare``, ``tune``, the results tables) is derived from here. Modules are imported lazily, so a
model's heavy imports cost nothing until it is used.

Every builder receives the same :class:`BuildContext`: the dataset, the graph artifacts (split, M-HIG built
from *training* interactions only, RWSS neighbour tables), the model's own config and the seed. A model that
needs interactions must take them from :attr:`BuildContext.train_user` / :attr:`BuildContext.train_video`
(never from ``dataset.interactions`` directly, which holds validation and test too).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from hhfan.data.split import TRAIN

if TYPE_CHECKING:  # type hints only: the registry itself stays cheap to import (the CLI lists its names)
    from torch import Tensor

    from hhfan.data.dataset import Dataset
    from hhfan.graph.artifacts import GraphArtifacts
    from hhfan.model.base import Recommender


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        name: registry name (``--model``, ``model_name`` of a preset).
        display: name in results tables.
        module: module defining ``build(ctx)``, the model class and the config class.
        model: name of the model class in ``module``.
        config: name of the frozen config dataclass in ``module``.
        summary: one sentence: what the model is (for a variant: what it adds to the paper's HHFAN).
    """

    name: str
    display: str
    module: str
    model: str
    config: str
    summary: str

    def load(self) -> ModuleType:
        """The model's module (imported on first use)."""
        return importlib.import_module(self.module)

    def config_class(self) -> type[Any]:
        """The model's config dataclass."""
        cls: type[Any] = getattr(self.load(), self.config)
        return cls


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("hhfan", "HHFAN", "hhfan.model.hhfan", "HHFAN", "HHFANConfig",
              "the paper's model as published: Eq. (1)-(10), three candidates in Eq. (6), plain inputs"),
    ModelSpec("hhfan-hybrid", "HHFAN-hybrid", "hhfan.model.hhfan", "HHFAN", "HybridConfig",
              "HHFAN plus a self candidate in Eq. (6), LightGCN-style input propagation and neighbour dropout"),
    ModelSpec("hhfan-cold", "HHFAN-cold", "hhfan.model.hhfan", "HHFAN", "ColdConfig",
              "HHFAN-hybrid trained to embed new videos: a share of each batch's videos is presented without "
              "interactions (content-only input, no user neighbours), DropoutNet-style, and a content + id score "
              "bias per video"),
    ModelSpec("hhfan-cl", "HHFAN-cl", "hhfan.model.hhfan_cl", "ContrastHHFAN", "ContrastConfig",
              "a LightGCN collaborative view plus HHFAN's heterogeneous-neighbourhood view (mean aggregator) as a "
              "residual, with InfoNCE between the two views"),
    ModelSpec("pop", "Most-popular", "hhfan.baselines.pop", "MostPopular", "PopConfig",
              "training interaction counts"),
    ModelSpec("dropoutnet", "DropoutNet", "hhfan.baselines.dropoutnet", "DropoutNet", "DropoutNetConfig",
              "cold-start towers over SVD preference and content inputs, trained with preference dropout"),
    ModelSpec("bprmf", "BPR-MF", "hhfan.baselines.mf", "BPRMF", "MFConfig",
              "BPR matrix factorisation"),
    ModelSpec("neumf", "NeuMF", "hhfan.baselines.neumf", "NeuMF", "NeuMFConfig",
              "GMF + MLP tower with content"),
    ModelSpec("fm", "FM (HIG fields)", "hhfan.baselines.fm", "FM", "FMConfig",
              "factorisation machine on M-HIG fields"),
    ModelSpec("deepfm", "DeepFM", "hhfan.baselines.deepfm", "DeepFM", "DeepFMConfig",
              "FM + MLP on M-HIG fields"),
    ModelSpec("lightgcn", "LightGCN", "hhfan.baselines.lightgcn", "LightGCN", "LightGCNConfig",
              "linear graph propagation"),
    ModelSpec("graphsage", "GraphSAGE", "hhfan.baselines.graphsage", "GraphSAGE", "GraphSAGEConfig",
              "mean aggregation on M-HIG"),
    ModelSpec("pinsage", "PinSAGE", "hhfan.baselines.pinsage", "PinSAGE", "PinSAGEConfig",
              "random-walk importance pooling"),
    ModelSpec("mmgcn", "MMGCN", "hhfan.baselines.mmgcn", "MMGCN", "MMGCNConfig",
              "one user-video graph per modality"),
    ModelSpec("han", "HAN", "hhfan.baselines.han", "HAN", "HANConfig",
              "meta-path node and semantic attention"),
    ModelSpec("hetgnn", "HetGNN", "hhfan.baselines.hetgnn", "HetGNN", "HetGNNConfig",
              "Bi-LSTM content and type attention"),
    ModelSpec("herec", "HERec", "hhfan.baselines.herec", "HERec", "HERecConfig",
              "meta-path embeddings fused into MF"),
    ModelSpec("semrec", "SemRec", "hhfan.baselines.semrec", "SemRec", "SemRecConfig",
              "weighted meta-path similar users"),
    ModelSpec("simgcl", "SimGCL", "hhfan.baselines.simgcl", "SimGCL", "SimGCLConfig",
              "LightGCN with noise-perturbed contrastive views (InfoNCE)"),
    ModelSpec("freedom", "FREEDOM", "hhfan.baselines.freedom", "FREEDOM", "FREEDOMConfig",
              "frozen modality kNN item graph + degree-sensitive edge pruning"),
    ModelSpec("bm3", "BM3", "hhfan.baselines.bm3", "BM3", "BM3Config",
              "bootstrapped multimodal self-supervision without negatives"),
)

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in SPECS}
MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)


def spec(name: str) -> ModelSpec:
    """The spec of model ``name``; an unknown name is a ValueError listing the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return REGISTRY[name]


def l2_scope(name: str) -> str:
    """What λ of Eq. (10) penalises for model ``name``: the first line of its ``l2_terms`` docstring.

    The definition differs between models (as in their papers' code): most penalise the batch's rows of their
    embedding tables (and some every dense weight), HHFAN every parameter at every step.
    """
    cls = getattr(spec(name).load(), spec(name).model)
    doc = (cls.l2_terms.__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def display_name(name: str) -> str:
    """Name of a model in results tables (the registry name itself when unknown)."""
    return REGISTRY[name].display if name in REGISTRY else name


@dataclass(frozen=True, eq=False)
class BuildContext:
    """Everything a model may be built from.

    Attributes:
        dataset: the full dataset (ids, features, tags, attributes; its interactions include held-out ones).
        artifacts: split, training-only M-HIG and RWSS neighbour tables of the run.
        config: the model's own config (an instance of its spec's config class).
        seed: the run's seed (``train.seed``), for any randomness at build time (walks, pre-training).
        pretrained: loads the user and video embeddings of another run directory on the same split (the
            runner provides it; used by ``model.pretrained_run``).
    """

    dataset: Dataset
    artifacts: GraphArtifacts
    config: Any
    seed: int = 0
    pretrained: Callable[[Path], tuple[Tensor, Tensor]] | None = None

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


def build(name: str, ctx: BuildContext) -> Recommender:
    """Construct model ``name`` from ``ctx`` (whose ``config`` must be that model's config class)."""
    s = spec(name)
    if type(ctx.config) is not s.config_class():
        raise TypeError(f"model {name!r} needs a {s.config}, got {type(ctx.config).__name__}")
    model: Recommender = s.load().build(ctx)
    return model
