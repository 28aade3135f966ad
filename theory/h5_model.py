r"""H5, H4's successor: every part of the transfer margin from one budget model (docs/theory.md section 8).

The proofs' idealisations (noise patches orthogonal, ||xi||^2 = sigma_p^2 d, activation
patterns fixed by the sign at initialisation), applied to a filter group of g filters per
class trained for T steps of GD with rate eta on n samples of signal mu, each with P - 1
noise patches:

1. Budget.  Every training margin grows as dM/dt = B |l'| = B / (1 + e^M) with
   B = (eta / (2m)) (||mu||^2 / 2 + (P - 1) sigma_p^2 d / n) (g / m of it when only g of the
   m filters learn), one GD step at a time: M_{t+1} = M_t + B / (1 + e^{M_t}) from M0
   (:func:`margin_of_budget_from`; e^M + M = e^M0 + M0 + B T in the gradient-flow limit).  The
   margin is M = (g/m)(gamma + (P - 1) rho) / 2 (half the filters active on each patch), and
   gamma / rho = n ||mu||^2 / (2 sigma_p^2 d): the signal and noise coefficients of one filter.
2. Test noise.  On a fresh patch a filter's pre-activation is Gaussian with variance
   V = n (P - 1) rho^2 / (4 d) (memorised: n(P-1)/4 patches) + sigma_0^2 sigma_p^2 d (its
   initialisation); two filters of a class share half their memorised patches, so their
   correlation is c = (V_mem / 2) / V.  The output's noise, (1/m) sum over P - 1 patches and
   2 classes of sum_r relu(z_r), has variance 2 (P - 1) V (g relu_cov(1) + g (g-1) relu_cov(c)) / m^2.
3. Signal.  Half the filters (a fraction f_sig of the inherited ones) carry gamma on their
   class's signal: the output's signal margin is (g/m) f_sig gamma (projected on mu_T).
4. Scratch SNR r = S / N (step 3 over step 2); label noise multiplies the signal by
   (1 - 2p)^beta; the error is p + (1 - 2p) Phi(-c r^(2k)) (the scratch law in these units).
5. Transfer.  Inherited part (k upstream filters, times ``rescale``) and learned part add
   with independent noises: SNR = (S_inh + kappa S_learn) / sqrt(N_inh^2 + N_learn^2).
   Fine-tuned (not frozen): the learned part is scratch's, boosted by kappa (empirical,
   bounded in m: :func:`kappa_h5`).  Frozen: the m - k fresh filters alone learn, from the
   inherited signal margin as head start, kappa = 1; at alpha = 1 this is the zero-shot model.

Fitted constants (``theory/h5.json``, ``scripts/fit_theory.py`` on ``theory/families.json``
and the scratch calibration points): c, k (the law), beta (label noise), kappa's c and q.
Everything else is derived.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any, Mapping

from theory.domain import outside as _outside
from theory.h4_model import FILTER_CORR, relu_cov
from theory.prediction import Prediction, sign_of
from theory.scratch import norm_cdf, norm_ppf
from theory.setting import Setting, setting_of

__all__ = ["Group", "group", "scratch_group", "inherited_group", "parts", "kappa_h5", "h5", "h5_plugin",
           "load_h5", "H5_PATH", "law_error", "law_snr"]  # fmt: skip

H5_PATH = "h5.json"  # inside the theory package: H5's fitted constants (scripts/fit_theory.py)


@dataclass(frozen=True)
class Group:
    """g filters per class of an m-filter network after training: output signal margin ``S``
    (on mu_T) and output noise s.d. ``N`` on a fresh target input, and the training margin ``M``."""

    S: float
    N: float
    M: float = 0.0
    gamma: float = 0.0
    rho: float = 0.0


def _coh(g: int, c: float) -> float:
    """Var(sum_{r <= g} relu(z_r)) for unit-variance z with pairwise correlation c."""
    return g * relu_cov(1.0) + g * (g - 1) * relu_cov(c)


def group(
    g: int, m: int, n: int, norm_mu2: float, eta: float, T: int, c: Setting, M0: float = 0.0,
    f_sig: float = 0.5, proj: float = 1.0,
) -> Group:  # fmt: skip
    """Steps 1-3 for g learning filters per class in an m-filter model (module docstring).

    ``M0``: training margin already present (head start); ``f_sig``: fraction of the g filters
    carrying the signal; ``proj``: the learned signal's projection on mu_T per unit gamma."""
    if g <= 0:
        return Group(0.0, 0.0)
    ratio = n * norm_mu2 / (2 * c.sigma_p**2 * c.d)  # gamma / rho
    B = eta / (2 * m) * (norm_mu2 / 2 + (c.P - 1) * c.sigma_p**2 * c.d / n) * (g / m)
    M = margin_of_budget_from(B, T, M0)
    dM = max(M - M0, 0.0)
    rho = 2 * dM * (m / g) / ((c.P - 1) + ratio)
    gamma = ratio * rho
    v_mem = n * (c.P - 1) * rho * rho / (4 * c.d)
    v_init = c.sigma_0**2 * c.sigma_p**2 * c.d
    v = v_mem + v_init
    corr = FILTER_CORR * v_mem / v if v > 0 else 0.0
    N = math.sqrt(2 * (c.P - 1) * v * _coh(g, corr)) / m
    S = (g / m) * f_sig * gamma * proj
    return Group(S, N, M, gamma, rho)


