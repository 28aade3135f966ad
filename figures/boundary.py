"""Boundary finding and bootstrap slope fitting of the asymptotics figure
(``figures/asymptotics.py``; docs/theory.md section 1), pure numpy, tested on synthetic laws.

Scratch boundary: the ||mu*|| where the mean error falls to ``LEVEL`` (probit interpolated on
a log grid of ||mu||); transfer boundary: the a* where the gain turns positive in a (the end
of negative transfer); slopes: least squares of log n (log d, log a*) on log ||mu*|| (log
n_S); 95% intervals: percentile bootstrap, seeds resampled jointly over a fit's cells.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.stats import norm

#: The scratch boundary's error level, and the bootstrap resamples of :func:`analyse`.
LEVEL, BOOT = 0.25, 2000


def _zero(lx, y, j, ok):
    """Where y (..., k) crosses 0 between grid points j and j + 1 (linear in lx), NaN if not ok."""
    y0, y1 = np.take_along_axis(y, j, -1)[..., 0], np.take_along_axis(y, j + 1, -1)[..., 0]
    lx = np.broadcast_to(lx, y.shape)
    x0, x1 = np.take_along_axis(lx, j, -1)[..., 0], np.take_along_axis(lx, j + 1, -1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, x0 + y0 / (y0 - y1) * (x1 - x0), np.nan)


def scratch_boundary(lx, err, level: float = LEVEL):
    """log ||mu*|| where a decreasing error first falls to ``level`` (probit interpolated
    linearly in lx = log ||mu||), over the last axis; NaN if not inside the grid."""
    below = np.nan_to_num(err, nan=1.0) <= level
    j = np.argmax(below, axis=-1)
    y = norm.ppf(np.clip(err, 1e-6, 1 - 1e-6)) - norm.ppf(level)
    return _zero(lx, y, np.maximum(j - 1, 0)[..., None], below.any(-1) & (j > 0))


def transfer_boundary(lx, gain):
    """log a* where the gain turns from negative to positive below its maximum (the end of
    negative transfer), over the last axis; NaN where the gain is never negative there."""
    g = np.nan_to_num(gain, nan=0.0)
    k = g.shape[-1]
    neg = (g < 0) & (np.arange(k) < np.argmax(g, axis=-1)[..., None])
    j = np.minimum(k - 1 - np.argmax(neg[..., ::-1], axis=-1), k - 2)
    return _zero(lx, g, j[..., None], neg.any(-1))


def ls_slope(x, y):
    """Least-squares slope of y on x over the last axis (finite pairs; NaN if fewer than 2)."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    ok = np.isfinite(x) & np.isfinite(y)
    n = np.maximum(ok.sum(-1, keepdims=True), 1)
    dx, dy = (np.where(ok, v - np.where(ok, v, 0).sum(-1, keepdims=True) / n, 0) for v in (x, y))
    sxx = (dx**2).sum(-1)
    return np.where((n[..., 0] >= 2) & (sxx > 0), (dx * dy).sum(-1) / np.where(sxx > 0, sxx, 1), np.nan)


def _boot_means(v, B: int, seed: int = 0):
    """(B + 1, ...) means over the seed (last) axis: row 0 all seeds, rows 1.. resampled."""
    S = v.shape[-1]
    idx = np.concatenate([np.arange(S)[None], np.random.default_rng(seed).integers(0, S, (B, S))])
    return np.moveaxis(np.nanmean(v[..., idx], axis=-1), -1, 0)


def _est(samples, key="slope", f=float) -> dict:
    """Row 0 (all seeds) and the 95% percentile interval of rows 1.. (the bootstrap), mapped by f."""
    fin = samples[1:][np.isfinite(samples[1:])]
    ci = np.percentile(fin, [2.5, 97.5]) if fin.size else [np.nan] * 2
    return {key: f(samples[0]), "ci95": [f(c) for c in ci], "finite_frac": fin.size / (samples.size - 1)}


def analyse(ds: xr.Dataset, B: int = BOOT) -> dict:
    """Bootstrap CIs of: scratch n-slope per d, d-slope per n, SNR2 at the boundary per cell;
    transfer a* / b_T per cell and d log a* / d log n_S per d (and H1's, H4's)."""
    n, d = ds.scr_n.values.astype(float), ds.scr_d.values.astype(float)
    lmu = scratch_boundary(np.log(ds.scr_mu.values), _boot_means(ds.scr_err.values, B))  # (B+1, cells)
    out = {"published": {"n_slope": -4.0, "d_slope": 4.0, "transfer_a_slope_H1_asymptotic": -0.25}}
    out["scratch_n_slope"] = [{"d": x, "n": n[d == x].tolist(), **_est(ls_slope(lmu[:, d == x], np.log(n[d == x])))}
                              for x in np.unique(d)]
    out["scratch_d_slope"] = [{"n": x, "d": d[n == x].tolist(), "d_mid": float(np.exp(np.log(d[n == x]).mean())),
                               **_est(ls_slope(lmu[:, n == x], np.log(d[n == x])))}
                              for x in np.unique(n) if (n == x).sum() >= 2]
    sp4 = float(ds.attrs["sigma_p"]) ** 4
    out["snr2_star"] = [{"n": n[i], "d": d[i], **_est(n[i] * np.exp(4 * lmu[:, i]) / (sp4 * d[i]), "value")}
                        for i in range(n.size)]
    la = transfer_boundary(np.log(ds.tr_a.values), _boot_means(ds.tr_gain.values, B))
    th, bT = np.log(ds.tr_astar_theory.values), ds.tr_bT.values  # (tcell, hyp)
    nS, td = ds.tr_nS.values.astype(float), ds.tr_d.values.astype(float)
    out["transfer_a_slope"] = []
    for x in np.unique(td):
        c, ln = td == x, np.log(nS[td == x])
        r = {"d": x, "n_T": int(ds.tr_nT.values[c][0]), "n_S": nS[c].tolist(), **_est(ls_slope(ln, la[:, c])),
             "a_star_over_bT": [_est(la[:, i], "value", lambda v, i=i: float(np.exp(v) / bT[i]))
                                for i in np.flatnonzero(c)]}
        for k, h in enumerate(ds.hyp.values):
            r[f"theory_{h}"] = float(ls_slope(ln, th[c, k]))
            r[f"theory_{h}_a_star_over_bT"] = (np.exp(th[c, k]) / bT[c]).tolist()
        out["transfer_a_slope"].append(r)
    return out
