"""Evaluation, scoring and confirmation of configurations for ``simtransfer falsify``
(:mod:`.falsify`; docs/theory.md section 3's significance rule), and the JSON files of a run."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from ._deps import Experiment
from .predictions import measured_of
from .user_hypotheses import Hypothesis

__all__ = ["evaluate", "wrongness", "reproduce_command", "confirm", "CLIP"]

CLIP = 1e6  # |w| told to the sampler (t is infinite when every seed gives the same gain)


def evaluate(
    cfgs: Sequence[Experiment], seeds: int, key: int, bucket: int = 16, share: str | None = None
) -> list[dict[str, np.ndarray]]:
    """Per-seed outputs (``Result`` scalars and curves) of each config, seed i under
    ``seed_keys(key, seeds)[i]`` (``run``'s and ``sweep``'s keys): configs sharing a static
    part run together, ``bucket`` configs per compiled call, a group of at most bucket / 4
    padded to bucket / 4 (two shapes, two compilations, per static part; compiling costs
    more than the padded trials unless the trials are long).

    Under several processes (``runs.distributed``) the compiled calls are the units of
    work: process p runs the units ``u % process_count == p`` and writes each to
    ``share`` (a directory on the shared file system), then every process reads them all.
    """
    from ._deps import (
        ConfigError,
        atomic_write,
        group_static,  # fmt: skip
        is_multiprocess,
        load_chunk,
        my_units,
        run_chunk,
        seed_keys,
        wait_for_files,
        write_npz,
    )

    keys = seed_keys(key, seeds)
    groups = group_static(cfgs)
    units = []  # (static part, config indices, padded size): one compiled call each
    for static, members in groups.items():
        for lo in range(0, len(members), bucket):
            idx = members[lo : lo + bucket]
            units.append((static, idx, bucket if len(idx) > bucket // 4 else max(1, bucket // 4)))

    def compute(u: int) -> dict[str, np.ndarray]:
        static, idx, n = units[u]
        pts = [(None, cfgs[i]) for i in idx]
        return run_chunk(static, pts, keys, n)

    if is_multiprocess():
        if share is None:
            raise ConfigError("falsify: several processes need out=DIR on a shared file system")
        paths = [os.path.join(share, f"unit-{u:04d}.npz") for u in range(len(units))]
        os.makedirs(share, exist_ok=True)
        for u in my_units(len(units)):
            if not os.path.exists(paths[u]):
                res = compute(u)
                atomic_write(paths[u], lambda fh, res=res: write_npz(fh, res))
        wait_for_files(paths, f"falsify evaluations {share}")
        results = [load_chunk(p) for p in paths]
    else:
        results = [compute(u) for u in range(len(units))]
    out: list[Any] = [None] * len(cfgs)
    for (_, idx, _), res in zip(units, results):
        for j, i in enumerate(idx):
            out[i] = {k: v[j] for k, v in res.items()}
    return out


def _summary(r: Mapping[str, np.ndarray]) -> dict[str, Any]:
    ok = ~(r["diverged_upstream"] | r["diverged_transfer"] | r["diverged_scratch"])
    S, g = int(ok.sum()), r["gain"][ok]
    mean = float(g.mean()) if S else math.nan
    se = float(g.std(ddof=1) / math.sqrt(S)) if S > 1 else math.nan
    t = mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    return {"seeds": S, "gain": mean, "se": se, "t": t if S > 1 else math.nan,
            "err_transfer": float(r["err_transfer"][ok].mean()) if S else math.nan,
            "err_scratch": float(r["err_scratch"][ok].mean()) if S else math.nan}  # fmt: skip


def wrongness(sign: int, pred_gain: float, gain: float, se: float, threshold: float | None = None) -> tuple[float, str]:
    """(w, reason): how many standard errors the measurement lies on the wrong side of the
    prediction (module docstring); reason is "sign" or "error"."""
    t = gain / se if se > 0 else (0.0 if gain == 0 else math.copysign(math.inf, gain))
    w, why = (abs(t) if sign == 0 else -sign * t), "sign"
    if threshold is not None and math.isfinite(pred_gain):
        e = (
            (abs(gain - pred_gain) - threshold) / se
            if se > 0
            else (math.inf if abs(gain - pred_gain) > threshold else -math.inf)
        )
        if e > w:
            w, why = e, "error"
    return float(np.clip(w, -CLIP, CLIP)), why


def _flat(exp: Experiment) -> dict[str, Any]:
    out = {}
    for k, v in exp.to_dict().items():
        if isinstance(v, Mapping):
            out.update({f"{k}.{k2}": v2 for k2, v2 in v.items()})
        else:
            out[k] = v
    return out


def _val(v: Any) -> str:
    from ._deps import parse_value, toml_value

    if isinstance(v, str):
        return v if parse_value(v) == v and v.replace("_", "").replace("-", "").isalnum() else f"'{toml_value(v)}'"
    return toml_value(v)


def reproduce_command(cfg: Experiment, seeds: int, key: int) -> str:
    """``python -m simtransfer run --set ... --seeds S --key K``: every field that differs
    from the defaults, so the command reruns exactly this configuration and these seeds."""
    ref, cur = _flat(Experiment()), _flat(cfg)
    sets = " ".join(f"--set {k}={_val(v)}" for k, v in cur.items() if v != ref[k] and v is not None)
    return f"python -m simtransfer run {sets} --seeds {seeds} --key {key}"


def _bucket(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


def _rounded(params: Mapping[str, Any]) -> dict[str, Any]:
    """The sampled values with floats to 4 significant digits (readable commands; the
    sampler keeps the raw values)."""
    return {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in params.items()}


def _read_json(path: str) -> Any:
    from ._deps import ResultsError

    try:
        with open(path) as fh:
            return json.load(fh)
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: corrupt ({e}); delete it to recompute") from None


def _write_json(path: str, obj: Any) -> None:
    from ._deps import atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, (json.dumps(obj, indent=1) + "\n").encode())


def _predict(h: Hypothesis, cfgs, params, measured=None) -> list:
    return [h(c, None if measured is None else measured[i], where=params[i]) for i, c in enumerate(cfgs)]


def _score(h, cfgs, params, seeds, key, threshold, preds=None, bucket=16, share=None) -> list[dict[str, Any]]:
    """Evaluate ``cfgs`` and score each against ``h`` (plug-ins: measured first)."""
    runs = evaluate(cfgs, seeds, key, bucket, share)
    if preds is None:
        preds = _predict(h, cfgs, params, measured_of(list(cfgs), runs, key) if h.plugin else None)
    recs = []
    for p, c, r, pred in zip(params, cfgs, runs, preds):
        rec = {"params": p, **_summary(r), **_pred_fields(pred)}
        ok = rec["seeds"] > 1 and math.isfinite(rec["gain"])
        rec["wrongness"], rec["reason"] = (
            wrongness(pred.sign, pred.pred_gain, rec["gain"], rec["se"], threshold) if ok else (None, "diverged")
        )
        recs.append(rec)
    return recs


def _pred_fields(pred) -> dict[str, Any]:
    return {
        "pred_sign": int(pred.sign),
        "pred_gain": float(pred.pred_gain),
        "in_domain": bool(getattr(pred, "in_domain", True)),
        "outside": list(getattr(pred, "outside", ())),
    }


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def _clean(obj):
    """JSON-safe copy: non-finite floats become null."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _finite(obj)


