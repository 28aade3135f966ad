"""Parsing of command-line values: ``--set key=value`` overrides and ``--grid`` specs."""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields
from typing import Any, Sequence

import numpy as np

from .checks import ConfigError
from .experiment import SECTIONS, Experiment, resolve_field

__all__ = ["parse_value", "parse_overrides", "parse_grid", "MAX_GRID_VALUES"]

#: Most values one ``--grid`` field may take (a range of more is surely a typo).
MAX_GRID_VALUES = 10_000


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML value (``0.5``, ``true``, ``"adam"``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings of the CLI's ``--set``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected key=value")
        k, v = item.split("=", 1)
        if not k.strip():
            raise ConfigError(f"--set {item}: expected key=value, the key is empty")
        try:
            name = resolve_field(k.strip())
        except ConfigError as e:
            raise ConfigError(f"--set {item}: {e}") from None
        out[name] = parse_value(v.strip())
    return out


def _field_type(name: str) -> type:
    if "." in name:
        sec, f = name.split(".")
        cls = SECTIONS[sec]
    else:
        cls, f = Experiment, name
    t = {x.name: x.type for x in fields(cls)}[f]
    return {"int": int, "float": float, "str": str, "bool": bool, "int | None": int}.get(str(t), object)


def parse_grid(items: Sequence[str]) -> dict[str, list]:
    """Parse CLI grid specs: ``n_source=10,40,160``, ``task.a=0.5:3:8`` (linspace, both ends
    included), ``task.a=log0.1:10:5`` (log-spaced).  Integer fields get integer values."""
    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid {item}: expected field=values")
        key, spec = (x.strip() for x in item.split("=", 1))
        if not key:
            raise ConfigError(f"--grid {item}: expected field=values, the field is empty")
        try:
            name = resolve_field(key)
        except ConfigError as e:
            raise ConfigError(f"--grid {item}: {e}") from None
        log = spec.startswith("log")
        body = spec[3:] if log else spec
        if ":" in body:
            parts = body.split(":")
            try:
                lo, hi, num = float(parts[0]), float(parts[1]), int(parts[2])
            except (ValueError, IndexError):
                raise ConfigError(f"--grid {item}: a range is start:stop:num (optionally log-prefixed)") from None
            if len(parts) != 3 or num < 1:
                raise ConfigError(f"--grid {item}: a range is start:stop:num with num >= 1")
            if num > MAX_GRID_VALUES:
                raise ConfigError(f"--grid {item}: at most {MAX_GRID_VALUES} values per field, got num = {num}")
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ConfigError(f"--grid {item}: the ends of a range must be finite numbers")
            if log and (lo <= 0 or hi <= 0):
                raise ConfigError(f"--grid {item}: log ranges need positive ends")
            vals: list = list(np.geomspace(lo, hi, num) if log else np.linspace(lo, hi, num))
            vals = [float(v) for v in vals]
        else:
            if log:
                raise ConfigError(f"--grid {item}: 'log' applies to a start:stop:num range")
            vals = [parse_value(v.strip()) for v in body.split(",") if v.strip()]
        if _field_type(name) is int:  # ranges of an integer field are rounded, duplicates dropped
            try:
                vals = list(dict.fromkeys(int(round(float(v))) for v in vals))
            except (TypeError, ValueError, OverflowError):
                raise ConfigError(f"--grid {item}: {name} takes integers") from None
        if not vals:
            raise ConfigError(f"--grid {item}: no values")
        grid[name] = vals
    return grid
