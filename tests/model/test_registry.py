"""The one model registry: every model, HHFAN included, is built, trained and configured the same way."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hhfan.cli import app
from hhfan.config import ConfigError, resolve
from hhfan.model.registry import MODEL_NAMES, REGISTRY, display_name, spec
from hhfan.runner import RunConfig, load_run, read_config, resolve_run, train_run
from tests.conftest import REPO

QUICK = ["train.epochs=1", "train.num_threads=1", "graph.codewords=8", "sampler.num_collect=40"]


def _small(name: str) -> list[str]:
    """``model.dim=8`` for the models that have an embedding size."""
    return ["model.dim=8"] if "dim" in {f.name for f in dataclasses.fields(spec(name).config_class())} else []


def test_every_spec_has_a_module_a_frozen_config_and_a_builder() -> None:
    assert MODEL_NAMES[:2] == ("hhfan", "hhfan-hybrid") and len(set(MODEL_NAMES)) == len(MODEL_NAMES)
    for name, s in REGISTRY.items():
        cls = s.config_class()
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name  # type: ignore[attr-defined]
        assert callable(s.load().build) and s.summary and display_name(name) == s.display
    assert display_name("hhfan") == "HHFAN" and display_name("hhfan-hybrid") != "HHFAN"
    assert [n for n in MODEL_NAMES if n.startswith("hhfan")] == ["hhfan", "hhfan-hybrid", "hhfan-cold",
                                                                 "hhfan-cl"]  # variants
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        spec("nope")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registered_model_trains_through_the_same_path(name: str, synthetic_world: Path,
                                                              tmp_path: Path) -> None:
    cfg = resolve_run(None, [*QUICK, *_small(name)], name)
    assert type(cfg.model) is spec(name).config_class()
    metrics = train_run(synthetic_world, tmp_path / "run", cfg)
    assert 0.0 <= metrics["full"]["ndcg@20"] <= 1.0 and metrics["sampled"]["num_users"] > 0
    run = load_run(tmp_path / "run")
    assert read_config(tmp_path / "run")[0] == cfg  # the saved config reads back as the same model config
    eu, ev = run.model.all_embeddings()
    assert eu.shape[0] == 200 and ev.shape[0] == 400


def test_a_key_the_model_lacks_is_a_one_line_error_naming_key_and_model(synthetic_world: Path,
                                                                        tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["train", "--data", str(synthetic_world), "--out", str(tmp_path / "r"),
                                   "--model", "lightgcn", "--set", "model.aggregator=mean"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "model.aggregator" in lines[0] and "lightgcn" in lines[0], res.output
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match=r"has no config key 'model\.propagation'"):
        resolve(RunConfig, None, ["model_name=hhfan", "model.propagation=3"])  # the paper's model has no such key
    assert resolve(RunConfig, None, ["model_name=hhfan-hybrid", "model.propagation=2"]).model.propagation == 2


def test_a_preset_names_its_model_and_a_contradicting_model_is_an_error(synthetic_world: Path,
                                                                       tmp_path: Path) -> None:
    preset = REPO / "configs" / "ml-1m" / "bprmf.yaml"
    assert resolve_run(preset).model_name == "bprmf"  # --model may be omitted
    assert resolve_run(preset, [], "bprmf").model_name == "bprmf"
    res = CliRunner().invoke(app, ["train", "--data", str(synthetic_world), "--out", str(tmp_path / "r"),
                                   "--config", str(preset), "--model", "hhfan"])
    assert res.exit_code == 2 and "contradicts" in res.output and "bprmf" in res.output
    for path in sorted((REPO / "configs").glob("*/*.yaml")):  # every preset names the model of its file name
        assert resolve_run(path).model_name == path.stem, path


NO_PRESET = {("ml-1m", "hhfan-cl")}
"""Models a dataset has no preset for yet (a comparison then runs the defaults, split included: say so)."""


def test_every_model_has_a_preset_on_each_dataset_with_that_datasets_split() -> None:
    for folder in sorted(p for p in (REPO / "configs").iterdir() if p.is_dir()):
        missing = {m for m in MODEL_NAMES if not (folder / f"{m}.yaml").exists()} - {
            m for d, m in NO_PRESET if d == folder.name}
        assert not missing, f"configs/{folder.name} lacks presets for {sorted(missing)}"
        kinds = {resolve_run(path).split.kind for path in folder.glob("*.yaml")}
        assert len(kinds) == 1, (folder.name, kinds)  # one split for every model of a dataset


def test_model_config_is_saved_under_model_and_nothing_else(synthetic_world: Path, tmp_path: Path) -> None:
    cfg = resolve_run(None, [*QUICK, "model.dim=8"], "bprmf")
    train_run(synthetic_world, tmp_path / "run", cfg)
    doc = (tmp_path / "run" / "config.yaml").read_text()
    assert "baseline:" not in doc and "model_name: bprmf" in doc
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["full"]["num_users"] > 0


def test_every_model_states_what_lambda_penalises() -> None:
    from hhfan.model.registry import l2_scope

    scopes = {name: l2_scope(name) for name in MODEL_NAMES}
    assert all(scopes.values()), scopes
    assert "every parameter" in scopes["hhfan"].lower() and "batch" in scopes["bprmf"]