def margin_of_budget_from(B: float, T: int, M0: float = 0.0) -> float:
    """The training margin after T steps of gradient descent, M_{t+1} = M_t + B / (1 + e^{M_t})
    from M_0 = M0: the discrete form of dM/dt = B |l'|.  It is the gradient-flow solution
    e^M + M = e^M0 + M0 + B T (:func:`theory.margin_of_budget`) while B is small, but a step
    with B >> 1 overshoots it (the first step alone gives M = B / 2), which is where eta and
    T enter separately: at d = 64000, eta = 0.5 the first step makes the margin 4x the flow's."""
    M = float(M0)
    for _ in range(int(T)):
        M += B / (1.0 + math.exp(min(M, 700.0)))
    return M


def _beta_factor(c: Setting, consts: Mapping[str, Any]) -> float:
    return (1 - 2 * c.label_flip) ** float(consts["law"]["beta"])


def scratch_group(c: Setting, consts: Mapping[str, Any], M0: float = 0.0, g: int | None = None) -> Group:
    """The scratch model on the target (g = m filters), or g fresh filters learning from ``M0``."""
    g = c.m if g is None else g
    gr = group(g, c.m, c.n_T, c.norm_mu_T**2, c.eta_down, c.T_down, c, M0)
    return Group(gr.S * _beta_factor(c, consts), gr.N, gr.M, gr.gamma, gr.rho)


def signal_fraction(c: Setting) -> float:
    """Fraction of the g filters of a trained group that carry its signal, in the units of
    step 3: 1/2, for every policy.  The idealisation says a filter learns its class's signal
    iff it was active on it at initialisation (probability 1/2), which would make ``top_signal``
    inherit up to twice the signal of ``first``; measured, a scratch model's signal margin is
    1.8x the half-carrier value at d = 1000 (most filters are recruited during training,
    ``scripts/calibrate_families.py`` blocks sc-*), and top_signal and first give the same
    errors within 0.003 (blocks tr-top, tr-base), so the policies are treated alike."""
    return 0.5


def inherited_group(c: Setting, consts: Mapping[str, Any]) -> Group:
    """The k inherited filters in the m-filter model before fine-tuning: upstream training (m_up
    filters, n_S samples of mu_S), projected on mu_T (s a^2 / ||mu_S||^2 per unit gamma) and
    multiplied by ``rescale`` (signal and noise alike: ReLU is positively homogeneous)."""
    if c.k == 0:
        return Group(0.0, 0.0)
    nS2 = c.norm_mu_S**2
    proj = c.s * c.a**2 / nS2 if nS2 > 0 else 0.0
    up = group(c.m_up, c.m_up, c.n_S, nS2, c.eta_up, c.T_up, c)
    v_mem = c.n_S * (c.P - 1) * up.rho**2 / (4 * c.d)
    v = v_mem + c.sigma_0**2 * c.sigma_p**2 * c.d
    corr = FILTER_CORR * v_mem / v if v > 0 else 0.0
    N = c.rescale * math.sqrt(2 * (c.P - 1) * v * _coh(c.k, corr)) / c.m
    S = c.rescale * (c.k / c.m) * signal_fraction(c) * up.gamma * proj * _beta_factor(c, consts)
    return Group(S, N)


def kappa_h5(c: Setting, consts: Mapping[str, Any]) -> float:
    r"""*Empirical* boost of the learned part when the inherited filters are fine-tuned:

        kappa = 1 + c_kappa f^q / (m (P - 1)),   f = k / m,

    bounded (kappa <= 1 + c_kappa / m).  The form follows measurement, not a derivation: on the
    calibration grid kappa at alpha = 1 is 2.7, 1.9 and 1.5 for m = 5, 10 and 20 (it falls
    like 1/m, where H4's k / (m - k + 1) made it grow like m), 1.37 at P = 3 against 1.87 at
    P = 2 (kappa - 1 halves: one over the noise patches per sample), and stays within 0.1 of 1
    for alpha <= 0.3.  c_kappa and q are fitted (``theory/h5.json``).  1 when frozen or k = 0."""
    if c.k == 0 or c.freeze:
        return 1.0
    kc = consts["kappa"]
    f = c.k / c.m
    return 1.0 + float(kc["c"]) * f ** float(kc["q"]) / (c.m * (c.P - 1))


