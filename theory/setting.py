r"""The configuration values the theory uses, and the SNRs of docs/theory.md section 3 built from them.

:func:`setting_of` reads a simtransfer ``Experiment`` by duck typing (``task.a``,
``model.m``, ``transfer.alpha``, ``upstream.eta`` ...), so theory never imports simtransfer;
a :class:`Setting` can also be built by hand from plain floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Setting", "setting_of", "r_inh", "r_target", "rho_bar", "lambda_default", "lambda_log", "LAMBDA_PER_ALPHA"]

#: lambda ~ LAMBDA_PER_ALPHA * alpha: least-squares line through the origin of the
#: prototype's median measured lambda (0.31, 0.69, 1.16 at alpha = 0.2, 0.5, 1; docs/theory.md
#: section 3: d = 1000, n_T = 20, T_up = 500, eta T_down = 150, n_S from 10 to 640).
LAMBDA_PER_ALPHA = 1.2


@dataclass(frozen=True)
class Setting:
    """Plain-float view of one transfer configuration (symbols of docs/design.md).

    Every configuration field that can change the outcome is here, so that a hypothesis
    that does not model one can say so (:mod:`theory.domain`); the defaults are the
    values every hypothesis assumes."""

    a: float = 1.0  # ||u||
    b_S: float = 1.0  # ||v_S||
    b_T: float = 1.0  # ||v_T||
    s: float = 1.0  # alignment: mu_T = s u + v_T
    sigma_p: float = 1.0
    d: int = 1000
    n_S: int = 80
    n_T: int = 20
    m: int = 10
    m_up: int = 10
    alpha: float = 0.5
    eta_up: float = 0.5
    T_up: int = 300
    eta_down: float = 0.5
    T_down: int = 300
    label_flip: float = 0.0
    P: int = 2  # patches per input: one signal patch, P - 1 noise patches
    sigma_0: float = 0.01  # initialisation scale
    policy: str = "first"  # which upstream filters are inherited: first | random | top_signal
    freeze: bool = False  # transfer.freeze_inherited
    rescale: float = 1.0  # multiplier of the inherited filters
    mode: str = "inherit"  # transfer.mode: inherit | distill | inherit+distill
    optimizer_up: str = "sgd"
    optimizer_down: str = "sgd"
    activation: str = "relu"
    data: str = "synthetic"

    @property
    def k(self) -> int:
        """k = round(alpha m), inherited filters per class (0 when the mode does not inherit)."""
        return int(round(self.alpha * self.m)) if "inherit" in self.mode else 0

    @property
    def norm_mu_S(self) -> float:
        return math.hypot(self.a, self.b_S)

    @property
    def norm_mu_T(self) -> float:
        return math.hypot(self.s * self.a, self.b_T)


def setting_of(cfg: Any, **overrides: Any) -> Setting:
    """A :class:`Setting` from a Setting or a duck-typed ``Experiment``, with field overrides.

    Reads every field of :class:`Setting` from the experiment: the task and model, both
    stages' eta, steps and optimizer, and the transfer's alpha, policy, freezing, rescale and
    mode (so a hypothesis that does not model one of them can flag it)."""
    if not isinstance(cfg, Setting):
        t, mo, tr, up, dn = cfg.task, cfg.model, cfg.transfer, cfg.upstream, cfg.downstream
        m = int(mo.m)
        m_up = getattr(mo, "m_up", None)
        cfg = Setting(
            a=float(t.a), b_S=float(t.b_S), b_T=float(t.b_T), s=float(t.s), sigma_p=float(t.sigma_p), d=int(t.d),
            n_S=int(cfg.n_source), n_T=int(cfg.n_target), m=m, m_up=m if m_up is None else int(m_up),
            alpha=float(tr.alpha), eta_up=float(up.eta), T_up=int(up.steps),
            eta_down=float(dn.eta), T_down=int(dn.steps),
            label_flip=float(getattr(t, "label_flip", 0.0)), P=int(getattr(t, "P", 2)),
            sigma_0=float(getattr(mo, "sigma_0", 0.01)), policy=str(getattr(tr, "policy", "first")),
            freeze=bool(getattr(tr, "freeze_inherited", False)), rescale=float(getattr(tr, "rescale", 1.0)),
            mode=str(getattr(tr, "mode", "inherit")), optimizer_up=str(getattr(up, "optimizer", "sgd")),
            optimizer_down=str(getattr(dn, "optimizer", "sgd")), activation=str(getattr(mo, "activation", "relu")),
            data=str(getattr(t, "data", "synthetic")),
        )  # fmt: skip
    return replace(cfg, **overrides) if overrides else cfg


def r_inh(cfg: Any) -> float:
    r"""SNR of the inherited part alone on the target, H1 (docs/theory.md section 3):

    r_inh = s sqrt(n_S) a^2 / (sigma_p^2 sqrt(d)).

    The inherited filter's projection on the target signal is s gamma_S a^2 / ||mu_S||^2;
    its memorised upstream noise meets a fresh target noise vector as a Gaussian of std
    ~ rho_S sqrt(n_S / d); upstream GD sets gamma_S / rho_S ~ n_S ||mu_S||^2 / (sigma_p^2 d).
    """
    c = setting_of(cfg)
    return c.s * math.sqrt(c.n_S) * c.a**2 / (c.sigma_p**2 * math.sqrt(c.d))


def r_target(cfg: Any) -> float:
    r"""Scratch SNR on the target: r_T = sqrt(SNR2(n_T, mu_T)) = sqrt(n_T) ||mu_T||^2 / (sigma_p^2 sqrt(d))."""
    c = setting_of(cfg)
    return math.sqrt(c.n_T) * c.norm_mu_T**2 / (c.sigma_p**2 * math.sqrt(c.d))


def rho_bar(eta: float, sigma_p: float, d: int, T: int, n: int, m: int) -> float:
    r"""Typical memorised-noise coefficient after T steps of GD: log(1 + eta sigma_p^2 d T / (n m)).

    Each training noise patch's coefficient grows by ~ eta sigma_p^2 d |l'| / (n m) a step
    (||xi||^2 = sigma_p^2 d) while the logistic derivative l' decays like exp(-margin) and
    the margin grows with rho: d rho/dt ~ (eta sigma_p^2 d / (n m)) e^{-rho}, i.e.
    rho(T) ~ log(1 + eta sigma_p^2 d T / (n m)) (the logarithmic growth of Kou et al. 2023).
    Constant factors are left out: only ratios of rho_bar are used.
    """
    return math.log1p(eta * sigma_p**2 * d * T / (n * m))


def lambda_default(cfg: Any) -> float:
    r"""Configuration-only noise-scale ratio for H1: lambda = LAMBDA_PER_ALPHA * alpha.

    Empirical, not derived: the prototype measured lambda growing about linearly in alpha
    (docs/theory.md section 3); its dependence on n_S (~ n_S^0.25), T_up and eta T_down is ignored.
    """
    return LAMBDA_PER_ALPHA * setting_of(cfg).alpha


def lambda_log(cfg: Any) -> float:
    r"""Derived (untested) noise-scale ratio: lambda = (k/m) sqrt(n_S / n_T) rho_S / rho_T.

    Assumptions: a filter memorises about a fixed fraction of its task's n patches, each with
    coefficient ~ rho_bar (:func:`rho_bar`), so its noise meets a fresh noise vector with std
    ~ rho_bar sqrt(n / d); memorised noise is correlated across the filters of a class and
    adds coherently, so the inherited part (k filters) and the learned part (m filters) scale
    with k and m.  rho_S = rho_bar(eta_up, T_up, n_S, m_up), rho_T = rho_bar(eta_down, T_down, n_T, m).
    It grows with alpha and T_up and shrinks with eta_down T_down, as measured.
    """
    c = setting_of(cfg)
    rS = rho_bar(c.eta_up, c.sigma_p, c.d, c.T_up, c.n_S, c.m_up)
    rT = rho_bar(c.eta_down, c.sigma_p, c.d, c.T_down, c.n_T, c.m)
    return c.k / c.m * math.sqrt(c.n_S / c.n_T) * rS / rT
