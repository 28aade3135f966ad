r"""How well do transferability scores rank the true transfer gain? (issue 6)

Every seed of a sweep carries the scores of ``simtransfer.nn.estimators`` (computed from the
inherited model before fine-tuning) and the true paired gain ``err_scratch - err_transfer``
(exact conditional errors), so the scores can be judged against ground truth:

* rank correlation (Spearman rho, Kendall tau-b) with the gain **across grid points**
  (means over the valid seeds of each point) and **across seeds within a point**
  (averaged over the points);
* **sign accuracy**: how well ``score > threshold`` predicts positive transfer (gain > 0)
  per trial.  The threshold is fitted honestly by 2-fold cross-fitting over seeds: it
  maximises the balanced accuracy on the even seeds and is scored on the odd ones, and
  vice versa (every trial is scored by a threshold that never saw it); reported as
  accuracy and balanced accuracy (the mean of the true-positive and true-negative rates,
  which a constant predictor cannot push above 1/2), with the base rate for reference;
* percentile **bootstrap confidence intervals over seeds**: seeds are resampled with
  replacement, the same draw at every point (seeds are paired across points by common
  random numbers), within each half for the cross-fitted accuracies.

``fooled`` applies thresholds fitted on one sweep to another (e.g. the s = 0 "lucky Bob"
sweep): how often a score predicts positive transfer where there is none.

Only numpy and xarray/pandas: rank correlations are computed here (pairwise, vectorised
over bootstrap draws; they equal scipy's ``spearmanr`` and ``kendalltau`` (tau-b), which
the tests check).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .stats import _crossfit, fit_threshold, kendall, spearman

__all__ = ["ESTIMATORS", "scores_of", "spearman", "kendall", "fit_threshold", "evaluate_estimators", "fooled", "wide"]

#: Estimator name -> (dataset variable, sign): the score is ``sign * ds[variable]``, so that
#: higher always means "more transferable".  The zero-shot baseline is minus the inherited
#: model's exact target error before fine-tuning (``err_zeroshot``).
ESTIMATORS: dict[str, tuple[str, float]] = {
    "logme": ("score_logme", 1.0),
    "spectral": ("score_spectral", 1.0),
    "relatedness": ("score_relatedness", 1.0),
    "hscore": ("score_hscore", 1.0),
    "zeroshot": ("err_zeroshot", -1.0),
}


def _valid(ds: xr.Dataset) -> xr.DataArray:
    ok = xr.ones_like(ds["gain"], dtype=bool)
    for st in ("upstream", "transfer", "scratch"):
        if f"diverged_{st}" in ds:
            ok = ok & ~ds[f"diverged_{st}"].astype(bool)
    return ok & np.isfinite(ds["gain"])


def scores_of(ds: xr.Dataset, estimators: Sequence[str] | None = None) -> dict[str, xr.DataArray]:
    """``{name: score}`` (higher = more transferable) for the estimators present in ``ds``;
    seeds that diverged, and non-finite scores, are NaN."""
    names = [n for n in ESTIMATORS if ESTIMATORS[n][0] in ds] if estimators is None else list(estimators)
    ok = _valid(ds)
    out = {}
    for n in names:
        var, sign = ESTIMATORS[n]
        x = sign * ds[var].astype(float)
        out[n] = x.where(ok & np.isfinite(x))
    return out


# -- rank correlations (numpy, vectorised over leading axes) -----------------------------------


def _point_seed(x: xr.DataArray) -> np.ndarray:
    """(points, seeds) array: every grid dimension flattened, seed last."""
    dims = [d for d in x.dims if d != "seed"]
    return np.asarray(x.transpose(*dims, "seed"), float).reshape(-1, x.sizes["seed"])


def _stats(S: np.ndarray, G: np.ndarray) -> np.ndarray:
    """(4, ...) Spearman and Kendall across points (of the seed means) and within points
    (averaged over points), for arrays (..., points, seeds)."""
    with np.errstate(invalid="ignore"), _quiet():
        ms, mg = np.nanmean(S, -1), np.nanmean(G, -1)
        return np.stack([spearman(ms, mg), kendall(ms, mg),
                         np.nanmean(spearman(S, G), -1), np.nanmean(kendall(S, G), -1)])  # fmt: skip


class _quiet:
    """Silence numpy's RuntimeWarnings (empty means/slices) inside a block."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


_METRICS = ("spearman_points", "kendall_points", "spearman_seeds", "kendall_seeds", "sign_acc", "sign_bal_acc")


