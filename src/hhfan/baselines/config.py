"""Config building blocks of the baselines: each model's own frozen config lives next to the model and
derives from these, so a key a model does not read is an unknown key, never an ignored one.

Defaults are the shared baseline setting (64 dimensions, N(0, 0.1) initialisation, 3 layers, ...).
"""

from __future__ import annotations

from dataclasses import dataclass


def _at_least(cfg: object, minimum: int, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {getattr(cfg, name)}")


@dataclass(frozen=True)
class NoConfig:
    """A model without hyperparameters."""


@dataclass(frozen=True)
class EmbeddingConfig:
    """Embedding size and initialisation, shared by every learned baseline.

    Attributes:
        dim: embedding size.
        init_std: N(0, init_std) initialisation of the embeddings.
    """

    dim: int = 64
    init_std: float = 0.1

    def __post_init__(self) -> None:
        _at_least(self, 1, "dim")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")


@dataclass(frozen=True)
class LayersConfig(EmbeddingConfig):
    """A propagating model: :class:`EmbeddingConfig` plus the number of layers.

    Attributes:
        layers: propagation / GNN layers.
    """

    layers: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least(self, 0, "layers")


def check_dropout(dropout: float) -> None:
    """``dropout`` must lie in [0, 1)."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def check_mlp(mlp: tuple[int, ...]) -> None:
    """MLP tower sizes must be >= 1."""
    if any(h < 1 for h in mlp):
        raise ValueError(f"mlp sizes must be >= 1, got {mlp}")


def check_positive(cfg: object, *names: str) -> None:
    """Each named integer field must be >= 1."""
    _at_least(cfg, 1, *names)


@dataclass(frozen=True)
class TowerConfig(EmbeddingConfig):
    """A model with an MLP tower (NeuMF, DeepFM): :class:`EmbeddingConfig` plus the tower.

    Attributes:
        dropout: dropout after every ReLU of the tower.
        mlp: hidden sizes of the tower, first layer first.
    """

    dropout: float = 0.0
    mlp: tuple[int, ...] = (128, 64)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_dropout(self.dropout)
        check_mlp(self.mlp)
