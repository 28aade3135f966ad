"""Rank correlations and threshold classifiers of the estimator testbed (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["spearman", "kendall", "fit_threshold"]


def _ranks(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Average (1-based) ranks along the last axis among the entries with mask ``m``."""
    lt = (x[..., None, :] < x[..., :, None]) & m[..., None, :]
    eq = (x[..., None, :] == x[..., :, None]) & m[..., None, :]
    return lt.sum(-1) + 0.5 * (eq.sum(-1) + 1)


def spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis`` (Pearson correlation of average ranks), ignoring
    positions where x or y is NaN; NaN when fewer than 3 pairs or a constant side."""
    x, y = np.moveaxis(np.asarray(x, float), axis, -1), np.moveaxis(np.asarray(y, float), axis, -1)
    m = np.isfinite(x) & np.isfinite(y)
    rx, ry = _ranks(np.where(m, x, 0.0), m), _ranks(np.where(m, y, 0.0), m)
    n = m.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(m, rx, 0).sum(-1) / n
        my = np.where(m, ry, 0).sum(-1) / n
        dx, dy = np.where(m, rx - mx[..., None], 0), np.where(m, ry - my[..., None], 0)
        r = (dx * dy).sum(-1) / np.sqrt((dx * dx).sum(-1) * (dy * dy).sum(-1))
    return np.where(n >= 3, r, np.nan)


def kendall(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Kendall's tau-b along ``axis``: ``sum sgn(dx) sgn(dy) / sqrt(sum sgn(dx)^2 sum sgn(dy)^2)``
    over pairs (ties in one variable count in neither numerator nor its denominator
    factor), ignoring NaN positions; NaN when fewer than 3 pairs or a constant side."""
    x, y = np.moveaxis(np.asarray(x, float), axis, -1), np.moveaxis(np.asarray(y, float), axis, -1)
    m = np.isfinite(x) & np.isfinite(y)
    w = m[..., :, None] & m[..., None, :]
    sx = np.where(w, np.sign(x[..., :, None] - x[..., None, :]), 0.0)
    sy = np.where(w, np.sign(y[..., :, None] - y[..., None, :]), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (sx * sy).sum((-2, -1)) / np.sqrt((sx * sx).sum((-2, -1)) * (sy * sy).sum((-2, -1)))
    return np.where(m.sum(-1) >= 3, t, np.nan)


# -- sign of the gain ------------------------------------------------------------------------


def fit_threshold(score: np.ndarray, positive: np.ndarray) -> float:
    """The threshold t maximising the balanced accuracy of ``score > t`` as a predictor of
    ``positive`` (NaN scores ignored): a midpoint between consecutive distinct scores, or
    +-inf (predict one class throughout) when that is best or one class is absent."""
    s, p = np.asarray(score, float).ravel(), np.asarray(positive, bool).ravel()
    ok = np.isfinite(s)
    s, p = s[ok], p[ok]
    n_pos, n_neg = p.sum(), (~p).sum()
    if s.size == 0 or n_pos == 0 or n_neg == 0:
        return np.inf if n_pos == 0 else -np.inf
    order = np.argsort(s, kind="stable")
    s, p = s[order], p[order]
    # thresholds after each distinct value: predicted positive = the entries above it
    last = np.r_[s[1:] != s[:-1], True]
    neg_below = np.cumsum(~p)[last]  # true negatives
    pos_above = n_pos - np.cumsum(p)[last]  # true positives
    bal = np.r_[0.5, 0.5 * (pos_above / n_pos + neg_below / n_neg)]  # first: t = -inf
    vals = s[last]
    cuts = np.r_[-np.inf, 0.5 * (vals[:-1] + vals[1:]), np.inf]
    return float(cuts[int(np.argmax(bal))])


def _rates(score, positive, thr):
    """(correct, n, true positives, positives, true negatives, negatives) of score > thr."""
    ok = np.isfinite(score)
    pred, pos = score[ok] > thr, positive[ok]
    return np.array([np.sum(pred == pos), ok.sum(), np.sum(pred & pos), pos.sum(), np.sum(~pred & ~pos), (~pos).sum()])


def _crossfit(score: np.ndarray, positive: np.ndarray, halves) -> np.ndarray:
    """(accuracy, balanced accuracy) of thresholds fitted on one half of the seeds (last
    axis) and scored on the other, both ways, pooled."""
    tot = np.zeros(6)
    for fit, ev in (halves, halves[::-1]):
        thr = fit_threshold(score[..., fit], positive[..., fit])
        tot += _rates(score[..., ev].ravel(), positive[..., ev].ravel(), thr)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.array([tot[0] / tot[1], 0.5 * (tot[2] / tot[3] + tot[4] / tot[5])])


# -- the testbed -----------------------------------------------------------------------------
