"""``case-study``: one user's explanation from the tables' run, as JSON, Markdown and a picture."""

from __future__ import annotations

import numpy as np
import pytest

from hhfan.data.dataset import DatasetError
from hhfan.data.split import TEST, TRAIN
from hhfan.experiments import case_study
from hhfan.runner import load_run
from tests.experiments.conftest import Done, tiny_setting


def test_outputs_and_training_edges(done: Done) -> None:
    doc = done.docs["case-study"]
    res = doc["results"]["hhfan"]
    tables8 = next(c["run_dir"] for c in done.docs["tables"]["cells"] if c["model"] == "hhfan" and c["rate"] == 0.8)
    assert res["run_dir"] == tables8 and not doc["cells"][0]["trained_now"]
    run = load_run(done.out / res["run_dir"])
    e = res["explanation"]
    u = int(np.flatnonzero(run.dataset.user_ids == e["user"])[0])
    it = run.dataset.interactions
    ids = run.dataset.video_ids
    train = set(ids[it.video[(it.user == u) & run.artifacts.split.mask(TRAIN)]].tolist())
    test = set(ids[it.video[(it.user == u) & run.artifacts.split.mask(TEST)]].tolist())
    assert test and {w["video"] for w in e["watched"]} == train and res["test_videos"] == len(test)
    assert len(e["recommendations"]) == doc["k"] == 5
    for r in e["recommendations"]:
        assert r["video"] not in train and r["hit"] == (r["video"] in test)
        assert len(r["paths"]) <= doc["paths_per_candidate"] and r["num_paths"] >= len(r["paths"])
        for p in r["paths"]:
            assert p["watched"] in train and 0 < p["relevance"] <= 1
            assert p["relevance"] == pytest.approx(p["watched_weight"] * p["candidate_weight"])
        assert sum(r["alpha"].values()) == pytest.approx(1.0)
    assert list(e["user_alpha"]) == ["users", "attributes", "videos"]  # the paper's three Eq. (6) candidates
    assert (done.out / "case-study" / "case_study_hhfan.png").read_bytes()[:4] == b"\x89PNG"
    md = (done.out / "case-study" / "case-study.md").read_text()
    assert f"user {e['user']}" in md and "Relevance (affinity)" in md


def test_given_user(done: Done) -> None:
    run = load_run(done.out / done.docs["case-study"]["results"]["hhfan"]["run_dir"])
    user = str(run.dataset.user_ids[3])
    doc = case_study.run(tiny_setting(done.out), user=user, k=2)
    assert doc["results"]["hhfan"]["explanation"]["user"] == user and doc["k"] == 2
    with pytest.raises(DatasetError, match="unknown user id 'nobody'"):
        case_study.run(tiny_setting(done.out), user="nobody")


def test_titles_from_video_texts() -> None:
    assert case_study.short("Star Wars (1977) A space opera by George Lucas", 20) == "Star Wars (1977) A…"
    assert case_study.short("  Heat  (1995) ") == "Heat (1995)" and case_study.short(None) == ""
    assert case_study.short("x" * 40, 10) == "x" * 9 + "…"
    path = {"watched": "w1", "attribute": "tag:Action", "relevance": 0.5}
    rec = {"video": "c1", "text": "Alien (1979) In space no one can hear you scream", "score": 1.0, "hit": True,
           "alpha": {}, "paths": [path], "num_paths": 1}
    e = {"user": "u1", "user_alpha": {}, "watched": [{"video": "w1", "text": "Aliens (1986) The sequel"}],
         "recommendations": [rec], "relevance": {"kind": "affinity", "definition": "d"}}
    md = case_study.markdown({"results": {"hhfan": {"explanation": e, "test_videos": 1}}})
    assert "| c1 (Alien (1979) In space no one…) |" in md and "| w1 (Aliens (1986) The sequel) → tag:Action |" in md
    rec.pop("text")
    e["watched"] = [{"video": "w1"}]
    md = case_study.markdown({"results": {"hhfan": {"explanation": e, "test_videos": 1}}})
    assert "| c1 | 1.0000 | yes |" in md and "| w1 → tag:Action |" in md  # no texts: ids alone
