r"""Scratch training: the benign/harmful overfitting law and its calibration (docs/theory.md section 1).

Kou et al. (ICML 2023) prove, for the two-layer ReLU CNN trained by GD on the logistic
loss with label-flip rate p, a transition in

    SNR2(n, mu) = n ||mu||^4 / (sigma_p^4 d):

benign overfitting (error <= p + exp(-SNR2 / C2)) when SNR2 >= C1, harmful (error >= p + 0.1)
when SNR2 <= C3.  The constants are not given, so they are fitted here, on scratch runs
only, to one of the laws

    gauss:       err = p + (1 - 2p) Phi(-c SNR2^k),   k = 1/2 fixed
    gauss_free:  the same with the exponent k fitted too
    exp:         err = p + (1 - 2p) exp(-SNR2 / C) / 2

by weighted nonlinear least squares (Levenberg-Marquardt, numpy float64).  Every transfer
prediction of :mod:`theory.transfer` then uses these constants unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Mapping

import numpy as np

__all__ = ["snr2", "regime", "err_gauss", "err_exp", "Fit", "calibrate", "LAWS"]

LAWS = {"gauss": ("c",), "gauss_free": ("c", "k"), "exp": ("C",)}
_ND = NormalDist()
_SQRT2 = math.sqrt(2.0)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def norm_cdf(x) -> np.ndarray:
    """Phi(x), the standard normal distribution function (float64, any shape)."""
    return np.asarray(_erfc(-np.asarray(x, np.float64) / _SQRT2), np.float64) / 2.0


def norm_pdf(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.exp(-x * x / 2.0) / math.sqrt(2.0 * math.pi)


def norm_ppf(q) -> np.ndarray:
    """Phi^{-1}(q) for q in (0, 1)."""
    return np.vectorize(_ND.inv_cdf, otypes=[np.float64])(np.asarray(q, np.float64))


def snr2(n, norm_mu, sigma_p, d):
    r"""SNR2 = n ||mu||^4 / (sigma_p^4 d) (docs/theory.md, notation)."""
    return n * np.asarray(norm_mu, np.float64) ** 4 / (np.asarray(sigma_p, np.float64) ** 4 * d)


def regime(snr2_value, c1: float, c3: float):
    """Kou et al.'s regions: ``"benign"`` if SNR2 >= C1, ``"harmful"`` if SNR2 <= C3, else
    ``"in-between"`` (needs C3 <= C1).  A scalar gives a str, an array an array of str."""
    if c3 > c1:
        raise ValueError(f"regime: need c3 <= c1, got c3={c3}, c1={c1}")
    s = np.asarray(snr2_value, np.float64)
    out = np.where(s >= c1, "benign", np.where(s <= c3, "harmful", "in-between"))
    return str(out) if out.ndim == 0 else out


def err_gauss(snr2_value, p, c, k=0.5):
    """p + (1 - 2p) Phi(-c SNR2^k): a Gaussian margin whose SNR grows like SNR2^k."""
    return p + (1 - 2 * p) * norm_cdf(-c * np.asarray(snr2_value, np.float64) ** k)


def err_exp(snr2_value, p, C):
    """p + (1 - 2p) exp(-SNR2 / C) / 2: Kou et al.'s benign bound shape, 1/2 at SNR2 = 0."""
    return p + (1 - 2 * p) * np.exp(-np.asarray(snr2_value, np.float64) / C) / 2


def _law_and_jac(law: str, k_fixed: float):
    """(f(s, theta), df/dtheta (n, n_params)) of the clean error (p = 0) for ``law``."""
    if law == "gauss":
        f = lambda s, th: norm_cdf(-th[0] * s**k_fixed)  # noqa: E731
        J = lambda s, th: (-norm_pdf(th[0] * s**k_fixed) * s**k_fixed)[:, None]  # noqa: E731
    elif law == "gauss_free":
        f = lambda s, th: norm_cdf(-th[0] * s ** th[1])  # noqa: E731

        def J(s, th):
            g = -norm_pdf(th[0] * s ** th[1]) * s ** th[1]
            return np.stack([g, g * th[0] * np.log(s)], axis=1)

    elif law == "exp":
        f = lambda s, th: np.exp(-s / th[0]) / 2  # noqa: E731
        J = lambda s, th: (np.exp(-s / th[0]) / 2 * s / th[0] ** 2)[:, None]  # noqa: E731
    else:
        raise ValueError(f"law: must be one of {', '.join(LAWS)}; got {law!r}")
    return f, J


