"""Settings shared by the baselines (each model reads the fields it uses; the others are ignored)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaselineConfig:
    """Hyperparameters of the baselines.

    Attributes:
        dim: embedding size.
        layers: propagation / GNN layers (LightGCN, GraphSAGE, PinSAGE, MMGCN, HAN).
        init_std: N(0, init_std) initialisation of the embeddings.
        dropout: dropout rate inside MLPs / GNN layers (NeuMF, DeepFM, GNNs).
        mlp: hidden sizes of the MLP towers (NeuMF, DeepFM), first layer first.
        heads: attention heads (HAN).
        num_neighbors: sampled neighbours per node (PinSAGE importance neighbourhoods, HetGNN per type).
        walk_length: random-walk length (HERec meta-path walks, PinSAGE visit counts).
        walks_per_node: random walks started per node (HERec, PinSAGE).
        window: skip-gram context window (HERec).
        pretrain_epochs: epochs of the unsupervised pre-training stage (HERec's meta-path embeddings).
        top_k_similar: similar users kept per user and meta-path (SemRec).
        skip: add the layer-0 input to the last convolution's output before the dense head (PinSAGE;
            the skip connection of DGL's reference PinSAGE example, needed on dense data such as ML-1M).
    """

    dim: int = 64
    layers: int = 3
    init_std: float = 0.1
    dropout: float = 0.0
    mlp: tuple[int, ...] = (128, 64)
    heads: int = 4
    num_neighbors: int = 10
    walk_length: int = 20
    walks_per_node: int = 10
    window: int = 3
    pretrain_epochs: int = 5
    top_k_similar: int = 50
    skip: bool = False

    def __post_init__(self) -> None:
        if self.dim < 1 or self.layers < 0 or self.init_std <= 0:
            raise ValueError("dim must be >= 1, layers >= 0 and init_std > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if any(h < 1 for h in self.mlp):
            raise ValueError(f"mlp sizes must be >= 1, got {self.mlp}")
        for name in ("heads", "num_neighbors", "walk_length", "walks_per_node", "window", "top_k_similar"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be >= 0, got {self.pretrain_epochs}")
