"""The sections of an experiment's configuration (docs/design.md sections 1-4): the tasks, the
model, the training of one stage, the transfer and the evaluation.  Each is a frozen dataclass
validated at construction; a bad value raises ``ConfigError`` naming the dotted field."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import (
    ACTIVATIONS,
    DATA,
    DIGIT_CUTS,
    MODES,
    OPTIMIZERS,
    PARTITIONS,
    POLICIES,
    _check_bool,
    _check_choice,
    _check_float,
    _check_int,
    _fail,
    parse_digit_pair,
)

__all__ = ["Task", "Model", "Train", "Transfer", "Eval"]


@dataclass(frozen=True)
class Task:
    """The two tasks of docs/design.md section 1.

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
    # Real images (simtransfer.config.digits): "digits" replaces the signal-plus-noise data by
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
    """Two-layer CNN with fixed second layer (docs/design.md section 2).

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
    """Full-batch training of one stage (docs/design.md section 3): ``steps`` updates of an
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
    """How the downstream model reuses the upstream one (docs/design.md section 4, step 2).

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

    The exact conditional error (docs/theory.md section 2) integrates the fresh noise patch
    out through the 2m-dimensional Gaussian ``z ~ N(0, sigma_p^2 W (I - Pi) W^T)`` by
    Monte Carlo with ``mc_draws`` draws (``curve_draws`` for the training curves).

    ``scores = false`` skips the transferability estimators (their outputs ``score_*`` are
    NaN): they are about a fifth to a third of the trial's compilation and the theory check,
    the calibrations and the falsifier do not use them.

    ``measure_draws > 0`` adds the plug-in hypotheses' measurements of every model
    (``protocol.measures.MEASURES``: S, N and lambda before and after fine-tuning, docs/theory.md
    section 2) to the outputs, from that many Monte-Carlo draws (synthetic tasks only).
    """

    n_test: int = 2000  # empirical target test points (shared by all models); 0 disables (static)
    n_test_source: int = 0  # empirical source test points for the upstream model (static)
    mc_draws: int = 8192  # Gaussian draws for the final exact conditional error (static)
    curve_draws: int = 1024  # Gaussian draws for the logged test-error curves (static)
    test_chunk: int = 500  # empirical test points evaluated at once (memory, static)
    scores: bool = True  # compute the transferability scores score_* (static)
    measure_draws: int = 0  # Monte-Carlo draws of the plug-ins' measurements S_*, N_*, lam; 0: none (static)

    def __post_init__(self) -> None:
        _check_int("eval.n_test", self.n_test, lo=0)
        _check_int("eval.n_test_source", self.n_test_source, lo=0)
        _check_int("eval.mc_draws", self.mc_draws, lo=16)
        _check_int("eval.curve_draws", self.curve_draws, lo=16)
        _check_int("eval.test_chunk", self.test_chunk, lo=1)
        _check_bool("eval.scores", self.scores)
        _check_int("eval.measure_draws", self.measure_draws, lo=0)
