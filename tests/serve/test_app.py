"""The service against a trained run, through FastAPI's TestClient: every endpoint, every refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from hhfan.data.split import TRAIN
from hhfan.graph.mhig import NODE_TYPES
from hhfan.runner import Run, recommend
from tests.serve.conftest import video_body


def train_videos(run: Run, user: int) -> set[int]:
    it = run.dataset.interactions
    return set(it.video[(it.user == user) & run.artifacts.split.mask(TRAIN)].tolist())


def test_health_and_openapi(make_app: Callable[..., Any], hhfan_run: Run) -> None:
    with TestClient(make_app()) as c:
        h = c.get("/health").json()
        assert h["status"] == "ok" and h["model"] == "hhfan"
        assert h["users"] == hhfan_run.dataset.num_users and h["videos"] == hhfan_run.dataset.num_videos
        assert h["index"] == "exact" and h["new_videos"] is True and h["posted_videos"] == 0
        schema = c.get("/openapi.json").json()
    assert {"/health", "/users/{user_id}/recommendations", "/videos", "/videos/{video_id}",
            "/interactions"} <= set(schema["paths"])
    assert {"VideoIn", "RecommendationsOut", "InteractionsIn", "ErrorOut"} <= set(schema["components"]["schemas"])


def test_recommendations_are_the_models_top_k_of_unseen_videos(make_app: Callable[..., Any], hhfan_run: Run) -> None:
    ds = hhfan_run.dataset
    with TestClient(make_app()) as c:
        for u in (0, 7, 42):
            uid = str(ds.user_ids[u])
            got = c.get(f"/users/{uid}/recommendations", params={"k": 10}).json()
            want = recommend(hhfan_run, uid, 10)  # the runner's own top-K: scores over all videos, train masked
            assert got["fallback"] is None and got["index"] == "exact" and got["k"] == 10
            assert [r["video_id"] for r in got["recommendations"]] == [r["video"] for r in want["recommendations"]]
            np.testing.assert_allclose([r["score"] for r in got["recommendations"]],
                                       [r["score"] for r in want["recommendations"]], rtol=1e-5)
            rows = [int(np.flatnonzero(ds.video_ids == r["video_id"])[0]) for r in got["recommendations"]]
            assert not set(rows) & train_videos(hhfan_run, u)
            assert got["recommendations"][0]["paths"] is None and got["attention"] is None


def test_explanations_are_graph_paths_with_the_defined_relevance(make_app: Callable[..., Any],
                                                                 hhfan_run: Run) -> None:
    ds, g, model = hhfan_run.dataset, hhfan_run.artifacts.graph, hhfan_run.model
    _, ev = model.all_embeddings()
    u = 3
    with TestClient(make_app()) as c:
        got = c.get(f"/users/{ds.user_ids[u]}/recommendations", params={"k": 10, "explain": "true"}).json()
    with torch.no_grad():
        alpha = model.nodes_forward(torch.tensor([u])).alpha[0].tolist()
    assert got["attention"] == pytest.approx(dict(zip(model.candidate_names(), alpha, strict=True)), rel=1e-5)
    assert got["relevance_kind"] == "affinity"
    watched = {str(ds.video_ids[v]) for v in train_videos(hhfan_run, u)}
    row_of = {str(v): i for i, v in enumerate(ds.video_ids.tolist())}
    v0 = g.offset("video")

    def attrs(video: int) -> np.ndarray:
        nb = g.indices[g.indptr[v0 + video] : g.indptr[v0 + video + 1]].astype(np.int64)
        return nb[np.isin(g.node_type[nb], [NODE_TYPES.index(t) for t in ("image", "audio", "text", "tag")])]

    def weight(video: int, node: int) -> float:  # r(v, a): softmax over the video's attributes of <E_v, f(a)>
        a = attrs(video)
        with torch.no_grad():
            f = torch.stack([model.transform[NODE_TYPES[g.node_type[x]]](torch.tensor(x - g.offset(
                NODE_TYPES[g.node_type[x]]))) for x in a.tolist()])
        w = torch.softmax((f @ ev[video]).double(), 0)
        return float(w[a.tolist().index(node)])

    with_paths = 0
    for rec in got["recommendations"]:
        paths = rec["paths"]
        assert rec["num_paths"] >= len(paths)
        assert [p["relevance"] for p in paths] == sorted((p["relevance"] for p in paths), reverse=True)
        with_paths += bool(paths)
        c_row = row_of[rec["video_id"]]
        for p in paths:
            assert p["watched"] in watched
            names = [str(n) for n in g.node_names[p["via_type"]].tolist()]
            node = g.offset(p["via_type"]) + names.index(p["via"])
            w_row = row_of[p["watched"]]
            assert node in attrs(w_row) and node in attrs(c_row)  # a real watched - attribute - candidate path
            assert p["relevance"] == pytest.approx(p["watched_weight"] * p["candidate_weight"])
            assert p["candidate_weight"] == pytest.approx(weight(c_row, node), rel=1e-4)
            assert p["watched_weight"] == pytest.approx(weight(w_row, node), rel=1e-4)
    assert with_paths >= 5


def same_as_case_study(got: dict[str, Any], run: Run, user_id: str) -> None:
    """The service's explained answer equals :func:`hhfan.explain.explain` (the case study) for a run user."""
    from hhfan.explain import attribute_name, explain

    ds, g = run.dataset, run.artifacts.graph
    want = explain(run, user_id, k=len(got["recommendations"]), paths_per_candidate=3)
    assert (got["attention"] or {}) == pytest.approx(want.user_alpha, rel=1e-5)
    assert got["relevance_kind"] == want.relevance_kind
    assert len(got["recommendations"]) == len(want.recommendations)
    for rec, ref in zip(got["recommendations"], want.recommendations, strict=True):
        assert rec["video_id"] == str(ds.video_ids[ref.video]) and rec["num_paths"] == ref.num_paths
        assert [(p["watched"], f"{p['via_type']}:{p['via']}") for p in rec["paths"]] == [
            (str(ds.video_ids[q.watched]), attribute_name(g, q.attribute_type, q.attribute)) for q in ref.paths]
        for p, q in zip(rec["paths"], ref.paths, strict=True):
            assert (p["relevance"], p["watched_weight"], p["candidate_weight"], p["walk_probability"]) == \
                pytest.approx((q.relevance, q.watched_weight, q.candidate_weight, q.walk_probability), rel=1e-4)


