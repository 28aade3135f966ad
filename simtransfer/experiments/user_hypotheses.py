"""A researcher's own hypothesis, scored like the built-in ones (docs/theory.md section 3).

A hypothesis is anything :func:`resolve` accepts:

* a callable ``fn(cfg) -> theory.Prediction`` (configuration only, like H1-H4);
* a callable ``fn(cfg) -> float``: the predicted gain ``err_scratch - err_transfer``; its
  sign is the predicted sign (:func:`theory.Prediction` errors stay NaN, so only the sign
  rows of the table are scored for it);
* a plug-in ``fn(cfg, measured) -> Prediction | float``, where ``measured`` is a
  :class:`Measured`: the quantities measured *before fine-tuning* that the built-in
  plug-ins (H1-plugin ... H4-plugin) receive;
* the name of a built-in (``"H1"``, ``"H4"``, ``"H4-plugin"``, ``"sign_of_s"`` ...);
* an import path ``"package.module:function"`` or ``"path/to/file.py:function"``.

Every call is checked: a hypothesis that raises, returns NaN, or returns something other
than a Prediction or a number raises :class:`HypothesisError`, one line naming the
hypothesis and the cell.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import os
import sys
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np

from ..config import ConfigError  # not ._deps: runs.sweep imports this module

__all__ = ["Measured", "Hypothesis", "HypothesisError", "resolve", "resolve_all", "builtin_names"]


class HypothesisError(ConfigError):
    """A user hypothesis could not be loaded, raised, or returned a bad value (one line)."""


@dataclass(frozen=True)
class Measured:
    """Quantities measured *before fine-tuning*, per cell: what a plug-in may use.

    Attributes:
      lam: lambda, the noise output s.d. of the k inherited filters (transfer model at
        initialisation, downstream 1/m) over that of the scratch model
        (:func:`theory.lambda_measured`); median over the first ``measure_seeds`` seeds.
      err_zeroshot: mean exact target error of the zero-shot model (inherited filters, no
        fine-tuning), over the cell's non-diverged seeds.
      r_zeroshot: its SNR in calibrated units (:func:`theory.snr_of_error`), H4-plugin's input.
      G: H3's ratio, the upstream filters' signal on mu_T, s <w - w_0, u>, over the scratch
        model's learned signal s <w - w_0, u> + <w - w_0, v_T> (seed means).
      seeds: non-diverged seeds the means are over.
    """

    lam: float
    err_zeroshot: float
    r_zeroshot: float
    G: float
    seeds: int

    @classmethod
    def from_cell(cls, cell: Mapping[str, Any]) -> "Measured":
        """From a per-cell summary of ``simtransfer.experiments.check`` (``_cell``)."""
        return cls(cell["lam_measured"], cell["err_zeroshot"], cell["r_zeroshot"], cell["G_measured"], cell["seeds"])


def _builtins() -> dict[str, tuple[Callable, bool]]:
    """Built-in name -> (function, takes measured): ``theory.predict``'s entries and the
    plug-ins ``check`` scores, fed the same measured quantities."""
    import theory

    out: dict[str, tuple[Callable, bool]] = {}
    for name in theory.predict(_default_cfg()):
        out[name] = ((lambda cfg, _n=name: theory.predict(cfg)[_n]), False)
    out["H4"] = (theory.h4, False)
    out["H1-plugin"] = ((lambda cfg, m: theory.h1_plugin(cfg, m.lam)), True)
    out["H1-corrected-plugin"] = ((lambda cfg, m: theory.h1_corrected(cfg, lam=m.lam)), True)
    out["H2-plugin"] = ((lambda cfg, m: theory.h2_plugin(cfg, m.lam)), True)
    out["H3-plugin"] = ((lambda cfg, m: theory.h3_plugin(cfg, m.G)), True)
    out["H4-plugin"] = ((lambda cfg, m: theory.h4_plugin(cfg, m.lam, m.r_zeroshot)), True)
    if hasattr(theory, "h5_plugin"):
        out["H5-plugin"] = ((lambda cfg, m: theory.h5_plugin(cfg, m.lam)), True)
    return out


def _default_cfg():
    from ..config import Experiment

    return Experiment()


def builtin_names() -> tuple[str, ...]:
    """Names of the built-in hypotheses :func:`resolve` accepts (H1 ... H5, their plug-ins,
    the trivial predictors)."""
    return tuple(_builtins())


def _cell_label(cfg: Any, where: Mapping[str, Any] | None) -> str:
    if where:
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in where.items())
    t = cfg.task
    return f"a={t.a:g}, b_T={t.b_T:g}, s={t.s:g}, n_S={cfg.n_source}, alpha={cfg.transfer.alpha:g}"


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


@dataclass(frozen=True)
class Hypothesis:
    """A checked hypothesis: ``name``, ``fn`` and whether it is a plug-in (takes ``measured``)."""

    name: str
    fn: Callable
    plugin: bool = False
    builtin: bool = False

    @property
    def kind(self) -> str:
        """Its row kind in ``check``'s table: config / plug-in (built-ins), user / user plug-in."""
        if self.builtin:
            return "trivial" if self.name in ("sign_of_s", "always_helps") else ("plug-in" if self.plugin else "config")
        return "user plug-in" if self.plugin else "user"

    def __call__(self, cfg: Any, measured: Measured | None = None, where: Mapping[str, Any] | None = None):
        """The hypothesis' ``theory.Prediction`` at ``cfg``; ``HypothesisError`` naming it and
        the cell (``where``: the cell's varied fields) if it raises or returns a bad value."""
        import theory

        cell = _cell_label(cfg, where)
        if self.plugin and measured is None:
            raise HypothesisError(f"hypothesis {self.name!r} at cell ({cell}): a plug-in needs the measured quantities")
        try:
            out = self.fn(cfg, measured) if self.plugin else self.fn(cfg)
        except Exception as e:  # noqa: BLE001 - any failure of user code becomes one line
            raise HypothesisError(f"hypothesis {self.name!r} at cell ({cell}) raised {_one_line(e)}") from None
        if isinstance(out, theory.Prediction):
            sign = out.sign  # an int, or an integral float such as np.sign's
            num = isinstance(sign, (int, float, np.integer, np.floating)) and not isinstance(sign, (bool, np.bool_))
            if not num or sign not in (-1, 0, 1):
                raise HypothesisError(f"hypothesis {self.name!r} at cell ({cell}): Prediction.sign must be -1, 0 or 1, "
                                      f"got {sign!r}")  # fmt: skip
            # NaN errors are allowed in a Prediction: sign-only ones (the trivial predictors) carry them
            return replace(out, hypothesis=self.name, sign=int(sign))
        if isinstance(out, (bool, np.bool_)) or not isinstance(out, (int, float, np.integer, np.floating)):
            raise HypothesisError(f"hypothesis {self.name!r} at cell ({cell}) returned {type(out).__name__}; "
                                  "expected a theory.Prediction or a float (the predicted gain)")  # fmt: skip
        gain = float(out)
        if not math.isfinite(gain):
            raise HypothesisError(
                f"hypothesis {self.name!r} at cell ({cell}) returned {gain} (a predicted gain must be finite)"
            )
        sign = 0 if gain == 0 else (1 if gain > 0 else -1)
        return theory.Prediction(self.name, math.nan, math.nan, gain, sign)


