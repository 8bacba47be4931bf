"""Frozen config dataclasses: YAML + overrides, unknown keys and wrong types are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhfan.config import ConfigError, from_dict, parse_overrides, resolve, to_dict
from hhfan.graph.artifacts import GraphBuildConfig


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
    assert cfg.sampler.k_per_type == {"user": 5, "video": 5}


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