def test_explanations_are_the_case_studys(make_app: Callable[..., Any], hhfan_run: Run) -> None:
    ds = hhfan_run.dataset
    with TestClient(make_app()) as c:
        for u in (1, 8):
            uid = str(ds.user_ids[u])
            same_as_case_study(c.get(f"/users/{uid}/recommendations", params={"k": 6, "explain": True}).json(),
                               hhfan_run, uid)


def test_unknown_user_gets_the_popular_fallback(make_app: Callable[..., Any], hhfan_run: Run) -> None:
    ds = hhfan_run.dataset
    counts = np.bincount(ds.interactions.video[hhfan_run.artifacts.split.mask(TRAIN)], minlength=ds.num_videos)
    with TestClient(make_app()) as c:
        got = c.get("/users/nobody-knows-me/recommendations", params={"k": 5, "explain": True})
        assert got.status_code == 200
        body = got.json()
        assert body["fallback"] == "popular" and body["attention"] is None
        assert [r["score"] for r in body["recommendations"]] == sorted(counts, reverse=True)[:5]
        top = body["recommendations"][0]["video_id"]
        # what an unknown user posted is excluded from their fallback, and counted in popularity
        r = c.post("/interactions", json={"interactions": [{"user_id": "nobody-knows-me", "video_id": top}]})
        assert r.status_code == 200 and r.json()["unknown_users"] == ["nobody-knows-me"]
        again = c.get("/users/nobody-knows-me/recommendations", params={"k": 5}).json()
        assert top not in [x["video_id"] for x in again["recommendations"]]
        other = c.get("/users/someone-else/recommendations", params={"k": 1}).json()
        assert other["recommendations"][0] == {"video_id": top, "score": float(counts.max() + 1), "paths": None,
                                               "num_paths": None}


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("post", "/videos", {"features": {}}, "body.video_id"),
    ("post", "/videos", {"video_id": " padded"}, "body.video_id"),
    ("post", "/videos", {"video_id": "x", "feature": {}}, "body.feature"),
    ("post", "/videos", {"video_id": "x", "features": {"visual": ["a"]}}, "body.features.visual[0]"),
    ("post", "/videos", {"video_id": "x", "features": {"visual": [1.0, 2.0]}}, "body.features.visual"),
    ("post", "/videos", {"video_id": "x", "features": {"smell": [1.0]}}, "body.features.smell"),
    ("post", "/videos", {"video_id": "x", "tags": "sport"}, "body.tags"),
    ("post", "/videos", b'{"video_id": "x", "features": {"visual": [NaN]}}', "body.features.visual[0]"),
    ("post", "/videos", b'{"video_id": "x", ', "body: invalid JSON"),
    ("post", "/interactions", {"interactions": []}, "body.interactions"),
    ("post", "/interactions", {"interactions": [{"user_id": "u0"}]}, "body.interactions[0].video_id"),
    ("get", "/users/u0/recommendations?k=0", None, "query.k"),
    ("get", "/users/u0/recommendations?k=ten", None, "query.k"),
    ("get", "/users/u0/recommendations?k=100000", None, "query.k"),
    ("get", "/users/u0/recommendations?explain=perhaps", None, "query.explain"),
])
def test_malformed_requests_are_422_naming_the_field(make_app: Callable[..., Any], method: str, path: str,
                                                     body: Any, field: str) -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        if method == "get":
            r = c.get(path)
        elif isinstance(body, bytes):
            r = c.post(path, content=body, headers={"content-type": "application/json"})
        else:
            r = c.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid" and field in r.json()["detail"], r.json()


