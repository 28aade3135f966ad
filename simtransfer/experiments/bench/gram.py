"""Benchmark of the gram backend against the dense one across the dimension d (issue 5).

``bench_gram()`` times ``seeds`` seeds of the default trial (``Experiment()`` with the
backend set; only ``task.d`` varies) through the same path as ``run``:
``batched_call(compiled_trial(static_part(exp)), keys, theta_of(exp))``, sharded over the
local devices.  Each timing is the best of a few calls after a first, compiling call
(whose time is reported separately).  The dense trial at d >= ``dense_small_test_from``
uses ``eval.n_test = dense_n_test`` (its test set alone would be n_test x d floats a
seed); that only lowers the dense time, so the reported speed-ups are conservative.

The machine may be shared: at each d the two backends' timed calls alternate, so that
they see the same load.
"""

from __future__ import annotations

import time
from typing import Any

import jax

from ...config import Experiment, static_part
from ...protocol import theta_of
from ...runs.devices import batched_call
from ...runs.run import compiled_trial, seed_keys

__all__ = ["bench_gram"]


def _timed_calls(exps: dict[str, Experiment], seeds: int, repeats: dict[str, int]) -> dict[str, dict[str, float]]:
    """For each named experiment: the first (compiling) call's seconds, and the best of
    ``repeats[name]`` later calls.  The later calls of the experiments alternate, so that
    a shared machine's load falls on all of them alike."""
    keys = seed_keys(0, seeds)
    calls = {name: (compiled_trial(static_part(e)), theta_of(e)) for name, e in exps.items()}
    out: dict[str, dict[str, float]] = {}
    for name, (fn, theta) in calls.items():
        t0 = time.perf_counter()
        batched_call(fn, keys, theta)  # compiles; batched_call returns host arrays, so it waits
        out[name] = {"first_call_s": time.perf_counter() - t0, "seconds": float("inf")}
    for r in range(max(repeats.values())):
        for name, (fn, theta) in calls.items():
            if r < repeats[name]:
                t0 = time.perf_counter()
                batched_call(fn, keys, theta)
                out[name]["seconds"] = min(out[name]["seconds"], time.perf_counter() - t0)
    for v in out.values():
        v["seeds_per_s"] = seeds / v["seconds"]
    return out


def _without_evaluation(exp: Experiment) -> Experiment:
    """``exp`` with the work both backends share switched off as far as the config allows:
    no empirical test set, 16 Monte-Carlo draws (the minimum), metrics logged only at the
    start and the end of each stage."""
    return exp.set(**{
        "eval.n_test": 0, "eval.mc_draws": 16, "eval.curve_draws": 16,
        "upstream.log_every": max(exp.upstream.steps, 1), "downstream.log_every": max(exp.downstream.steps, 1),
    })  # fmt: skip


def bench_gram(
    dims_both: tuple[int, ...] = (10**3, 10**4, 10**5),
    dims_gram: tuple[int, ...] = (10**6, 10**7),
    seeds: int = 8,
    repeats: int = 3,
    dense_repeats_large: int = 1,
    dense_small_test_from: int = 10**5,
    dense_n_test: int = 200,
    base: Experiment | None = None,
) -> dict[str, Any]:
    """Seeds/s of gram vs dense at ``dims_both``, of gram alone at ``dims_gram``.

    Each timing is the best of ``repeats`` calls after the compiling one (the dense trial
    at d >= ``dense_small_test_from``: ``dense_repeats_large`` calls, each ~minutes).
    Returns a dict with one row per (backend, d) (seconds for ``seeds`` seeds, seeds/s,
    first-call seconds, the n_test used), and the two ratios of the issue:
    ``speedup_at_1e3`` = gram seeds/s / dense seeds/s at the smallest d (goal >= 5) and
    ``gram_time_ratio_max_d_vs_1e3`` = gram time at the largest d / at the smallest
    (goal <= 1.5).  At the smallest d both backends are also timed without the
    d-independent evaluation (``_without_evaluation``): ``evaluation_s_per_seed_at_1e3``
    is what it costs each backend, ``speedup_at_1e3_without_evaluation`` the ratio then.
    """
    base = Experiment() if base is None else base
    d0, d_max = min(dims_both), max(tuple(dims_both) + tuple(dims_gram))
    rows: list[dict[str, Any]] = []
    for d in tuple(dims_both) + tuple(dims_gram):
        exps = {"gram": base.set(backend="gram", **{"task.d": int(d)})}
        reps = {"gram": repeats}
        if d == d0:  # the same trials with the d-independent evaluation switched off
            for backend in ("gram", "dense"):
                exps[f"{backend}_no_eval"] = _without_evaluation(base.set(backend=backend, **{"task.d": int(d)}))
                reps[f"{backend}_no_eval"] = repeats
        if d in dims_both:
            large = d >= dense_small_test_from
            dense = base.set(backend="dense", **{"task.d": int(d)})
            exps["dense"] = dense.set(**{"eval.n_test": dense_n_test}) if large else dense
            reps["dense"] = dense_repeats_large if large else repeats
        for backend, t in _timed_calls(exps, seeds, reps).items():
            rows.append({"backend": backend, "d": int(d), "n_test": exps[backend].eval.n_test, **t})

    def row(backend: str, d: int) -> dict[str, Any]:
        return next(r for r in rows if r["backend"] == backend and r["d"] == d)

    speedup = row("gram", d0)["seeds_per_s"] / row("dense", d0)["seeds_per_s"]
    no_eval = {b: row(b, d0)["seconds"] - row(f"{b}_no_eval", d0)["seconds"] for b in ("gram", "dense")}
    flat = row("gram", d_max)["seconds"] / row("gram", d0)["seconds"]
    return {
        "seeds": seeds,
        "devices": [str(dv) for dv in jax.local_devices()],
        "rows": rows,
        "speedup_at_1e3": speedup,
        "speedup_at_1e3_without_evaluation":
            row("gram_no_eval", d0)["seeds_per_s"] / row("dense_no_eval", d0)["seeds_per_s"],
        "evaluation_s_per_seed_at_1e3": {b: t / seeds for b, t in no_eval.items()},
        "gram_time_ratio_max_d_vs_1e3": flat,
        "speedup_by_d": {r["d"]: r["seeds_per_s"] / row("dense", r["d"])["seeds_per_s"]
                         for r in rows if r["backend"] == "gram" and r["d"] in dims_both},  # fmt: skip
        "goals": {"speedup_at_1e3 >= 5": speedup >= 5, "gram_time_ratio_max_d_vs_1e3 <= 1.5": flat <= 1.5},
    }
