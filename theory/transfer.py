r"""Transfer hypotheses H1, H2, H3 of THEORY.md section 3 as functions of the configuration.

Every hypothesis gives a signed margin SNR of the transfer model and of the scratch model
(``r_T``) and maps both to test errors with the scratch law calibrated on scratch runs
only (:func:`theory.load_calibration`), unchanged.  ``sign`` is +1 when transfer is
predicted to beat scratch, -1 when worse, 0 for no difference (alpha = 0, or a predicted
tie); it compares the SNRs, so it does not depend on the calibration.

H4 (:func:`h4`, below the others) is H1's composition with lambda and the zero-shot factor
derived from the configuration and kappa an empirical law fitted on a separate calibration
grid (``theory/h4.json``, ``python -m simtransfer.check --calibrate-h4``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping

import numpy as np

from theory.calibration import Calibration, load_calibration
from theory.setting import Setting, lambda_default, lambda_log, r_inh, r_target, rho_bar, setting_of

__all__ = [
    "Prediction", "h1", "h1_plugin", "h1_corrected", "h2", "h3", "h3_ratio",
    "sign_of_s", "always_helps", "predict", "KAPPA_ALPHA1", "INH_FACTOR",
]  # fmt: skip

#: Empirical factors of the "corrected H1" (THEORY.md section 3, prototype cells).
INH_FACTOR = 1.4  # zero-shot SNR of the inherited model / r_inh
KAPPA_ALPHA1 = 1.55  # learned-part SNR boost at alpha = 1 (eta T_down = 150; 1.5-2.4 measured)


@dataclass(frozen=True)
class Prediction:
    """A hypothesis' prediction for one configuration (errors are exact conditional errors)."""

    hypothesis: str
    pred_err_transfer: float
    pred_err_scratch: float
    pred_gain: float  # err_scratch - err_transfer
    sign: int  # +1 transfer better, -1 worse, 0 no difference
    snr_transfer: float = math.nan
    snr_scratch: float = math.nan
    details: Mapping[str, float] = field(default_factory=dict)


def _sign(x: float, tol: float = 1e-12) -> int:
    return 0 if abs(x) <= tol else (1 if x > 0 else -1)


def _predict(name: str, cfg: Any, snr_tr: float, snr_sc: float, cal: Calibration | None, law: str | None, **det):
    c = setting_of(cfg)
    cal = load_calibration() if cal is None else cal
    e_tr = float(cal.error_of_snr(snr_tr, p=c.label_flip, law=law))
    e_sc = float(cal.error_of_snr(snr_sc, p=c.label_flip, law=law))
    sign = 0 if c.k == 0 else _sign(snr_tr - snr_sc)
    return Prediction(name, e_tr, e_sc, e_sc - e_tr, sign, snr_tr, snr_sc, det)


def _compose(r_i: float, r_t: float, lam: float) -> float:
    """(lambda r_inh + r_T) / sqrt(1 + lambda^2); r_inh at lambda = inf."""
    return r_i if math.isinf(lam) else (lam * r_i + r_t) / math.sqrt(1 + lam * lam)


