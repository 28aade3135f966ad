"""Frozen, validated configuration of one transfer experiment (DESIGN.md sections 1-4).

Every field is checked at construction; a bad value raises ``ValueError`` naming the
dotted field (``task.sigma_p``) and the allowed range.  Fields fall in two classes:

* **static** fields fix array shapes or control flow (``task.d``, ``model.m``,
  ``n_source``, ``upstream.steps``, ``transfer.policy`` ...).  Changing one recompiles.
* **traced** fields (listed in :data:`TRACED_FIELDS`) enter the compiled trial as
  scalars, so a sweep over them reuses one compilation (see :func:`split_traced`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

__all__ = [
    "Task",
    "Model",
    "Train",
    "Transfer",
    "Eval",
    "Experiment",
    "TRACED_FIELDS",
    "ConfigError",
]

ACTIVATIONS = ("relu", "leaky_relu", "relu_q")
POLICIES = ("first", "random", "top_signal")
MODES = ("inherit", "distill", "inherit+distill")
PARTITIONS = ("none", "agree", "confident")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "lamb", "lion")
BACKENDS = ("dense", "gram")
DATA = ("synthetic", "digits")
#: Cuts of the 8x8 digits into P patches (``simtransfer.digits``): P -> (patch rows, patch
#: columns), non-overlapping, row-major; d = rows * columns.
DIGIT_CUTS = {2: (4, 8), 4: (4, 4), 8: (2, 4), 16: (2, 2)}
#: Images per digit 0..9 in scikit-learn's ``load_digits`` (1797 in all; checked at load).
DIGIT_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong type (names the field)."""


def _fail(name: str, msg: str) -> None:
    raise ConfigError(f"{name}: {msg}")