def test_semantic_refusals_name_the_field(make_app: Callable[..., Any], hhfan_run: Run) -> None:
    ds = hhfan_run.dataset
    body = video_body(hhfan_run, 0, "new-a")
    with TestClient(make_app()) as c:
        missing = {**body, "features": {m: x for m, x in body["features"].items() if m != "acoustic"}}
        r = c.post("/videos", json=missing)
        assert r.status_code == 422 and r.json()["detail"].startswith("body.features.acoustic: missing")
        r = c.post("/videos", json={**body, "tags": [*body["tags"], "no-such-tag"]})
        assert r.status_code == 422
        assert f"body.tags[{len(body['tags'])}]: unknown tag 'no-such-tag'" in r.json()["detail"]
        huge = {**body, "features": {**body["features"], "visual": [1e39] * ds.features["visual"].shape[1]}}
        r = c.post("/videos", json=huge)
        assert r.status_code == 422 and "body.features.visual: values beyond the float32 range" in r.json()["detail"]
        r = c.post("/interactions", json={"interactions": [{"user_id": "u0", "video_id": str(ds.video_ids[0])},
                                                           {"user_id": "u0", "video_id": "missing"}]})
        assert r.status_code == 422 and r.json() == {
            "detail": "body.interactions[1].video_id: unknown video 'missing'", "code": "unknown_video"}
        assert c.get("/health").json()["posted_interactions"] == 0  # a refused batch changes nothing
        r = c.get("/videos/missing")
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_posted_video_is_recommendable_at_once(make_app: Callable[..., Any], hhfan_run: Run) -> None:
    from hhfan.inductive import NewVideo, embed_new_videos

    ds = hhfan_run.dataset
    body = video_body(hhfan_run, 11, "fresh-1")
    with TestClient(make_app()) as c:
        r = c.post("/videos", json=body)
        assert r.status_code == 201, r.text
        assert r.json() == {"video_id": "fresh-1", "source": "posted", "tags": body["tags"],
                            "linked_tags": body["tags"], "text": body["text"],
                            "modalities": {m: int(ds.features[m].shape[1]) for m in ds.modalities},
                            "interactions": 0}
        assert c.get("/videos/fresh-1").json() == r.json()
        for vid in ("fresh-1", str(ds.video_ids[0])):  # posted and run ids alike
            dup = c.post("/videos", json={**body, "video_id": vid})
            assert dup.status_code == 409 and dup.json() == {"detail": f"body.video_id: video {vid!r} already exists",
                                                             "code": "video_exists"}
        emb = embed_new_videos(hhfan_run, [NewVideo("x", {m: np.asarray(v, np.float32) for m, v in
                                                          body["features"].items()}, tuple(body["tags"]))])[0]
        eu, _ = hhfan_run.model.all_embeddings()
        for u in (0, 5):
            full = c.get(f"/users/{ds.user_ids[u]}/recommendations", params={"k": 1000}).json()["recommendations"]
            assert len(full) == ds.num_videos + 1 - len(train_videos(hhfan_run, u))
            mine = next(x for x in full if x["video_id"] == "fresh-1")
            assert mine["score"] == pytest.approx(float(eu[u] @ emb), rel=1e-5)
        explained = c.get(f"/users/{ds.user_ids[0]}/recommendations", params={"k": 1000, "explain": True}).json()
        mine = next(x for x in explained["recommendations"] if x["video_id"] == "fresh-1")
        assert mine["num_paths"] > 0  # it links to the codewords and tags of the video it copies
        assert c.get("/health").json()["posted_videos"] == 1
        odd = c.post("/videos", json={**body, "video_id": "clips/2026 #1?"})
        assert odd.status_code == 201 and c.get("/videos/clips%2F2026%20%231%3F").json()["video_id"] == "clips/2026 #1?"
        slash = c.get("/users/team%2Fanna/recommendations", params={"k": 2}).json()
        assert slash["user_id"] == "team/anna" and slash["fallback"] == "popular"


