"""Evaluation protocols on a small synthetic world: perfect/random models, negatives, exclusions, dumps."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hhfan.data.dataset import Dataset, Interactions
from hhfan.data.split import TEST, TRAIN, VAL, Split, SplitConfig, make_split
from hhfan.data.synth import SynthConfig, generate
from hhfan.eval.metrics import METRIC_NAMES
from hhfan.eval.protocols import EvalConfig, dump_rankings, evaluate, sample_negatives


@pytest.fixture(scope="module")
def world() -> tuple[Dataset, Split]:
    ds = generate(SynthConfig(num_users=80, num_videos=200, mean_interactions=15))
    return ds, make_split(ds, SplitConfig(seed=0))


def _pairs(ds: Dataset, split: Split, part: int) -> list[set[int]]:
    """Per-user sets of the videos in ``part`` (plain Python, as an independent reference)."""
    out: list[set[int]] = [set() for _ in range(ds.num_users)]
    m = split.part == part
    for u, v in zip(ds.interactions.user[m].tolist(), ds.interactions.video[m].tolist(), strict=True):
        out[u].add(v)
    return out


def _perfect(ds: Dataset, split: Split, part: int = TEST) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot video embeddings and user embeddings = indicator of the user's ``part`` videos.

    Score(u, v) = 1 if v is one of u's held-out positives, else 0: every positive outranks every negative.
    """
    videos = torch.eye(ds.num_videos)
    users = torch.zeros(ds.num_users, ds.num_videos)
    m = split.part == part
    users[torch.as_tensor(ds.interactions.user[m], dtype=torch.long),
          torch.as_tensor(ds.interactions.video[m], dtype=torch.long)] = 1.0
    return users, videos