def h1(cfg: Any, lam: float | str = math.inf, cal: Calibration | None = None, law: str | None = None) -> Prediction:
    r"""H1, SNR composition (THEORY.md section 3), from the configuration alone.

    The trained transfer margin is an inherited part of SNR
    r_inh = s sqrt(n_S) a^2 / (sigma_p^2 sqrt d) (:func:`theory.setting.r_inh`) plus a
    learned part of SNR r_T = sqrt(SNR2(n_T, mu_T)), independent, with noise scales in ratio
    lambda (inherited / learned).  Normalising each part by its noise s.d.,

        SNR_transfer = (lambda r_inh + r_T) / sqrt(1 + lambda^2),

    so transfer beats scratch (SNR r_T) iff r_inh > r_T (sqrt(1 + lambda^2) - 1) / lambda.

    Args:
      lam: ``inf`` (default: the inherited part dominates, SNR_transfer = r_inh; the
        prototype's choice, beats scratch iff s > 0 and n_S a^4 > n_T ||mu_T||^4),
        ``"default"`` (:func:`theory.setting.lambda_default`, 1.2 alpha, empirical),
        ``"log"`` (:func:`theory.setting.lambda_log`, derived, untested) or a number.
      law: which calibrated law maps SNR to error (default: the calibration's).
    """
    c = setting_of(cfg)
    if isinstance(lam, str):
        lam = {"default": lambda_default, "log": lambda_log}[lam](c)
    lam = 0.0 if c.k == 0 else float(lam)
    ri, rt = r_inh(c), r_target(c)
    return _predict("H1", c, _compose(ri, rt, lam), rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


def h1_plugin(cfg: Any, lam: float, r_inh_value: float | None = None, cal=None, law=None) -> Prediction:
    r"""H1 with measured quantities plugged in: ``lam`` measured before fine-tuning
    (:func:`theory.measure.lambda_measured`) and optionally r_inh measured from the inherited
    filters' gamma and rho (:func:`theory.measure.r_inh_measured`) instead of its formula."""
    c = setting_of(cfg)
    ri = r_inh(c) if r_inh_value is None else float(r_inh_value)
    rt = r_target(c)
    lam = 0.0 if c.k == 0 else float(lam)
    return _predict("H1-plugin", c, _compose(ri, rt, lam), rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


def h1_corrected(
    cfg: Any, lam: float | None = None, kappa: float | None = None, inh_factor: float = INH_FACTOR, cal=None, law=None
) -> Prediction:
    r"""*Empirical* corrected H1 fitted to the prototype's cells (THEORY.md section 3), not derived:

        SNR_transfer = (lambda inh_factor r_inh + kappa r_T) / sqrt(1 + lambda^2),

    i.e. for alpha < 1 (kappa = 1) transfer beats scratch iff
    1.4 s r_inh > r_T (sqrt(1 + lambda^2) - 1) / lambda; at alpha = 1 the learned part is
    multiplied by kappa (default :data:`KAPPA_ALPHA1` = 1.55, measured at eta T_down = 150;
    kappa grows with eta T_down).  ``lam`` should be measured; None uses ``lambda_default``.
    """
    c = setting_of(cfg)
    lam = (lambda_default(c) if lam is None else float(lam)) if c.k else 0.0
    kappa = (KAPPA_ALPHA1 if c.k == c.m else 1.0) if kappa is None else float(kappa)
    ri, rt = r_inh(c), r_target(c)
    snr = (lam * inh_factor * ri + kappa * rt) / math.sqrt(1 + lam * lam)
    return _predict("H1-corrected", c, snr, rt, cal, law, r_inh=ri, r_T=rt, lam=lam, kappa=kappa)


def h2(cfg: Any, signal: bool = True, saturation: float = 1.0, cal=None, law=None) -> Prediction:
    r"""H2, noise carriers (THEORY.md section 3), as a configuration-only prediction.

    Assumptions (each a hypothesis to test):
      A1. The inherited filters add a noise output of relative scale lambda =
          :func:`theory.setting.lambda_log` = (k/m) sqrt(n_S/n_T) rho_S/rho_T, which grows
          with alpha and with upstream training (rho_S = log(1 + eta_up sigma_p^2 d T_up /
          (n_S m))) and shrinks with eta_down T_down.
      A2. Noise carriers let the training loss saturate earlier, so the learned signal is
          a fraction (1 + lambda^2)^(-saturation/2) of what scratch learns (saturation = 1:
          inversely proportional to the margin scale already present).
      A3. The inherited signal composes as in H1 (``signal=False`` drops it: the ablation
          "upstream filters with their signal part removed").

        SNR_transfer = (lambda r_inh + r_T (1 + lambda^2)^(-saturation/2)) / sqrt(1 + lambda^2).

    Negative transfer driven by noise memorisation: worse for larger alpha and T_up.
    """
    c = setting_of(cfg)
    lam = lambda_log(c)
    ri, rt = (r_inh(c) if signal else 0.0), r_target(c)
    snr = (lam * ri + rt * (1 + lam * lam) ** (-saturation / 2)) / math.sqrt(1 + lam * lam)
    return _predict("H2", c, snr, rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


def h3_ratio(cfg: Any) -> float:
    r"""G = s gamma_inh / gamma_T: the inherited signal on mu_T over what fine-tuning learns.

    Per signal-learning filter, upstream GD gives <w, u> = gamma_u ~ (n_S/2) rho_S a^2 /
    (sigma_p^2 d) (gamma/rho ~ n ||mu||^2 / (sigma_p^2 d), section 3), hence <w, mu_T> =
    s gamma_u; T_down steps on n_T samples add gamma_T ~ (n_T/2) rho_T ||mu_T||^2 / (sigma_p^2 d)
    (:func:`theory.setting.rho_bar`).  G = s n_S a^2 rho_S / (n_T ||mu_T||^2 rho_T); G < 0
    for anti-aligned tasks.
    """
    c = setting_of(cfg)
    rS = rho_bar(c.eta_up, c.sigma_p, c.d, c.T_up, c.n_S, c.m_up)
    rT = rho_bar(c.eta_down, c.sigma_p, c.d, c.T_down, c.n_T, c.m)
    den = c.n_T * c.norm_mu_T**2 * rT
    return 0.0 if den == 0 else c.s * c.n_S * c.a**2 * rS / den  # ||mu_T|| = 0 implies s a = 0


def h3(cfg: Any, cal=None, law=None) -> Prediction:
    r"""H3, anti-aligned tasks (THEORY.md section 3): recovery iff |G| <= 1 (:func:`h3_ratio`).

    Assumptions: (i) ReLU: a class-j filter with j <w, mu_T> < 0 is inactive on its own
    class's signal patch, so GD can only raise j <w, mu_T> to 0 (from the other class's
    patches), at the rate a fresh filter learns; it never learns the right sign.  (ii) About
    half of the filters learned the signal upstream (those active on it at init); the other
    half and the fresh filters learn as in scratch.  Summing the signal over filters, the
    transfer margin's signal relative to scratch is

        1 + (k/m) G               for s > 0 (a head start),
        1 - (k/m) max(0, |G| - 1) for s < 0 (wrong-sign filters not yet neutralised),

    the noise part as in scratch.  So with s < 0 fine-tuning recovers (transfer ~ scratch)
    iff |G| <= 1, i.e. |s| n_S a^2 rho_S <= n_T ||mu_T||^2 rho_T; otherwise transfer is worse,
    and worse than chance when (k/m)(|G| - 1) > 1.
    """
    c = setting_of(cfg)
    return _h3_from_ratio("H3", c, h3_ratio(c), cal, law)


def _h3_from_ratio(name: str, c, G: float, cal, law) -> Prediction:
    """H3's prediction for the ratio G: r_T scaled by 1 + (k/m) G (G >= 0) or by
    1 - (k/m) max(0, |G| - 1) (G < 0)."""
    f = c.k / c.m
    factor = 1 + f * G if G >= 0 else 1 - f * max(0.0, -G - 1)
    rt = r_target(c)
    return _predict(name, c, rt * factor, rt, cal, law, G=G, r_T=rt, factor=factor)


def _trivial(name: str, cfg: Any, sign: int) -> Prediction:
    c = setting_of(cfg)
    nan = math.nan
    return Prediction(name, nan, nan, nan, 0 if c.k == 0 else sign)


def sign_of_s(cfg: Any) -> Prediction:
    """Trivial predictor: transfer helps iff s > 0 (right in 96% of the prototype's cells)."""
    return _trivial("sign_of_s", cfg, _sign(setting_of(cfg).s))


def always_helps(cfg: Any) -> Prediction:
    """Trivial predictor: transfer always helps (94% of the prototype's s = +1 cells)."""
    return _trivial("always_helps", cfg, 1)


def predict(cfg: Any, cal: Calibration | None = None) -> dict[str, Prediction]:
    """Every configuration-only prediction: H1 (lambda = inf and default), the empirical
    corrected H1, H2, H3 and the two trivial predictors, keyed by name."""
    return {
        "H1": h1(cfg, cal=cal),
        "H1-default-lambda": h1(cfg, "default", cal=cal),
        "H1-corrected": h1_corrected(cfg, cal=cal),
        "H2": h2(cfg, cal=cal),
        "H3": h3(cfg, cal=cal),
        "sign_of_s": sign_of_s(cfg),
        "always_helps": always_helps(cfg),
    }


# -- H4: the composition with lambda, the zero-shot factor and kappa from the configuration ----
__all__ += [
    "relu_cov", "coherence", "margin_of_budget", "rho_memorised", "lambda_h4", "inh_factor_h4",
    "kappa_h4", "h4", "h4_plugin", "snr_of_error", "load_h4", "fit_kappa", "H4_PATH",
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
    r"""*Empirical* boost of the learned part's SNR (THEORY.md section 3's kappa), fitted on the
    calibration grid of ``simtransfer.check --calibrate-h4`` (constants in ``theory/h4.json``):

        kappa = 1 + c * (k / (m - k + 1)) * lambda^p,

    k/(m - k + 1): inherited over fresh filters (+1), ~0 for alpha small and steep at alpha = 1,
    where no fresh filter is left to fit the target data; lambda (:func:`lambda_h4` unless
    given) carries the dependence on the inherited noise scale.  Not derived.

    The shipped fit (76 calibration cells, n_S = 80 and 320, root seed 777; p chosen among
    0, 1/2, 1 by RMSE) has p = 0 and c = 0.081: kappa = 1.07 at alpha = 1/2, 1.22 at 0.8 and
    1.81 at 1 (m = 10), against 1.02-1.09, 1.22-1.34 and 1.5-2.3 implied by the calibration
    cells; kappa's growth with eta_down T_down (THEORY.md section 3) is not modelled."""
    c = setting_of(cfg)
    if c.k == 0:
        return 1.0
    kc = (load_h4() if consts is None else consts)["kappa"]
    lam = lambda_h4(c) if lam is None else float(lam)
    return 1.0 + kc["c"] * c.k / (c.m - c.k + 1) * lam ** kc["p"]


def _h4(name: str, c: Setting, lam: float, r_zs: float, kappa: float, cal, law) -> Prediction:
    rt = r_target(c)
    snr = (lam * r_zs + kappa * rt) / math.sqrt(1 + lam * lam)
    return _predict(name, c, snr, rt, cal, law, r_zs=r_zs, r_T=rt, lam=lam, kappa=kappa)


def h4(cfg: Any, cal: Calibration | None = None, law: str | None = None, consts=None) -> Prediction:
    r"""H4: H1's composition with every input from the configuration (THEORY.md section 3's
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


def snr_of_error(err: float, p: float = 0.0, cal: Calibration | None = None, law: str | None = None) -> float:
    r"""Inverse of the calibrated law: the signed SNR r with ``cal.error_of_snr(r, p) = err``
    (negative for err > 1/2).  Used to read a measured error (zero-shot, transfer) in the units
    of r_T.  Errors within 1e-6 of p or 1 - p are clipped."""
    from theory.scratch import norm_ppf

    cal = load_calibration() if cal is None else cal
    fit = cal.fit(law)
    q = (float(err) - p) / (1 - 2 * p)
    q = min(max(q, 1e-6), 1 - 1e-6)
    sgn = 1.0 if q <= 0.5 else -1.0
    q = min(q, 1 - q)
    if fit.law == "exp":
        r2 = -fit.estimate[0] * math.log(2 * q)
    else:
        k = fit.k if fit.law == "gauss" else fit.estimate[1]
        r2 = (float(-norm_ppf(q)) / fit.estimate[0]) ** (1 / k)
    return sgn * math.sqrt(max(r2, 0.0))


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


# -- plug-in versions of H2 and H3 (inputs measured before fine-tuning) -------------------------
__all__ += ["h2_plugin", "h3_plugin"]


def h2_plugin(cfg: Any, lam: float, signal: bool = True, saturation: float = 1.0, cal=None, law=None) -> Prediction:
    r""":func:`h2` with its lambda (assumption A1) replaced by a measured one (:func:`theory.lambda_measured`):
    SNR_transfer = (lambda r_inh + r_T (1 + lambda^2)^(-saturation/2)) / sqrt(1 + lambda^2)."""
    c = setting_of(cfg)
    lam = 0.0 if c.k == 0 else float(lam)
    ri, rt = (r_inh(c) if signal else 0.0), r_target(c)
    snr = (lam * ri + rt * (1 + lam * lam) ** (-saturation / 2)) / math.sqrt(1 + lam * lam)
    return _predict("H2-plugin", c, snr, rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


def h3_plugin(cfg: Any, G: float, cal=None, law=None) -> Prediction:
    r""":func:`h3` with G = s gamma_inh / gamma_T measured rather than derived: the upstream model's
    signal on mu_T (s <w - w0, u>, class-signed, mean over filters) over what the scratch model
    learned on mu_T (<w - w0, mu_T>) -- both available before fine-tuning."""
    return _h3_from_ratio("H3-plugin", setting_of(cfg), float(G), cal, law)
