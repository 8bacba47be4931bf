"""Full-graph propagation blocks shared by LightGCN, GraphSAGE, MMGCN and the HHFAN variants' input smoothing.

PyG convolutions applied to a normalised sparse CSR adjacency built once per model and device, instead of
to an ``edge_index``: one sparse-dense product per layer, the same result as PyG's gather/scatter path and
about ten times faster on CPU (``benchmarks/train.py``).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import degree, to_torch_csr_tensor


def bipartite_edge_index(user: np.ndarray | Tensor, video: np.ndarray | Tensor, num_users: int) -> Tensor:
    """Interactions as an int64 ``[2, 2n]`` edge_index over ids ``users 0..U-1, videos U..``, both directions."""
    u = torch.as_tensor(user, dtype=torch.int64)
    v = torch.as_tensor(video, dtype=torch.int64) + num_users
    return torch.stack([torch.cat([u, v]), torch.cat([v, u])])


def sparse_adjacency(edge_index: Tensor, num_nodes: int, norm: str) -> Tensor:
    """``edge_index [2, E]`` (source, target) -> PyG's ``adj_t`` as a torch sparse CSR ``[N, N]`` (row = target).

    ``norm="sym"``: ``D^-1/2 A D^-1/2`` (LightGCN / ``gcn_norm`` without self loops); ``norm="mean"``: row
    ``i`` averages its in-neighbours (a repeated edge counts as often as it appears). Message passing
    with a sum aggregation over this matrix is one sparse-dense product, about ten times faster on CPU
    than PyG's gather/scatter path over ``edge_index`` (``benchmarks/train.py``), with the same result.
    """
    if norm == "sym":
        edge_index, weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=False)
    elif norm == "mean":
        weight = 1.0 / degree(edge_index[1], num_nodes).clamp(min=1.0)[edge_index[1]]
    else:
        raise ValueError(f"norm must be 'sym' or 'mean', got {norm!r}")
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is stable
        warnings.simplefilter("ignore", UserWarning)
        return to_torch_csr_tensor(edge_index.flip(0), weight, size=(num_nodes, num_nodes))


class CachedAdjacency(nn.Module):
    """:func:`sparse_adjacency` of a model's ``edge_index`` buffer, built once per device and content.

    Holds no parameters or buffers (checkpoints keep only ``edge_index``); the cache is rebuilt when the
    edge tensor moves device or is written in place (``load_state_dict``).
    """

    def __init__(self, norm: str) -> None:
        super().__init__()
        self.norm = norm
        self._key: tuple[int, str, int, int] | None = None
        self._adj: Tensor | None = None

    def forward(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        """The normalised sparse ``adj_t`` ``[num_nodes, num_nodes]`` for ``edge_index``."""
        key = (edge_index.data_ptr(), str(edge_index.device), edge_index._version, num_nodes)
        if self._adj is None or key != self._key:
            self._adj, self._key = sparse_adjacency(edge_index, num_nodes, self.norm), key
        return self._adj


class LayerMeanPropagation(nn.Module):
    """LightGCN's propagation: ``mean_{l=0..L} (D^-1/2 A D^-1/2)^l x`` with PyG's ``LGConv`` (no parameters).

    Serves LightGCN itself and the input smoothing of the ``hhfan-hybrid`` variant (``HybridConfig.propagation``). The
    normalised adjacency is a cached sparse matrix (:class:`CachedAdjacency`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = LGConv(normalize=False)
        self.adjacency = CachedAdjacency("sym")

    def forward(self, x: Tensor, edge_index: Tensor, layers: int) -> Tensor:
        """``x [N, d]`` -> mean of the ``layers + 1`` layer outputs ``[N, d]``."""
        adj = self.adjacency(edge_index, x.shape[0])
        out = x
        for _ in range(layers):
            x = self.conv(x, adj)
            out = out + x
        return out / (layers + 1)
