"""``simtransfer falsify``: search a configuration space for counterexamples to a hypothesis.

A configuration is a *counterexample* when its measured gain (err_scratch - err_transfer,
paired over seeds, exact errors) contradicts the hypothesis significantly (docs/theory.md
section 3; the check's significance rule, ``|t| > z`` with z = 2):

* sign: the *wrongness* ``w = -sign * t`` (``|t|`` when the sign is 0, "no difference"),
  t = mean gain / s.e.; w > z means a significant gain of the other sign;
* error (only with ``threshold``): ``w = (|gain - pred_gain| - threshold) / s.e.``, the
  predicted gain off by more than ``threshold``, significantly.

Search: optuna's TPE sampler maximises w over the space (:mod:`.space`), by ask/tell in
rounds of ``round_size`` configurations; each round is one batched evaluation (configs
grouped by static part, traced fields of a group in one compiled call over (config, seed):
the machinery of ``sweep``), at ``seeds`` seeds under root ``key``.  Round r's sampler is
seeded by (``sampler_seed``, r), so a round depends only on the rounds before it.
Confirmation: every configuration with w > z is re-run at ``seeds`` *fresh* seeds (root
``confirm_key``) and reported only if w > z again (the winner's curse: the search's maximum
of many noisy w is biased upwards).  Where the true gain is a tie, a confirmation passes by
chance with probability P(t_{S-1} > z) (0.032 at 16 seeds and z = 2): raise ``z`` for fewer.
Out-of-domain configurations (``Prediction.in_domain``
false) are skipped unless ``include_out_of_domain`` (default: only with ``quick``, whose tiny
shapes lie outside every built-in's validated domain), and labelled.

With ``out=DIR`` every round is written atomically (``DIR/rounds/round-NNNN.json``), then
the confirmation (``DIR/confirm.json``) and the table (``DIR/counterexamples.json``); a rerun
(after Ctrl-C or kill -9) resumes after the last finished round and gives the same table.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from typing import Any, Mapping

from ._deps import MEASURE_DRAWS, ConfigError, enable_compilation_cache
from .scoring import _bucket, _clean, _read_json, _rounded, _score, _write_json, confirm
from .space import Space, load_space, space_from_dict
from .user_hypotheses import resolve

__all__ = ["falsify", "BASE", "QUICK_BASE", "QUICK_SPACE"]

#: falsify's defaults under a space's [base] (the check's setting: gram backend, exact errors).
BASE: dict[str, Any] = {
    "backend": "gram", "eval.n_test": 0, "eval.mc_draws": 4096, "eval.curve_draws": 64, "eval.scores": False,
    "upstream.steps": 300, "downstream.steps": 300, "upstream.log_every": 300, "downstream.log_every": 300,
}  # fmt: skip
#: ``quick``: small shapes and short training, applied over the space's base (seconds).
QUICK_BASE: dict[str, Any] = {
    "task.d": 200, "n_source": 40, "n_target": 10, "model.m": 4, "upstream.steps": 40, "downstream.steps": 40,
    "upstream.log_every": 40, "downstream.log_every": 40, "eval.mc_draws": 512,
}  # fmt: skip
#: ``quick`` without a space: traced fields only (one compilation).
QUICK_SPACE: dict[str, Any] = {
    "space": {"a": {"low": 0.3, "high": 2.0}, "b_T": {"low": 0.5, "high": 2.5}, "alpha": {"low": 0.25, "high": 1.0},
              "s": {"choices": [-1.0, 1.0]}},
}  # fmt: skip


def _round(study, dists, base, h, r, want, seeds, key, threshold, include_ood, sampler_seed, startup, out=None) -> dict:
    """Ask ``want`` evaluable configs of round ``r`` (out-of-domain or invalid ones are told
    FAIL and do not count), evaluate them in one batch, tell their w."""
    import optuna

    study.sampler = optuna.samplers.TPESampler(seed=int(sampler_seed) * 100003 + r, n_startup_trials=startup)
    asked, skipped, order = [], [], []  # order: index of each draw in ask order (for the replay)
    attempts = 0
    while len(asked) < want and attempts < 50 * want:
        attempts += 1
        trial = study.ask(dists)
        params = dict(trial.params)
        try:
            cfg = base.set(**_rounded(params))
        except ConfigError as e:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            order.append(-1 - len(skipped))
            skipped.append({"params": params, "skipped": f"invalid: {e}"})
            continue
        pred = None if h.plugin else h(cfg, where=_rounded(params))
        if pred is not None and not getattr(pred, "in_domain", True) and not include_ood:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            order.append(-1 - len(skipped))
            skipped.append(
                {"params": params, "skipped": "out of domain", "outside": list(getattr(pred, "outside", ()))}
            )
            continue
        order.append(len(asked))
        asked.append((trial, cfg, params, pred))
    if not asked:
        raise ConfigError(f"round {r}: no evaluable configuration in {attempts} draws (all out of domain or invalid); "
                          "widen the space or use --include-out-of-domain")  # fmt: skip
    cfgs, params = [a[1] for a in asked], [a[2] for a in asked]
    share = None if out is None else os.path.join(out, "units", f"round-{r:04d}")  # several processes
    recs = _score(h, cfgs, params, seeds, key, threshold, None if h.plugin else [a[3] for a in asked], _bucket(startup),
                  share)  # fmt: skip
    for (trial, *_), rec in zip(asked, recs):
        if h.plugin and not rec["in_domain"] and not include_ood:
            rec["wrongness"], rec["reason"] = None, "out of domain"
        if rec["wrongness"] is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, rec["wrongness"])
    return {"round": r, "evaluated": recs, "skipped": skipped, "order": order}


def _replay(study, dists, rounds) -> None:
    import optuna

    for rd in rounds:  # in ask order (TPE weighs trials by their age)
        for i in rd["order"]:
            rec = rd["evaluated"][i] if i >= 0 else rd["skipped"][-1 - i]
            w = rec.get("wrongness")
            st = optuna.trial.TrialState.COMPLETE if w is not None else optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(params=rec["params"], distributions=dists, state=st,
                                                      value=w if w is not None else None))  # fmt: skip


def _space_of(space: Any, quick: bool) -> Space:
    if space is None:
        if not quick:
            raise ConfigError("--space: required (or --quick for the built-in tiny space)")
        space = QUICK_SPACE
    if isinstance(space, Space):
        return space
    if isinstance(space, Mapping):
        return space_from_dict(space)
    return load_space(space)


def falsify(
    hypothesis: Any,
    space: Any = None,
    budget: int = 64,
    seeds: int = 16,
    out: str | os.PathLike | None = None,
    *,
    key: int = 0,
    confirm_key: int | None = None,
    round_size: int = 16,
    threshold: float | None = None,
    z: float = 2.0,
    include_out_of_domain: bool | None = None,
    quick: bool = False,
    sampler_seed: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    """Search ``space`` (a space file, a dict of its content, or a :class:`Space`) for
    counterexamples to ``hypothesis`` (anything :func:`resolve` takes) with ``budget``
    evaluated configurations, and confirm them (module docstring).

    Returns ``{"rows", "meta", "searched", "candidates", "skipped", "evaluated"}``
    (``evaluated``: every searched configuration's sampled ``params``, ``gain``, ``se``,
    ``pred_sign``, ``in_domain`` and ``wrongness``, for plots); ``rows`` are the confirmed
    counterexamples, most wrong first, each with ``diff`` (fields that differ from the base),
    the confirmation's ``gain``, ``se``, ``t``, the prediction (``pred_sign``, ``pred_gain``),
    ``in_domain``, ``outside``, ``w_search``, ``w_confirm`` and ``command`` (reproduces the
    confirmation run)."""
    import optuna

    from ._deps import ResultsError

    enable_compilation_cache()
    h = resolve(hypothesis)
    if include_out_of_domain is None:  # quick's tiny shapes lie outside every built-in's validated domain
        include_out_of_domain = bool(quick)
    for name, v, lo in (("budget", budget, 1), ("seeds", seeds, 2), ("round_size", round_size, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{name}: must be an integer >= {lo}, got {v!r}")
    sp = _space_of(space, quick)
    base = sp.base(BASE)
    if quick:
        base = base.set(**QUICK_BASE)
    if h.plugin:  # the trials measure their models for the plug-in (protocol.measures): no second program
        base = base.set(**{"eval.measure_draws": MEASURE_DRAWS})
    confirm_key = key + 1_000_003 if confirm_key is None else confirm_key
    if confirm_key == key:
        raise ConfigError("confirm_key: must differ from key (confirmation needs fresh seeds)")
    dists = sp.distributions()
    meta = {"hypothesis": h.name, "space": sp.to_dict(), "base": base.to_toml(), "seeds": seeds, "key": key,
            "confirm_key": confirm_key, "round_size": round_size, "threshold": threshold, "z": z,
            "include_out_of_domain": include_out_of_domain, "quick": quick, "sampler_seed": sampler_seed}  # fmt: skip
    rounds: list[dict] = []
    if out is not None:
        out = os.fspath(out)
        man = os.path.join(out, "falsify.json")
        if os.path.exists(man):
            prev = _read_json(man)
            diff = [k for k in meta if prev.get(k) != json.loads(json.dumps(meta[k]))]
            if diff:
                raise ResultsError(f"{out}: holds a falsify run of another setting (differs in: {', '.join(diff)}); "
                                   "choose another --out or delete it")  # fmt: skip
        else:
            _write_json(man, meta)
        r = 0
        while os.path.exists(p := os.path.join(out, "rounds", f"round-{r:04d}.json")):
            rounds.append(_read_json(p))
            r += 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        _replay(study, dists, rounds)
        n_done = sum(len(rd["evaluated"]) for rd in rounds)
        bar = None
        if not quiet:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=budget, initial=min(n_done, budget), unit="config", desc=f"falsify {h.name}", dynamic_ncols=True
            )
        t0 = time.perf_counter()
        try:
            while n_done < budget:
                rd = _round(study, dists, base, h, len(rounds), min(round_size, budget - n_done), seeds, key, threshold,
                            include_out_of_domain, sampler_seed, round_size, out)  # fmt: skip
                rd = _clean(rd)
                if out is not None:
                    _write_json(os.path.join(out, "rounds", f"round-{rd['round']:04d}.json"), rd)
                rounds.append(rd)
                n_done += len(rd["evaluated"])
                if bar is not None:
                    n_cand = sum(1 for x in rounds for e in x["evaluated"] if (e["wrongness"] or -1) > z)
                    bar.set_postfix_str(f"{n_cand} candidates")
                    bar.update(len(rd["evaluated"]))
        finally:
            if bar is not None:
                bar.close()
    table = confirm(h, base, rounds, seeds, confirm_key, threshold, z, out, quiet, round_size)
    table["meta"] = {**meta, "seconds": round(time.perf_counter() - t0, 1)}
    if out is not None:
        _write_json(os.path.join(out, "counterexamples.json"), {k: v for k, v in table.items() if k != "meta"}
                    | {"meta": {k: v for k, v in table["meta"].items() if k != "seconds"}})  # fmt: skip
    return table
