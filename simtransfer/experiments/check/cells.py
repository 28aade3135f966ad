"""Per-cell inputs of the theory check (docs/theory.md section 10): seed means of each cell and
every hypothesis's prediction for it, each carrying its validity domain (section 5)."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

__all__ = ["cell_summary", "hypotheses", "BASELINE", "FAMILY_ROWS"]


def cell_summary(rec: Mapping[str, Any]) -> dict[str, Any]:
    """Seed means of one cell (diverged seeds dropped): gain, its paired s.e. and t, errors,
    and the plug-in inputs measured before fine-tuning (median lambda, zero-shot SNR)."""
    import theory

    ok = ~(rec["diverged_upstream"] | rec["diverged_transfer"] | rec["diverged_scratch"])
    S = int(ok.sum())
    gain = rec["gain"][ok]
    se = float(gain.std(ddof=1) / math.sqrt(S)) if S > 1 else math.nan
    mean = float(gain.mean()) if S else math.nan
    cfg = rec["cfg"]
    p = float(cfg.task.label_flip)
    err = {k: float(rec[f"err_{k}"][ok].mean()) if S else math.nan for k in ("transfer", "scratch", "zeroshot")}
    return {
        "block": rec["block"],
        "values": dict(rec["values"]),
        "s": float(cfg.task.s),
        "alpha": float(cfg.transfer.alpha),
        "seeds": S,
        "gain": mean,
        "se": se,
        "t": math.nan if S < 2 else (mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))),
        "err_transfer": err["transfer"],
        "err_scratch": err["scratch"],
        "err_zeroshot": err["zeroshot"],
        "lam_measured": float(np.median(rec["lam"][ok[: rec["lam"].shape[0]]])) if S else math.nan,
        "G_measured": _g_measured(rec, ok, float(cfg.task.s)),
        "r_zeroshot": theory.snr_of_error(err["zeroshot"], p) if S else math.nan,
        "r_transfer": theory.snr_of_error(err["transfer"], p) if S else math.nan,
        "r_scratch": theory.snr_of_error(err["scratch"], p) if S else math.nan,
    }


def _g_measured(rec: Mapping[str, Any], ok: np.ndarray, s: float) -> float:
    """H3's G measured before fine-tuning: the upstream filters' signal on mu_T, s <w - w0, u>,
    over what the scratch model learned on mu_T, s <w - w0, u> + <w - w0, v_T> (seed means of
    the class-signed filter averages ``gamma_*`` of the coefficient curves)."""
    up = s * rec["curve_upstream_gamma_u"][ok].mean()
    sc = s * rec["curve_scratch_gamma_u"][ok].mean() + rec["curve_scratch_gamma_T"][ok].mean()
    return float(up / sc) if sc != 0 else math.nan


#: The baseline row: err_transfer = H5's predicted scratch error (no transfer effect, sign 0).
BASELINE = "baseline: err_transfer = predicted scratch error"


def hypotheses(cfg: Any, cell: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, tuple[str, Any]]:
    """Every prediction for one cell: ``name -> (kind, theory.Prediction)``; each carries its
    domain (``in_domain``, ``outside``).  Kinds: "config" (configuration only), "plug-in"
    (fed with quantities measured before fine-tuning), "trivial", "baseline", and "user",
    "user plug-in" for ``extra``, the user's hypotheses (``Hypothesis`` by name,
    :mod:`simtransfer.experiments.user_hypotheses`), given the same cell and measurements."""
    import dataclasses

    import theory

    from ..user_hypotheses import HypothesisError, Measured

    preds: dict[str, tuple[str, Any]] = {}
    for name, pred in theory.predict(cfg).items():
        preds[name] = ("trivial" if name in ("sign_of_s", "always_helps") else "config", pred)
    lam = cell["lam_measured"]
    preds["H1-plugin"] = ("plug-in", theory.h1_plugin(cfg, lam))
    preds["H1-corrected-plugin"] = ("plug-in", theory.h1_corrected(cfg, lam=lam))
    preds["H2-plugin"] = ("plug-in", theory.h2_plugin(cfg, lam))
    preds["H3-plugin"] = ("plug-in", theory.h3_plugin(cfg, cell["G_measured"]))
    preds["H4-plugin"] = ("plug-in", theory.h4_plugin(cfg, lam, cell["r_zeroshot"]))
    preds["H5-plugin"] = ("plug-in", theory.h5_plugin(cfg, lam))
    h5 = preds["H5"][1]
    base = dataclasses.replace(h5, hypothesis=BASELINE, pred_err_transfer=h5.pred_err_scratch, pred_gain=0.0, sign=0)
    preds[BASELINE] = ("baseline", base)
    for name, h in (extra or {}).items():
        if name in preds:
            if h.builtin:
                continue
            raise HypothesisError(f"hypothesis {name!r}: the name of a built-in row; choose another name")
        preds[name] = (h.kind, h(cfg, Measured.from_cell(cell) if h.plugin else None, where=cell["values"]))
    order = ("config", "plug-in", "user", "user plug-in", "baseline", "trivial")
    return dict(sorted(preds.items(), key=lambda kv: order.index(kv[1][0])))


#: Hypotheses of the per-family table (in-domain cells of each family), beside the baseline.
FAMILY_ROWS = ("H5", "H4", BASELINE)