def _takes_measured(fn: Callable, name: str) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    pos = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in pos if p.default is p.empty]
    if any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()):
        return len(required) >= 2
    if len(required) > 2 or not pos:
        raise HypothesisError(f"hypothesis {name!r}: must take (cfg) or (cfg, measured), takes {sig}")
    return len(required) == 2


def _import(spec: str) -> Callable:
    mod_name, _, attr = spec.rpartition(":")
    if not mod_name or not attr:
        raise HypothesisError(
            f"--hypothesis {spec}: expected a built-in name ({', '.join(builtin_names())}) or module:function"
        )
    try:
        if mod_name.endswith(".py") or os.sep in mod_name:
            if not os.path.exists(mod_name):
                raise HypothesisError(f"--hypothesis {spec}: file {mod_name} not found")
            mod_id = "_simtransfer_hyp_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(mod_name))
            loader = importlib.util.spec_from_file_location(mod_id, mod_name)
            module = importlib.util.module_from_spec(loader)
            sys.modules[mod_id] = module
            loader.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the working directory import
            module = importlib.import_module(mod_name)
    except HypothesisError:
        raise
    except ModuleNotFoundError as e:
        raise HypothesisError(f"--hypothesis {spec}: no module named {e.name!r}") from None
    except Exception as e:  # noqa: BLE001 - an error while importing user code
        raise HypothesisError(f"--hypothesis {spec}: importing {mod_name} raised {_one_line(e)}") from None
    try:
        fn = getattr(module, attr)
    except AttributeError:
        raise HypothesisError(f"--hypothesis {spec}: module {mod_name} has no attribute {attr!r}") from None
    if not callable(fn):
        raise HypothesisError(f"--hypothesis {spec}: {attr} is a {type(fn).__name__}, not a function")
    return fn


def resolve(spec: Any, name: str | None = None, plugin: bool | None = None) -> Hypothesis:
    """A :class:`Hypothesis` from a callable, a built-in name, or ``module:function``.

    ``name`` defaults to the built-in name, the import path, or the callable's ``__name__``;
    ``plugin`` (takes ``measured``) defaults to: the callable has two required positional
    parameters.  ``"name=module:function"`` names an import path."""
    if isinstance(spec, Hypothesis):
        return spec if name is None else replace(spec, name=name)
    if isinstance(spec, str):
        if "=" in spec and name is None:
            name, spec = (x.strip() for x in spec.split("=", 1))
        builtins = _builtins()
        if spec in builtins:
            fn, is_plugin = builtins[spec]
            return Hypothesis(name or spec, fn, is_plugin, builtin=name in (None, spec))
        fn = _import(spec)
        name = name or spec
    elif callable(spec):
        fn = spec
        name = name or getattr(spec, "__name__", None) or type(spec).__name__
    else:
        raise HypothesisError(f"hypothesis {name or spec!r}: expected a callable, a built-in name or module:function, "
                              f"got {type(spec).__name__}")  # fmt: skip
    return Hypothesis(name, fn, _takes_measured(fn, name) if plugin is None else bool(plugin))


def resolve_all(hypotheses: Any) -> dict[str, Hypothesis]:
    """``{name: Hypothesis}`` from a mapping name -> spec, or a sequence of specs (one-line
    error on a duplicate name)."""
    if hypotheses is None:
        return {}
    items = hypotheses.items() if isinstance(hypotheses, Mapping) else [(None, h) for h in hypotheses]
    out: dict[str, Hypothesis] = {}
    for name, spec in items:
        h = resolve(spec, name)
        if h.name in out:
            raise HypothesisError(f"hypothesis {h.name!r}: given twice")
        out[h.name] = h
    return out
