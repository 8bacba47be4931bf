"""HHFAN layers and model: shapes, masks, gradient flow, and that each ablation flag changes the computation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.artifacts import GraphBuildConfig, build_artifacts
from hhfan.graph.mhig import GraphConfig
from hhfan.graph.sampler import SamplerConfig
from hhfan.model.contrast import info_nce
from hhfan.model.hhfan import HHFAN, ColdConfig, Extensions, HHFANConfig, HybridConfig
from hhfan.model.hhfan_cl import ContrastConfig, ContrastHHFAN
from hhfan.model.inputs import ModelInputs
from hhfan.model.layers import AttributeSelfAttention, FeatureTransformer, IntraTypeAggregator, NeighborAttention


@pytest.fixture(scope="module")
def inputs() -> ModelInputs:
    ds = generate(SynthConfig(num_users=60, num_videos=120, mean_interactions=10, seed=2))
    art = build_artifacts(ds, GraphBuildConfig(graph=GraphConfig(codewords=8), sampler=SamplerConfig(num_collect=60)))
    return ModelInputs.from_artifacts(art, ds)


def test_feature_transformer_eq1() -> None:
    x = torch.randn(5, 3)
    both = FeatureTransformer(5, 4, x, learn_ids=True)
    assert both(torch.tensor([[0, 4]])).shape == (1, 2, 4)
    only_ids = FeatureTransformer(5, 4)
    assert only_ids(torch.tensor([1, 2])).shape == (2, 4)
    with pytest.raises(ValueError, match="needs features"):
        FeatureTransformer(5, 4, None, learn_ids=False)


@pytest.mark.parametrize("agg", ["lstm", "mean"])
def test_intra_type_aggregator_respects_masks(agg: str) -> None:
    torch.manual_seed(0)
    layer = IntraTypeAggregator(4, agg)
    x = torch.randn(3, 5, 4)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False], [False] * 5])
    out, present = layer(x, mask)
    assert out.shape == (3, 4) and present.tolist() == [True, True, False]
    assert torch.all(out[2] == 0)
    x2 = x.clone()
    x2[1, 2:] = 100.0  # padding slots must not change a node's aggregate
    assert torch.allclose(layer(x2, mask)[0][1], out[1])
    if agg == "mean":
        assert torch.allclose(out[1], x[1, :2].mean(0))


def test_attribute_attention_eq4_5_and_uniform_ablation() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    present = torch.tensor([[True, True, False], [True, True, True]])
    on, off = AttributeSelfAttention(4, True), AttributeSelfAttention(4, False)
    e_on, w_on = on(x, present)
    e_off, _ = off(x, present)
    assert e_on.shape == (2, 4) and w_on.shape == (2, 3, 3)
    assert torch.allclose(w_on[0, :, 2], torch.zeros(3))  # absent group gets no attention
    assert torch.allclose(e_off[0], x[0, :2].sum(0))
    # Eq. (4) by hand for node 1
    q, k, v = on.q(x[1]), on.k(x[1]), on.v(x[1])
    manual = (torch.softmax(q @ k.T / 2.0, -1) @ v + x[1]).sum(0)
    assert torch.allclose(e_on[1], manual, atol=1e-6)


def test_neighbor_attention_eq6_7_and_uniform_ablation() -> None:
    torch.manual_seed(0)
    self_emb, cands = torch.randn(2, 4), torch.randn(2, 3, 4)
    present = torch.tensor([[True, False, True], [True, True, True]])
    e, a = NeighborAttention(4, True)(self_emb, cands, present)
    assert torch.allclose(a.sum(-1), torch.ones(2)) and a[0, 1] == 0
    e_u, a_u = NeighborAttention(4, False)(self_emb, cands, present)
    assert torch.allclose(a_u[1], torch.full((3,), 1 / 3)) and torch.allclose(e_u[0], cands[0, [0, 2]].mean(0))
    assert e.shape == (2, 4)


def test_model_shapes_and_gradient_flow(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = HHFAN(inputs, HHFANConfig(dim=16))
    eu, ev = m.embed(torch.arange(7), torch.arange(11))
    assert eu.shape == (7, 16) and ev.shape == (11, 16)
    (m.score(eu, ev[:7]).sum()).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    out = m.nodes_forward(torch.tensor([0, m.num_users]))
    assert out.alpha.shape == (2, len(m.candidate_names()))
    assert torch.allclose(out.alpha.sum(-1), torch.ones(2))
    U, V = m.all_embeddings(batch_size=13)
    assert U.shape == (m.num_users, 16) and V.shape == (m.num_videos, 16)


PLAIN_HYBRID = {"propagation": 0, "neighbor_dropout": 0.0}  # the variant with only its self candidate


@pytest.mark.parametrize(("cls", "flag"), [(HHFANConfig, {"aggregator": "mean"}),
                                           (HHFANConfig, {"attribute_attention": False}),
                                           (HHFANConfig, {"neighbor_attention": False}),
                                           (HybridConfig, {"include_self": False, **PLAIN_HYBRID})])
def test_each_ablation_flag_changes_the_computation(inputs: ModelInputs, cls: type[HHFANConfig],
                                                    flag: dict[str, object]) -> None:
    torch.manual_seed(1)
    base = HHFAN(inputs, cls(dim=16, **({**PLAIN_HYBRID, "include_self": True} if cls is HybridConfig else {})))
    torch.manual_seed(1)
    variant = HHFAN(inputs, cls(dim=16, **flag))  # type: ignore[arg-type]
    variant.load_state_dict(base.state_dict(), strict=False)
    nodes = torch.arange(20)
    assert not torch.allclose(base.nodes_forward(nodes).emb, variant.nodes_forward(nodes).emb)


def test_init_is_normal_0_01(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = HHFAN(inputs, HHFANConfig(dim=32, init_std=0.1))
    w = m.transform["user"].emb.weight.detach()
    assert abs(float(w.std()) - 0.1) < 0.02 and abs(float(w.mean())) < 0.02


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="aggregator"):
        HHFANConfig(aggregator="gru")
    with pytest.raises(ValueError, match="video_input"):
        HHFANConfig(video_input="pixels")


def test_xavier_init_option(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = HHFAN(inputs, HHFANConfig(dim=32, init="xavier"))
    w = m.aggregate["user"].lstm.weight_ih_l0.detach()  # type: ignore[union-attr]
    bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
    assert float(w.abs().max()) <= bound + 1e-6
    assert abs(float(m.transform["user"].emb.weight.detach().std()) - 0.1) < 0.02  # embeddings stay N(0, 0.1)
    with pytest.raises(ValueError, match="init"):
        HHFANConfig(init="he")


def test_initialisation_does_not_depend_on_string_hashing() -> None:
    """Same seed, different PYTHONHASHSEED -> identical weights (module order must not come from a set)."""
    import os
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from hhfan.data.synth import SynthConfig, generate\n"
        "from hhfan.graph.artifacts import GraphBuildConfig, build_artifacts\n"
        "from hhfan.graph.mhig import GraphConfig\n"
        "from hhfan.graph.sampler import SamplerConfig\n"
        "from hhfan.model.hhfan import HHFAN, HHFANConfig\n"
        "from hhfan.model.inputs import ModelInputs\n"
        "ds = generate(SynthConfig(num_users=30, num_videos=60, mean_interactions=6))\n"
        "art = build_artifacts(ds, GraphBuildConfig(graph=GraphConfig(codewords=4), "
        "sampler=SamplerConfig(num_collect=30)))\n"
        "torch.manual_seed(0)\n"
        "m = HHFAN(ModelInputs.from_artifacts(art, ds), HHFANConfig(dim=8))\n"
        "print(sum(float(p.double().sum() * (i + 1)) for i, p in enumerate(m.parameters())))\n"
    )
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "2")}
    assert len(outs) == 1, outs


def test_propagation_smooths_inputs_over_training_interactions(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = HHFAN(inputs, HybridConfig(dim=16, propagation=2, neighbor_dropout=0.0))
    assert inputs.interactions is not None
    u, v = inputs.interactions
    # the propagation graph is exactly the M-HIG's (training-only) user-video edges, both directions
    assert m.edge_index.shape[1] == 2 * u.shape[0]
    assert torch.equal(m.edge_index[0, : u.shape[0]], u) and torch.equal(m.edge_index[1, : u.shape[0]], v + m.num_users)
    table = m.propagated_inputs()
    x0 = torch.cat([m.transform["user"](torch.arange(m.num_users)), m.transform["video"](torch.arange(m.num_videos))])
    n = m.num_users + m.num_videos
    a = torch.zeros(n, n)
    a[m.edge_index[0], m.edge_index[1]] = 1.0
    deg = a.sum(1).clamp(min=1).rsqrt()
    norm = deg[:, None] * a * deg[None, :]
    expected = (x0 + norm @ x0 + norm @ norm @ x0) / 3  # LightGCN's layer mean, by hand
    assert torch.allclose(table, expected, atol=1e-5)
    eu, ev = m.embed(torch.arange(5), torch.arange(5))
    m.score(eu, ev).sum().backward()
    assert m.transform["user"].emb is not None and m.transform["user"].emb.weight.grad is not None
    torch.manual_seed(0)
    plain = HHFAN(inputs, HybridConfig(dim=16, **PLAIN_HYBRID))
    plain.load_state_dict(m.state_dict(), strict=False)
    assert not torch.allclose(plain.nodes_forward(torch.arange(9)).emb, m.nodes_forward(torch.arange(9)).emb)


def test_neighbor_dropout_only_in_training_and_keeps_order(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = HHFAN(inputs, HybridConfig(dim=8, propagation=0, neighbor_dropout=0.5))
    nodes = torch.arange(30)
    full_ids, full_mask = m.nbr_video[nodes], m.mask_video[nodes]
    m.eval()
    ids, mask = m._table("video", nodes)
    assert torch.equal(ids, full_ids) and torch.equal(mask, full_mask)
    m.train()
    ids, mask = m._table("video", nodes)
    assert int(mask.sum()) < int(full_mask.sum())
    for r in range(30):
        kept = ids[r][mask[r]].tolist()
        assert mask[r].tolist() == sorted(mask[r].tolist(), reverse=True)  # kept slots are a prefix
        original = full_ids[r][full_mask[r]].tolist()
        assert kept == [x for x in original if x in kept]  # a subsequence, RWSS order preserved
    with pytest.raises(ValueError, match="neighbor_dropout"):
        HybridConfig(neighbor_dropout=1.0)


def test_cold_dropout_presents_drawn_videos_as_videos_without_interactions(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = HHFAN(inputs, ColdConfig(dim=8, propagation=0, neighbor_dropout=0.0, cold_dropout=0.5))
    u = inputs.counts["user"]
    with torch.no_grad():  # b(v) starts at 0; give it values so the checks see it
        m.bias_content.weight.normal_()
        m.bias_id.weight.normal_()
    nodes = torch.cat([torch.arange(10), u + torch.arange(40)])  # 10 users, 40 videos
    m.eval()
    warm = m.nodes_forward(nodes).emb
    m.train()
    torch.manual_seed(7)
    got = m.nodes_forward(nodes).emb
    torch.manual_seed(7)  # the same draw: the only random numbers of a forward without neighbour dropout
    drawn = (nodes >= u) & (torch.rand(nodes.shape) < 0.5)
    assert 5 < int(drawn.sum()) < 35
    m.eval()  # the drawn videos as uploads (the serving path): content alone, their RWSS rows without user slots
    d = nodes[drawn]
    rows = {t: getattr(m, f"nbr_{t}")[d] for t in m.group_types}
    masks = {t: getattr(m, f"mask_{t}")[d] & (t != "user") for t in m.group_types}
    cold = m.inductive_forward(m.transform["video"].x[d - u], rows, masks).emb  # type: ignore[index]
    assert torch.allclose(got[drawn], cold, atol=1e-6)
    assert torch.allclose(got[~drawn], warm[~drawn], atol=1e-6)  # users and undrawn videos as at evaluation
    assert not torch.allclose(got[drawn], warm[drawn], atol=1e-4)
    assert torch.equal(m.eval().nodes_forward(nodes).emb, warm)  # never at evaluation
    prop = HHFAN(inputs, ColdConfig(dim=8, propagation=2))
    v = torch.arange(5)
    x = prop.transform["video"].x[v]  # type: ignore[index]
    assert torch.allclose(prop._content_inputs(x, 5), prop.transform["video"].content_only(x, 5) / 3)
    with pytest.raises(ValueError, match="cold_dropout"):
        ColdConfig(cold_dropout=1.0)
    assert ColdConfig().extensions().cold_dropout == 0.5 and HybridConfig().extensions().cold_dropout == 0.0


def test_video_bias_is_one_more_column_of_content_and_id_terms(inputs: ModelInputs) -> None:
    from hhfan.model.base import hold_out_video_ids

    torch.manual_seed(0)
    m = HHFAN(inputs, ColdConfig(dim=8, cold_dropout=0.0)).eval()  # no neighbour dropout
    eu, ev = m.all_embeddings()
    assert eu.shape[1] == ev.shape[1] == 9 and torch.equal(eu[:, 8], torch.ones(eu.shape[0]))
    assert torch.equal(ev[:, 8], torch.zeros(ev.shape[0]))  # starts at 0: the hybrid's scores
    plain = HHFAN(inputs, HybridConfig(dim=8)).eval()
    plain.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("bias_")})
    assert torch.allclose(plain.all_embeddings()[1], ev[:, :8])
    with torch.no_grad():
        m.bias_content.weight.normal_()
        m.bias_id.weight.normal_()
    eu, ev = m.all_embeddings()
    x = m.transform["video"].x  # type: ignore[union-attr]
    want = (x @ m.bias_content.weight.T + m.bias_content.bias + m.bias_id.weight)[:, 0]
    assert torch.allclose(ev[:, 8], want, atol=1e-5)
    scores = m.score_matrix(eu, ev)
    assert torch.allclose(scores, eu[:, :8] @ ev[:, :8].T + want, atol=1e-4)  # Eq. (8) plus b(v)
    held = np.array([3, 7])
    hold_out_video_ids(m, held)  # a held-out video's id term is zero and stays zero
    assert torch.equal(m.bias_id.weight[torch.from_numpy(held)], torch.zeros(2, 1))
    with pytest.raises(ValueError, match="video_bias needs video content"):
        HHFAN(inputs, ColdConfig(dim=8, video_input="id"))


def test_the_papers_model_has_three_candidates_and_none_of_the_variants_additions(inputs: ModelInputs) -> None:
    m = HHFAN(inputs, HHFANConfig(dim=8))
    assert m.candidate_names() == ["users", "attributes", "videos"]  # Eq. (6) sums over three groups
    assert not hasattr(m, "edge_index") and m.ext == Extensions()
    for key in ("include_self", "propagation", "neighbor_dropout"):
        with pytest.raises(TypeError):
            HHFANConfig(**{key: 1})  # type: ignore[arg-type]
    hybrid = HHFAN(inputs, HybridConfig(dim=8))
    assert hybrid.candidate_names()[-1] == "self" and hybrid.ext == Extensions(True, 3, 0.5)


def test_print_shows_which_model_and_ablation_flags(inputs: ModelInputs) -> None:
    text = repr(HHFAN(inputs, HHFANConfig(dim=8, aggregator="mean", neighbor_attention=False)))
    assert "aggregator=mean" in text and "neighbor_attention=False" in text and "include_self=False" in text
    assert "IntraTypeAggregator(aggregator=mean)" in text and "enabled=False, negative_slope=0.2" in text


@pytest.mark.parametrize("scheme", ["normal", "xavier"])
def test_layer_reset_parameters_equal_the_former_name_based_initialisation(inputs: ModelInputs, scheme: str) -> None:
    """Each layer's reset_parameters() draws exactly what the old rule (by parameter name) drew, in order."""
    torch.manual_seed(3)
    m = HHFAN(inputs, HHFANConfig(dim=8, init=scheme))
    torch.manual_seed(4)
    m.reset_parameters()
    new = [p.detach().clone() for p in m.parameters()]
    torch.manual_seed(4)
    for name, p in m.named_parameters():  # the rule HHFAN.reset_parameters used before each layer owned one
        if name.endswith("bias") or ".bias_" in name:
            torch.nn.init.zeros_(p)
        elif scheme == "xavier" and ".emb." not in name and p.dim() == 2:
            torch.nn.init.xavier_uniform_(p)
        else:
            torch.nn.init.normal_(p, 0.0, 0.1)
    assert all(torch.equal(a, b) for a, b in zip(new, m.parameters(), strict=True))


