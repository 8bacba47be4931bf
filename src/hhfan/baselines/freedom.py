"""FREEDOM (Zhou & Shen, "A Tale of Two Graphs: Freezing and Denoising Graph Structures for Multimodal
Recommendation", ACM MM 2023).

Two graphs:

* a **frozen item-item graph** ``S``, built once from the videos' modality features and never trained: per
  modality ``m``, every video links to its ``k`` nearest videos by cosine similarity (itself included), each
  link weighted ``1/k`` (the authors' ``D^-1/2 A D^-1/2`` with the out-degree ``k`` on both sides), and
  ``S = Σ_m w_m S_m`` with weights normalised over the dataset's modalities (FREEDOM's frozen graph);
* the **user-item graph** of *training* interactions, pruned during training by degree-sensitive edge
  dropout: once per epoch (:meth:`FREEDOM.start_epoch`), ``(1 − p)·|E|`` edges are drawn without replacement
  with probability ∝ ``1/sqrt(d_u d_v)`` (edges between low-degree nodes are kept more often), and the kept
  graph is renormalised ``D^-1/2 A D^-1/2`` (FREEDOM's denoising). Evaluation uses the full graph.

Representations (the authors' ``forward``)::

    h_v^S      = S^{L_i} e_v                                         item-graph convolution of ID embeddings
    [h_u; h_v] = mean_{l=0..L} Â^l [e_u ; e_v]                       LightGCN on the (pruned) user-item graph
    E_u = h_u,  E_v = h_v + h_v^S,  score = E_uᵀ E_v

and the loss is BPR on ``(E_u, E_v)`` plus, per modality, a BPR of the users against the projected
features, ``reg_weight · Σ_m BPR(E_u, f_m(x_v^m), f_m(x_{v'}^m))`` (:meth:`FREEDOM.aux_loss`; the main BPR and
λ are the shared trainer's). ``x^m`` is a trainable copy of the features (the graph ``S`` stays as built).

Adaptations: ``dataset.features`` decides the modalities (TikTok: visual and acoustic; ML-1M: textual); the
authors combine image and text as ``0.1 S_image + 0.9 S_text`` (``mm_image_weight``), which
:attr:`FREEDOMConfig.modality_weights` reproduces for that pair; the trainable feature copies start from the
standardised features (the authors': raw); ID embeddings start N(0, init_std) (the authors': Xavier
uniform); λ penalises the batch's layer-0 rows (the authors use no weight decay).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hhfan.baselines.blocks import TrainableModalities, layer_mean
from hhfan.baselines.config import LayersConfig, check_dropout
from hhfan.data.dataset import MODALITIES
from hhfan.graph.quantize import standardise
from hhfan.model.base import FullGraphRecommender
from hhfan.model.propagation import CachedAdjacency, bipartite_edge_index, sparse_adjacency

if TYPE_CHECKING:
    from hhfan.model.registry import BuildContext

KNN_FEATURES = ("raw", "standardised")
"""Which features the item-item kNN graph is computed from (``FREEDOMConfig.knn_features``)."""

KNN_CHUNK_ENTRIES = 1 << 24
"""Upper bound on the ``rows x videos`` similarity entries one chunk of :func:`knn_graph` holds (64 MiB)."""


def default_modality_weights() -> dict[str, float]:
    """Relative weights of the modality graphs: visual 1, acoustic 1, textual 9 (the authors' 0.1 / 0.9 for
    image / text; acoustic, which the authors' datasets lack, counts as much as visual)."""
    return {"visual": 1.0, "acoustic": 1.0, "textual": 9.0}


@dataclass(frozen=True)
class FREEDOMConfig(LayersConfig):
    """FREEDOM: LightGCN size and user-item ``layers``, the item-item graph and the edge pruning.

    The authors' code (MMRec ``src/configs/model/FREEDOM.yaml``, ``src/models/freedom.py``): 64 dimensions
    (``feat_embed_dim`` 64 too), ``n_ui_layers`` 2, ``n_mm_layers`` 1, ``knn_k`` 10, ``mm_image_weight`` 0.1,
    ``dropout`` searched in {0.8, 0.9}, ``reg_weight`` in {0, 1e-5, 1e-4, 1e-3}, Adam lr 1e-3, batch 2048,
    weight decay 0 (``lambda_coeff`` 0.9 is read but unused). Defaults here: the fixed values, ``dropout``
    0.8 and ``reg_weight`` 1e-4 from the searched lists.

    Attributes:
        layers: LightGCN layers on the user-item graph (``n_ui_layers``).
        item_layers: convolutions of the ID embeddings on the item-item graph (``n_mm_layers``).
        knn_k: neighbours per video in each modality's kNN graph.
        knn_features: ``raw`` (the authors': cosine of the features as given) or ``standardised`` columns.
        modality_weights: relative weight of each modality's kNN graph, normalised over the modalities the
            dataset has (a modality not named weighs 0); see :func:`default_modality_weights`.
        dropout: ``p``, the share of user-item edges pruned in each training epoch (degree-sensitive).
        reg_weight: weight of the modality BPR terms.
    """

    layers: int = 2
    item_layers: int = 1
    knn_k: int = 10
    knn_features: str = "raw"
    modality_weights: dict[str, float] = field(default_factory=default_modality_weights)
    dropout: float = 0.8
    reg_weight: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_dropout(self.dropout)
        if self.item_layers < 0 or self.knn_k < 1:
            raise ValueError(f"item_layers must be >= 0 and knn_k >= 1, got {self.item_layers}, {self.knn_k}")
        if self.knn_features not in KNN_FEATURES:
            raise ValueError(f"knn_features must be one of {KNN_FEATURES}, got {self.knn_features!r}")
        unknown = sorted(set(self.modality_weights) - set(MODALITIES))
        if unknown or any(not w >= 0 for w in self.modality_weights.values()):
            raise ValueError(f"modality_weights: keys from {MODALITIES}, weights >= 0; got {self.modality_weights}")
        if not self.reg_weight >= 0:
            raise ValueError(f"reg_weight must be >= 0, got {self.reg_weight}")


def knn_graph(features: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Each row's ``k`` nearest rows by cosine similarity (itself included), as a row-normalised graph.

    .. math::
        S_{ij} = \\frac{1}{k} \\; [j \\in \\mathrm{top}_k(\\cos(x_i, x_\\cdot))]

    Computed in row chunks of at most :data:`KNN_CHUNK_ENTRIES` similarities. Returns ``(index [2, n k],
    weight [n k])``, row 0 the video, row 1 its neighbour. Shapes: ``features [n, f]``, ``k`` capped at ``n``.
    """
    n = features.shape[0]
    k = min(k, n)
    x = F.normalize(features.float(), dim=1)
    step = max(1, KNN_CHUNK_ENTRIES // max(n, 1))
    cols = torch.cat([torch.topk(x[s : s + step] @ x.T, k, dim=1).indices for s in range(0, n, step)])
    rows = torch.arange(n).repeat_interleave(k)
    return torch.stack([rows, cols.reshape(-1)]), torch.full((n * k,), 1.0 / k)


def item_graph(features: dict[str, Tensor], weights: dict[str, float], k: int) -> Tensor:
    """The frozen item-item graph ``S = Σ_m w_m S_m`` (weights normalised to sum 1), only ``features`` enter it
    (FREEDOM's frozen graph). A coalesced sparse COO ``[n, n]``, row = video, columns = its neighbours (COO, not CSR:
    a module holding a CSR tensor cannot be deep-copied)."""
    w = {m: weights.get(m, 0.0) for m in features}
    total = sum(w.values())
    if total <= 0:
        raise ValueError(f"modality_weights give no weight to any of the dataset's modalities {tuple(features)}")
    n = next(iter(features.values())).shape[0]
    idx, val = [], []
    for m, x in features.items():
        if w[m] > 0:
            i, v = knn_graph(x, k)
            idx.append(i)
            val.append(v * (w[m] / total))
    return torch.sparse_coo_tensor(torch.cat(idx, 1), torch.cat(val), (n, n), check_invariants=True).coalesce()


def degree_weights(pairs: Tensor, num_users: int, num_videos: int) -> Tensor:
    """``1/sqrt(d_u d_v)`` of every (user, video) pair ``[2, E]``: FREEDOM's degree-sensitive keep probability."""
    du = torch.bincount(pairs[0], minlength=num_users).float()
    dv = torch.bincount(pairs[1], minlength=num_videos).float()
    return (du[pairs[0]] * dv[pairs[1]]).rsqrt()


def weighted_sample(weight: Tensor, size: int) -> Tensor:
    """``size`` distinct indices drawn without replacement with probability ∝ ``weight`` (global torch RNG).

    Efraimidis & Spirakis' keys ``log(U_i) / w_i``, largest ``size`` kept: the same distribution as successive
    weighted draws without replacement (``torch.multinomial(weight, size, replacement=False)``, the authors'
    call), without its limit of 2^24 categories. Shapes: ``weight [E]`` -> int64 ``[size]``.
    """
    keys = torch.rand(weight.shape, device=weight.device).log_() / weight
    return torch.topk(keys, size).indices


class FREEDOM(FullGraphRecommender):
    """FREEDOM over training interactions; rows are users ``0..U-1`` then videos."""

    edge_index: Tensor
    item_adj: Tensor
    pair_weight: Tensor
    cold_start = ("its id embedding is zero (never trained) and it has no interaction edge, so the frozen item-item "
                  "graph alone embeds it: the weighted mean of its nearest videos' id embeddings (by features)")

    def __init__(self, num_users: int, num_videos: int, item_adj: Tensor, modal_features: dict[str, Tensor],
                 train_user: np.ndarray, train_video: np.ndarray, config: FREEDOMConfig | None = None) -> None:
        super().__init__()
        cfg = config or FREEDOMConfig()
        if tuple(item_adj.shape) != (num_videos, num_videos):
            raise ValueError(f"item graph is {tuple(item_adj.shape)}, expected ({num_videos}, {num_videos})")
        self.cfg = cfg
        self.num_users, self.num_videos = num_users, num_videos
        self.emb = nn.Embedding(num_users + num_videos, cfg.dim)
        nn.init.normal_(self.emb.weight, 0.0, cfg.init_std)
        self.modalities = TrainableModalities(modal_features, cfg.dim, xavier=False)
        self.register_buffer("edge_index", bipartite_edge_index(train_user, train_video, num_users))
        self.register_buffer("item_adj", item_adj, persistent=False)  # derived from the features, frozen
        pairs = self.edge_index[:, : self.edge_index.shape[1] // 2] - torch.tensor([[0], [num_users]])
        self.register_buffer("pair_weight", degree_weights(pairs, num_users, num_videos), persistent=False)
        self.adjacency = CachedAdjacency("sym")
        self._train_adj: Tensor | None = None

    def start_epoch(self, epoch: int) -> None:
        """Degree-sensitive edge pruning (FREEDOM's denoising): draw this epoch's training graph (global torch RNG)."""
        n = self.pair_weight.shape[0]
        if self.cfg.dropout <= 0 or n == 0:
            self._train_adj = self.adjacency(self.edge_index, self.num_users + self.num_videos)
            return
        keep = weighted_sample(self.pair_weight, max(1, int(n * (1.0 - self.cfg.dropout))))
        kept = torch.cat([self.edge_index[:, keep], self.edge_index[:, keep + n]], dim=1)
        self._train_adj = sparse_adjacency(kept, self.num_users + self.num_videos, "sym")

    def user_item_adjacency(self) -> Tensor:
        """The epoch's pruned graph in training mode, the full training graph in eval mode."""
        if not self.training:
            return self.adjacency(self.edge_index, self.num_users + self.num_videos)
        if self._train_adj is None or self._train_adj.device != self.edge_index.device:
            raise RuntimeError("FREEDOM trains on a pruned graph drawn per epoch: call start_epoch(epoch) first "
                               "(the trainer does)")
        return self._train_adj

    def propagate(self) -> Tensor:
        """``[E_u ; E_v]``: LightGCN mean on the user-item graph plus the item-graph convolution for videos."""
        e = self.emb.weight
        h = e[self.num_users :]
        for _ in range(self.cfg.item_layers):
            h = torch.sparse.mm(self.item_adj, h)
        out = layer_mean(self.user_item_adjacency(), e, self.cfg.layers)
        return out + torch.cat([h.new_zeros(self.num_users, h.shape[1]), h])

    def aux_loss(self, users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
        """``reg_weight · Σ_m BPR(E_u, f_m(x_v^m), f_m(x_{v'}^m))`` over the batch's triples."""
        eu = self.propagate()[users]
        loss = eu.new_zeros(())
        for m in self.modalities.modalities:
            pos, neg = self.modalities(m, positives), self.modalities(m, negatives)
            loss = loss - F.logsigmoid((eu * pos).sum(-1) - (eu * neg).sum(-1)).mean()
        return self.cfg.reg_weight * loss

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """The videos' id embeddings ``e_v`` (rows ``U + v`` of the shared table)."""
        yield self.emb.weight, self.num_users

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """Layer-0 ID embeddings of the batch."""
        yield self.emb(users)
        yield self.emb(videos + self.num_users)


def build(ctx: BuildContext) -> FREEDOM:
    """Registry entry (:mod:`hhfan.model.registry`): training interactions only; the item graph from features."""
    ds, cfg = ctx.dataset, ctx.config
    if not ds.modalities:
        raise ValueError("FREEDOM needs at least one modality in dataset.features")
    std = {m: torch.from_numpy(standardise(ds.features[m])) for m in ds.modalities}
    knn_in = std if cfg.knn_features == "standardised" else {
        m: torch.from_numpy(np.array(ds.features[m], dtype=np.float32)) for m in ds.modalities}
    adj = item_graph(knn_in, cfg.modality_weights, cfg.knn_k)
    return FREEDOM(ds.num_users, ds.num_videos, adj, std, ctx.train_user, ctx.train_video, cfg)