def _start(law: str, s: np.ndarray, q: np.ndarray, k_fixed: float) -> np.ndarray:
    """Starting values from the linearised law (probit or log of the clean error q)."""
    qc = np.clip(q, 1e-4, 0.5 - 1e-3)
    if law == "exp":
        return np.array([np.median(s / -np.log(2 * qc))])
    z = -norm_ppf(qc)  # = c s^k
    if law == "gauss":
        return np.array([np.median(z / s**k_fixed)])
    keep = z > 0.05
    x, lz = np.log(s[keep]), np.log(z[keep])
    if x.size < 2 or np.ptp(x) < 1e-9:  # e.g. a bootstrap resample of one distinct point
        return np.array([np.median(z / np.sqrt(s)), 0.5])
    k = float(np.mean((x - x.mean()) * (lz - lz.mean())) / np.var(x))  # log z = log c + k log s
    return np.array([math.exp(lz.mean() - k * x.mean()), max(k, 0.05)])


def _lm(f, J, th, s, y, w, iters: int = 200) -> np.ndarray:
    """Levenberg-Marquardt on sum_i w_i (y_i - f(s_i, th))^2 with th > 0."""
    r = y - f(s, th)
    cost, lam = float(np.sum(w * r * r)), 1e-3
    for _ in range(iters):
        Jm = J(s, th)
        A = Jm.T @ (w[:, None] * Jm)
        g = Jm.T @ (w * r)
        step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-300), g)
        new = th + step
        if np.all(new > 0):
            rn = y - f(s, new)
            cn = float(np.sum(w * rn * rn))
            if cn <= cost:
                done = np.all(np.abs(step) <= 1e-10 * (np.abs(th) + 1e-10))
                th, r, cost, lam = new, rn, cn, max(lam / 10, 1e-12)
                if done:
                    break
                continue
        lam *= 10
        if lam > 1e12:
            break
    return th


def t975(nu: int) -> float:
    """97.5% quantile of Student's t with nu degrees of freedom (Abramowitz-Stegun 26.7.5
    expansion, error < 1e-3 for nu >= 3; exact values for nu = 1, 2)."""
    if nu <= 0:
        return math.nan
    if nu <= 2:
        return (12.7062, 4.3027)[nu - 1]
    z = 1.959964
    return (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
    )


@dataclass(frozen=True)
class Fit:
    """A calibrated law: parameter ``names``, ``estimate``, standard errors ``se`` and 95%
    confidence intervals ``ci95`` (Jacobian: ``se = sqrt(diag((J^T W J)^-1) s^2)`` with the
    residual variance ``s^2 = sum w r^2 / (n - n_params)``, CI ``est +- t_{0.975, n-p} se``);
    ``ci95_boot``/``se_boot`` from a bootstrap over points when requested; ``rmse`` is the
    unweighted root-mean-square residual over the ``n`` points."""

    law: str
    names: tuple[str, ...]
    estimate: tuple[float, ...]
    se: tuple[float, ...]
    ci95: tuple[tuple[float, float], ...]
    rmse: float
    n: int
    p: float = 0.0
    k: float = 0.5  # the fixed exponent of the "gauss" law
    se_boot: tuple[float, ...] = ()
    ci95_boot: tuple[tuple[float, float], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, float]:
        return dict(zip(self.names, self.estimate))

    def error(self, snr2_value, p: float | None = None):
        """Predicted error at SNR2 (label-flip rate ``p``, default the fit's)."""
        p = self.p if p is None else p
        th = self.estimate
        if self.law == "exp":
            return err_exp(snr2_value, p, th[0])
        return err_gauss(snr2_value, p, th[0], self.k if self.law == "gauss" else th[1])

    def error_of_snr(self, r, p: float | None = None):
        """Error at a *signed* margin SNR r (SNR2 = r^2): ``error(r^2)`` for r >= 0 and
        ``1 - error(r^2)`` for r < 0 (a margin of the wrong sign)."""
        r = np.asarray(r, np.float64)
        e = self.error(r * r, p)
        return np.where(r >= 0, e, 1.0 - e)

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law, "names": list(self.names), "estimate": list(self.estimate),
            "se": list(self.se), "ci95": [list(c) for c in self.ci95], "rmse": self.rmse, "n": self.n,
            "p": self.p, "k": self.k, "se_boot": list(self.se_boot),
            "ci95_boot": [list(c) for c in self.ci95_boot], "extra": dict(self.extra),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Fit":
        tup = lambda v: tuple(float(x) for x in v)  # noqa: E731
        return cls(
            d["law"], tuple(d["names"]), tup(d["estimate"]), tup(d["se"]), tuple(tup(c) for c in d["ci95"]),
            float(d["rmse"]), int(d["n"]), float(d.get("p", 0.0)), float(d.get("k", 0.5)),
            tup(d.get("se_boot", ())), tuple(tup(c) for c in d.get("ci95_boot", ())), dict(d.get("extra", {})),
        )  # fmt: skip


