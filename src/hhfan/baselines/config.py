"""Settings shared by the baselines (each model reads the fields it uses)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaselineConfig:
    """Hyperparameters of the baselines.

    Attributes:
        dim: embedding size.
        layers: propagation layers (LightGCN).
        init_std: N(0, init_std) initialisation of the embeddings.
    """

    dim: int = 64
    layers: int = 3
    init_std: float = 0.1

    def __post_init__(self) -> None:
        if self.dim < 1 or self.layers < 0 or self.init_std <= 0:
            raise ValueError("dim must be >= 1, layers >= 0 and init_std > 0")
