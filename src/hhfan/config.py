"""Frozen-dataclass configuration: YAML presets and type-checked ``key=value`` overrides.

Every stage has its own small frozen config dataclass (no god-object). This module turns plain
mappings (from YAML or ``--set key=value``) into those dataclasses, checking every key and every
value's type, so a typo or a wrong type is a clear error, never a silently ignored setting.
Nested configs use dotted keys (``sampler.restart_prob=0.3``).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """An unknown configuration key or a value of the wrong type."""


def _check(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` coerced to annotation ``tp`` (int -> float allowed) or raise ConfigError."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            try:
                return _check(value, arm, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} is not a {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_check(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {_check(k, kt, key): _check(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if isinstance(value, bool) and tp is not bool:
            raise ConfigError(f"{key}: expected {tp.__name__}, got a boolean {value!r}")
        if isinstance(value, tp):
            return value
        raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    raise ConfigError(f"{key}: unsupported annotation {tp}")


def _unknown(cls: type, key: str, prefix: str) -> ConfigError:
    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else f"; known keys: {', '.join(names)}"
    return ConfigError(f"unknown config key {prefix}{key!r}{hint}")


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrongly typed values."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        if k not in names:
            raise _unknown(cls, k, prefix)
        kwargs[k] = _check(v, hints[k], prefix + k)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{prefix or cls.__name__}: {e}") from e


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data (YAML-safe) view of a config dataclass; tuples become lists."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return typing.cast(dict[str, Any], plain(cfg))


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=[1, 2]"]`` into a nested mapping; values are parsed as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} must look like key=value")
        key, raw = pair.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {pair!r} conflicts with another override of {p!r}")
        node[parts[-1]] = value
    return out


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``update`` wins; nested mappings are merged key by key."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve(cls: type[T], config_file: Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults, then a YAML file, then ``key=value`` overrides -> a checked frozen ``cls``."""
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{config_file}: invalid YAML: {e}") from e
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{config_file}: expected a mapping at the top level")
        data = dict(loaded)
    data = merge(data, parse_overrides(overrides or []))
    return from_dict(cls, data)
