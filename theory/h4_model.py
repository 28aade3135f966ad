r"""H4: H1's composition with lambda and the zero-shot factor derived from the configuration and
kappa an empirical law fitted on a separate calibration grid (docs/theory.md sections 3 and 7).

Its constants are in ``theory/h4.json`` (``python -m simtransfer.check --calibrate-h4``); its
domain ("h4" in ``theory/domains.json``) is that calibration grid's family (P = 2,
m = m_up = 10, n_T = 20, T = 300, plain GD, policy first, no freezing, no label noise,
d = 1000): anything else is flagged.  Superseded by :mod:`theory.h5_model`.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import Any, Mapping

import numpy as np

from theory.calibration import Calibration
from theory.prediction import Prediction, make_prediction
from theory.setting import Setting, r_inh, r_target, setting_of

__all__ = [
    "relu_cov", "coherence", "margin_of_budget", "rho_memorised", "lambda_h4", "inh_factor_h4",
    "kappa_h4", "h4", "h4_plugin", "load_h4", "fit_kappa", "H4_PATH", "FILTER_CORR",
]  # fmt: skip

H4_PATH = "h4.json"  # inside the theory package: kappa's fitted constants (simtransfer.check --calibrate-h4)

#: Correlation of the memorised-noise pre-activations of two filters of one class (H4 step 2).
FILTER_CORR = 0.5


def relu_cov(c: float) -> float:
    r"""Cov(relu(x), relu(y)) for standard normals with correlation c (the arc-cosine kernel):
    (sqrt(1 - c^2) + c (pi - arccos c)) / (2 pi) - 1 / (2 pi); relu_cov(1) = 1/2 - 1/(2 pi)."""
    c = min(1.0, max(-1.0, float(c)))
    return (math.sqrt(1 - c * c) + c * (math.pi - math.acos(c)) - 1.0) / (2 * math.pi)


def coherence(k: int, corr: float = FILTER_CORR) -> float:
    r"""Var(sum_{r <= k} relu(z_r)) / Var(z) for k equicorrelated Gaussian pre-activations:
    k relu_cov(1) + k (k - 1) relu_cov(corr).  ~0.34 k for independent filters, ~0.15 k^2
    for k large at corr = 1/2: memorised noise adds coherently across a class's filters."""
    return k * relu_cov(1.0) + k * (k - 1) * relu_cov(corr)


def margin_of_budget(B: float, T: float) -> float:
    r"""M with e^M + M = 1 + B T: the training margin after T steps of dM/dt = B / (1 + e^M)
    (gradient descent on the logistic loss, |l'| = 1 / (1 + e^M), from M = 0)."""
    x = math.log1p(B * T)
    for _ in range(60):  # Newton on e^x + x - 1 - B T, convex and increasing: converges from above
        step = (math.exp(x) + x - 1 - B * T) / (math.exp(x) + 1)
        x -= step
        if abs(step) < 1e-13:
            break
    return x


def rho_memorised(eta: float, T: int, n: int, norm_mu2: float, sigma_p: float, d: int, m: int) -> float:
    r"""Memorised-noise coefficient rho-bar of a trained filter on its active patches (H4 step 1).

    Per step of GD on n samples (one signal patch, one noise patch), a filter of class j
    active on patch i adds eta |l'_i| ||xi_i||^2 / (n m) = eta |l'| sigma_p^2 d / (n m) to rho_i,
    and (if active on its class's signal, half the filters) eta |l'| ||mu||^2 / (2m) to gamma.
    A training margin is half the filters' rho plus half their gamma, M = (rho + gamma) / 2, so
    dM/dt = B |l'| with B = (eta / (2m)) (||mu||^2 / 2 + sigma_p^2 d / n): M = margin_of_budget(B, T),
    and rho-bar = 2 M / (1 + n ||mu||^2 / (2 sigma_p^2 d)), the noise share of the margin.
    """
    B = eta / (2 * m) * (norm_mu2 / 2 + sigma_p**2 * d / n)
    return 2 * margin_of_budget(B, T) / (1 + n * norm_mu2 / (2 * sigma_p**2 * d))


def _noise_scale2(n: int, rho: float, d: int) -> float:
    """Variance of one filter's memorised noise on a fresh patch: n/4 patches (its class, active
    at initialisation) each contributing rho^2 <xi_i, xi>^2 / ||xi_i||^4 ~ rho^2 / d."""
    return n * rho * rho / (4 * d)