def test_posted_interactions_change_the_seen_set_at_once(make_app: Callable[..., Any], hhfan_run: Run) -> None:
    ds = hhfan_run.dataset
    uid = str(ds.user_ids[9])
    with TestClient(make_app()) as c:
        before = c.get(f"/users/{uid}/recommendations", params={"k": 5}).json()["recommendations"]
        first, second = before[0]["video_id"], before[1]["video_id"]
        r = c.post("/interactions", json={"interactions": [{"user_id": uid, "video_id": first, "timestamp": 7},
                                                           {"user_id": uid, "video_id": first}]})
        assert r.status_code == 200
        assert r.json()["accepted"] == 2 and r.json()["new"] == 1 and r.json()["unknown_users"] == []
        assert "RWSS neighbourhood" in r.json()["effective"] and "not re-sampled" in r.json()["effective"]
        after = c.get(f"/users/{uid}/recommendations", params={"k": 5}).json()["recommendations"]
        assert first not in [x["video_id"] for x in after]
        assert after[0] == before[1] and after[0]["video_id"] == second  # the rest is unchanged: same embedding
        assert c.post("/interactions", json={"interactions": [{"user_id": uid, "video_id": first}]}).json()["new"] == 0
        assert c.get(f"/videos/{first}").json()["interactions"] == int(
            np.sum(ds.interactions.video[hhfan_run.artifacts.split.mask(TRAIN)] ==
                   int(np.flatnonzero(ds.video_ids == first)[0]))) + 3


def test_restart_keeps_posted_videos_and_interactions(make_app: Callable[..., Any], hhfan_run: Run,
                                                      hhfan_run_dir: Path, tmp_path: Path) -> None:
    from hhfan.serve.app import create_app
    from hhfan.serve.state import ServeConfig

    ds = hhfan_run.dataset
    uid = str(ds.user_ids[2])
    with TestClient(make_app()) as c:
        for i in range(3):
            assert c.post("/videos", json=video_body(hhfan_run, 20 + i, f"kept-{i}")).status_code == 201
        seen = c.get(f"/users/{uid}/recommendations", params={"k": 1}).json()["recommendations"][0]["video_id"]
        posted = {"interactions": [{"user_id": uid, "video_id": seen}, {"user_id": uid, "video_id": "kept-1"}]}
        assert c.post("/interactions", json=posted).status_code == 200
        ranking = c.get(f"/users/{uid}/recommendations", params={"k": 1000}).json()
        videos = [c.get(f"/videos/kept-{i}").json() for i in range(3)]
    # a fresh process's view: the run loaded from disk again, the same state folder
    app = create_app(hhfan_run_dir, config=ServeConfig(state_dir=tmp_path / "state"))
    with TestClient(app) as c:
        h = c.get("/health").json()
        assert h["posted_videos"] == 3 and h["posted_interactions"] == 2 and h["videos"] == ds.num_videos + 3
        assert [c.get(f"/videos/kept-{i}").json() for i in range(3)] == videos
        assert c.get(f"/users/{uid}/recommendations", params={"k": 1000}).json() == ranking
        assert c.post("/videos", json=video_body(hhfan_run, 1, "kept-0")).status_code == 409