def test_hhfan_refuses_empty_neighbour_tables(inputs: ModelInputs) -> None:
    empty = replace(inputs, neighbor_mask={t: torch.zeros_like(v) for t, v in inputs.neighbor_mask.items()})
    with pytest.raises(ValueError, match="neighbour table is empty"):
        HHFAN(empty, HHFANConfig(dim=8))


def test_contrast_variant_is_a_residual_of_two_views_contrasted(inputs: ModelInputs) -> None:
    """hhfan-cl: E = f(v) propagated (collaborative view) + Eq. (6) (heterogeneous view), InfoNCE between them."""
    cfg = ContrastConfig(dim=8)
    assert cfg.aggregator == "mean" and cfg.extensions() == Extensions(False, 3, 0.0, True, 0.1, 0.2)
    torch.manual_seed(0)
    m = ContrastHHFAN(inputs, cfg)
    assert m.candidate_names() == ["users", "attributes", "videos"]  # no self candidate: the residual adds it
    assert "residual=True, cl_weight=0.1" in repr(m)
    m.eval()
    nodes = torch.tensor([0, 3, 7, m.num_users + 2, m.num_users + 5])
    out = m.nodes_forward(nodes)
    assert out.own is not None and out.neighborhood is not None
    assert torch.allclose(out.own, m.propagated_inputs()[nodes])  # LightGCN's layer mean of f(v)
    assert float(m.gate.detach()) == 0.0 and torch.equal(out.emb, out.own)  # ReZero: starts as the collaborative view
    with torch.no_grad():
        m.gate.fill_(0.5)
    out = m.nodes_forward(nodes)
    assert out.neighborhood is not None and torch.allclose(out.emb, out.own + 0.5 * out.neighborhood)
    assert m.transform["video"].proj is None  # video_input="id": content only through the neighbourhood
    users, pos, neg = torch.tensor([3, 0, 3]), torch.tensor([5, 2, 2]), torch.tensor([1, 5, 4])
    uu, vv = torch.unique(users), torch.unique(torch.cat([pos, neg]))
    full = m.nodes_forward(torch.cat([uu, vv + m.num_users]))
    assert full.own is not None and full.neighborhood is not None
    prow = uu.shape[0] + torch.tensor([list(vv.tolist()).index(v) for v in sorted(set(pos.tolist()))])
    want = 0.1 * (info_nce(full.own[:2], full.neighborhood[:2], 0.2)
                  + info_nce(full.own[prow], full.neighborhood[prow], 0.2))
    got = m.aux_loss(users, pos, neg)
    assert got is not None and torch.allclose(got, want)
    m.train()  # the training pass keeps its views for aux_loss: same value as recomputing them
    m.embed(uu, vv)
    reused = m.aux_loss(users, pos, neg)
    assert reused is not None and torch.allclose(reused, want) and reused.requires_grad
    reused.backward()
    assert m.transform["user"].emb is not None and m.transform["user"].emb.weight.grad is not None
    assert ContrastHHFAN(inputs, ContrastConfig(dim=8, cl_weight=0.0)).aux_loss(users, pos, neg) is None
    l2 = list(m.l2_terms(torch.tensor([1, 2]), torch.tensor([4])))  # LightGCN's λ: the batch's id rows only
    assert [t.shape for t in l2] == [(2, 8), (1, 8)]
    assert HHFAN(inputs, HHFANConfig(dim=8)).aux_loss(users, pos, neg) is None  # the paper's model: BPR only
    for bad in ({"propagation": 0}, {"cl_weight": -1.0}, {"cl_temperature": 0.0}, {"neighbor_dropout": 1.0}):
        with pytest.raises(ValueError):
            ContrastConfig(**bad)  # type: ignore[arg-type]


