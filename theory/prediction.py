r"""A hypothesis' prediction, its domain, and the map between errors and SNRs (docs/theory.md section 3).

Every hypothesis gives a signed margin SNR of the transfer model and of the scratch model
and maps both to test errors with the scratch law calibrated on scratch runs only
(:func:`theory.load_calibration`), unchanged.  ``sign`` is +1 when transfer is predicted to
beat scratch, -1 when worse, 0 for no difference (nothing inherited, or a predicted tie); it
compares the SNRs, so it does not depend on the calibration.  ``in_domain`` and ``outside``
say whether the configuration lies where the hypothesis was derived and validated
(:mod:`theory.domain`, docs/theory.md section 5): out of domain the numbers are still
computed, but flagged as extrapolations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from theory.calibration import Calibration, load_calibration
from theory.domain import outside as _outside
from theory.setting import setting_of

__all__ = ["Prediction", "DOMAIN_OF", "make_prediction", "compose", "snr_of_error", "sign_of"]

#: The domain (``theory/domains.json``) of each hypothesis; None: claims none (trivial baselines).
DOMAIN_OF: dict[str, str | None] = {
    "H1": "prototype", "H1-default-lambda": "prototype", "H1-corrected": "prototype", "H2": "prototype",
    "H3": "prototype", "H1-plugin": "prototype", "H1-corrected-plugin": "prototype", "H2-plugin": "prototype",
    "H3-plugin": "prototype", "H4": "h4", "H4-plugin": "h4", "H5": "h5", "H5-plugin": "h5",
    "sign_of_s": None, "always_helps": None,
}  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    """A hypothesis' prediction for one configuration (errors are exact conditional errors).

    ``in_domain`` is False when ``outside`` names any configuration field the hypothesis does
    not model (with a value other than the one it assumes) or that lies outside the range it
    was validated on, each as ``"field=value (reason)"``."""

    hypothesis: str
    pred_err_transfer: float
    pred_err_scratch: float
    pred_gain: float  # err_scratch - err_transfer
    sign: int  # +1 transfer better, -1 worse, 0 no difference
    snr_transfer: float = math.nan
    snr_scratch: float = math.nan
    details: Mapping[str, float] = field(default_factory=dict)
    in_domain: bool = True
    outside: tuple[str, ...] = ()


def sign_of(x: float, tol: float = 1e-12) -> int:
    return 0 if abs(x) <= tol else (1 if x > 0 else -1)


def make_prediction(
    name: str, cfg: Any, snr_tr: float, snr_sc: float, cal: Calibration | None, law: str | None, **det: float
) -> Prediction:
    """The :class:`Prediction` of hypothesis ``name`` from its two SNRs: errors through the
    calibrated law at the configuration's label-flip rate, sign from the SNRs, the domain of
    :data:`DOMAIN_OF` [name]."""
    c = setting_of(cfg)
    cal = load_calibration() if cal is None else cal
    e_tr = float(cal.error_of_snr(snr_tr, p=c.label_flip, law=law))
    e_sc = float(cal.error_of_snr(snr_sc, p=c.label_flip, law=law))
    sign = 0 if c.k == 0 else sign_of(snr_tr - snr_sc)
    out = _outside(DOMAIN_OF.get(name), c)
    return Prediction(name, e_tr, e_sc, e_sc - e_tr, sign, snr_tr, snr_sc, det, not out, out)


def compose(r_i: float, r_t: float, lam: float) -> float:
    """(lambda r_inh + r_T) / sqrt(1 + lambda^2); r_inh at lambda = inf."""
    return r_i if math.isinf(lam) else (lam * r_i + r_t) / math.sqrt(1 + lam * lam)


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
