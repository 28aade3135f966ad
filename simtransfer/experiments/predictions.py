"""User and built-in hypotheses evaluated at many configurations: the quantities measured
before fine-tuning (:class:`.user_hypotheses.Measured`) from per-seed runs, and the
predictions a sweep carries per point (docs/theory.md section 3)."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .user_hypotheses import Hypothesis, Measured

__all__ = ["measured_of", "add_predictions", "grid_points", "precheck"]


def measured_of(
    points: list, per_point: list[Mapping[str, np.ndarray]], key: int, measure_seeds: int = 8
) -> list[Measured]:
    """:class:`Measured` for each point (configs sharing a static part or not) from its
    per-seed sweep outputs (``err_zeroshot``, ``diverged_*``, the gamma curves) and lambda
    of the first ``measure_seeds`` seeds: the trials' own ``lam`` where they measured it
    (``eval.measure_draws``), else :func:`simtransfer.experiments.measure.measure` run again."""
    import theory

    from ..config import group_static
    from .measure import measure

    seeds = int(per_point[0]["gain"].shape[0])
    n_meas = min(measure_seeds, seeds)
    lam = np.full((len(points), n_meas), np.nan)
    if all("lam" in r for r in per_point):  # measured by the trials themselves
        lam[:] = [np.asarray(r["lam"])[:n_meas] for r in per_point]
    else:
        for idx in group_static(points).values():
            lam[idx] = measure([points[i] for i in idx], n_meas, key)["lam"]
    out = []
    for i, (cfg, r) in enumerate(zip(points, per_point)):
        ok = ~(r["diverged_upstream"] | r["diverged_transfer"] | r["diverged_scratch"])
        S = int(ok.sum())
        ez = float(r["err_zeroshot"][ok].mean()) if S else math.nan
        s = float(cfg.task.s)
        up = s * r["curve_upstream_gamma_u"][ok, -1].mean()
        sc = s * r["curve_scratch_gamma_u"][ok, -1].mean() + r["curve_scratch_gamma_T"][ok, -1].mean()
        out.append(Measured(
            lam=float(np.median(lam[i][ok[:n_meas]])) if S else math.nan,
            err_zeroshot=ez,
            r_zeroshot=theory.snr_of_error(ez, float(cfg.task.label_flip)) if S else math.nan,
            G=float(up / sc) if sc != 0 else math.nan,
            seeds=S,
        ))  # fmt: skip
    return out


def _tag(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def add_predictions(
    ds, exp: Any, grid: Mapping[str, list], hyps: Mapping[str, Hypothesis], key: int, measure_seeds: int = 8
):
    """``ds`` (a sweep's dataset) with each hypothesis' prediction at every grid point, named
    like the built-ins' (``theory_<name>_{err_transfer,err_scratch,gain,sign}``) plus
    ``theory_<name>_in_domain``; plug-ins get :class:`Measured` from the sweep's own seeds
    (lambda re-measured on the first ``measure_seeds``, the trials the sweep ran)."""
    names = list(grid)
    shape = tuple(len(grid[n]) for n in names)
    idxs = list(np.ndindex(*shape))
    vals = [{n: grid[n][i] for n, i in zip(names, idx)} for idx in idxs]
    cfgs = [exp.set(**v) for v in vals]
    measured = None
    if any(h.plugin for h in hyps.values()):
        keep = ("gain", "err_zeroshot", "diverged_upstream", "diverged_transfer", "diverged_scratch",
                "curve_upstream_gamma_u", "curve_scratch_gamma_u", "curve_scratch_gamma_T")  # fmt: skip
        keep += ("lam",) if "lam" in ds else ()  # the trials measured themselves (eval.measure_draws)
        per_point = [{k: np.asarray(ds[k].values[idx]) for k in keep} for idx in idxs]
        measured = measured_of(cfgs, per_point, key, measure_seeds)
    fields = {
        "pred_err_transfer": "err_transfer",
        "pred_err_scratch": "err_scratch",
        "pred_gain": "gain",
        "sign": "sign",
    }
    for name, h in hyps.items():
        arrs = {short: np.full(shape, np.nan) for short in fields.values()}
        dom = np.ones(shape, bool)
        for j, (idx, cfg) in enumerate(zip(idxs, cfgs)):
            pred = h(cfg, None if measured is None else measured[j], where=vals[j])
            for attr, short in fields.items():
                arrs[short][idx] = float(getattr(pred, attr))
            dom[idx] = bool(getattr(pred, "in_domain", True))
        for short, a in arrs.items():
            ds[f"theory_{_tag(name)}_{short}"] = (names, a)
        ds[f"theory_{_tag(name)}_in_domain"] = (names, dom)
    return ds


def grid_points(grid: Mapping[str, list]):
    """Every point of a Cartesian grid, as ``{field: value}``, in ``np.ndindex`` order."""
    names = list(grid)
    for idx in np.ndindex(*(len(grid[n]) for n in names)):
        yield {n: grid[n][i] for n, i in zip(names, idx)}


def precheck(points, hyps: Mapping[str, Hypothesis]) -> None:
    """Call every configuration-only hypothesis at every ``(cfg, values)`` point before any
    simulation runs, so one that raises or returns a bad value fails (``HypothesisError``)
    before any work, not after.  Plug-ins need measurements: they are called afterwards."""
    config_only = [h for h in hyps.values() if not h.plugin]
    if config_only:
        for cfg, vals in points:
            for h in config_only:
                h(cfg, where=vals)