def parts(cfg: Any, consts: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Every derived quantity of H5 for one configuration: S and N of the scratch model, of the
    inherited part and of the learned part, kappa, and the two SNRs."""
    c = setting_of(cfg)
    consts = load_h5() if consts is None else consts
    sc = scratch_group(c, consts)
    inh = inherited_group(c, consts)
    if c.freeze and c.k > 0:
        learn = scratch_group(c, consts, M0=max(inh.S, 0.0), g=c.m - c.k)
    else:
        learn = sc
    kap = kappa_h5(c, consts)
    num = inh.S + kap * learn.S
    den = math.hypot(inh.N, learn.N)
    snr_tr = num / den if den > 0 else 0.0
    snr_sc = sc.S / sc.N if sc.N > 0 else 0.0
    return {"S_sc": sc.S, "N_sc": sc.N, "S_inh": inh.S, "N_inh": inh.N, "S_learn": learn.S, "N_learn": learn.N,
            "kappa": kap, "lam": inh.N / sc.N if sc.N > 0 else 0.0, "snr_transfer": snr_tr,
            "snr_scratch": snr_sc}  # fmt: skip


def law_error(r: float, p: float, consts: Mapping[str, Any]) -> float:
    """H5's scratch law at a signed SNR r: p + (1 - 2p) Phi(-c |r|^(2k)), mirrored for r < 0."""
    law = consts["law"]
    e = float(norm_cdf(-float(law["c"]) * abs(r) ** (2 * float(law["k"]))))
    e = e if r >= 0 else 1.0 - e
    return p + (1 - 2 * p) * e


def law_snr(err: float, p: float, consts: Mapping[str, Any]) -> float:
    """Inverse of :func:`law_error` (errors within 1e-6 of p or 1 - p clipped)."""
    law = consts["law"]
    q = min(max((float(err) - p) / (1 - 2 * p), 1e-6), 1 - 1e-6)
    sgn = 1.0 if q <= 0.5 else -1.0
    z = float(-norm_ppf(min(q, 1 - q)))
    return sgn * (max(z, 0.0) / float(law["c"])) ** (1 / (2 * float(law["k"])))


@functools.lru_cache(maxsize=4)
def _load(path: str | None) -> dict[str, Any]:
    text = resources.files("theory").joinpath(H5_PATH).read_text() if path is None else open(path).read()
    return json.loads(text)


def load_h5(path: str | None = None) -> dict[str, Any]:
    """H5's fitted constants (``theory/h5.json`` by default)."""
    return _load(path)


def _prediction(name: str, c: Setting, pr: dict[str, float], consts) -> Prediction:
    e_tr = law_error(pr["snr_transfer"], c.label_flip, consts)
    e_sc = law_error(pr["snr_scratch"], c.label_flip, consts)
    sign = 0 if c.k == 0 else sign_of(pr["snr_transfer"] - pr["snr_scratch"])
    out = _outside("h5", c)
    return Prediction(name, e_tr, e_sc, e_sc - e_tr, sign, pr["snr_transfer"], pr["snr_scratch"], pr, not out, out)


def h5(cfg: Any, consts: Mapping[str, Any] | None = None) -> Prediction:
    """H5 from the configuration alone (module docstring; docs/theory.md section 8)."""
    c = setting_of(cfg)
    consts = load_h5() if consts is None else consts
    return _prediction("H5", c, parts(c, consts), consts)


def h5_plugin(cfg: Any, lam: float, consts: Mapping[str, Any] | None = None) -> Prediction:
    """H5 with the inherited part's noise scale measured before fine-tuning: N_inh = lam N_sc
    (``lam`` from :func:`theory.lambda_measured`); the rest as :func:`h5`."""
    c = setting_of(cfg)
    consts = load_h5() if consts is None else consts
    pr = parts(c, consts)
    if c.k > 0 and math.isfinite(lam):
        n_inh = float(lam) * pr["N_sc"]
        den = math.hypot(n_inh, pr["N_learn"])
        pr = {**pr, "N_inh": n_inh, "lam": float(lam),
              "snr_transfer": (pr["S_inh"] + pr["kappa"] * pr["S_learn"]) / den if den > 0 else 0.0}  # fmt: skip
    return _prediction("H5-plugin", c, pr, consts)