def test_a_torn_last_line_is_dropped_and_nothing_acknowledged_is_lost(make_app: Callable[..., Any],
                                                                      hhfan_run: Run, tmp_path: Path) -> None:
    journal = tmp_path / "state" / "journal.jsonl"
    with TestClient(make_app()) as c:
        for i in range(2):
            assert c.post("/videos", json=video_body(hhfan_run, i, f"t-{i}")).status_code == 201
    whole = journal.read_bytes()
    line = json.dumps({"op": "video", **video_body(hhfan_run, 5, "torn")}).encode()
    journal.write_bytes(whole + line[: len(line) // 2])  # killed mid-write: never acknowledged
    with TestClient(make_app()) as c:
        assert journal.read_bytes() == whole
        assert c.get("/health").json()["posted_videos"] == 2
        assert c.get("/videos/torn").status_code == 404
        assert c.post("/videos", json=video_body(hhfan_run, 5, "torn")).status_code == 201
    records = [json.loads(x) for x in journal.read_text().splitlines()]
    assert [r["op"] for r in records] == ["header", "video", "video", "video"]


def test_damaged_journal_and_a_second_server_are_refused(make_app: Callable[..., Any], hhfan_run: Run,
                                                         tmp_path: Path) -> None:
    from hhfan.serve.journal import JournalError
    from hhfan.serve.state import ServeBusyError

    app = make_app()
    with pytest.raises(ServeBusyError, match="in use by hhfan serve"):
        make_app()
    with TestClient(app) as c:
        assert c.post("/videos", json=video_body(hhfan_run, 0, "d-0")).status_code == 201
    journal = tmp_path / "state" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([lines[0], '{"op": "video", "video_id": "half', *lines[1:]]) + "\n")
    with pytest.raises(JournalError, match=r"journal.jsonl, line 2: not a JSON line"):
        make_app()
    journal.write_text("\n".join([lines[0], '{"op": "video", "video_id": "no-rest"}', *lines[1:]]) + "\n")
    with pytest.raises(JournalError, match=r"line 2: unreadable record"):
        make_app()
    journal.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(JournalError, match="header"):
        make_app()


def test_new_weights_reembed_posted_videos(make_app: Callable[..., Any], hhfan_run: Run, tmp_path: Path) -> None:
    journal = tmp_path / "state" / "journal.jsonl"
    with TestClient(make_app()) as c:
        assert c.post("/videos", json=video_body(hhfan_run, 3, "r-0")).status_code == 201
    records = [json.loads(x) for x in journal.read_text().splitlines()]
    stored = records[1]["embedding"]
    records[0]["model"] = "weights-of-an-earlier-training"
    records[1]["embedding"] = {"shape": [2], "f32": "AAAAAAAAAAA="}  # what those weights gave (another size)
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    notes: list[str] = []
    from hhfan.serve.app import create_app
    from hhfan.serve.state import ServeConfig, model_stamp

    app = create_app(run=hhfan_run, config=ServeConfig(state_dir=tmp_path / "state"), say=notes.append)
    with TestClient(app) as c:
        assert c.get("/videos/r-0").status_code == 200
    assert any("re-embedded" in n for n in notes)
    again = [json.loads(x) for x in journal.read_text().splitlines()]
    assert again[0]["model"] == model_stamp(hhfan_run) and again[1]["embedding"] == stored


def test_a_model_without_cold_start_answers_422(make_app: Callable[..., Any], bprmf_run: Run) -> None:
    ds = bprmf_run.dataset
    with TestClient(make_app(run=bprmf_run, warmup=True)) as c:
        assert c.get("/health").json()["new_videos"] is False
        r = c.post("/videos", json=video_body(bprmf_run, 0, "cold"))
        assert r.status_code == 422 and r.json()["code"] == "cold_start_unsupported"
        assert "BPR-MF" in r.json()["detail"], r.json()
        got = c.get(f"/users/{ds.user_ids[1]}/recommendations", params={"k": 5, "explain": True}).json()
        assert got["attention"] is None and got["relevance_kind"] == "uniform"
        same_as_case_study(got, bprmf_run, str(ds.user_ids[1]))
        want = recommend(bprmf_run, str(ds.user_ids[1]), 5)
        assert [r["video_id"] for r in got["recommendations"]] == [r["video"] for r in want["recommendations"]]
        for rec in got["recommendations"]:
            for p in rec["paths"]:
                assert p["relevance"] == pytest.approx(p["watched_weight"] * p["candidate_weight"])