def _random(ds: Dataset, seed: int = 0, d: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(ds.num_users, d, generator=g), torch.randn(ds.num_videos, d, generator=g)


def test_output_keys(world: tuple[Dataset, Split]) -> None:
    ds, split = world
    res = evaluate(*_random(ds), ds, split, config=EvalConfig(ks=(1, 10)))
    assert list(res) == ["sampled", "full"]
    expected = {f"{n}@{k}" for n in METRIC_NAMES for k in (1, 10)} | {"auc", "num_users"}
    for r in res.values():
        assert set(r) == expected
        assert r["num_users"] == len({u for u, p in zip(ds.interactions.user, split.part, strict=True) if p == TEST})
    assert list(evaluate(*_random(ds), ds, split, config=EvalConfig(protocol="full"))) == ["full"]
    assert list(evaluate(*_random(ds), ds, split, config=EvalConfig(protocol="sampled"))) == ["sampled"]


@pytest.mark.parametrize("num_negatives", [1000, 50])
def test_perfect_embeddings(world: tuple[Dataset, Split], num_negatives: int) -> None:
    ds, split = world
    test = _pairs(ds, split, TEST)
    n_test = np.array([len(s) for s in test if s])
    res = evaluate(*_perfect(ds, split), ds, split, config=EvalConfig(num_negatives=num_negatives))
    for proto in ("sampled", "full"):
        r = res[proto]
        assert r["auc"] == 1.0
        assert r["precision@1"] == 1.0 and r["hit@1"] == 1.0 and r["mrr@1"] == 1.0
        assert r["ndcg@20"] == pytest.approx(1.0)
        # recall@20 is 1 for every user with <= 20 test videos (all of them here)
        assert r["recall@20"] == pytest.approx(float(np.mean(np.minimum(n_test, 20) / n_test)))
        assert r["recall@20"] == pytest.approx(1.0)
        assert r["precision@5"] == pytest.approx(float(np.mean(np.minimum(n_test, 5) / 5)))


def test_random_embeddings_auc_half(world: tuple[Dataset, Split]) -> None:
    ds, split = world
    res = evaluate(*_random(ds, seed=3), ds, split)
    for proto in ("sampled", "full"):
        assert abs(res[proto]["auc"] - 0.5) < 0.08, res[proto]["auc"]


def test_validation_part(world: tuple[Dataset, Split]) -> None:
    ds, split = world
    res = evaluate(*_perfect(ds, split, VAL), ds, split, part=VAL)
    assert res["full"]["auc"] == 1.0 and res["sampled"]["recall@20"] == pytest.approx(1.0)
    assert res["full"]["num_users"] == len(set(ds.interactions.user[split.part == VAL].tolist()))


def test_sampled_negatives(world: tuple[Dataset, Split]) -> None:
    ds, _ = world
    seen: list[set[int]] = [set() for _ in range(ds.num_users)]
    for u, v in zip(ds.interactions.user.tolist(), ds.interactions.video.tolist(), strict=True):
        seen[u].add(v)
    users = np.arange(ds.num_users)
    neg = sample_negatives(ds, users, 50, seed=7)
    assert neg.shape == (ds.num_users, 50)
    for u in users:
        row = neg[u]
        assert (row >= 0).all(), "every user here has >= 50 never-seen videos: count = num_negatives"
        assert len(set(row.tolist())) == 50 and not (set(row.tolist()) & seen[u])
        assert (np.diff(row) > 0).all()
    np.testing.assert_array_equal(neg, sample_negatives(ds, users, 50, seed=7))  # deterministic
    np.testing.assert_array_equal(neg[[5, 9]], sample_negatives(ds, np.array([5, 9]), 50, seed=7))  # per user
    assert not np.array_equal(neg, sample_negatives(ds, users, 50, seed=8))
    # More negatives than never-seen videos: all of them, then -1 padding.
    everything = sample_negatives(ds, users, 1000, seed=7)
    assert everything.shape == (ds.num_users, ds.num_videos)
    for u in users:
        assert set(everything[u][everything[u] >= 0].tolist()) == set(range(ds.num_videos)) - seen[u]
    # Roughly uniform: over many seeds every never-seen video of user 0 is drawn about equally often.
    counts = np.zeros(ds.num_videos)
    for s in range(200):
        np.add.at(counts, sample_negatives(ds, np.array([0]), 20, seed=s)[0], 1)
    unseen = np.array(sorted(set(range(ds.num_videos)) - seen[0]))
    expected = 200 * 20 / unseen.shape[0]
    assert counts[list(seen[0])].sum() == 0
    assert abs(counts[unseen].mean() - expected) < 1e-9 and counts[unseen].std() < 0.5 * expected


def test_deterministic_and_batch_independent(world: tuple[Dataset, Split]) -> None:
    ds, split = world
    emb = _random(ds, seed=1)
    a = evaluate(*emb, ds, split, config=EvalConfig(num_negatives=30, seed=4))
    assert a == evaluate(*emb, ds, split, config=EvalConfig(num_negatives=30, seed=4))  # bit-identical rerun
    b = evaluate(*emb, ds, split, config=EvalConfig(num_negatives=30, seed=4, batch_size=7))
    for proto in a:  # other batches: same per-user values, only the summation order differs
        assert b[proto] == pytest.approx(a[proto], rel=1e-12, abs=1e-15)
    calls: list[tuple[int, int]] = []
    evaluate(*emb, ds, split, config=EvalConfig(batch_size=32), progress=lambda d, t: calls.append((d, t)))
    n = int(a["full"]["num_users"])
    assert calls == [(32, n), (64, n), (n, n)]


def _reference(scores: np.ndarray, cands: list[int], positives: set[int], k: int) -> dict[str, float]:
    """Per-user metrics by brute force: sort by (-score, video index), count pairs for AUC."""
    ranked = sorted(cands, key=lambda v: (-scores[v], v))
    hits = [v in positives for v in ranked[:k]]
    dcg = sum(1 / math.log2(j + 2) for j, h in enumerate(hits) if h)
    idcg = sum(1 / math.log2(j + 2) for j in range(min(len(positives), k)))
    pos = [scores[v] for v in cands if v in positives]
    neg = [scores[v] for v in cands if v not in positives]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    first = next((j for j, h in enumerate(hits) if h), None)
    return {f"precision@{k}": sum(hits) / k, f"recall@{k}": sum(hits) / len(positives), f"ndcg@{k}": dcg / idcg,
            f"hit@{k}": float(any(hits)), f"mrr@{k}": 0.0 if first is None else 1 / (first + 1),
            "auc": wins / (len(pos) * len(neg))}


def test_matches_brute_force_reference(world: tuple[Dataset, Split]) -> None:
    ds, split = world
    u_emb, v_emb = _random(ds, seed=5, d=4)
    u_emb, v_emb = u_emb.round(), v_emb.round()  # integer scores: plenty of ties
    k, n_neg = 10, 40
    res = evaluate(u_emb, v_emb, ds, split, config=EvalConfig(ks=(k,), num_negatives=n_neg, seed=2))
    scores = (u_emb @ v_emb.T).numpy()
    train, val, test = _pairs(ds, split, TRAIN), _pairs(ds, split, VAL), _pairs(ds, split, TEST)
    users = [u for u in range(ds.num_users) if test[u]]
    negs = sample_negatives(ds, np.array(users), n_neg, seed=2)
    ref: dict[str, dict[str, list[float]]] = {"full": {}, "sampled": {}}
    for i, u in enumerate(users):
        cands = {"full": [v for v in range(ds.num_videos) if v not in train[u] | val[u]],
                 "sampled": sorted(test[u] | set(negs[i][negs[i] >= 0].tolist()))}
        for proto, c in cands.items():
            for name, value in _reference(scores[u], c, test[u], k).items():
                ref[proto].setdefault(name, []).append(value)
    for proto in ref:
        for name, values in ref[proto].items():
            assert res[proto][name] == pytest.approx(float(np.mean(values)), abs=1e-9), (proto, name)


def test_full_protocol_excludes_training_videos(world: tuple[Dataset, Split], tmp_path: Path) -> None:
    ds, split = world
    u_emb, v_emb = _perfect(ds, split)
    train = _pairs(ds, split, TRAIN)
    # Give every user's training videos the top score (2 > 1 of the positives): if they were candidates,
    # precision@1 would collapse to 0.
    m = split.part == TRAIN
    u_emb[torch.as_tensor(ds.interactions.user[m], dtype=torch.long),
          torch.as_tensor(ds.interactions.video[m], dtype=torch.long)] = 2.0
    res = evaluate(u_emb, v_emb, ds, split, config=EvalConfig(protocol="full"))
    assert res["full"]["precision@1"] == 1.0 and res["full"]["auc"] == 1.0
    path = tmp_path / "rank.jsonl"
    dump_rankings(u_emb, v_emb, ds, split, path, top=100)
    vid = {str(v): i for i, v in enumerate(ds.video_ids.tolist())}
    uid = {str(u): i for i, u in enumerate(ds.user_ids.tolist())}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        ranked = {vid[v] for v, _ in rec["ranked"]}
        assert not ranked & train[uid[rec["user"]]]
    # A validation video is no candidate when testing either: scoring it highest costs nothing.
    val_m = split.part == VAL
    u2 = _perfect(ds, split)[0]
    u2[torch.as_tensor(ds.interactions.user[val_m], dtype=torch.long),
       torch.as_tensor(ds.interactions.video[val_m], dtype=torch.long)] = 2.0
    assert evaluate(u2, v_emb, ds, split, config=EvalConfig(protocol="full"))["full"]["precision@1"] == 1.0
    # ...but a test video is a candidate (a negative) when validating: scoring it highest costs precision@1.
    u3 = _perfect(ds, split, VAL)[0]
    test_m = split.part == TEST
    u3[torch.as_tensor(ds.interactions.user[test_m], dtype=torch.long),
       torch.as_tensor(ds.interactions.video[test_m], dtype=torch.long)] = 2.0
    res_val = evaluate(u3, v_emb, ds, split, part=VAL, config=EvalConfig(protocol="full"))
    assert res_val["full"]["precision@1"] < 1.0


def _hand_split() -> tuple[Dataset, Split, torch.Tensor]:
    """Two users, six videos, one interaction per part each, and a score matrix built to expose exclusions.

    user 0: train v0, val v1, test v2; scores v0 9 > v1 8 > v2 7 > others 0 (the val item outranks the test item)
    user 1: train v3, val v4, test v5; scores v3 9 > v5 8 > v4 7 > others 0 (the test item outranks the val item)
    """
    ids = np.array([f"v{i}" for i in range(6)], dtype=object)
    it = Interactions(np.array([0, 0, 0, 1, 1, 1], np.int32), np.array([0, 1, 2, 3, 4, 5], np.int32))
    ds = Dataset("hand", np.array(["u0", "u1"], dtype=object), ids, it)
    split = Split(np.array([TRAIN, VAL, TEST, TRAIN, VAL, TEST], np.int8), SplitConfig(), ds.fingerprint())
    scores = torch.zeros(2, 6)
    scores[0, [0, 1, 2]] = torch.tensor([9.0, 8.0, 7.0])
    scores[1, [3, 5, 4]] = torch.tensor([9.0, 8.0, 7.0])
    return ds, split, scores


def test_earlier_parts_excluded_on_hand_split(tmp_path: Path) -> None:
    ds, split, scores = _hand_split()
    eye = torch.eye(6)
    cfg = EvalConfig(ks=(1,), num_negatives=1000)
    # TEST: train and validation items are both excluded, so each user's test item ranks first.
    res = evaluate(scores, eye, ds, split, part=TEST, config=cfg)
    assert res["full"]["precision@1"] == 1.0 and res["full"]["auc"] == 1.0
    assert res["sampled"]["precision@1"] == 1.0 and res["sampled"]["auc"] == 1.0
    # VAL: only train is excluded; user 1's test item v5 stays a candidate and outranks its val item v4.
    res = evaluate(scores, eye, ds, split, part=VAL, config=cfg)
    assert res["full"]["precision@1"] == 0.5
    assert res["full"]["auc"] == pytest.approx((1.0 + 3 / 4) / 2)  # user 1: v4 beats 3 of {v0, v1, v2, v5}
    # Sampled negatives are never an interaction of any part (here: all three never-seen videos).
    assert res["sampled"]["precision@1"] == 1.0
    np.testing.assert_array_equal(sample_negatives(ds, np.array([0, 1]), 1000)[:, :3], [[3, 4, 5], [0, 1, 2]])
    # The dumped rankings follow the same rule.
    dump_rankings(scores, eye, ds, split, tmp_path / "test.jsonl", part=TEST)
    recs = [json.loads(x) for x in (tmp_path / "test.jsonl").read_text().splitlines()]
    assert [[v for v, _ in r["ranked"]] for r in recs] == [["v2", "v3", "v4", "v5"], ["v5", "v0", "v1", "v2"]]
    assert [r["test"] for r in recs] == [["v2"], ["v5"]]
    dump_rankings(scores, eye, ds, split, tmp_path / "val.jsonl", part=VAL)
    recs = [json.loads(x) for x in (tmp_path / "val.jsonl").read_text().splitlines()]
    assert [[v for v, _ in r["ranked"]] for r in recs] == [["v1", "v2", "v3", "v4", "v5"],
                                                           ["v5", "v4", "v0", "v1", "v2"]]
    assert [r["test"] for r in recs] == [["v1"], ["v4"]]


def test_dump_rankings(world: tuple[Dataset, Split], tmp_path: Path) -> None:
    ds, split = world
    u_emb, v_emb = _random(ds, seed=2)
    path = tmp_path / "sub" / "rankings.jsonl"
    dump_rankings(u_emb, v_emb, ds, split, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    train, val, test = _pairs(ds, split, TRAIN), _pairs(ds, split, VAL), _pairs(ds, split, TEST)
    users = [u for u in range(ds.num_users) if test[u]]
    assert len(lines) == len(users)
    scores = (u_emb @ v_emb.T).numpy()
    for u, line in zip(users, lines, strict=True):
        rec = json.loads(line)
        assert set(rec) == {"user", "ranked", "test"} and rec["user"] == str(ds.user_ids[u])
        known = train[u] | val[u]  # excluded at test: the interactions of the earlier parts
        assert len(rec["ranked"]) == min(100, ds.num_videos - len(known))
        assert sorted(rec["test"]) == sorted(str(ds.video_ids[v]) for v in test[u])
        ranked_idx = [int(v[1:]) for v, _ in rec["ranked"]]  # synthetic ids are "v<index>"
        expected = sorted((v for v in range(ds.num_videos) if v not in known), key=lambda v: (-scores[u, v], v))
        assert ranked_idx == expected[:100]
        assert [s for _, s in rec["ranked"]] == pytest.approx([float(scores[u, v]) for v in ranked_idx], rel=1e-5)
    assert not list(path.parent.glob(".*tmp*"))  # atomic write leaves no temporary file
    dump_rankings(u_emb, v_emb, ds, split, tmp_path / "top5.jsonl", top=5)
    assert all(len(json.loads(x)["ranked"]) == 5 for x in (tmp_path / "top5.jsonl").read_text().splitlines())


@pytest.mark.parametrize("kwargs", [
    {"protocol": "bogus"}, {"num_negatives": 0}, {"ks": ()}, {"ks": (0, 5)}, {"ks": ("a",)},
    {"seed": -1}, {"batch_size": 0},
])
def test_config_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EvalConfig(**kwargs)


def test_config_normalises_ks() -> None:
    ks: Any = [10, 5]  # e.g. read from YAML
    cfg = EvalConfig(ks=ks)
    assert cfg.ks == (10, 5) and cfg.protocols == ("sampled", "full")


def test_evaluate_rejects_bad_inputs(world: tuple[Dataset, Split], tmp_path: Path) -> None:
    ds, split = world
    u_emb, v_emb = _random(ds)
    with pytest.raises(ValueError, match="part"):
        evaluate(u_emb, v_emb, ds, split, part=TRAIN)
    with pytest.raises(ValueError, match="embeddings"):
        evaluate(u_emb[:-1], v_emb, ds, split)
    with pytest.raises(ValueError, match="embeddings"):
        evaluate(u_emb, v_emb[:, :3], ds, split)
    other = make_split(generate(SynthConfig(num_users=80, num_videos=200, mean_interactions=15, seed=1)),
                       SplitConfig())
    with pytest.raises(ValueError, match="different data"):
        evaluate(u_emb, v_emb, ds, other)
    with pytest.raises(ValueError, match="top"):
        dump_rankings(u_emb, v_emb, ds, split, tmp_path / "x.jsonl", top=0)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(torch.full_like(u_emb, math.nan), v_emb, ds, split)


def test_no_evaluated_user_gives_nan(world: tuple[Dataset, Split]) -> None:
    ds, _ = world
    split = make_split(ds, SplitConfig(val_rate=0.0))  # no validation part at all
    res = evaluate(*_random(ds), ds, split, part=VAL, config=EvalConfig(ks=(5,)))
    for r in res.values():
        assert r["num_users"] == 0 and math.isnan(r["recall@5"]) and math.isnan(r["auc"])


# ------------------------------------------------------------------------------------------ cold start


def _cold_case() -> tuple[Dataset, Split, torch.Tensor, torch.Tensor]:
    """3 users, 6 videos, cold videos 4 (validation half) and 5 (test half); one score per video for everyone.

    u0: v0 train, v1 test, v5 test (cold) | u1: v1 train, v2 val, v4 val (cold), v5 test (cold) | u2: v2 train, v3 test
    """
    pairs = np.array([[0, 0], [0, 1], [0, 5], [1, 1], [1, 2], [1, 4], [1, 5], [2, 2], [2, 3]])
    part = np.array([TRAIN, TEST, TEST, TRAIN, VAL, VAL, TEST, TRAIN, TEST], dtype=np.int8)
    ds = Dataset(name="cold-case", user_ids=np.array(["u0", "u1", "u2"], dtype=object),
                 video_ids=np.array([f"v{i}" for i in range(6)], dtype=object),
                 interactions=Interactions(pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)))
    split = Split(part, SplitConfig(kind="cold"), ds.fingerprint(), np.array([4, 5]))
    video_score = torch.tensor([[0.9], [0.1], [0.5], [0.3], [0.8], [0.2]])
    return ds, split, torch.ones(3, 1), video_score


def test_cold_warm_hybrid_sections_on_a_hand_built_case() -> None:
    from hhfan.eval.protocols import cold_start_subsets, evaluate_subset

    ds, split, eu, ev = _cold_case()
    cfg = EvalConfig(protocol="full", ks=(1, 2, 3, 4))
    cold, warm, hybrid = (evaluate_subset(eu, ev, ds, split, s, config=cfg) for s in cold_start_subsets(ds, split))
    g2 = 1 / math.log2(3)
    # cold: u0 ranks v4 (.8) over its test video v5 (.2); u1 has v4 in validation, so v5 alone is left
    assert cold["num_users"] == 2
    assert cold["recall@1"] == pytest.approx(0.5) and cold["precision@1"] == pytest.approx(0.5)
    assert cold["recall@2"] == pytest.approx(1.0) and cold["ndcg@2"] == pytest.approx((g2 + 1) / 2)
    assert cold["auc"] == pytest.approx(0.0)  # u0 only: u1 has no cold negative left
    # warm: u0 ranks v2, v3 over v1 (warm candidates only, v0 trained); u2 ranks v0 over v3, then v1
    assert warm["num_users"] == 2
    assert warm["recall@2"] == pytest.approx(0.5) and warm["ndcg@2"] == pytest.approx(g2 / 2)
    assert warm["recall@3"] == pytest.approx(1.0) and warm["auc"] == pytest.approx(0.25)
    # hybrid: every video; u0 finds v5 and v1 at ranks 4 and 5, u1 v5 at 3, u2 v3 at 3
    assert hybrid["num_users"] == 3
    assert hybrid["recall@2"] == 0.0 and hybrid["recall@3"] == pytest.approx(2 / 3)
    assert hybrid["recall@4"] == pytest.approx((0.5 + 1 + 1) / 3) and hybrid["auc"] == pytest.approx(1 / 6)
    full = evaluate(eu, ev, ds, split, config=cfg)["full"]
    assert all(hybrid[k] == pytest.approx(full[k]) for k in full)
    # cold validation: u1's cold validation video v4 outranks v5 (its test video is a negative at validation)
    val = evaluate_subset(eu, ev, ds, split, cold_start_subsets(ds, split)[0], part=VAL, config=cfg)
    assert val["num_users"] == 1 and val["recall@1"] == 1.0 and val["auc"] == 1.0


def test_cold_subset_of_a_predefined_split() -> None:
    from hhfan.eval.protocols import cold_start_subsets, evaluate_subset, unseen_subset

    ds, split, eu, ev = _cold_case()
    plain = Split(split.part, SplitConfig(kind="predefined"), split.fingerprint)
    sub = unseen_subset(ds, plain)  # videos 3, 4, 5 have no training interaction
    assert sub.relevant.tolist() == [False, False, True, False, False, True, True, False, True]
    out = evaluate_subset(eu, ev, ds, plain, sub, config=EvalConfig(protocol="full", ks=(2, 3, 4)))
    assert out["num_users"] == 3
    assert out["recall@3"] == pytest.approx(2 / 3) and out["recall@4"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cold-start split"):
        cold_start_subsets(ds, plain)


def test_subset_scores_only_its_candidates() -> None:
    from hhfan.eval.protocols import cold_start_subsets, evaluate_subset

    ds, split, eu, ev = _cold_case()
    seen: list[int] = []

    def scorer(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        seen.append(v.shape[0])
        return u @ v.T

    out = evaluate_subset(eu, ev, ds, split, cold_start_subsets(ds, split)[0], config=EvalConfig(ks=(1,)),
                          scorer=scorer)
    assert seen == [2] and out["recall@1"] == pytest.approx(0.5)


def test_ties_in_a_subset_break_in_a_seeded_order_not_by_video_index() -> None:
    from hhfan.eval.protocols import TIE_BREAK_STREAM, cold_start_subsets, evaluate_subset

    # one user; 40 cold videos of which the 4 with the lowest ids are its test videos; one warm training video
    nv = 41
    pairs = np.array([[0, 40], [0, 0], [0, 1], [0, 2], [0, 3]])
    part = np.array([TRAIN, TEST, TEST, TEST, TEST], dtype=np.int8)
    ds = Dataset(name="ties", user_ids=np.array(["u0"], dtype=object),
                 video_ids=np.array([f"v{i}" for i in range(nv)], dtype=object),
                 interactions=Interactions(pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)))
    split = Split(part, SplitConfig(kind="cold"), ds.fingerprint(), np.arange(40))
    cold = cold_start_subsets(ds, split)[0]
    cfg = EvalConfig(ks=(4,), seed=3)
    constant = evaluate_subset(torch.ones(1, 1), torch.zeros(nv, 1), ds, split, cold, config=cfg)
    order = np.random.default_rng([3, TIE_BREAK_STREAM]).permutation(40)  # the candidates' tie-breaking order
    expected = np.isin(order[:4], [0, 1, 2, 3]).mean()
    assert constant["recall@4"] == pytest.approx(expected) and expected < 1.0  # index order would give 1.0
    scores = -torch.arange(nv, dtype=torch.float32)[:, None]  # distinct scores, the test videos first: no tie to break
    assert evaluate_subset(torch.ones(1, 1), scores, ds, split, cold, config=EvalConfig(ks=(4,)))["recall@4"] == 1.0