def test_exclude_targets_hides_the_batch_edges_from_their_endpoints_only_in_training(inputs: ModelInputs) -> None:
    m = ContrastHHFAN(inputs, ContrastConfig(dim=8, exclude_targets=True))
    u_nodes = torch.arange(m.num_users)
    filled = m.mask_video[u_nodes].any(dim=1).nonzero().flatten()
    u = int(filled[0])
    v = int(m.nbr_video[u][m.mask_video[u]][0])  # a video in u's own neighbour table
    video_node = torch.tensor([m.num_users + v])
    m.train()
    m.start_batch(torch.tensor([u]), torch.tensor([v]), torch.tensor([0]))
    ids, mask = m._table("video", torch.tensor([u]))
    assert not bool((mask & (ids == v)).any()) and int(mask.sum()) == int(m.mask_video[u].sum()) - int(
        (m.mask_video[u] & (m.nbr_video[u] == v)).sum())
    ids, mask = m._table("user", video_node)  # the video's user slots lose u
    assert not bool((mask & (ids == u)).any())
    other = int(filled[1])  # another user keeps its slots
    assert torch.equal(m._table("video", torch.tensor([other]))[1], m.mask_video[other:other + 1])
    m.eval()
    assert torch.equal(m._table("video", torch.tensor([u]))[1], m.mask_video[u:u + 1])  # never at evaluation
    plain = ContrastHHFAN(inputs, ContrastConfig(dim=8))
    plain.train()
    plain.start_batch(torch.tensor([u]), torch.tensor([v]), torch.tensor([0]))
    assert torch.equal(plain._table("video", torch.tensor([u]))[1], plain.mask_video[u:u + 1])  # off by default