def evaluate_estimators(
    ds: xr.Dataset, estimators: Sequence[str] | None = None, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Judge each score of a sweep dataset against the true transfer gain.

    Args:
      ds: a sweep dataset (``simtransfer.runs.sweep``: dims = grid fields + ``seed``) with ``gain``,
        the ``score_*`` variables and ``err_zeroshot``; diverged seeds are excluded.
      estimators: names of ``ESTIMATORS`` (default: every one present).
      n_boot: bootstrap draws over seeds for the confidence intervals (0: none).
      level: confidence level of the percentile intervals.

    Returns:
      A tidy ``pandas.DataFrame``, one row per (estimator, metric), columns ``value``,
      ``lo``, ``hi`` (the interval) and ``n`` (points, or trials for the sign metrics).
      Metrics: ``spearman_points``/``kendall_points`` (seed means across grid points),
      ``spearman_seeds``/``kendall_seeds`` (across seeds within a point, averaged over
      points), ``sign_acc``/``sign_bal_acc`` (cross-fitted threshold, see the module
      docstring), and ``base_rate`` (fraction of trials with gain > 0, the same for all).
    """
    scores = scores_of(ds, estimators)
    gain = ds["gain"].where(_valid(ds))
    G = _point_seed(gain)
    P, S = G.shape
    halves = (np.arange(S) % 2 == 0, np.arange(S) % 2 == 1)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, S, (n_boot, S))
    # within each half for the cross-fitted metrics: resample even seeds among even ones, odd among odd
    idx_h = [np.flatnonzero(h) for h in halves]
    boot_h = [h[rng.integers(0, h.size, (n_boot, h.size))] for h in idx_h]
    q = (0.5 * (1 - level), 0.5 * (1 + level))
    rows = []
    pos = G > 0
    for name, sc in scores.items():
        X = _point_seed(sc)
        val = np.concatenate([_stats(X, G), _crossfit(X, pos, halves)])
        ci = np.full((len(_METRICS), 2), np.nan)
        if n_boot:
            b_corr = _stats(X[:, boot].transpose(1, 0, 2), G[:, boot].transpose(1, 0, 2))  # (4, n_boot)
            b_sign = np.stack([
                _crossfit(X[:, np.r_[be, bo]], pos[:, np.r_[be, bo]], (np.arange(S) < be.size, np.arange(S) >= be.size))
                for be, bo in zip(*boot_h)
            ], axis=1)  # fmt: skip
            with _quiet():
                ci = np.nanquantile(np.concatenate([b_corr, b_sign]), q, axis=1).T
        n_trials = int(np.sum(np.isfinite(X) & np.isfinite(G)))
        for k, metric in enumerate(_METRICS):
            rows.append((name, metric, val[k], ci[k, 0], ci[k, 1], P if k < 2 else n_trials))
    n_all = int(np.isfinite(G).sum())
    rows.append(("(all)", "base_rate", float(np.nansum(pos) / max(n_all, 1)), np.nan, np.nan, n_all))
    df = pd.DataFrame(rows, columns=["estimator", "metric", "value", "lo", "hi", "n"])
    df.attrs.update(n_boot=n_boot, level=level, points=P, seeds=S)
    return df


def fooled(
    train: xr.Dataset, test: xr.Dataset, estimators: Sequence[str] | None = None, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Thresholds fitted on every valid trial of ``train`` (balanced accuracy), applied to ``test``.

    Returns one row per estimator: ``threshold``; ``pred_pos`` the fraction of ``test`` trials
    predicted positive; ``fooled`` the fraction of the ``test`` trials *without* positive
    transfer (gain <= 0) that the score predicts positive (the false-positive rate), with a
    bootstrap interval over the seeds of ``test`` (``fooled_lo``, ``fooled_hi``); ``missed``
    the false-negative rate; ``n_neg``/``n_pos`` the trial counts; and the base rate.
    """
    tr, te = scores_of(train, estimators), scores_of(test, estimators)
    Gtr = _point_seed(train["gain"].where(_valid(train)))
    Gte = _point_seed(test["gain"].where(_valid(test)))
    pos_te = Gte > 0
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, Gte.shape[1], (n_boot, Gte.shape[1]))
    rows = []
    for name in tr:
        thr = fit_threshold(_point_seed(tr[name]), Gtr > 0)
        X = _point_seed(te[name])
        ok = np.isfinite(X) & np.isfinite(Gte)
        pred = (X > thr) & ok
        neg, posm = ok & ~pos_te, ok & pos_te

        def fp_rate(b):
            return np.sum((pred & neg)[:, b]) / max(np.sum(neg[:, b]), 1)

        bs = np.array([fp_rate(b) for b in boot]) if n_boot else np.array([np.nan])
        rows.append({
            "estimator": name, "threshold": thr, "pred_pos": pred.sum() / max(ok.sum(), 1),
            "fooled": fp_rate(slice(None)), "fooled_lo": np.quantile(bs, 0.025), "fooled_hi": np.quantile(bs, 0.975),
            "missed": np.sum(~pred & posm) / max(posm.sum(), 1), "n_neg": int(neg.sum()), "n_pos": int(posm.sum()),
            "base_rate": posm.sum() / max(ok.sum(), 1),
        })  # fmt: skip
    return pd.DataFrame(rows)


def wide(df: pd.DataFrame) -> pd.DataFrame:
    """``evaluate_estimators``' tidy table as estimator x metric values (for printing)."""
    body = df[df.metric != "base_rate"]
    return body.pivot(index="estimator", columns="metric", values="value")[list(_METRICS)]