def lambda_h4(cfg: Any) -> float:
    r"""H4's lambda, derived (no fitted constant): the noise output s.d. of the k inherited
    filters in the m-filter model over that of the trained scratch model,

        lambda = (rho_S sqrt(n_S)) / (rho_T sqrt(n_T)) * sqrt(coherence(k) / coherence(m)),

    rho_S = rho_memorised(upstream), rho_T = rho_memorised(downstream, scratch); 0 if k = 0.
    """
    c = setting_of(cfg)
    if c.k == 0:
        return 0.0
    rS = rho_memorised(c.eta_up, c.T_up, c.n_S, c.norm_mu_S**2, c.sigma_p, c.d, c.m_up)
    rT = rho_memorised(c.eta_down, c.T_down, c.n_T, c.norm_mu_T**2, c.sigma_p, c.d, c.m)
    vS, vT = _noise_scale2(c.n_S, rS, c.d), _noise_scale2(c.n_T, rT, c.d)
    return math.sqrt(vS * coherence(c.k) / (vT * coherence(c.m)))


def inh_factor_h4(cfg: Any) -> float:
    r"""SNR of the k inherited filters, in units of r_inh, relative to scratch's in units of r_T:

        c_z(k) = (k / sqrt(coherence(k))) / (m / sqrt(coherence(m))),

    since half the filters carry the signal (output ~ k gamma / (2m)) while their noise output
    has s.d. ~ sqrt(coherence(k)) / m: fewer filters add less coherent noise.  1 at k = m."""
    c = setting_of(cfg)
    if c.k == 0:
        return 0.0
    return (c.k / math.sqrt(coherence(c.k))) / (c.m / math.sqrt(coherence(c.m)))


@functools.lru_cache(maxsize=8)
def _load_h4(path: str | None) -> dict[str, Any]:
    if path is None:
        return json.loads(resources.files("theory").joinpath(H4_PATH).read_text())
    with open(path) as fh:
        return json.load(fh)


def load_h4(path: str | None = None) -> dict[str, Any]:
    """H4's fitted constants (``theory/h4.json`` by default): ``{"kappa": {"c": ..., "p": ...}, ...}``."""
    return _load_h4(None if path is None else str(path))


def kappa_h4(cfg: Any, lam: float | None = None, consts: Mapping[str, Any] | None = None) -> float:
    r"""*Empirical* boost of the learned part's SNR (docs/theory.md section 3's kappa), fitted on the
    calibration grid of ``simtransfer.check --calibrate-h4`` (constants in ``theory/h4.json``):

        kappa = 1 + c * (k / (m - k + 1)) * lambda^p,

    k/(m - k + 1): inherited over fresh filters (+1), ~0 for alpha small and steep at alpha = 1,
    where no fresh filter is left to fit the target data; lambda (:func:`lambda_h4` unless
    given) carries the dependence on the inherited noise scale.  Not derived.

    The shipped fit (76 calibration cells, n_S = 80 and 320, root seed 777; p chosen among
    0, 1/2, 1 by RMSE) has p = 0 and c = 0.081: kappa = 1.07 at alpha = 1/2, 1.22 at 0.8 and
    1.81 at 1 (m = 10), against 1.02-1.09, 1.22-1.34 and 1.5-2.3 implied by the calibration
    cells; kappa's growth with eta_down T_down (docs/theory.md section 3) is not modelled."""
    c = setting_of(cfg)
    if c.k == 0:
        return 1.0
    kc = (load_h4() if consts is None else consts)["kappa"]
    lam = lambda_h4(c) if lam is None else float(lam)
    return 1.0 + kc["c"] * c.k / (c.m - c.k + 1) * lam ** kc["p"]


def _h4(name: str, c: Setting, lam: float, r_zs: float, kappa: float, cal, law) -> Prediction:
    rt = r_target(c)
    snr = (lam * r_zs + kappa * rt) / math.sqrt(1 + lam * lam)
    return make_prediction(name, c, snr, rt, cal, law, r_zs=r_zs, r_T=rt, lam=lam, kappa=kappa)


