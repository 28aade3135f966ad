"""The search space of ``simtransfer falsify``: a base configuration and ranges of fields.

A space file (TOML) has a ``[base]`` table of field overrides (on top of falsify's
defaults, :data:`simtransfer.experiments.falsify.BASE`) and a ``[space]`` table, one entry
per searched field (dotted names or the aliases of ``--set``)::

    [base]
    n_source = 160

    [space]
    a = {low = 0.3, high = 1.5}                    # linear range
    sigma_p = {low = 0.6, high = 1.6, log = true}  # log range
    "model.m" = {low = 4, high = 12}               # integer field: integers in [4, 12]
    n_source = {choices = [40, 160, 640]}          # categorical (any field, any type)
    policy = {choices = ["first", "random"]}

Integer fields (shapes: d, n_source, m, steps ...) are static: each distinct value is a new
shape group and a new compilation, so give them a few ``choices`` rather than a wide range.
An optional top-level ``config = "file.toml"`` starts the base from a config file.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

from ._deps import TRACED_FIELDS, ConfigError, Experiment, field_type, load_toml, resolve_field

__all__ = ["Param", "Space", "load_space"]


@dataclass(frozen=True)
class Param:
    """One searched field: a [low, high] range (``log``-uniform if ``log``; integers for an
    integer field) or a list of ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()

    def distribution(self):
        """The optuna distribution of this field."""
        import optuna

        d = optuna.distributions
        if self.choices:
            return d.CategoricalDistribution(list(self.choices))
        if self.integer:
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        return d.FloatDistribution(float(self.low), float(self.high), log=self.log)

    @property
    def traced(self) -> bool:
        return self.name in TRACED_FIELDS

    def describe(self) -> str:
        if self.choices:
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        kind = ("log-" if self.log else "") + ("integer" if self.integer else "uniform")
        return f"{self.name} {kind} in [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Space:
    """A base ``Experiment`` (``base``, from falsify's defaults, ``config`` and ``overrides``)
    and the searched fields ``params`` (dotted name -> :class:`Param`)."""

    params: Mapping[str, Param]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    config: str | None = None
    source: str = "space"

    def base(self, defaults: Mapping[str, Any] = ()) -> Experiment:
        exp = load_toml(self.config) if self.config else Experiment()
        try:
            return exp.set(**dict(defaults)).set(**dict(self.overrides))
        except ConfigError as e:
            raise ConfigError(f"{self.source}: [base]: {e}") from None

    def distributions(self) -> dict[str, Any]:
        return {n: p.distribution() for n, p in self.params.items()}

    def to_dict(self) -> dict[str, Any]:
        """A TOML-able dict (the format of :func:`load_space`)."""
        sp = {}
        for n, p in self.params.items():
            sp[n] = {"choices": list(p.choices)} if p.choices else {"low": p.low, "high": p.high, "log": p.log}
        out: dict[str, Any] = {"base": dict(self.overrides), "space": sp}
        if self.config:
            out["config"] = self.config
        return out


def _param(source: str, key: str, spec: Any) -> Param:
    try:
        name = resolve_field(key)
    except ConfigError as e:
        raise ConfigError(f"{source}: [space] {e}") from None
    where = f"{source}: [space] {key}"
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: expected {{low = ..., high = ...[, log = true]}} or {{choices = [...]}}, got {spec!r}"
        )
    unknown = set(spec) - {"low", "high", "log", "choices"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (low, high, log, choices)")
    ftype = field_type(name)
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise ConfigError(f"{where}: choices cannot be combined with low/high/log")
        ch = spec["choices"]
        if not isinstance(ch, list) or not ch:
            raise ConfigError(f"{where}: choices must be a non-empty list")
        if len({repr(c) for c in ch}) != len(ch):
            raise ConfigError(f"{where}: choices repeat a value")
        return Param(name, choices=tuple(ch))
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a range needs low and high")
    lo, hi, log = spec["low"], spec["high"], spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false")
    if ftype not in (int, float):
        raise ConfigError(f"{where}: {name} is not numeric; use choices = [...]")
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}: low and high must be finite numbers, got {v!r}")
    if ftype is int and (lo != int(lo) or hi != int(hi)):
        raise ConfigError(f"{where}: {name} is an integer field; low and high must be integers")
    if not lo < hi:
        raise ConfigError(f"{where}: need low < high, got {lo} >= {hi}")
    if log and lo <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {lo}")
    return Param(name, float(lo), float(hi), log, ftype is int)


def space_from_dict(d: Mapping[str, Any], source: str = "space", base_dir: str | None = None) -> Space:
    """A :class:`Space` from the parsed TOML (``base``, ``space``, ``config``); ConfigError
    naming the file and entry on a bad one."""
    unknown = set(d) - {"base", "space", "config"}
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {', '.join(sorted(unknown))} (expected [base], [space], config)")
    if not isinstance(d.get("space"), Mapping) or not d["space"]:
        raise ConfigError(f"{source}: needs a non-empty [space] table of searched fields")
    params: dict[str, Param] = {}
    for key, spec in d["space"].items():
        p = _param(source, key, spec)
        if p.name in params:
            raise ConfigError(f"{source}: [space] {p.name} given twice")
        params[p.name] = p
    base = d.get("base", {})
    if not isinstance(base, Mapping):
        raise ConfigError(f"{source}: [base] must be a table of field = value")
    overrides = {}
    for k, v in base.items():
        try:
            overrides[resolve_field(k)] = v
        except ConfigError as e:
            raise ConfigError(f"{source}: [base] {e}") from None
    config = d.get("config")
    if config is not None:
        if not isinstance(config, str):
            raise ConfigError(f"{source}: config must be a file name")
        if base_dir and not os.path.isabs(config):
            config = os.path.join(base_dir, config)
    sp = Space(params, overrides, config, source)
    sp.base()  # validates the base now (one line naming the file)
    return sp


def load_space(path: str | os.PathLike) -> Space:
    """Read a space file (format in the module docstring)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            d = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: space file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    return space_from_dict(d, source=path, base_dir=os.path.dirname(os.path.abspath(path)))
