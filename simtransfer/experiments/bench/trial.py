"""Benchmark of the default dense trial: seeds/s vmapped and looped, flops, GFLOP/s.

Timings are the best of ``repeats`` runs after compilation; ratios are measured in the
same run, since the machine is shared and noisy.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ...config import Experiment, static_part
from ...protocol import make_trial, theta_of
from ...runs.devices import batched_call, default_micro_batch
from ...runs.run import compiled_trial, seed_keys

__all__ = ["trial_flops", "matmul_gflops", "bench"]


def trial_flops(exp: Experiment) -> dict[str, float]:
    """Floating-point operations of one dense trial, derived from the shapes.

    A GD step on n samples costs a forward and a backward matrix product over the noise
    patches, 2 * 2 * n (P-1) d 2m flops (signal patch and elementwise work are O(m d + n m)
    and counted too).  A logged step adds a forward pass and the exact error: the
    covariance W (I - Pi) W^T (2 (2m)^2 d) and the draws (2 M (P-1) (2m)^2), and the
    gamma/rho projection on the K = 3 + n (P-1) training patches (2 K d 2m + 2 K^2 2m).
    The empirical test set is sampled through the D = 2m k projections of its k models
    (``evaluate.empirical_error_dense``): the projection on the complement, the D x D
    covariance, its Cholesky factor and the n_test (P-1) x D x D draws.
    """
    t, mdl, ev = exp.task, exp.model, exp.eval
    d, Pm1 = t.d, t.P - 1

    def step(n, m):
        return 4 * n * Pm1 * d * 2 * m + 4 * 2 * m * d + 10 * n * t.P * 2 * m

    def exact(m, M):
        return 2 * (2 * m) ** 2 * d + 2 * M * Pm1 * (2 * m) ** 2 + 4 * M * Pm1 * 2 * m

    def log(n, m):  # forward pass, exact error, and the gamma/rho projection (coefficients.py)
        K = 3 + n * Pm1
        return 2 * n * Pm1 * d * 2 * m + exact(m, ev.curve_draws) + 2 * K * d * 2 * m + 2 * K * K * 2 * m

    m_up, m = mdl.m_upstream, mdl.m
    up = exp.upstream.steps * step(exp.n_source, m_up) + len(exp.upstream.log_steps) * log(exp.n_source, m_up)
    down = 2 * (exp.downstream.steps * step(exp.n_target, m) + len(exp.downstream.log_steps) * log(exp.n_target, m))
    final = exact(m_up, ev.mc_draws) + 3 * exact(m, ev.mc_draws)
    def emp_flops(n_test, k, m):  # evaluate.empirical_error_dense: W (I - Pi), A = M M^T, L g
        D = k * 2 * m
        return 0 if n_test == 0 else 4 * 3 * D * d + 2 * D * D * d + D**3 // 3 + 2 * n_test * Pm1 * D * D

    emp = emp_flops(ev.n_test, 3, m) + emp_flops(ev.n_test_source, 1, m_up)
    return {"upstream": up, "downstream": down, "final_exact": final, "empirical_test": emp,
            "total": up + down + final + emp,
            "upstream_step": step(exp.n_source, m_up), "downstream_step": step(exp.n_target, m)}  # fmt: skip


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_gflops(n: int = 4096, repeats: int = 3) -> dict[str, float]:
    """Machine matmul throughput: one large ``jnp.dot`` on one device, and one per local
    device at once (sharded), whichever the machine does faster is its limit."""
    x = jax.random.normal(jax.random.key(0), (n, n))
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(x))
    one = 2 * n**3 / _best(lambda: jax.block_until_ready(f(x)), repeats) / 1e9
    devs = jax.local_devices()
    out = {"one_device": one, "all_devices": one}
    if len(devs) > 1:
        mesh = Mesh(np.asarray(devs), ("b",))
        xs = jax.device_put(jnp.broadcast_to(x, (len(devs), n, n)), NamedSharding(mesh, PartitionSpec("b")))
        g = jax.jit(jax.vmap(lambda a: a @ a))
        jax.block_until_ready(g(xs))
        out["all_devices"] = len(devs) * 2 * n**3 / _best(lambda: jax.block_until_ready(g(xs)), repeats) / 1e9
    out["limit"] = max(out["one_device"], out["all_devices"])
    return out


def _seconds_per_seed(exp: Experiment, seeds: int, repeats: int, micro: int | None = None) -> float:
    fn = compiled_trial(static_part(exp), micro)
    keys, theta = seed_keys(0, seeds), theta_of(exp)
    batched_call(fn, keys, theta)  # compile
    return _best(lambda: batched_call(fn, keys, theta), repeats) / seeds


def _loop_seconds_per_seed(exp: Experiment, seeds: int, repeats: int) -> float:
    single = jax.jit(make_trial(exp))
    keys, theta = seed_keys(0, seeds), theta_of(exp)
    jax.block_until_ready(single(keys[0], theta))

    def loop():
        for k in keys:
            jax.block_until_ready(single(k, theta))

    return _best(loop, repeats) / seeds


def bench(
    exp: Experiment | None = None, seed_counts=(1, 8, 32, 128), loop_seeds: int = 8, repeats: int = 2
) -> dict[str, Any]:
    """Seeds/s of the (default) trial vmapped over 1, 8, 32, 128 seeds and as a Python loop
    of the jitted single-seed trial, with flops, GFLOP/s and the machine's matmul limit."""
    exp = exp or Experiment()
    flops = trial_flops(exp)
    mm = matmul_gflops()
    out: dict[str, Any] = {
        "config": {"d": exp.task.d, "n_source": exp.n_source, "n_target": exp.n_target, "m": exp.model.m,
                   "steps": [exp.upstream.steps, exp.downstream.steps], "n_test": exp.eval.n_test,
                   "log_every": [exp.upstream.log_every, exp.downstream.log_every]},
        "devices": [str(d) for d in jax.local_devices()],
        "trial_gflop": flops["total"] / 1e9,
        "trial_gflop_parts": {k: flops[k] / 1e9 for k in ("upstream", "downstream", "final_exact", "empirical_test")},
        "matmul_gflops": mm,
        "vmapped": {},
    }  # fmt: skip
    micro = default_micro_batch()
    out["default_micro_batch"] = micro
    # "vmapped": one jit(vmap(trial)) over all S seeds (sharded over the devices);
    # "default": what run() and sweep() do (on CPU each device scans over its seeds).
    paths = {"vmapped": 0} if micro == 0 else {"vmapped": 0, "default": micro}
    for path, k in paths.items():
        out[path] = {}
        for S in seed_counts:
            sps = _seconds_per_seed(exp, S, repeats, k)
            out[path][str(S)] = {"s_per_seed": sps, "seeds_per_s": 1 / sps, "gflops": flops["total"] / sps / 1e9}
    lps = _loop_seconds_per_seed(exp, loop_seeds, repeats)
    out["loop"] = {"seeds": loop_seeds, "s_per_seed": lps, "seeds_per_s": 1 / lps}
    best_vmap = min(out["vmapped"].values(), key=lambda r: r["s_per_seed"])
    out["vmap_over_loop_speedup"] = lps / best_vmap["s_per_seed"]
    path = "default" if "default" in out else "vmapped"
    best = min(out[path].values(), key=lambda r: r["s_per_seed"])
    out["best_s_per_seed"] = best["s_per_seed"]
    out["fraction_of_matmul_limit"] = best["gflops"] / mm["limit"]
    out["default_over_loop_speedup"] = lps / best["s_per_seed"]
    # What metric logging costs: the same trial logging only at the start and the end,
    # and the same without the empirical test set (the Gaussian noise draws dominate it).
    S = max(seed_counts)
    quiet = dataclasses.replace(exp, upstream=dataclasses.replace(exp.upstream, log_every=max(exp.upstream.steps, 1)),
                                downstream=dataclasses.replace(exp.downstream,
                                                               log_every=max(exp.downstream.steps, 1)))  # fmt: skip
    t_quiet = _seconds_per_seed(quiet, S, repeats)
    t_full = out[path][str(S)]["s_per_seed"]
    out["logging_cost_fraction"] = (t_full - t_quiet) / t_full
    no_emp = dataclasses.replace(exp, eval=dataclasses.replace(exp.eval, n_test=0, n_test_source=0))
    t_no_emp = _seconds_per_seed(no_emp, S, repeats)
    out["empirical_test_cost_fraction"] = (t_full - t_no_emp) / t_full
    gflops_no_emp = (flops["total"] - flops["empirical_test"]) / t_no_emp / 1e9
    out["no_empirical_test"] = {"s_per_seed": t_no_emp, "gflops": gflops_no_emp,
                                "fraction_of_matmul_limit": gflops_no_emp / mm["limit"]}  # fmt: skip
    # The GD steps alone: the same quiet trial without a test set, at its full step count
    # minus at one step per stage; what is left is the cost of the optimiser's steps.
    def stage(cfg, steps):
        return dataclasses.replace(cfg, steps=steps, log_every=steps)

    quiet_no_emp = dataclasses.replace(no_emp, upstream=quiet.upstream, downstream=quiet.downstream)
    one_step = dataclasses.replace(quiet_no_emp, upstream=stage(exp.upstream, 1), downstream=stage(exp.downstream, 1))
    t_steps = _seconds_per_seed(quiet_no_emp, S, repeats) - _seconds_per_seed(one_step, S, repeats)
    n_up, n_dn = exp.upstream.steps - 1, exp.downstream.steps - 1
    f_steps = (n_up * flops["upstream_step"] + 2 * n_dn * flops["downstream_step"])
    out["gd_steps_only"] = {"s_per_seed": t_steps, "gflops": f_steps / t_steps / 1e9,
                            "fraction_of_matmul_limit": f_steps / t_steps / 1e9 / mm["limit"]}  # fmt: skip
    return out
