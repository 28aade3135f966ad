"""Frozen, validated configuration of one transfer experiment (docs/design.md sections 1-4).

Every field is checked at construction; a bad value raises ``ValueError`` naming the
dotted field (``task.sigma_p``) and the allowed range.  Fields fall in two classes:

* **static** fields fix array shapes or control flow (``task.d``, ``model.m``,
  ``n_source``, ``transfer.policy`` ...).  Changing one recompiles.
* **traced** fields (``config.traced``) enter the compiled trial as scalars, so a sweep
  over them reuses one compilation.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from .checks import BACKENDS, ConfigError, _check_choice, _check_int, _fail, digit_pool_size, parse_digit_pair
from .sections import Eval, Model, Task, Train, Transfer

__all__ = [
    "Experiment",
    "SECTIONS",
    "ALIASES",
    "resolve_field",
    "with_overrides",
    "from_dict",
    "load_toml",
    "dump_toml",
]


def _default_downstream() -> Train:
    return Train()


@dataclass(frozen=True)
class Experiment:
    """One transfer experiment: upstream -> inheritance -> transfer and paired scratch."""

    task: Task = field(default_factory=Task)
    model: Model = field(default_factory=Model)
    upstream: Train = field(default_factory=Train)
    downstream: Train = field(default_factory=_default_downstream)
    transfer: Transfer = field(default_factory=Transfer)
    eval: Eval = field(default_factory=Eval)
    n_source: int = 80  # n_S, upstream training samples (static)
    n_target: int = 20  # n_T, downstream training samples (static)
    backend: str = "dense"  # dense | gram (static)

    def __post_init__(self) -> None:
        for name, cls in (
            ("task", Task),
            ("model", Model),
            ("upstream", Train),
            ("downstream", Train),
            ("transfer", Transfer),
            ("eval", Eval),
        ):
            if not isinstance(getattr(self, name), cls):
                _fail(name, f"must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        self.upstream._validate("upstream")
        self.downstream._validate("downstream")
        _check_int("n_source", self.n_source, lo=1)
        _check_int("n_target", self.n_target, lo=1)
        _check_choice("backend", self.backend, BACKENDS)
        if self.backend == "gram" and self.transfer.mode != "inherit":
            _fail("transfer.mode", f"{self.transfer.mode!r} needs backend = \"dense\" (gram supports inherit only)")
        if self.task.data == "digits":
            if self.backend != "dense":
                _fail("backend", f'task.data = "digits" needs backend = "dense", got {self.backend!r}')
            if self.transfer.policy == "top_signal":
                _fail("transfer.policy", "top_signal ranks filters by the synthetic signal u; "
                      'not defined for task.data = "digits"')  # fmt: skip
            if self.eval.measure_draws:
                _fail("eval.measure_draws", 'the measurements need the synthetic signal mu_T; '
                      'set 0 for task.data = "digits"')  # fmt: skip
            for name, half in (("n_source", "source"), ("n_target", "target")):
                pair = getattr(self.task, f"{half}_digits")
                pool = digit_pool_size(parse_digit_pair(f"task.{half}_digits", pair), half)
                n = getattr(self, name)
                if n > pool - 1:
                    _fail(name, f"the {half} pool of digits {pair} holds {pool} images and at least one is "
                          f"held out for testing: need {name} <= {pool - 1}, got {n}")  # fmt: skip
        k = self.k_inherited
        if k > self.model.m_upstream:
            _fail(
                "transfer.alpha",
                f"round(alpha * m) = {k} inherited filters exceed model.m_up = "
                f"{self.model.m_upstream}; need alpha <= {self.model.m_upstream / self.model.m:g}",
            )

    @property
    def k_inherited(self) -> int:
        """k = round(alpha * m), the inherited filters per class (0 when not inheriting)."""
        return int(round(self.transfer.alpha * self.model.m)) if self.transfer.inherits else 0

    # -- dotted access -------------------------------------------------------------
    def get(self, dotted: str) -> Any:
        """Value of a dotted field, e.g. ``exp.get("task.a")``."""
        obj: Any = self
        for part in resolve_field(dotted).split("."):
            obj = getattr(obj, part)
        return obj

    def set(self, **dotted: Any) -> "Experiment":
        """Copy with dotted fields replaced: ``exp.set(**{"task.a": 2.0})``."""
        return with_overrides(self, dotted)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return dump_toml(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "config") -> "Experiment":
        return from_dict(d, source)

    @classmethod
    def from_toml(cls, path: str) -> "Experiment":
        return load_toml(path)


SECTIONS: dict[str, type] = {
    "task": Task,
    "model": Model,
    "upstream": Train,
    "downstream": Train,
    "transfer": Transfer,
    "eval": Eval,
}

#: Short names accepted wherever a dotted field is (``a`` means ``task.a``).
ALIASES: dict[str, str] = {
    f.name: f"task.{f.name}" for f in fields(Task)
} | {
    "alpha": "transfer.alpha",
    "m": "model.m",
    "m_up": "model.m_up",
    "sigma_0": "model.sigma_0",
    "policy": "transfer.policy",
    "rescale": "transfer.rescale",
    "n_S": "n_source",
    "n_T": "n_target",
    "T_up": "upstream.steps",
    "T_down": "downstream.steps",
    "eta_up": "upstream.eta",
    "eta_down": "downstream.eta",
}


def resolve_field(dotted: str) -> str:
    """Canonical dotted name of a field or alias; ``ConfigError`` if unknown."""
    if dotted in ALIASES:
        return ALIASES[dotted]
    parts = dotted.split(".")
    if len(parts) == 1:
        if dotted in {f.name for f in fields(Experiment)} and dotted not in SECTIONS:
            return dotted
    elif len(parts) == 2 and parts[0] in SECTIONS:
        if parts[1] in {f.name for f in fields(SECTIONS[parts[0]])}:
            return dotted
    if not isinstance(dotted, str) or not dotted.strip():
        raise ConfigError(f"{dotted!r}: not a config field name (e.g. task.a, n_source)")
    known = sorted(
        [f.name for f in fields(Experiment) if f.name not in SECTIONS]
        + [f"{s}.{f.name}" for s, c in SECTIONS.items() for f in fields(c)]
    )
    raise ConfigError(f"{dotted}: unknown config field; known fields: {', '.join(known)}")


def with_overrides(exp: Experiment, overrides: Mapping[str, Any]) -> Experiment:
    """Copy of ``exp`` with dotted fields replaced, validated again."""
    top: dict[str, Any] = {}
    sub: dict[str, dict[str, Any]] = {}
    for key, val in overrides.items():
        name = resolve_field(key)
        if "." in name:
            sec, f = name.split(".")
            sub.setdefault(sec, {})[f] = val
        else:
            top[name] = val
    for sec, kv in sub.items():
        try:
            top[sec] = replace(getattr(exp, sec), **kv)
        except ConfigError as e:
            # Train sections validate under the generic name "train": rename the stage.
            raise ConfigError(str(e).replace("train.", f"{sec}.", 1)) from None
    return replace(exp, **top)


def from_dict(d: Mapping[str, Any], source: str = "config") -> Experiment:
    """Build an Experiment from nested mappings (a parsed TOML file)."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{source}: expected a table of settings")
    flat: dict[str, Any] = {}
    for key, val in d.items():
        if key in SECTIONS:
            if not isinstance(val, Mapping):
                raise ConfigError(f"{key}: expected a table [{key}], got {val!r}")
            for k2, v2 in val.items():
                flat[f"{key}.{k2}"] = v2
        else:
            flat[key] = val
    return with_overrides(Experiment(), flat)


def load_toml(path: str) -> Experiment:
    """Read an Experiment from a TOML file; errors name the file and the field."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    try:
        return from_dict(data, source=path)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None



def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {v!r} to TOML")


def dump_toml(d: Mapping[str, Any]) -> str:
    """Write the (two-level) config dict as TOML; ``None`` values are omitted."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, Mapping) and v is not None]
    for k, v in d.items():
        if isinstance(v, Mapping):
            lines.append(f"\n[{k}]")
            lines += [f"{k2} = {_toml_value(v2)}" for k2, v2 in v.items() if v2 is not None]
    return "\n".join(lines) + "\n"