def h4(cfg: Any, cal: Calibration | None = None, law: str | None = None, consts=None) -> Prediction:
    r"""H4: H1's composition with every input from the configuration (docs/theory.md section 3's
    open problem).  With the same calibrated units for both parts,

        SNR_transfer = (lambda c_z r_inh + kappa r_T) / sqrt(1 + lambda^2),

    and transfer beats scratch iff c_z r_inh > r_T (sqrt(1 + lambda^2) - kappa) / lambda.

    Derivation (the proofs' idealisations: noise patches orthogonal, ||xi||^2 = sigma_p^2 d,
    activation patterns fixed at initialisation; m filters of which half see their signal):

    1. Budget.  GD on the logistic loss grows every training margin M as dM/dt = B |l'|,
       |l'| = 1/(1 + e^M), so e^M + M = 1 + B T: the margin grows like log(eta T); its noise
       share is rho-bar = 2M / (1 + n ||mu||^2 / (2 sigma_p^2 d)) (:func:`rho_memorised`), so a
       larger n or ||mu|| leaves less to memorise and a larger eta T more.
    2. Noise output.  A filter memorises the ~n/4 patches of its class on which it was active
       at initialisation, so on a fresh patch its pre-activation is N(0, n rho^2 / (4d)), and
       two filters of a class share half their patches: correlation 1/2.  The k filters' output
       (1/m) sum relu(z_r) has variance (n rho^2 / 4d) coherence(k) / m^2 (:func:`coherence`).
       lambda = N_inherited / N_scratch is :func:`lambda_h4`: it grows like k for large k
       (coherent), like n_S^(1/2) rho_S (~ n_S^0.25 over 10..640 as rho_S shrinks), with
       eta_up T_up, and falls with eta_down T_down.
    3. Signal.  Half the inherited filters carry gamma_u (upstream signal learning), which is
       s gamma_S a^2 / ||mu_S||^2 on mu_T; with gamma / rho-bar = n ||mu||^2 / (2 sigma_p^2 d)
       the inherited part's SNR is r_inh times c_z(k) (:func:`inh_factor_h4`) in the units where
       scratch's is r_T: the "1.4 r_inh" of the prototype is the common unit (1.4 r_T for scratch).
    4. Composition.  Inherited and learned parts add with independent noises (H1), the learned
       part as scratch's up to kappa (:func:`kappa_h4`, empirical: the only fitted constants).
    """
    c = setting_of(cfg)
    lam = lambda_h4(c)
    return _h4("H4", c, lam, inh_factor_h4(c) * r_inh(c), kappa_h4(c, lam, consts), cal, law)


def h4_plugin(
    cfg: Any, lam: float, r_zs: float | None = None, cal=None, law=None, consts=None, kappa_lam: str = "config"
) -> Prediction:
    r"""H4 with quantities measured before fine-tuning: ``lam`` (:func:`theory.lambda_measured`)
    and ``r_zs``, the zero-shot model's SNR in calibrated units (:func:`snr_of_error` of its
    error; None: c_z r_inh).  kappa stays H4's law, evaluated at the configuration's lambda
    (``kappa_lam="config"``) or at the measured one (``"measured"``)."""
    c = setting_of(cfg)
    lam = 0.0 if c.k == 0 else float(lam)
    rz = inh_factor_h4(c) * r_inh(c) if r_zs is None else float(r_zs)
    kap = kappa_h4(c, None if kappa_lam == "config" else lam, consts)
    return _h4("H4-plugin", c, lam, rz, kap, cal, law)


def fit_kappa(cfgs, lam, r_zs, r_tr, p_values=(0.0, 0.5, 1.0)) -> dict[str, Any]:
    r"""Least-squares constants of :func:`kappa_h4` from calibration cells.

    For each cell, ``lam`` and ``r_zs`` are H4's inputs (from the configuration) and ``r_tr``
    the measured transfer SNR in calibrated units; kappa enters linearly:
    r_tr sqrt(1 + lam^2) - lam r_zs = r_T (1 + c f), f = k/(m - k + 1) lam^p.  For each p in
    ``p_values`` c is the least-squares solution (residuals in SNR units); the p with the
    smallest RMSE is kept.  Returns ``{"c", "p", "rmse", "n", "by_p"}``.
    """
    rows = []
    for cfg, l, rz, rtr in zip(cfgs, lam, r_zs, r_tr):
        c = setting_of(cfg)
        if c.k == 0 or not math.isfinite(rtr):
            continue
        rt = r_target(c)
        y = rtr * math.sqrt(1 + l * l) - l * rz - rt  # = r_T c f
        rows.append((y, rt * c.k / (c.m - c.k + 1), l, math.sqrt(1 + l * l)))
    y, base, l, norm = (np.array(v, float) for v in zip(*rows))
    by_p = {}
    for p in p_values:
        x = base * l**p
        cc = float(np.sum(x * y) / np.sum(x * x))
        resid = (y - cc * x) / norm  # back to SNR_transfer units
        by_p[str(p)] = {"c": cc, "rmse_snr": float(np.sqrt(np.mean(resid**2)))}
    best = min(by_p, key=lambda k: by_p[k]["rmse_snr"])
    return {"c": by_p[best]["c"], "p": float(best), "rmse_snr": by_p[best]["rmse_snr"], "n": int(y.size), "by_p": by_p}
