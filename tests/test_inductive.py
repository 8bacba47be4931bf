"""Inductive embedding of videos without interactions (hhfan.inductive): the held-out video and its re-upload agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hhfan.data.dataset import Dataset
from hhfan.data.split import TEST, TRAIN, Split, SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from hhfan.graph.artifacts import GraphArtifacts, GraphBuildConfig
from hhfan.graph.attach import Attacher
from hhfan.graph.mhig import NODE_TYPES, GraphConfig, build_graph
from hhfan.graph.sampler import SamplerConfig, sample_neighbors
from hhfan.inductive import ColdStartUnsupported, NewVideo, _inputs, embed_new_videos
from hhfan.model.base import hold_out_video_ids
from hhfan.model.hhfan import HHFAN, ColdConfig, HHFANConfig, HybridConfig
from hhfan.model.hhfan_cl import ContrastConfig
from hhfan.model.inputs import ModelInputs
from hhfan.model.registry import BuildContext, build
from hhfan.runner import Run, RunConfig

GRAPH = GraphConfig(codewords=8, derived_tags=8)
SAMPLER = SamplerConfig(num_collect=60, seed=2)
HELD = np.array([3, 11, 40])  # videos whose every interaction is held out of training


@pytest.fixture(scope="module")
def world() -> tuple[Dataset, GraphArtifacts]:
    ds = generate(SynthConfig(num_users=40, num_videos=80, mean_interactions=8, seed=6))
    base = make_split(ds, SplitConfig(seed=0))
    part = base.part.copy()
    part[np.isin(ds.interactions.video, HELD)] = TEST
    split = Split(part, base.config, base.fingerprint)
    g = build_graph(ds, split, GRAPH)
    starts = np.arange(g.offset("video") + g.count("video"))
    nb = sample_neighbors(g.indptr, g.indices, g.node_type, g.type_offsets, NODE_TYPES, starts, SAMPLER)
    return ds, GraphArtifacts(split, g, nb, GraphBuildConfig(split.config, GRAPH, SAMPLER), {})


def _model(world: tuple[Dataset, GraphArtifacts], cfg: HHFANConfig) -> HHFAN:
    ds, art = world
    torch.manual_seed(0)
    model = HHFAN(ModelInputs.from_artifacts(art, ds), cfg)
    if cfg.extensions().video_bias:  # b(v) starts at 0: give its content and id terms values to check
        with torch.no_grad():
            model.bias_content.weight.normal_()
            model.bias_id.weight.normal_()
    hold_out_video_ids(model, HELD)
    return model.eval()


def _upload(ds: Dataset, v: int, video_id: str = "new") -> NewVideo:
    tags = tuple(str(ds.tag_names[t]) for t in ds.video_tags[ds.video_tags[:, 0] == v, 1])
    return NewVideo(video_id, {m: ds.features[m][v].copy() for m in ds.modalities}, tags, text="a title")


def test_held_out_videos_have_no_interaction_edge(world: tuple[Dataset, GraphArtifacts]) -> None:
    ds, art = world
    g = art.graph
    for v in HELD:
        node = g.offset("video") + v
        nb = g.indices[g.indptr[node]:g.indptr[node + 1]]
        assert nb.size and not (g.node_type[nb] == NODE_TYPES.index("user")).any()
    assert not art.split.mask(TRAIN)[np.isin(ds.interactions.video, HELD)].any()


@pytest.mark.parametrize("cfg", [HHFANConfig(dim=16), HybridConfig(dim=16, neighbor_dropout=0.0),
                                 ColdConfig(dim=16, neighbor_dropout=0.0), ContrastConfig(dim=16)],
                         ids=["hhfan", "hhfan-hybrid", "hhfan-cold", "hhfan-cl"])
def test_reuploaded_held_out_video_gets_its_held_out_embedding(world: tuple[Dataset, GraphArtifacts],
                                                               cfg: HHFANConfig) -> None:
    ds, art = world
    g = art.graph
    model = _model(world, cfg)
    for v in HELD.tolist():
        with torch.no_grad():  # one node, no autograd: the same kernels as the inductive call (oneDNN LSTM)
            held = model.nodes_forward(torch.tensor([ds.num_users + v])).emb[0]
        node = g.offset("video") + v
        keep = np.ones(g.num_nodes)
        keep[node] = 0
        adj = sp.csr_matrix((np.ones(g.indices.shape[0]), g.indices, g.indptr), shape=(g.num_nodes,) * 2)
        cut = (sp.diags(keep) @ adj @ sp.diags(keep)).tocsr()
        cut.sort_indices()
        g_cut = replace(g, indptr=cut.indptr.astype(np.int64), indices=cut.indices.astype(np.int32))
        att = Attacher(ds, g_cut, GRAPH)  # the graph the held-out video would join, keyed by its own id
        up = _upload(ds, v)
        links = att.links([up.features], [up.tags])
        tables = att.sample(links, SAMPLER, key=node)
        std = att.standardised([up.features])
        content = torch.from_numpy(np.concatenate([std[m] for m in att.modalities], axis=1))
        out = model.inductive_forward(content, {t: torch.from_numpy(a.astype(np.int64)) for t, a in tables.ids.items()},
                                      {t: torch.from_numpy(m) for t, m in tables.mask.items()}).emb
        if cfg.extensions().propagation:  # the dataset's inputs are projected in one [V, F] product: rounding only
            assert torch.allclose(out[0], held, rtol=0, atol=1e-6), (v, (out[0] - held).abs().max())
        else:
            assert torch.equal(out[0], held), (v, (out[0] - held).abs().max())


def _run(world: tuple[Dataset, GraphArtifacts], name: str, model: torch.nn.Module, tmp: Path) -> Run:
    ds, art = world
    cfg = RunConfig(model_name=name, graph=GRAPH, sampler=SAMPLER)
    return Run(cfg, ds, art, model, tmp)  # type: ignore[arg-type]


def test_embed_new_videos_is_deterministic_and_batch_independent(world: tuple[Dataset, GraphArtifacts],
                                                                 tmp_path: Path) -> None:
    ds = world[0]
    run = _run(world, "hhfan", _model(world, HHFANConfig(dim=16)), tmp_path)
    a, b = _upload(ds, 3, "a"), _upload(ds, 50, "b")
    both = embed_new_videos(run, [a, b])
    assert both.shape == (2, 16) and torch.isfinite(both).all()
    alone, pair = _inputs(run, [b], 0), _inputs(run, [a, b], 0)  # the walks do not depend on the batch
    for t in alone.neighbor_ids:
        assert torch.equal(alone.neighbor_ids[t][0], pair.neighbor_ids[t][1])
        assert torch.equal(alone.neighbor_mask[t][0], pair.neighbor_mask[t][1])
    assert torch.allclose(embed_new_videos(run, [b])[0], both[1], rtol=0, atol=1e-6)  # float rounding only
    assert torch.equal(embed_new_videos(run, [replace(a, video_id="other", text="x"), b]), both)
    assert not torch.allclose(embed_new_videos(run, [a, b], seed=5)[0], both[0])  # another walk
    far = replace(a, features={m: x + 3.0 for m, x in a.features.items()})
    assert not torch.allclose(embed_new_videos(run, [far, b])[0], both[0])  # the content counts
    assert embed_new_videos(run, []).shape == (0, 16)
    scores = run.model.score_matrix(run.model.all_embeddings()[0], both)
    assert scores.shape == (ds.num_users, 2)


def test_bad_uploads_are_named(world: tuple[Dataset, GraphArtifacts], tmp_path: Path) -> None:
    ds = world[0]
    run = _run(world, "hhfan", _model(world, HHFANConfig(dim=16)), tmp_path)
    up = _upload(ds, 3)
    with pytest.raises(ValueError, match=r"unknown tag name\(s\) \['no-such-tag'\]"):
        embed_new_videos(run, [replace(up, tags=("no-such-tag",))])
    with pytest.raises(ValueError, match="missing"):
        embed_new_videos(run, [replace(up, features={})])
    with pytest.raises(ValueError, match="video_id"):
        embed_new_videos(run, [replace(up, video_id="")])


def test_models_without_content_raise_cold_start_unsupported(world: tuple[Dataset, GraphArtifacts],
                                                             tmp_path: Path) -> None:
    ds, art = world
    for name in ("bprmf", "lightgcn"):
        cfg = RunConfig(model_name=name)
        model = build(name, BuildContext(ds, art, cfg.model, 0))
        with pytest.raises(ColdStartUnsupported, match="cannot embed"):
            embed_new_videos(_run(world, name, model, tmp_path), [_upload(ds, 3)])


@pytest.mark.parametrize("name", ["pop", "neumf", "dropoutnet"])
def test_content_baselines_embed_uploads_as_their_held_out_videos(world: tuple[Dataset, GraphArtifacts],
                                                                  tmp_path: Path, name: str) -> None:
    ds, art = world
    cfg = RunConfig(model_name=name, graph=GRAPH, sampler=SAMPLER,
                    model={} if name == "pop" else {"dim": 8})
    torch.manual_seed(0)
    model = build(name, BuildContext(ds, art, cfg.model, 0))
    hold_out_video_ids(model, HELD)
    model.eval()
    with torch.no_grad():
        held = model.embed(torch.tensor([0]), torch.as_tensor(HELD))[1]
    new = embed_new_videos(Run(cfg, ds, art, model, tmp_path), [_upload(ds, int(v)) for v in HELD])
    assert new.shape == held.shape and torch.allclose(new, held, atol=1e-6)


def test_graph_baselines_embed_held_out_videos_but_not_uploads(world: tuple[Dataset, GraphArtifacts],
                                                             tmp_path: Path) -> None:
    ds, art = world
    cfg = RunConfig(model_name="graphsage", graph=GRAPH, sampler=SAMPLER, model={"dim": 8})
    model = build("graphsage", BuildContext(ds, art, cfg.model, 0))
    assert model.cold_start
    with pytest.raises(ColdStartUnsupported, match=r"GraphSAGE: .*not in its dataset.*cold-start protocol"):
        embed_new_videos(Run(cfg, ds, art, model, tmp_path), [_upload(ds, 3)])


def test_hybrid_propagation_is_cached_until_the_weights_change(world: tuple[Dataset, GraphArtifacts],
                                                              tmp_path: Path) -> None:
    ds = world[0]
    model = _model(world, HybridConfig(dim=16, neighbor_dropout=0.0))
    run = _run(world, "hhfan-hybrid", model, tmp_path)
    first = embed_new_videos(run, [_upload(ds, 3)])
    cached = model._propagation_cache[1]
    assert torch.equal(embed_new_videos(run, [_upload(ds, 3)]), first) and model._propagation_cache[1] is cached
    with torch.no_grad():
        next(model.transform["user"].parameters()).mul_(2.0)  # as an optimizer step or load_state_dict does
    changed = embed_new_videos(run, [_upload(ds, 3)])
    assert model._propagation_cache[1] is not cached and not torch.equal(changed, first)
    with torch.no_grad():
        assert torch.equal(model._propagation_cache[1], model.propagated_inputs())