def confirm(h, base, rounds, seeds, confirm_key, threshold, z, out, quiet, round_size) -> dict[str, Any]:
    """Rerun every candidate (search w > z) at fresh seeds; keep those with w > z again."""
    evaluated = [e for rd in rounds for e in rd["evaluated"]]
    seen, cands = set(), []
    for e in sorted(evaluated, key=lambda e: -(e["wrongness"] if e["wrongness"] is not None else -math.inf)):
        k = json.dumps(e["params"], sort_keys=True)
        if e["wrongness"] is not None and e["wrongness"] > z and k not in seen:
            seen.add(k)
            cands.append(e)
    path = None if out is None else os.path.join(out, "confirm.json")
    conf = _read_json(path) if path is not None and os.path.exists(path) else None
    if conf is None or conf["candidates"] != [c["params"] for c in cands]:
        recs = []
        if cands:
            if not quiet:
                print(f"confirming {len(cands)} candidates at {seeds} fresh seeds (key {confirm_key})", flush=True)
            params = [c["params"] for c in cands]
            recs = _score(
                h,
                [base.set(**_rounded(p)) for p in params],
                params,
                seeds,
                confirm_key,
                threshold,
                bucket=_bucket(round_size),
                share=None if out is None else os.path.join(out, "units", "confirm"),
            )
        conf = _clean({"candidates": [c["params"] for c in cands], "confirm": recs})
        if path is not None:
            _write_json(path, conf)
    flat_base = _flat(base)
    rows = []
    for c, rec in zip(cands, conf["confirm"]):
        if rec["wrongness"] is None or rec["wrongness"] <= z:
            continue
        cfg = base.set(**_rounded(c["params"]))
        diff = {k: v for k, v in _flat(cfg).items() if v != flat_base[k]}
        rows.append({**rec, "diff": diff, "w_search": c["wrongness"], "w_confirm": rec["wrongness"],
                     "gain_search": c["gain"], "se_search": c["se"],
                     "command": reproduce_command(cfg, seeds, confirm_key)})  # fmt: skip
    rows.sort(key=lambda r: -r["w_confirm"])
    searched = [{k: e[k] for k in ("params", "gain", "se", "pred_sign", "in_domain", "wrongness")} for e in evaluated]
    return {"rows": rows, "searched": len(evaluated), "candidates": len(cands), "evaluated": searched,
            "skipped": sum(len(rd["skipped"]) for rd in rounds)}  # fmt: skip
