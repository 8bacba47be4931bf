"""Frozen-dataclass configuration: YAML presets and type-checked ``key=value`` overrides.

Every stage has its own small frozen config dataclass (no god-object). This module turns plain
mappings (from YAML or ``--set key=value``) into those dataclasses, checking every key and every
value's type, so a typo or a wrong type is a clear error, never a silently ignored setting.
Nested configs use dotted keys (``sampler.restart_prob=0.3``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import reprlib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


MAX_CONFIG_BYTES = 1 << 20
"""A config file or one ``--set`` larger than this (1 MiB) is refused before it is parsed."""

MAX_VALUES = 10_000
"""A config holding more values than this (YAML aliases expanded) is refused: a real one has a few dozen."""


class ConfigError(ValueError):
    """An unknown configuration key or a value of the wrong type."""


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` / ``5E+4`` as floats (YAML 1.2; 1.1 wants a dot)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxtuple, _repr.maxdict = 3, 4, 4, 4
_repr.maxstring, _repr.maxother = 60, 60


def _show(value: Any) -> str:
    """A short ``repr`` of ``value`` for messages: bounded whatever the value's size (YAML alias bombs)."""
    text = _repr.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _count_values(value: Any, where: str, budget: list[int]) -> None:
    """Walk ``value`` (aliases expanded) and raise :class:`ConfigError` once it holds > ``MAX_VALUES`` values."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(f"{where}: more than {MAX_VALUES:,} values (YAML aliases expanded); a config holds a "
                          "few dozen settings; is this an alias bomb?")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _count_values(k, where, budget)
            _count_values(v, where, budget)
    elif isinstance(value, list | tuple):
        for v in value:
            _count_values(v, where, budget)


def load_yaml(text: str, where: str) -> Any:
    """Parse ``text`` (from ``where``: a file name or ``--set key``) with the safe loader, bounded in size.

    Raises :class:`ConfigError` for invalid YAML, input above :data:`MAX_CONFIG_BYTES`, or more than
    :data:`MAX_VALUES` values once aliases are expanded.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where}: {len(text):,} characters; a config is refused above {MAX_CONFIG_BYTES:,}")
    try:
        value = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no Python objects
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}{line}: invalid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None
    try:
        _count_values(value, where, [MAX_VALUES])
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply (or a recursive YAML alias)") from None
    return value


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
        raise ConfigError(f"{key}: {_show(value)} is not a {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {_show(value)}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {_show(value)}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {_show(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_check(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {_show(value)}")
        return {_check(k, kt, key): _check(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{key}: {_show(value)} is too large for a float") from None
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value}")
    if tp is int and isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ConfigError(f"{key}: {_show(value)} is outside the 64-bit integer range")
    if tp in (int, float, str, bool):
        if isinstance(value, bool) and tp is not bool:
            raise ConfigError(f"{key}: expected {tp.__name__}, got a boolean {value!r}")
        if isinstance(value, tp):
            return value
        raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {_show(value)}")
    raise ConfigError(f"{key}: unsupported annotation {tp}")


def _unknown_key(key: Any, names: list[str], prefix: str) -> ConfigError:
    """``unknown config key 'a.b'; did you mean 'a.c'?`` (or the list of known keys)."""
    if not isinstance(key, str):
        return ConfigError(f"config key {prefix}{_show(key)} is not a name; known keys: {', '.join(names)}")
    close = difflib.get_close_matches(key[:100], names, n=1)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else f"; known keys: {', '.join(names)}"
    return ConfigError(f"unknown config key {_show(prefix + key)}{hint}")


def _invalid(cls: type, prefix: str, e: Exception) -> ConfigError:
    """A dataclass's own validation error, naming the key: ``split.seed must be ...``."""
    msg = str(e)
    names = {f.name for f in dataclasses.fields(cls)}
    if prefix and msg.split(" ", 1)[0] in names:
        return ConfigError(prefix + msg)
    return ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {msg}")


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrongly typed values."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        if k not in names:
            raise _unknown_key(k, names, prefix)
        kwargs[k] = _check(v, hints[k], prefix + k)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise _invalid(cls, prefix, e) from e


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def with_mapping_defaults(cls: type, data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``data`` with every mapping-valued setting merged into its default mapping (recursively).

    A setting whose default is a non-empty mapping (``sampler.k_per_type``: one k per node type) has
    a fixed set of keys, its default's: a given mapping updates those keys and keeps the others
    (``sampler.k_per_type.video=5`` keeps every other type's k), a key outside the set is an unknown
    key, and an empty mapping is refused (it would silently switch every key off).
    """
    hints = typing.get_type_hints(cls)
    out = dict(data)
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        tp, value, key = hints[f.name], data[f.name], prefix + f.name
        if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, Mapping):
            out[f.name] = with_mapping_defaults(tp, value, key + ".")
        elif typing.get_origin(tp) is dict and isinstance(value, Mapping):
            default = _field_default(f)
            if not isinstance(default, Mapping) or not default:
                continue
            known = [str(k) for k in default]
            if not value:
                raise ConfigError(f"{key}: an empty mapping would set none of {', '.join(known)}; set single keys "
                                  f"instead, e.g. {key}.{known[0]}=0")
            for k in value:
                if k not in default:
                    raise _unknown_key(k, known, key + ".")
            out[f.name] = {**default, **value}
    return out


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
            raise ConfigError(f"override {_show(pair)} must look like key=value")
        key, raw = pair.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"override {_show(pair)}: {_show(key)} is not a key like sampler.restart_prob")
        value = load_yaml(raw, f"--set {key}") if raw.strip() else ""
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {_show(pair)} conflicts with another override of {p!r}")
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
        loaded = load_yaml(read_config_text(Path(config_file)), str(config_file)) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{config_file}: expected a mapping at the top level")
        data = dict(loaded)
    data = merge(data, parse_overrides(overrides or []))
    return from_dict(cls, with_mapping_defaults(cls, data))


def read_config_text(path: Path) -> str:
    """The text of config file ``path``; a missing, non-regular, oversized or non-UTF-8 file is a ConfigError."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {path} is not a regular file")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path}: {size:,} bytes; a config is refused above {MAX_CONFIG_BYTES:,}")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"config file {path}: cannot be read ({e.strerror or e})") from None
