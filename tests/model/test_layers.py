"""Sparse adjacency path of the propagation layers: same result as PyG's edge_index path, cached safely."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import LGConv, SAGEConv, SimpleConv

from hhfan.model.propagation import CachedAdjacency, LayerMeanPropagation, bipartite_edge_index, sparse_adjacency


def _graph(seed: int = 0) -> tuple[torch.Tensor, int]:
    g = torch.Generator().manual_seed(seed)
    users, videos = 7, 5
    u = torch.randint(0, users, (30,), generator=g)
    v = torch.randint(0, videos, (30,), generator=g)  # repeats included: they must count twice
    return bipartite_edge_index(u, v, users), users + videos


def test_sym_adjacency_matches_lgconv_over_edge_index() -> None:
    ei, n = _graph()
    x = torch.randn(n, 4, dtype=torch.float64)
    dense = sparse_adjacency(ei, n, "sym").to_dense()
    assert torch.allclose(dense, dense.T)
    assert torch.allclose(dense @ x.float(), LGConv()(x.float(), ei), atol=1e-6)


def test_mean_adjacency_is_the_neighbour_mean_and_serves_sage_and_simple_conv() -> None:
    ei, n = _graph(1)
    x = torch.randn(n, 4)
    adj = sparse_adjacency(ei, n, "mean")
    # by hand: row i = average over the edges j -> i, duplicates counted
    want = torch.zeros(n, 4)
    cnt = torch.zeros(n)
    for s, t in ei.T.tolist():
        want[t] += x[s]
        cnt[t] += 1
    want /= cnt.clamp(min=1).unsqueeze(1)
    assert torch.allclose(adj @ x, want, atol=1e-6)
    assert torch.allclose(SimpleConv(aggr="sum")(x, adj), SimpleConv(aggr="mean")(x, ei), atol=1e-6)
    torch.manual_seed(0)
    mean_conv = SAGEConv(4, 3, aggr="mean")
    sum_conv = SAGEConv(4, 3, aggr="sum")
    sum_conv.load_state_dict(mean_conv.state_dict())
    assert torch.allclose(sum_conv(x, adj), mean_conv(x, ei), atol=1e-6)


def test_bad_norm_is_refused() -> None:
    ei, n = _graph()
    with pytest.raises(ValueError, match="norm"):
        sparse_adjacency(ei, n, "left")


def test_cache_is_rebuilt_when_edges_are_written_in_place() -> None:
    ei, n = _graph()
    cache = CachedAdjacency("sym")
    first = cache(ei, n)
    assert cache(ei, n) is first
    other, _ = _graph(5)
    ei.copy_(other)  # what load_state_dict does to a buffer
    rebuilt = cache(ei, n)
    assert rebuilt is not first
    assert torch.allclose(rebuilt.to_dense(), sparse_adjacency(other, n, "sym").to_dense())


def test_layer_mean_propagation_gradients_match_edge_index_path() -> None:
    ei, n = _graph(2)
    x = torch.randn(n, 4, requires_grad=True)
    out = LayerMeanPropagation()(x, ei, 3)
    out.square().sum().backward()
    assert x.grad is not None
    got = x.grad.clone()
    x.grad = None
    conv, h, ref = LGConv(), x, x
    for _ in range(3):
        h = conv(h, ei)
        ref = ref + h
    ref = ref / 4
    assert torch.allclose(out, ref, atol=1e-6)
    ref.square().sum().backward()
    assert torch.allclose(got, x.grad, atol=1e-5)
