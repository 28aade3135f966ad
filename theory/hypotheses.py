r"""Transfer hypotheses H1, H2, H3 and the trivial predictors (docs/theory.md section 3).

Each is a function of the configuration (``theory.Setting`` or a duck-typed
``Experiment``) returning a :class:`theory.Prediction` whose two SNRs are mapped to errors
by the calibrated scratch law; the plug-in versions take quantities measured before
fine-tuning.  Their domain is the prototype's family (``theory/domains.json``, "prototype";
docs/theory.md section 5): P = 2, no label noise, plain GD, ReLU, policy first/random, no
freezing or rescaling; every other value is flagged in ``Prediction.outside``.
"""

from __future__ import annotations

import math
from typing import Any

from theory.calibration import Calibration
from theory.prediction import Prediction, compose, make_prediction, sign_of
from theory.setting import lambda_default, lambda_log, r_inh, r_target, rho_bar, setting_of

__all__ = [
    "h1", "h1_plugin", "h1_corrected", "h2", "h3", "h3_ratio", "h2_plugin", "h3_plugin",
    "sign_of_s", "always_helps", "KAPPA_ALPHA1", "INH_FACTOR",
]  # fmt: skip

#: Empirical factors of the "corrected H1" (docs/theory.md section 3, prototype cells).
INH_FACTOR = 1.4  # zero-shot SNR of the inherited model / r_inh
KAPPA_ALPHA1 = 1.55  # learned-part SNR boost at alpha = 1 (eta T_down = 150; 1.5-2.4 measured)


def h1(cfg: Any, lam: float | str = math.inf, cal: Calibration | None = None, law: str | None = None) -> Prediction:
    r"""H1, SNR composition (docs/theory.md section 3), from the configuration alone.

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
    return make_prediction("H1", c, compose(ri, rt, lam), rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


def h1_plugin(cfg: Any, lam: float, r_inh_value: float | None = None, cal=None, law=None) -> Prediction:
    r"""H1 with measured quantities plugged in: ``lam`` measured before fine-tuning
    (:func:`theory.measure.lambda_measured`) and optionally r_inh measured from the inherited
    filters' gamma and rho (:func:`theory.measure.r_inh_measured`) instead of its formula."""
    c = setting_of(cfg)
    ri = r_inh(c) if r_inh_value is None else float(r_inh_value)
    rt = r_target(c)
    lam = 0.0 if c.k == 0 else float(lam)
    return make_prediction("H1-plugin", c, compose(ri, rt, lam), rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


def h1_corrected(
    cfg: Any, lam: float | None = None, kappa: float | None = None, inh_factor: float = INH_FACTOR, cal=None, law=None
) -> Prediction:
    r"""*Empirical* corrected H1 fitted to the prototype's cells (docs/theory.md section 3), not derived:

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
    return make_prediction("H1-corrected", c, snr, rt, cal, law, r_inh=ri, r_T=rt, lam=lam, kappa=kappa)


def h2(cfg: Any, signal: bool = True, saturation: float = 1.0, cal=None, law=None) -> Prediction:
    r"""H2, noise carriers (docs/theory.md section 3), as a configuration-only prediction.

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
    return make_prediction("H2", c, snr, rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


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
    r"""H3, anti-aligned tasks (docs/theory.md section 3): recovery iff |G| <= 1 (:func:`h3_ratio`).

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
    return make_prediction(name, c, rt * factor, rt, cal, law, G=G, r_T=rt, factor=factor)


def _trivial(name: str, cfg: Any, sign: int) -> Prediction:
    c = setting_of(cfg)
    nan = math.nan
    return Prediction(name, nan, nan, nan, 0 if c.k == 0 else sign)


def sign_of_s(cfg: Any) -> Prediction:
    """Trivial predictor: transfer helps iff s > 0 (right in 96% of the prototype's cells)."""
    return _trivial("sign_of_s", cfg, sign_of(setting_of(cfg).s))


def always_helps(cfg: Any) -> Prediction:
    """Trivial predictor: transfer always helps (94% of the prototype's s = +1 cells)."""
    return _trivial("always_helps", cfg, 1)


def h2_plugin(cfg: Any, lam: float, signal: bool = True, saturation: float = 1.0, cal=None, law=None) -> Prediction:
    r""":func:`h2` with its lambda (assumption A1) replaced by a measured one (:func:`theory.lambda_measured`):
    SNR_transfer = (lambda r_inh + r_T (1 + lambda^2)^(-saturation/2)) / sqrt(1 + lambda^2)."""
    c = setting_of(cfg)
    lam = 0.0 if c.k == 0 else float(lam)
    ri, rt = (r_inh(c) if signal else 0.0), r_target(c)
    snr = (lam * ri + rt * (1 + lam * lam) ** (-saturation / 2)) / math.sqrt(1 + lam * lam)
    return make_prediction("H2-plugin", c, snr, rt, cal, law, r_inh=ri, r_T=rt, lam=lam)


def h3_plugin(cfg: Any, G: float, cal=None, law=None) -> Prediction:
    r""":func:`h3` with G = s gamma_inh / gamma_T measured rather than derived: the upstream model's
    signal on mu_T (s <w - w0, u>, class-signed, mean over filters) over what the scratch model
    learned on mu_T (<w - w0, mu_T>) -- both available before fine-tuning."""
    return _h3_from_ratio("H3-plugin", setting_of(cfg), float(G), cal, law)