def calibrate(
    snr2_values,
    errors,
    ses=None,
    p: float = 0.0,
    law: str = "gauss",
    *,
    k: float = 0.5,
    floor: float = 0.005,
    bootstrap: int = 0,
    seed: int = 0,
) -> Fit:
    r"""Fit the constants of ``law`` to scratch errors by weighted least squares.

    Args:
      snr2_values, errors: (n,) SNR2 of each scratch configuration and its mean test error.
      ses: (n,) standard errors of the errors (over seeds), or None for ordinary least
        squares.  Weights are ``1 / (se^2 + floor^2)``: ``floor`` keeps points whose error
        and standard error are both ~0 (large SNR2) from dominating, since the law is an
        approximation at the level of ~0.01 (docs/theory.md section 1).
      p: label-flip rate (Bayes error) of the runs.
      law: ``"gauss"`` (constant c, exponent ``k`` fixed), ``"gauss_free"`` (c and k) or
        ``"exp"`` (C).
      bootstrap: if > 0, that many resamples of the points (with replacement, numpy
        generator ``seed``) give ``se_boot`` and percentile ``ci95_boot``.
    """
    if law not in LAWS:
        raise ValueError(f"law: must be one of {', '.join(LAWS)}; got {law!r}")
    s = np.asarray(snr2_values, np.float64).ravel()
    y = np.asarray(errors, np.float64).ravel()
    if s.shape != y.shape or s.size <= len(LAWS[law]):
        raise ValueError(f"calibrate: need more points than parameters with matching shapes; got {s.shape}, {y.shape}")
    if np.any(s <= 0):
        raise ValueError("calibrate: SNR2 values must be > 0")
    w = np.ones_like(s) if ses is None else 1.0 / (np.asarray(ses, np.float64).ravel() ** 2 + floor**2)
    scale = 1 - 2 * p
    q = (y - p) / scale  # clean error
    f, J = _law_and_jac(law, k)

    def fit(idx):
        th0 = _start(law, s[idx], q[idx], k)
        return _lm(f, J, th0, s[idx], q[idx], w[idx] * scale**2)

    th = fit(np.arange(s.size))
    r = q - f(s, th)
    n, npar = s.size, th.size
    Jm = J(s, th)
    s2 = float(np.sum(w * scale**2 * r * r)) / max(n - npar, 1)
    cov = np.linalg.pinv(Jm.T @ ((w * scale**2)[:, None] * Jm)) * s2
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    t = t975(n - npar)
    ci = tuple((float(a - t * b), float(a + t * b)) for a, b in zip(th, se))
    se_b: tuple[float, ...] = ()
    ci_b: tuple[tuple[float, float], ...] = ()
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        boots = np.array([fit(rng.integers(0, n, n)) for _ in range(bootstrap)])
        se_b = tuple(float(v) for v in boots.std(axis=0, ddof=1))
        ci_b = tuple((float(lo), float(hi)) for lo, hi in np.percentile(boots, [2.5, 97.5], axis=0).T)
    rmse = float(np.sqrt(np.mean((y - (p + scale * f(s, th))) ** 2)))
    return Fit(
        law, LAWS[law], tuple(float(v) for v in th), tuple(float(v) for v in se), ci, rmse, n, float(p),
        float(k), se_b, ci_b, {"weights": "ols" if ses is None else f"1/(se^2+{floor}^2)"},
    )  # fmt: skip