def _check_int(name: str, v: Any, lo: int | None = None, hi: int | None = None) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(name, f"must be an integer, got {v!r}")
    if lo is not None and v < lo:
        _fail(name, f"must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        _fail(name, f"must be <= {hi}, got {v}")


def _check_float(
    name: str,
    v: Any,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _fail(name, f"must be a number, got {v!r}")
    if not math.isfinite(v):
        _fail(name, f"must be finite, got {v}")
    lb = "(" if lo_open else "["
    rb = ")" if hi_open else "]"
    rng = f"{lb}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{rb}"
    if lo is not None and (v < lo or (lo_open and v == lo)):
        _fail(name, f"must be in {rng}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        _fail(name, f"must be in {rng}, got {v}")


def _check_choice(name: str, v: Any, choices: tuple[str, ...]) -> None:
    if v not in choices:
        _fail(name, f"must be one of {', '.join(choices)}; got {v!r}")


def parse_digit_pair(name: str, v: Any) -> tuple[int, int]:
    """Two distinct digits 0..9 from ``"a,b"`` (label +1 = a, -1 = b); ``ConfigError`` naming ``name``."""
    parts = v.split(",") if isinstance(v, str) else []
    try:
        pair = tuple(int(x.strip()) for x in parts)
    except ValueError:
        pair = ()
    if len(pair) != 2:
        _fail(name, f'must be two digits "a,b" (label +1 = a, -1 = b), got {v!r}')
    if not all(0 <= x <= 9 for x in pair):
        _fail(name, f"digits must be in 0..9, got {v!r}")
    if pair[0] == pair[1]:
        _fail(name, f"the two digits must differ, got {v!r}")
    return pair  # type: ignore[return-value]


def digit_pool_size(pair: tuple[int, int], half: str) -> int:
    """Images of a pair's pool (``simtransfer.digits``): every digit's images are split per
    seed into a source half (floor(N_c / 2)) and a target half (the rest)."""
    return sum(DIGIT_COUNTS[c] // 2 if half == "source" else DIGIT_COUNTS[c] - DIGIT_COUNTS[c] // 2 for c in pair)


def _check_bool(name: str, v: Any) -> None:
    if not isinstance(v, bool):
        _fail(name, f"must be true or false, got {v!r}")


@dataclass(frozen=True)
class Task:
    """The two tasks of DESIGN.md section 1.

    ``u`` (norm ``a``), ``v_S`` (norm ``b_S``), ``v_T`` (norm ``b_T``) are orthogonal;
    ``mu_S = u + v_S`` and ``mu_T = s * u + v_T``.  Noise patches are
    ``xi ~ N(0, sigma_p^2 (I - Pi))`` with ``Pi`` the projector on span{u, v_S, v_T}.
    """

    d: int = 1000  # ambient dimension of a patch (static)
    P: int = 2  # patches per input (static)
    a: float = 1.0  # ||u||, universal signal norm (traced)
    b_S: float = 1.0  # ||v_S||, source-specific signal norm (traced)
    b_T: float = 1.0  # ||v_T||, target-specific signal norm (traced)
    s: float = 1.0  # alignment of the target with u, in [-1, 1] (traced)
    sigma_p: float = 1.0  # noise scale sigma_p (traced)
    label_flip: float = 0.0  # label-flip probability p, the Bayes error (traced)
    signal_position: str = "random"  # "random" patch or "fixed" at patch 1 (static)
    frame: str = "canonical"  # u, v_S, v_T along e_1, e_2, e_3, or a "random" frame (static)
    # Real images (simtransfer.digits): "digits" replaces the signal-plus-noise data by
    # scikit-learn's 8x8 digits cut into P patches of d = 64 / P pixels; a, b_S, b_T, s,
    # sigma_p, signal_position and frame are then unused.
    data: str = "synthetic"  # "synthetic" or "digits" (static)
    source_digits: str = "1,7"  # upstream digit pair "a,b": label +1 = a, -1 = b (static)
    target_digits: str = "4,7"  # downstream digit pair (static)

    def __post_init__(self) -> None:
        _check_int("task.d", self.d, lo=4)
        _check_int("task.P", self.P, lo=2)
        _check_float("task.a", self.a, lo=0.0)
        _check_float("task.b_S", self.b_S, lo=0.0)
        _check_float("task.b_T", self.b_T, lo=0.0)
        _check_float("task.s", self.s, lo=-1.0, hi=1.0)
        _check_float("task.sigma_p", self.sigma_p, lo=0.0, lo_open=True)
        _check_float("task.label_flip", self.label_flip, lo=0.0, hi=0.5, hi_open=True)
        _check_choice("task.signal_position", self.signal_position, ("random", "fixed"))
        _check_choice("task.frame", self.frame, ("canonical", "random"))
        _check_choice("task.data", self.data, DATA)
        parse_digit_pair("task.source_digits", self.source_digits)
        parse_digit_pair("task.target_digits", self.target_digits)
        if self.data == "digits":
            if self.P not in DIGIT_CUTS:
                _fail("task.P", f"the 8x8 digits are cut into {', '.join(map(str, DIGIT_CUTS))} patches; got {self.P}")
            h, w = DIGIT_CUTS[self.P]
            if self.d != h * w:
                _fail("task.d", f"the digits cut into P = {self.P} patches of {h}x{w} pixels has d = {h * w}; "
                      f"got {self.d}")  # fmt: skip
            if self.label_flip != 0:
                _fail("task.label_flip", f'must be 0 with data = "digits" (real labels), got {self.label_flip}')

    @property
    def norm_mu_S(self) -> float:
        """||mu_S|| = sqrt(a^2 + b_S^2)."""
        return math.hypot(self.a, self.b_S)

    @property
    def norm_mu_T(self) -> float:
        """||mu_T|| = sqrt(s^2 a^2 + b_T^2)."""
        return math.hypot(self.s * self.a, self.b_T)

    @property
    def corr(self) -> float:
        """Task correlation s a^2 / (||mu_S|| ||mu_T||) (0 when a signal is zero)."""
        den = self.norm_mu_S * self.norm_mu_T
        return 0.0 if den == 0 else self.s * self.a**2 / den


@dataclass(frozen=True)
class Model:
    """Two-layer CNN with fixed second layer (DESIGN.md section 2).

    ``f(W, x) = (1/m) sum_r sum_p [act(<w_{+1,r}, x^(p)>) - act(<w_{-1,r}, x^(p)>)]``,
    ``w_{j,r} ~ N(0, sigma_0^2 I)`` at initialisation.
    """

    m: int = 10  # downstream filters per class (static)
    m_up: int | None = None  # upstream filters per class; None means m (static)
    sigma_0: float = 0.01  # initialisation scale sigma_0 (traced)
    activation: str = "relu"  # relu | leaky_relu | relu_q (static)
    leak: float = 0.1  # negative slope of leaky_relu (traced)
    q: float = 3.0  # exponent of relu_q: max(z, 0)^q (traced)

    def __post_init__(self) -> None:
        _check_int("model.m", self.m, lo=1)
        if self.m_up is not None:
            _check_int("model.m_up", self.m_up, lo=1)
        _check_float("model.sigma_0", self.sigma_0, lo=0.0, lo_open=True)
        _check_choice("model.activation", self.activation, ACTIVATIONS)
        _check_float("model.leak", self.leak, lo=0.0, hi=1.0, hi_open=True)
        _check_float("model.q", self.q, lo=1.0)

    @property
    def m_upstream(self) -> int:
        return self.m if self.m_up is None else self.m_up


@dataclass(frozen=True)
class Train:
    """Full-batch training of one stage (DESIGN.md section 3): ``steps`` updates of an
    optax optimizer with learning rate ``eta`` (plain GD, ``"sgd"``, is the default and
    the one the theory speaks about); metrics every ``log_every`` steps."""

    steps: int = 300  # T, number of full-batch updates (static)
    eta: float = 0.5  # learning rate eta (traced)
    optimizer: str = "sgd"  # an optax alias taking learning_rate (static)
    log_every: int = 10  # metric logging period, in steps (static)

    def _validate(self, stage: str) -> None:
        _check_int(f"{stage}.steps", self.steps, lo=0, hi=10**7)
        _check_float(f"{stage}.eta", self.eta, lo=0.0, lo_open=True)
        _check_choice(f"{stage}.optimizer", self.optimizer, OPTIMIZERS)
        _check_int(f"{stage}.log_every", self.log_every, lo=1)

    def __post_init__(self) -> None:
        self._validate("train")

    @property
    def log_steps(self) -> tuple[int, ...]:
        """Steps at which metrics are recorded: 0, log_every, 2 log_every, ..., and T."""
        ts = list(range(0, self.steps + 1, self.log_every))
        if ts[-1] != self.steps:
            ts.append(self.steps)
        return tuple(ts)


@dataclass(frozen=True)
class Transfer:
    """How the downstream model reuses the upstream one (DESIGN.md section 4, step 2).

    ``mode = "inherit"``: ``k = round(alpha * m)`` filters per class are copied from the
    upstream model, chosen by ``policy``, multiplied by ``rescale``; ``freeze_inherited``
    keeps them fixed.  ``mode = "distill"``: the downstream model starts from the fresh
    filters (alpha is ignored) and is trained on
    ``(1 - lam) log(1 + exp(-y f_s)) + lam tau^2 KL(sigma(f_t / tau) || sigma(f_s / tau))``
    with the upstream model as teacher f_t; ``"inherit+distill"`` does both.
    ``partition`` (Roth et al. 2024) applies the distillation term only on the target
    samples where the teacher agrees with the label (``agree``) or is confident,
    max(sigma(f_t), 1 - sigma(f_t)) >= ``confidence`` (``confident``); the label loss alone
    elsewhere.
    """

    alpha: float = 0.5  # fraction of downstream filters inherited (traced, via a mask)
    policy: str = "first"  # first | random | top_signal (static)
    freeze_inherited: bool = False  # keep inherited filters fixed downstream (static)
    rescale: float = 1.0  # multiplier of the inherited filters (traced)
    mode: str = "inherit"  # inherit | distill | inherit+distill (static)
    lam: float = 0.5  # weight of the distillation term (traced)
    tau: float = 1.0  # distillation temperature (traced)
    partition: str = "none"  # none | agree | confident (static)
    confidence: float = 0.9  # teacher confidence threshold of partition = confident (traced)

    def __post_init__(self) -> None:
        _check_float("transfer.alpha", self.alpha, lo=0.0, hi=1.0)
        _check_choice("transfer.policy", self.policy, POLICIES)
        _check_bool("transfer.freeze_inherited", self.freeze_inherited)
        _check_float("transfer.rescale", self.rescale)
        _check_choice("transfer.mode", self.mode, MODES)
        _check_float("transfer.lam", self.lam, lo=0.0, hi=1.0)
        _check_float("transfer.tau", self.tau, lo=0.0, lo_open=True)
        _check_choice("transfer.partition", self.partition, PARTITIONS)
        _check_float("transfer.confidence", self.confidence, lo=0.5, hi=1.0)

    @property
    def distills(self) -> bool:
        return "distill" in self.mode

    @property
    def inherits(self) -> bool:
        return "inherit" in self.mode


@dataclass(frozen=True)
class Eval:
    """Evaluation: an empirical test set and the exact conditional test error.

    The empirical errors use ``n_test`` fresh target points (``n_test_source`` fresh
    source points for the upstream model; off by default since drawing d-dimensional
    Gaussian noise is the costliest part of evaluation, and the exact error needs none).

    The exact conditional error (THEORY.md section 2) integrates the fresh noise patch
    out through the 2m-dimensional Gaussian ``z ~ N(0, sigma_p^2 W (I - Pi) W^T)`` by
    Monte Carlo with ``mc_draws`` draws (``curve_draws`` for the training curves).
    """

    n_test: int = 2000  # empirical target test points (shared by all models); 0 disables (static)
    n_test_source: int = 0  # empirical source test points for the upstream model (static)
    mc_draws: int = 8192  # Gaussian draws for the final exact conditional error (static)
    curve_draws: int = 1024  # Gaussian draws for the logged test-error curves (static)
    test_chunk: int = 500  # empirical test points evaluated at once (memory, static)

    def __post_init__(self) -> None:
        _check_int("eval.n_test", self.n_test, lo=0)
        _check_int("eval.n_test_source", self.n_test_source, lo=0)
        _check_int("eval.mc_draws", self.mc_draws, lo=16)
        _check_int("eval.curve_draws", self.curve_draws, lo=16)
        _check_int("eval.test_chunk", self.test_chunk, lo=1)


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
        for part in _resolve(dotted).split("."):
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

#: Dotted fields that enter the compiled trial as traced scalars (no recompilation).
TRACED_FIELDS: tuple[str, ...] = (
    "task.a",
    "task.b_S",
    "task.b_T",
    "task.s",
    "task.sigma_p",
    "task.label_flip",
    "model.sigma_0",
    "model.leak",
    "model.q",
    "upstream.eta",
    "downstream.eta",
    "transfer.alpha",
    "transfer.rescale",
    "transfer.lam",
    "transfer.tau",
    "transfer.confidence",
)

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


def _resolve(dotted: str) -> str:
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
        name = _resolve(key)
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
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    try:
        return from_dict(data, source=path)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


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
        out[_resolve(k.strip())] = parse_value(v.strip())
    return out


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


def traced_values(exp: Experiment) -> dict[str, float]:
    """The traced scalars of ``exp``, keyed by dotted name (the ``theta`` of a trial)."""
    return {name: float(exp.get(name)) for name in TRACED_FIELDS}


def static_part(exp: Experiment) -> Experiment:
    """``exp`` with every traced field set to its default: the compilation cache key.

    ``transfer.alpha`` is set to 0 so that the (alpha-dependent) ``m_up`` check passes.
    """
    ref = Experiment()
    vals = {name: ref.get(name) for name in TRACED_FIELDS}
    vals["transfer.alpha"] = 0.0
    return with_overrides(exp, vals)


def split_traced(exp: Experiment) -> tuple[Experiment, dict[str, float]]:
    """(static part, traced values): trials sharing the static part share a compilation."""
    return static_part(exp), traced_values(exp)
