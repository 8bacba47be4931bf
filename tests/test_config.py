"""Frozen config dataclasses: YAML + overrides, unknown keys and wrong types are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhfan.config import MAX_VALUES, ConfigError, from_dict, parse_overrides, resolve, to_dict
from hhfan.graph.artifacts import GraphBuildConfig
from hhfan.graph.mhig import NODE_TYPES
from hhfan.graph.sampler import default_k_per_type
from hhfan.runner import RunConfig


def test_defaults_round_trip() -> None:
    cfg = GraphBuildConfig()
    assert from_dict(GraphBuildConfig, to_dict(cfg)) == cfg


def test_overrides_are_typed_and_nested(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("sampler:\n  restart_prob: 0.3\nsplit:\n  training_rate: 0.6\n")
    cfg = resolve(GraphBuildConfig, f, ["sampler.num_collect=100", "graph.codewords=8",
                                        "sampler.k_per_type={user: 5, video: 5}"])
    assert cfg.sampler.restart_prob == 0.3 and cfg.sampler.num_collect == 100
    assert cfg.split.training_rate == 0.6 and cfg.graph.codewords == 8
    assert cfg.sampler.k_per_type == {**default_k_per_type(), "user": 5, "video": 5}  # merged into the defaults


def test_int_promotes_to_float() -> None:
    assert resolve(GraphBuildConfig, None, ["sampler.restart_prob=0"]).sampler.restart_prob == 0.0


@pytest.mark.parametrize(("pair", "match"), [
    ("sampler.restart_probb=0.3", "did you mean 'sampler.restart_prob'"),
    ("nonsense=1", "unknown config key 'nonsense'"),
    ("sampler.num_collect=lots", "expected int, got str"),
    ("sampler.num_collect=1.5", "expected int, got float"),
    ("graph.codewords=true", "got a boolean"),
    ("split.training_rate=1.2", "training_rate must be strictly between 0 and 1"),
    ("novalue", "must look like key=value"),
])
def test_bad_overrides(pair: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve(GraphBuildConfig, None, [pair])


def test_parse_overrides_yaml_values() -> None:
    assert parse_overrides(["a.b=[1, 2]", "c=x"]) == {"a": {"b": [1, 2]}, "c": "x"}


def test_bad_yaml_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        resolve(GraphBuildConfig, f, [])


def test_nested_override_merges_into_a_mapping_default() -> None:
    k = resolve(GraphBuildConfig, None, ["sampler.k_per_type.video=5"]).sampler.k_per_type
    assert k == {**default_k_per_type(), "video": 5}  # the other types keep their k (they were 0 before)
    assert set(default_k_per_type()) == set(NODE_TYPES)  # so the known keys are the graph's node types


def test_nested_mapping_from_a_file_merges_too(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("sampler:\n  k_per_type:\n    tag: 0\n")
    assert resolve(GraphBuildConfig, f, []).sampler.k_per_type == {**default_k_per_type(), "tag": 0}


@pytest.mark.parametrize(("pair", "match"), [
    ("sampler.k_per_type.vidoe=5", r"unknown config key 'sampler\.k_per_type\.vidoe'; did you mean "
                                   r"'sampler\.k_per_type\.video'"),
    ("sampler.k_per_type={vidoe: 5}", "unknown config key 'sampler.k_per_type.vidoe'"),
    ("sampler.k_per_type={}", "an empty mapping would set none of user, video"),
])
def test_unknown_or_empty_nested_keys_are_errors(pair: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve(GraphBuildConfig, None, [pair])


def test_unknown_key_message_quotes_the_whole_key() -> None:
    with pytest.raises(ConfigError) as e:
        resolve(GraphBuildConfig, None, ["sampler.restart_probb=0.3"])
    assert str(e.value) == "unknown config key 'sampler.restart_probb'; did you mean 'sampler.restart_prob'?"


def test_validation_errors_name_the_key_without_a_stray_dot() -> None:
    with pytest.raises(ConfigError) as e:
        resolve(GraphBuildConfig, None, ["split.training_rate=1.2"])
    assert str(e.value).startswith("split.training_rate must be strictly between 0 and 1")
    with pytest.raises(ConfigError) as e:
        resolve(GraphBuildConfig, None, ["split.seed=-5"])
    assert str(e.value) == "split.seed must be an integer >= 0, got -5"


def test_invalid_yaml_in_set_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"--set sampler\.k_per_type, line 1: invalid YAML"):
        resolve(GraphBuildConfig, None, ["sampler.k_per_type={user: [1"])


@pytest.mark.parametrize("raw", ["1e-3", "1E-3", "+1e-3", "10e-4"])
def test_exponent_floats_parse_as_floats(raw: str) -> None:
    assert resolve(RunConfig, None, [f"train.lr={raw}"]).train.lr == pytest.approx(1e-3)


@pytest.mark.parametrize("pair", ["train.lr=.inf", "train.l2=.nan", "train.lr=-.inf", "sampler.restart_prob=.nan",
                                  "train.lr=1e400"])
def test_non_finite_numbers_are_refused(pair: str) -> None:
    with pytest.raises(ConfigError, match="finite"):
        resolve(RunConfig, None, [pair])


def test_an_int_too_large_for_a_float_is_refused() -> None:
    with pytest.raises(ConfigError, match="too large for a float"):
        resolve(RunConfig, None, [f"train.lr={10**400}"])


def test_unknown_val_metric_is_refused_at_config_time() -> None:
    with pytest.raises(ConfigError, match=r"train\.val_metric must be auc or NAME@K"):
        resolve(RunConfig, None, ["train.val_metric=foo@20"])
    for bad in ("ndcg", "ndcg@0", "ndcg@x"):
        with pytest.raises(ConfigError, match="val_metric"):
            resolve(RunConfig, None, [f"train.val_metric={bad}"])
    from hhfan.eval.metrics import METRIC_NAMES

    for name in METRIC_NAMES:  # every metric the evaluation computes stays valid
        assert resolve(RunConfig, None, [f"train.val_metric={name}@10"]).train.val_metric == f"{name}@10"
    assert resolve(RunConfig, None, ["train.val_metric=auc"]).train.val_metric == "auc"


def _bomb(levels: int = 9) -> str:
    parts = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    parts += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def test_a_yaml_alias_bomb_is_refused_before_any_message_is_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"more than {MAX_VALUES:,} values"):
        resolve(RunConfig, None, [f"model.dim={_bomb()}"])
    f = tmp_path / "bomb.yaml"
    f.write_text(f"model:\n  dim: {_bomb()}\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml: more than"):
        resolve(RunConfig, f, [])


def test_messages_quote_long_values_briefly() -> None:
    with pytest.raises(ConfigError) as e:
        resolve(RunConfig, None, ["model.dim=" + "x" * 100_000])
    assert len(str(e.value)) < 200


def test_config_file_problems_are_config_errors_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml does not exist"):
        resolve(RunConfig, tmp_path / "nope.yaml", [])
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("train:\n  device: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: not UTF-8 text"):
        resolve(RunConfig, latin, [])
    with pytest.raises(ConfigError, match="is not a regular file"):
        resolve(RunConfig, tmp_path, [])
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [1\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml, line \d+: invalid YAML"):
        resolve(RunConfig, broken, [])


def test_an_int_beyond_64_bits_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model\.dim: .* is outside the 64-bit integer range"):
        resolve(RunConfig, None, [f"model.dim={10**23}"])
