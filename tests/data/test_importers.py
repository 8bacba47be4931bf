"""Tests for the TikTok and MovieLens-1M importers.

Fixtures are tiny datasets built in code; the real files are read from ``../shared/data`` (or
``$HHFAN_SHARED_DATA``) and those tests skip when the data is absent. No real data is copied here.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from hhfan.data.dataset import Dataset, DatasetError
from hhfan.data.importers import IMPORTERS, UnsafePickleError, load_movielens_1m, load_tiktok
from hhfan.data.io import read_dataset, write_dataset

# ----------------------------------------------------------------------------- TikTok fixtures

TT_SHAPE = (4, 3)
TT_PARTS: dict[str, list[tuple[int, int]]] = {
    "trnMat.pkl": [(0, 0), (0, 1), (1, 2), (2, 0)],
    "valMat.pkl": [(1, 0)],
    "tstMat.pkl": [(0, 2), (3, 1)],
}


def _coo(pairs: list[tuple[int, int]], shape: tuple[int, int] = TT_SHAPE) -> sp.coo_matrix:
    r, c = (np.array(x, dtype=np.int32) for x in zip(*pairs, strict=True)) if pairs else (np.empty(0, np.int32),) * 2
    return sp.coo_matrix((np.ones(len(pairs)), (r, c)), shape=shape)


def make_tiktok(root: Path, parts: dict[str, object] | None = None, feat_rows: int = TT_SHAPE[1]) -> Path:
    """Write a tiny MMSSL-style TikTok directory; ``parts`` overrides what a pickle holds."""
    root.mkdir(parents=True, exist_ok=True)
    objs: dict[str, object] = {name: _coo(pairs) for name, pairs in TT_PARTS.items()}
    objs.update(parts or {})
    for name, obj in objs.items():
        (root / name).write_bytes(pickle.dumps(obj))
    rng = np.random.default_rng(0)
    for name in ("image_feat.npy", "audio_feat.npy"):
        np.save(root / name, rng.normal(size=(feat_rows, 128)).astype(np.float16))
    return root


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))  # never executed: the importer must refuse it


def test_tiktok_happy_path(tmp_path: Path) -> None:
    ds = load_tiktok(make_tiktok(tmp_path / "tt"))
    assert ds.name == "tiktok"
    assert ds.user_ids.tolist() == ["0", "1", "2", "3"]
    assert ds.video_ids.tolist() == ["0", "1", "2"]
    it = ds.interactions
    assert len(it) == 7
    assert np.bincount(it.split, minlength=3).tolist() == [4, 1, 2]
    assert it.split.dtype == np.int8 and it.user.dtype == np.int32 and it.video.dtype == np.int32
    got = {(ds.user_ids[u], ds.video_ids[v], s) for u, v, s in zip(it.user, it.video, it.split, strict=True)}
    expected = {(str(u), str(v), code) for code, pairs in enumerate(TT_PARTS.values()) for u, v in pairs}
    assert got == expected
    assert set(ds.features) == {"visual", "acoustic"}
    for f in ds.features.values():
        assert f.shape == (3, 128) and f.dtype == np.float32
    expected_visual = np.load(tmp_path / "tt" / "image_feat.npy").astype(np.float32)
    np.testing.assert_array_equal(ds.features["visual"], expected_visual)
    assert ds.num_tags == 0 and ds.video_texts is None and it.timestamp is None


def test_tiktok_drops_users_without_interactions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    parts = {"tstMat.pkl": _coo([(0, 2)])}  # user 3 now has no interaction at all
    with caplog.at_level(logging.WARNING):
        ds = load_tiktok(make_tiktok(tmp_path / "tt", parts))
    assert ds.user_ids.tolist() == ["0", "1", "2"]
    assert "dropping 1 of 4 users" in caplog.text


def test_tiktok_duplicate_entry_in_one_part_kept_once(tmp_path: Path) -> None:
    dup = sp.coo_matrix((np.ones(3), (np.array([0, 0, 1]), np.array([0, 0, 2]))), shape=TT_SHAPE)
    ds = load_tiktok(make_tiktok(tmp_path / "tt", {"trnMat.pkl": dup, "tstMat.pkl": _coo([(2, 0), (3, 1)])}))
    assert int((ds.interactions.split == 0).sum()) == 2


@pytest.mark.parametrize("missing", ["trnMat.pkl", "valMat.pkl", "tstMat.pkl", "image_feat.npy", "audio_feat.npy"])
def test_tiktok_missing_file(tmp_path: Path, missing: str) -> None:
    root = make_tiktok(tmp_path / "tt")
    (root / missing).unlink()
    with pytest.raises(DatasetError, match="missing; expected the MMSSL TikTok") as err:
        load_tiktok(root)
    assert missing in str(err.value)


def test_tiktok_source_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        load_tiktok(tmp_path / "absent")


def test_tiktok_non_sparse_pickle_refused(tmp_path: Path) -> None:
    root = make_tiktok(tmp_path / "tt", {"valMat.pkl": {"rows": [1, 2]}})
    with pytest.raises(DatasetError, match=r"valMat\.pkl: holds a builtins\.dict, expected a scipy sparse matrix"):
        load_tiktok(root)


def test_tiktok_unsafe_pickle_refused(tmp_path: Path) -> None:
    root = make_tiktok(tmp_path / "tt", {"trnMat.pkl": _Payload()})
    with pytest.raises(UnsafePickleError, match=r"trnMat\.pkl"):
        load_tiktok(root)


def test_tiktok_pair_in_two_parts_is_an_error(tmp_path: Path) -> None:
    root = make_tiktok(tmp_path / "tt", {"tstMat.pkl": _coo([(0, 2), (3, 1), (0, 0)])})  # (0, 0) also in train
    with pytest.raises(DatasetError, match="more than one split part") as err:
        load_tiktok(root)
    assert "user 0, video 0" in str(err.value) and "trnMat.pkl and tstMat.pkl" in str(err.value)


def test_tiktok_feature_rows_mismatch(tmp_path: Path) -> None:
    root = make_tiktok(tmp_path / "tt", feat_rows=5)
    with pytest.raises(DatasetError, match=r"audio_feat\.npy|image_feat\.npy") as err:
        load_tiktok(root)
    assert "has 5 rows" in str(err.value)


def test_tiktok_shape_mismatch_and_zero_entries(tmp_path: Path) -> None:
    root = make_tiktok(tmp_path / "a", {"valMat.pkl": _coo([(1, 0)], shape=(5, 3))})
    with pytest.raises(DatasetError, match=r"valMat\.pkl: shape \(5, 3\) differs"):
        load_tiktok(root)
    zero = sp.coo_matrix((np.array([0.0]), (np.array([1]), np.array([0]))), shape=TT_SHAPE)
    with pytest.raises(DatasetError, match=r"valMat\.pkl: 1 stored entries are zero"):
        load_tiktok(make_tiktok(tmp_path / "b", {"valMat.pkl": zero}))


# -------------------------------------------------------------------------- MovieLens fixtures

ML_USERS = ["10::F::1::10::48067", "20::M::56::16::70072-1234", "30::M::25::15::55117", "40::F::45::7::02460"]
ML_MOVIES = [
    "1::Toy Story (1995)::Animation|Children's|Comedy",
    "2::Jumanji (1995)::Adventure|Children's|Fantasy",
    "3::Grumpier Old Men (1995)::Comedy|Romance",
    "4::Waiting to Exhale (1995)::Comedy|Drama",
    "5::Caf\u00e9 Society (1995)::Documentary",  # not in the item map: its genre must not become a tag
]
ML_USER_MAP = ["10 0", "20 1", "30 2", "40 3"]
ML_ITEM_MAP = ["3 2", "1 0", "2 1", "4 3"]  # file order differs from idx order on purpose
ML_TRAIN = ["0 0 1 2", "1 1 3", "2 0 2", "3 3 2"]
ML_TEST = ["0 3", "1 0", "2 1"]
ML_DESC = {"1": "A toy cowboy movie story about friendship.", "2": "A board game movie story of jungle danger.",
           "3": "Old neighbours movie feud in Minnesota.", "5": "Unused."}


def make_ml(root: Path, desc: dict[str, str] | None = ML_DESC, **lines: list[str]) -> Path:
    """Write a tiny ML-1M directory; keywords ``users``/``movies``/``user_map``/``item_map``/``train``/
    ``test`` replace the lines of that file, ``desc`` the JSON descriptions (``None``: no JSON file)."""
    files = {"users": ML_USERS, "movies": ML_MOVIES, "user_map": ML_USER_MAP, "item_map": ML_ITEM_MAP,
             "train": ML_TRAIN, "test": ML_TEST, **lines}
    (root / "colakg").mkdir(parents=True, exist_ok=True)
    (root / "users.dat").write_text("\n".join(files["users"]) + "\n", encoding="latin-1")
    (root / "movies.dat").write_text("\n".join(files["movies"]) + "\n", encoding="latin-1")
    for name in ("user_map", "item_map", "train", "test"):
        (root / "colakg" / f"{name}.txt").write_text("\n".join(files[name]) + "\n")
    if desc is not None:
        (root / "colakg" / "llm_response_item.json").write_text(json.dumps(desc, indent=4))
    return root


def test_movielens_happy_path(tmp_path: Path) -> None:
    ds = load_movielens_1m(make_ml(tmp_path / "ml"), text_dim=8)
    assert ds.name == "ml-1m"
    assert ds.user_ids.tolist() == ["10", "20", "30", "40"]
    assert ds.video_ids.tolist() == ["1", "2", "3", "4"]  # idx order of item_map.txt
    it = ds.interactions
    assert len(it) == 12 and it.timestamp is None
    assert np.bincount(it.split, minlength=3).tolist() == [9, 0, 3]
    pairs = {(ds.user_ids[u], ds.video_ids[v], int(s)) for u, v, s in zip(it.user, it.video, it.split, strict=True)}
    assert ("10", "1", 0) in pairs and ("10", "4", 2) in pairs and ("30", "2", 2) in pairs
    assert ds.user_attributes["gender"].tolist() == ["F", "M", "M", "F"]
    assert ds.user_attributes["age"].tolist() == ["1", "56", "25", "45"]
    assert ds.user_attributes["occupation"].tolist() == ["10", "16", "15", "7"]
    assert ds.user_attributes["zip2"].tolist() == ["48", "70", "55", "02"]
    assert ds.tag_names.tolist() == sorted(["Animation", "Children's", "Comedy", "Adventure", "Fantasy",
                                            "Romance", "Drama"])
    tags = {(ds.video_ids[v], ds.tag_names[t]) for v, t in ds.video_tags}
    assert ("1", "Animation") in tags and ("4", "Drama") in tags and len(tags) == 10
    assert ds.tag_tree.shape == (0, 2) and ds.user_tags.shape == (0, 2)
    assert ds.video_texts is not None
    assert ds.video_texts[0] == "Toy Story (1995) " + ML_DESC["1"]
    assert ds.video_texts[3] == "Waiting to Exhale (1995)"  # no description -> title only
    f = ds.features["textual"]
    assert set(ds.features) == {"textual"}
    assert f.shape == (4, 8) and f.dtype == np.float32 and np.isfinite(f).all()
    norms = np.linalg.norm(f, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
    again = load_movielens_1m(make_ml(tmp_path / "ml2"), text_dim=8)
    np.testing.assert_array_equal(again.features["textual"], f)  # deterministic for a seed


def test_movielens_dedup_and_drop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    train = ["0 0 1 2 1", "1 1 3", "2 0 2"]  # user idx 3 has no line in train and none in test
    with caplog.at_level(logging.WARNING):
        ds = load_movielens_1m(make_ml(tmp_path / "ml", train=train), text_dim=4)
    assert "1 repeated (user, movie) pairs kept once" in caplog.text
    assert "dropping 1 of 4 users" in caplog.text
    assert ds.user_ids.tolist() == ["10", "20", "30"]
    assert ds.user_attributes["zip2"].tolist() == ["48", "70", "55"]
    assert len(ds.interactions) == 7 + 3


def test_movielens_without_descriptions(tmp_path: Path) -> None:
    ds = load_movielens_1m(make_ml(tmp_path / "ml", desc=None), text_dim=4)
    assert ds.video_texts is not None
    assert ds.video_texts.tolist() == ["Toy Story (1995)", "Jumanji (1995)", "Grumpier Old Men (1995)",
                                       "Waiting to Exhale (1995)"]
    assert ds.features["textual"].shape == (4, 4)


@pytest.mark.parametrize("missing", ["users.dat", "movies.dat", "colakg/user_map.txt", "colakg/item_map.txt",
                                     "colakg/train.txt", "colakg/test.txt"])
def test_movielens_missing_file(tmp_path: Path, missing: str) -> None:
    root = make_ml(tmp_path / "ml")
    (root / missing).unlink()
    with pytest.raises(DatasetError, match="missing; expected") as err:
        load_movielens_1m(root)
    assert missing.split("/")[-1] in str(err.value)


@pytest.mark.parametrize(("override", "message"), [
    ({"users": [*ML_USERS[:2], "30::M::25::15", ML_USERS[3]]}, r"users\.dat, line 3: expected 5"),
    ({"users": [*ML_USERS[:3], "x::F::45::7::02460"]}, r"users\.dat, line 4: UserID 'x' is not an integer"),
    ({"movies": [ML_MOVIES[0], "2 Jumanji (1995) Adventure", *ML_MOVIES[2:]]}, r"movies\.dat, line 2: expected 3"),
    ({"train": ["0 0 1 2", "1 1 x"]}, r"train\.txt, line 2: 'x' is not an integer"),
    ({"test": ["0 3", "1 9"]}, r"test\.txt, line 2: item index 9 not in item_map"),
    ({"test": ["7 1"]}, r"test\.txt, line 1: user index 7 not in user_map"),
    ({"item_map": ["3 2", "1 0 extra"]}, r"item_map\.txt, line 2: expected 2 fields"),
    ({"user_map": ["10 0", "20 2"]}, r"user_map\.txt: indices are not exactly 0\.\.1"),
    ({"test": ["0 3", "1 1"]}, r"both train\.txt and test\.txt, e\.g\. UserID 20, MovieID 2"),
    ({"movies": ML_MOVIES[:3]}, r"movies\.dat: 1 movies of colakg/item_map\.txt are missing \(e\.g\. MovieID 4\)"),
    ({"users": ML_USERS[1:]}, r"users\.dat: 1 users .* missing \(e\.g\. UserID 10\)"),
])
def test_movielens_malformed(tmp_path: Path, override: dict[str, list[str]], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_movielens_1m(make_ml(tmp_path / "ml", **override))


def test_movielens_bad_json_names_line(tmp_path: Path) -> None:
    root = make_ml(tmp_path / "ml")
    (root / "colakg" / "llm_response_item.json").write_text('{\n "1": "ok",\n "2": oops\n}')
    with pytest.raises(DatasetError, match=r"llm_response_item\.json, line 3: invalid JSON"):
        load_movielens_1m(root)


def test_registry() -> None:
    assert sorted(IMPORTERS) == ["movielens-1m", "tiktok"]
    assert IMPORTERS["tiktok"] is load_tiktok and IMPORTERS["movielens-1m"] is load_movielens_1m


# ------------------------------------------------------------------------------- real data

def _shared_data() -> Path:
    env = os.environ.get("HHFAN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _real(sub: str, marker: str) -> Path:
    path = _shared_data() / sub
    if not (path / marker).is_file():
        pytest.skip(f"real data not available at {path}")
    return path


@pytest.fixture(scope="module")
def tiktok_real() -> Dataset:
    return load_tiktok(_real("tiktok-mmssl", "trnMat.pkl"))


@pytest.fixture(scope="module")
def ml_real() -> Dataset:
    return load_movielens_1m(_real("ml-1m", "colakg/train.txt"))


@pytest.mark.realdata
def test_real_tiktok_counts(tiktok_real: Dataset) -> None:
    ds = tiktok_real
    assert ds.num_users == 9308  # no user is dropped: every row has at least one interaction
    assert ds.num_videos == 6710
    assert np.bincount(ds.interactions.split, minlength=3).tolist() == [59541, 3051, 6130]
    assert ds.user_ids[0] == "0" and ds.user_ids[-1] == "9307" and ds.video_ids[-1] == "6709"
    for m in ("visual", "acoustic"):
        assert ds.features[m].shape == (6710, 128) and ds.features[m].dtype == np.float32
    train_users = np.unique(ds.interactions.user[ds.interactions.split == 0])
    assert ds.num_users - train_users.shape[0] == 10  # 10 users only in val/test (documented)


@pytest.mark.realdata
def test_real_tiktok_write_read_round_trip(tiktok_real: Dataset, tmp_path: Path) -> None:
    out = write_dataset(tiktok_real, tmp_path / "tiktok")
    assert read_dataset(out).fingerprint() == tiktok_real.fingerprint()


@pytest.mark.realdata
def test_real_movielens_counts(ml_real: Dataset) -> None:
    ds = ml_real
    assert ds.num_users == 6040 and ds.num_videos == 3260
    assert len(ds.interactions) == 998539  # no duplicate pairs in the CoLaKG files
    assert np.bincount(ds.interactions.split, minlength=3).tolist() == [801218, 0, 197321]
    f = ds.features["textual"]
    assert f.shape == (3260, 64) and f.dtype == np.float32 and np.isfinite(f).all()
    assert ds.num_tags == 18
    assert {c: len(set(v.tolist())) for c, v in ds.user_attributes.items()} == {
        "gender": 2, "age": 7, "occupation": 21, "zip2": 100}
    assert ds.video_texts is not None and all(t.strip() for t in ds.video_texts)


ML_1M_FINGERPRINT = "99cb6b6e60328d921c1e5a71ca4b6fa6148e139af1992fdda2db6f59a9bd3653"
"""The fingerprint of the imported ML-1M on every machine: a run ledger keyed by it holds across machines."""


@pytest.mark.realdata
def test_real_movielens_import_is_bit_identical_whatever_the_blas_threads(ml_real: Dataset) -> None:
    # the SVD's last bits vary with BLAS's thread count and CPU (about 1e-13); rounding makes them not matter
    from threadpoolctl import threadpool_limits

    from hhfan.data.importers.movielens import text_features

    assert ml_real.video_texts is not None
    texts = [str(t) for t in ml_real.video_texts]
    with threadpool_limits(1):
        one = text_features(texts)
    with threadpool_limits(2):
        two = text_features(texts)
    assert np.array_equal(one, two) and np.array_equal(one, ml_real.features["textual"])
    assert ml_real.fingerprint() == ML_1M_FINGERPRINT



# ------------------------------------------------------------------- hostile inputs (issue 18)
def test_tiktok_pickle_declaring_a_trillion_users_is_refused_at_once(tmp_path: Path) -> None:
    import time

    huge = sp.coo_matrix((np.ones(1), (np.array([5]), np.array([0]))), shape=(10**12, TT_SHAPE[1]))
    root = make_tiktok(tmp_path / "tt", parts={"trnMat.pkl": huge})
    t0 = time.perf_counter()
    with pytest.raises(DatasetError, match=r"trnMat\.pkl: declares 1,000,000,000,000 users \(rows\); at most "):
        load_tiktok(root)
    assert time.perf_counter() - t0 < 5


def test_importers_drop_empty_users_in_memory_linear_in_interactions(tmp_path: Path) -> None:
    from hhfan.data.importers.common import kept_users

    kept, new_user = kept_users(np.array([7, 3, 7, 2**31 - 2]), 2**31 - 1, "test")
    assert kept.tolist() == [3, 7, 2**31 - 2] and new_user.tolist() == [1, 0, 1, 2]


def test_a_fifo_in_an_import_source_is_refused_without_hanging(tmp_path: Path) -> None:
    root = make_tiktok(tmp_path / "tt")
    (root / "valMat.pkl").unlink()
    os.mkfifo(root / "valMat.pkl")
    with pytest.raises(DatasetError, match=r"valMat\.pkl: not a regular file"):
        load_tiktok(root)
