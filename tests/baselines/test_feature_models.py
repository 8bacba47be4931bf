"""NeuMF, FM_HIG and DeepFM: fields from the M-HIG, FM = textbook FM, score_matrix = score, training learns."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch

from hhfan.baselines import blocks as blocks_module
from hhfan.baselines.blocks import PairTower
from hhfan.baselines.deepfm import DeepFM
from hhfan.baselines.fields import FeatureFields, Field, FieldEmbedding
from hhfan.baselines.fm import FM
from hhfan.baselines.neumf import NeuMF, NeuMFConfig
from hhfan.config import resolve
from hhfan.data.dataset import Dataset
from hhfan.data.split import SplitConfig
from hhfan.graph.artifacts import GraphBuildConfig, build_artifacts
from hhfan.graph.mhig import GraphConfig
from hhfan.graph.sampler import SamplerConfig
from hhfan.model.base import Recommender
from hhfan.model.registry import BuildContext, build, spec
from hhfan.runner import RunConfig, evaluate_run, load_run, train_run
from tests.baselines.conftest import TINY, best_val
from tests.conftest import tiny_dataset

SMALL = {"dim": 4, "mlp": (8, 4), "dropout": 0.3}  # each model takes the keys its config has


def small_config(name: str) -> object:
    cls = spec(name).config_class()
    return cls(**{k: v for k, v in SMALL.items() if k in cls.__dataclass_fields__})


def hand_dataset() -> Dataset:
    """The tiny dataset plus user tags and a second tag on video 0 (multi-valued fields on both sides)."""
    ds = tiny_dataset()
    return replace(ds, video_tags=np.concatenate([ds.video_tags, np.array([[0, 2]], np.int32)]),
                   user_tags=np.array([[0, 0], [0, 2], [1, 1]], np.int32))


def context(ds: Dataset, name: str = "fm") -> BuildContext:
    cfg = GraphBuildConfig(SplitConfig(training_rate=0.5), GraphConfig(codewords=3), SamplerConfig(num_collect=20))
    return BuildContext(ds, build_artifacts(ds, cfg), small_config(name))


def randomise(model: torch.nn.Module) -> None:
    """Non-zero values everywhere (FM's w_i and w0 start at 0)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


# --------------------------------------------------------------------------------------------------
# Fields


def active(fields: FeatureFields, side: str, row: int) -> dict[int, float]:
    layout = getattr(fields, side)
    return {int(i): float(x) for i, x in zip(layout.index[row], layout.value[row], strict=True) if x != 0}


def test_fm_fields_come_from_the_graph() -> None:
    ctx = context(hand_dataset())
    g = ctx.artifacts.graph
    f = FeatureFields.from_context(ctx)
    assert f.user.field_names == ("user_id", "user_attr:gender", "user_tag")
    assert f.video.field_names == ("video_id", "video_tag", "codeword:image", "codeword:audio")
    # feature ids: users 0-3, gender=f/m 4-5, user tags 6-8 | videos 9-14, video tags 15-17, image 18-19, audio 20-21
    assert g.count("tag") == 3 and g.count("image") == 2 and g.count("audio") == 2 and f.num_features == 22
    assert active(f, "user", 0) == {0: 1.0, 4: 1.0, 6: 0.5, 8: 0.5}  # one-hot fields x = 1, two tags 1/2 each
    assert active(f, "user", 3) == {3: 1.0}  # unknown gender, no tags: id only
    images = g.edges_between("video", "image")
    img0 = images[images[:, 0] == 0, 1]
    assert img0.size == 2  # links_per_video = 2 nearest codewords
    x0 = active(f, "video", 0)
    assert {k: v for k, v in x0.items() if k < 18} == {9: 1.0, 16: 0.5, 17: 0.5}
    assert {k: v for k, v in x0.items() if 18 <= k < 20} == {18 + int(c): 0.5 for c in img0}
    assert sum(v for k, v in x0.items() if k >= 20) == pytest.approx(1.0)
    # content: the standardised 4 + 3 feature columns, scaled to about unit norm
    assert f.content is not None and f.content.shape == (6, 7)
    assert np.allclose((f.content**2).sum(1).mean(), 1.0, atol=1e-5)


def test_fields_reject_out_of_range_pairs() -> None:
    with pytest.raises(ValueError, match="field 'tag': pairs out of range"):
        FeatureFields.build(2, 2, [Field("tag", 3, np.array([[0, 3]]))], [Field("id", 2, np.array([[0, 0]]))])


# --------------------------------------------------------------------------------------------------
# FM


def textbook_fm(x: torch.Tensor, v: torch.Tensor, w: torch.Tensor, w0: torch.Tensor) -> float:
    """Rendle (2010) Eq. (1), literally: w0 + Σ w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j."""
    nz = torch.nonzero(x).flatten().tolist()
    y = float(w0) + sum(float(w[i] * x[i]) for i in nz)
    return y + sum(float(v[i] @ v[j]) * float(x[i] * x[j]) for i, j in combinations(nz, 2))


def test_fm_inner_product_is_the_textbook_fm() -> None:
    ctx = context(hand_dataset())
    model = build("fm", ctx)
    assert isinstance(model, FM)
    randomise(model)
    fe = model.fields
    assert fe.content is not None and fe.content_v is not None and fe.content_w is not None
    v = torch.cat([fe.v.weight, fe.content_v.weight.T]).detach().double()  # [22 + 7, d]
    w = torch.cat([fe.w.weight[:, 0], fe.content_w.weight[0]]).detach().double()
    nf = fe.v.weight.shape[0]
    with torch.no_grad():
        eu, ev = model.all_embeddings()
        got = model.score_matrix(eu, ev)  # the default: E_u E_vᵀ
        assert eu.shape == (4, 4 + 2) and ev.shape == (6, 4 + 2)
        assert torch.allclose(got, model.score(eu[:, None], ev[None]), atol=1e-6)
    for u in range(4):
        for j in range(6):
            x = torch.zeros(nf + 7, dtype=torch.float64)
            x.index_add_(0, fe.user_index[u], fe.user_value[u].double())
            x.index_add_(0, fe.video_index[j], fe.video_value[j].double())
            x[nf:] = fe.content[j].double()
            assert float(got[u, j]) == pytest.approx(textbook_fm(x, v, w, fe.bias.detach()), abs=1e-5)


def test_fm_l2_covers_the_batch_features_only() -> None:
    fields = FeatureFields.build(3, 4, [Field("user_id", 3, np.array([[0, 0], [1, 1], [2, 2]]))],
                                 [Field("video_id", 4, np.array([[0, 0], [1, 1], [2, 2], [3, 3]])),
                                  Field("tag", 2, np.array([[0, 0], [1, 0], [1, 1]]))])
    fe = FieldEmbedding(fields, 3, 0.1)
    terms = list(fe.l2_terms(torch.tensor([1]), torch.tensor([0, 1])))
    assert [t.shape[0] for t in terms] == [5, 5]  # user 1, videos 0 and 1, tags 0 and 1 (tag 0 once)


# --------------------------------------------------------------------------------------------------
# Non-inner-product models: score_matrix == score, bounded memory


@pytest.mark.parametrize("name", ["neumf", "deepfm"])
def test_score_matrix_equals_score(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks_module, "PAIR_CHUNK_ENTRIES", 40)  # several chunks of videos
    model = build(name, context(hand_dataset(), name))
    assert isinstance(model, NeuMF | DeepFM)
    randomise(model)
    model.eval()  # dropout off, as in evaluation
    with torch.no_grad():
        eu, ev = model.all_embeddings()
        full = model.score_matrix(eu, ev)
        pairs = model.score(eu.repeat_interleave(6, dim=0), ev.repeat(4, 1)).view(4, 6)
    assert full.shape == (4, 6) and full.std() > 0.1
    assert torch.allclose(full, pairs, atol=1e-5)


def test_pair_tower_chunks_over_videos(monkeypatch: pytest.MonkeyPatch) -> None:
    tower = PairTower(3, 5, (8, 4), 0.0)
    monkeypatch.setattr(blocks_module, "PAIR_CHUNK_ENTRIES", 3 * 8 * 2)  # 2 videos per chunk for 3 users
    seen: list[tuple[int, ...]] = []
    tower.body.register_forward_hook(lambda _m, inp, _out: seen.append(tuple(inp[0].shape)))
    out = tower.pair_matrix(torch.randn(3, 3), torch.randn(7, 5), lambda h: h.sum(-1))
    assert out.shape == (3, 7)
    assert seen == [(3, 2, 8), (3, 2, 8), (3, 2, 8), (3, 1, 8)]
    with pytest.raises(ValueError, match="at least one hidden layer"):
        PairTower(3, 5, (), 0.0)


def test_neumf_feeds_content_to_the_mlp_item_side() -> None:
    ds = hand_dataset()
    model = build("neumf", context(ds, "neumf"))
    assert isinstance(model, NeuMF) and model.content_proj is not None
    v = torch.arange(6)
    with torch.no_grad():
        _, ev = model.embed(torch.arange(4), v)
        assert torch.allclose(ev[:, 4:], model.video_mlp(v) + model.content_proj(model.content), atol=1e-6)
        assert torch.equal(ev[:, :4], model.video_gmf(v))  # GMF side: id only
    bare = replace(ds, features={})
    plain = build("neumf", context(bare, "neumf"))
    assert isinstance(plain, NeuMF) and plain.content_proj is None
    with torch.no_grad():
        assert plain.score_matrix(*plain.all_embeddings()).shape == (4, 6)


def test_neumf_l2_covers_batch_embeddings() -> None:
    model = NeuMF(5, 7, config=NeuMFConfig(dim=4, mlp=(8, 4), dropout=0.3))
    terms = list(model.l2_terms(torch.tensor([0, 1]), torch.tensor([3])))
    assert [t.shape[0] for t in terms[:4]] == [2, 2, 1, 1]
    assert len(terms) == 4 + 3 + 1  # + tower weights (user_in, video_in, 8 -> 4) + fusion


# --------------------------------------------------------------------------------------------------
# End to end under the shared trainer


@pytest.mark.parametrize(("name", "user_dim", "video_dim"),
                         [("fm", 18, 18), ("neumf", 32, 32), ("deepfm", 4 * 16 + 1, 6 * 16 + 1)])
def test_feature_model_trains_and_learns(name: str, user_dim: int, video_dim: int, baseline_world: Path,
                                         tmp_path: Path, pop_val: float) -> None:
    cfg = resolve(RunConfig, None, [f"model_name={name}", "model.dim=16", "train.epochs=8",
                                    "train.batch_size=1024", "train.lr=0.01", *TINY])
    metrics = train_run(baseline_world, tmp_path / name, cfg)
    log = [json.loads(x) for x in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["val"]["ndcg@20"] > log[0]["val"]["ndcg@20"]
    assert best_val(tmp_path / name) > pop_val
    assert metrics["sampled"]["auc"] > 0.75
    run = load_run(tmp_path / name)  # packed fields are rebuilt from data + graph, weights from best.pt
    assert isinstance(run.model, Recommender)
    u, v = run.model.all_embeddings()
    assert u.shape == (200, user_dim) and v.shape == (400, video_dim)
    assert evaluate_run(run) == metrics