def test_collab_bpr_scores_the_collaborative_view_alone(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = ContrastHHFAN(inputs, ContrastConfig(dim=8, cl_weight=0.0, collab_bpr=0.5))
    m.eval()
    users, pos, neg = torch.tensor([3, 0, 3]), torch.tensor([5, 2, 2]), torch.tensor([1, 5, 4])
    c = m.propagated_inputs()
    cu, cp, cn = c[users], c[pos + m.num_users], c[neg + m.num_users]
    want = -0.5 * torch.nn.functional.logsigmoid((cu * cp).sum(-1) - (cu * cn).sum(-1)).mean()
    got = m.aux_loss(users, pos, neg)
    assert got is not None and torch.allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="collab_bpr"):
        ContrastConfig(collab_bpr=-1.0)


def test_distill_trains_the_heterogeneous_view_by_the_contrast_alone(inputs: ModelInputs) -> None:
    torch.manual_seed(0)
    m = ContrastHHFAN(inputs, ContrastConfig(dim=8, distill=True))
    with torch.no_grad():
        m.gate.fill_(0.5)
    m.train()
    users, pos, neg = torch.tensor([3, 0, 3]), torch.tensor([5, 2, 2]), torch.tensor([1, 5, 4])
    uu, vv = torch.unique(users), torch.unique(torch.cat([pos, neg]))
    eu, ev = m.embed(uu, vv)
    (eu.sum() + ev.sum()).backward(retain_graph=True)  # anything computed from the scores
    emb = m.transform["user"].emb
    assert emb is not None
    ids = emb.weight
    assert ids.grad is not None and float(ids.grad.abs().sum()) > 0
    assert m.gate.grad is not None
    assert all(p.grad is None for p in m.neighbor_attention.parameters())  # no score gradient reaches h
    m.zero_grad(set_to_none=True)
    aux = m.aux_loss(users, pos, neg)
    assert aux is not None
    aux.backward()
    assert ids.grad is None or float(ids.grad.abs().sum()) == 0.0  # the contrast leaves the collaborative view
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in m.neighbor_attention.parameters())
