r"""Where each hypothesis claims to hold: its validity domain (docs/theory.md section 5).

A hypothesis is a function of the configuration derived under assumptions and checked (or
fitted) on a grid.  Its domain has two parts, both data in ``theory/domains.json``:

* ``assumed``: configuration fields the hypothesis does *not* model, each with the values
  it assumes (``P = 2``, ``optimizer = sgd`` ...).  Any other value puts the configuration
  outside the domain: the prediction is then an extrapolation and is flagged.
* ``ranges``: numeric fields (and a few derived quantities, :data:`QUANTITIES`) with the
  closed interval the hypothesis' grid spans; a value outside it is flagged too.

:func:`outside` lists, for one :class:`theory.Setting`, every field outside a domain as
``"field=value (reason)"`` with the configuration's dotted name; an empty tuple means in
domain.  Every :class:`theory.Prediction` carries the result (``in_domain``, ``outside``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Mapping

from theory.setting import Setting, setting_of

__all__ = ["Domain", "QUANTITIES", "CONFIG_NAMES", "DOMAINS_PATH", "load_domains", "domain", "outside"]

DOMAINS_PATH = "domains.json"  # inside the theory package

#: The configuration's dotted name of each :class:`theory.Setting` field (for messages).
CONFIG_NAMES: dict[str, str] = {
    "a": "task.a", "b_S": "task.b_S", "b_T": "task.b_T", "s": "task.s", "sigma_p": "task.sigma_p",
    "d": "task.d", "n_S": "n_source", "n_T": "n_target", "m": "model.m", "m_up": "model.m_up",
    "alpha": "transfer.alpha", "eta_up": "upstream.eta", "T_up": "upstream.steps",
    "eta_down": "downstream.eta", "T_down": "downstream.steps", "label_flip": "task.label_flip",
    "P": "task.P", "sigma_0": "model.sigma_0", "policy": "transfer.policy",
    "freeze": "transfer.freeze_inherited", "rescale": "transfer.rescale", "mode": "transfer.mode",
    "optimizer_up": "upstream.optimizer", "optimizer_down": "downstream.optimizer",
    "activation": "model.activation", "data": "task.data",
}  # fmt: skip

#: Derived quantities a domain may bound: the budgets eta T of each stage and d / n
#: (the proofs' over-parameterisation d >> n).
QUANTITIES: dict[str, Callable[[Setting], float]] = {
    "eta_up*T_up": lambda c: c.eta_up * c.T_up,
    "eta_down*T_down": lambda c: c.eta_down * c.T_down,
    "d/n_S": lambda c: c.d / c.n_S,
    "d/n_T": lambda c: c.d / c.n_T,
}


def _value(c: Setting, name: str) -> Any:
    return QUANTITIES[name](c) if name in QUANTITIES else getattr(c, name)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return format(v, "g") if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Domain:
    """``assumed``: field -> the values a hypothesis assumes for a field it does not model;
    ``ranges``: field or quantity -> [lo, hi] validated; ``source``: where the ranges come from;
    ``upstream_only``: fields checked only when something is inherited (k > 0)."""

    name: str
    assumed: Mapping[str, tuple[Any, ...]]
    ranges: Mapping[str, tuple[float, float]]
    source: str = ""
    upstream_only: tuple[str, ...] = ()

    def outside(self, cfg: Any) -> tuple[str, ...]:
        """Every field of ``cfg`` outside this domain, as ``"field=value (reason)"``."""
        c = setting_of(cfg)
        out = []
        for f, allowed in self.assumed.items():
            if f in self.upstream_only and c.k == 0:
                continue
            v = getattr(c, f)
            if v not in allowed:
                want = " or ".join(_fmt(x) for x in allowed)
                out.append(f"{CONFIG_NAMES.get(f, f)}={_fmt(v)} (not modelled by {self.name}: assumes {want})")
        for f, (lo, hi) in self.ranges.items():
            if f in self.upstream_only and c.k == 0:
                continue
            v = float(_value(c, f))
            tol = 1e-9 * max(1.0, abs(lo), abs(hi))
            if not (math.isfinite(v) and lo - tol <= v <= hi + tol):
                rng = f"[{_fmt(lo)}, {_fmt(hi)}]"
                out.append(f"{CONFIG_NAMES.get(f, f)}={_fmt(v)} (outside {rng} validated for {self.name})")
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "assumed": {k: list(v) for k, v in self.assumed.items()},
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "upstream_only": list(self.upstream_only)}  # fmt: skip

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> "Domain":
        return cls(
            name, {k: tuple(v) for k, v in d.get("assumed", {}).items()},
            {k: (float(v[0]), float(v[1])) for k, v in d.get("ranges", {}).items()},
            str(d.get("source", "")), tuple(d.get("upstream_only", ())),
        )  # fmt: skip


@functools.lru_cache(maxsize=4)
def _load(path: str | None) -> dict[str, Domain]:
    text = resources.files("theory").joinpath(DOMAINS_PATH).read_text() if path is None else open(path).read()
    raw = json.loads(text)
    return {k: Domain.from_dict(k, v) for k, v in raw.items() if not k.startswith("_")}


def load_domains(path: str | None = None) -> dict[str, Domain]:
    """Every domain of ``theory/domains.json`` (or ``path``), keyed by name."""
    return _load(path)


def domain(name: str | None) -> Domain | None:
    """The domain called ``name`` (None: a predictor that claims no domain, e.g. a trivial one)."""
    if name is None:
        return None
    doms = load_domains()
    if name not in doms:
        raise KeyError(f"theory/domains.json has no domain {name!r}; it has {', '.join(doms)}")
    return doms[name]


def outside(name: str | None, cfg: Any) -> tuple[str, ...]:
    """:meth:`Domain.outside` of the domain called ``name`` (() for None)."""
    dom = domain(name)
    return () if dom is None else dom.outside(cfg)
