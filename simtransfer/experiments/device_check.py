"""The accelerator check behind ``scripts/device_check.sh`` (README "Devices and
performance"): what the default path reaches on a GPU, in one JSON object.

Measures, on the first accelerator (falls back to the CPU, labelled, if there is none):
the device; the float32 and TF32 matmul rates of a large square product; the default
trial's seeds/s through ``run`` at 1, 64, 1024 and 8192 seeds and the fraction of the
float32 matmul rate it reaches (flops counted from the shapes, ``bench.trial_flops``);
gram against dense at d = 1e3, 1e4, 1e5; the cold compile time of the default trial; and
the agreement of ``run``'s per-seed errors with a CPU run of the same keys (a
subprocess with ``JAX_PLATFORMS=cpu``), at full float32 matmul precision and at the
device's default precision.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

#: Tolerance of the CPU agreement at float32 ("highest") matmul precision: the exact
#: conditional errors are Monte-Carlo averages of 8192 indicator-like terms computed from
#: float32 weights after 300+300 GD steps; summation order differs between XLA:CPU and
#: XLA:GPU, which moves a weight by ~1e-6 relative, and an error by at most a few draws'
#: worth near a decision boundary.  1e-3 is ~8 draws of 8192: looser than round-off,
#: far tighter than any effect the simulator reports (gains of 0.01 and more).
TOL_ERR = 1e-3
KEYS = ("err_upstream", "err_zeroshot", "err_transfer", "err_scratch", "gain")


def _log(msg: str) -> None:
    print(f"[device_check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _matmul_rate(precision: str, n: int = 8192, repeats: int = 5) -> float:
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    with jax.default_matmul_precision(precision):
        f = jax.jit(lambda a: a @ a)
        f(x).block_until_ready()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            f(x).block_until_ready()
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _timed_run(exp, seeds: int, repeats: int = 2) -> dict[str, float]:
    from simtransfer import run

    t0 = time.perf_counter()
    run(exp, seeds=seeds, key=1)
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(exp, seeds=seeds, key=1)
        best = min(best, time.perf_counter() - t0)
    return {"first_call_s": round(first, 3), "steady_s": round(best, 4), "seeds_per_s": round(seeds / best, 1)}


def _cpu_reference(exp, seeds: int, precision: str) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ref.npz")
        env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DEFAULT_MATMUL_PRECISION=precision)
        code = (
            "import sys, numpy as np, simtransfer; simtransfer.use_cpu_devices();"
            "from simtransfer import Experiment, run;"
            f"r = run(Experiment.from_dict({exp.to_dict()!r}), seeds={seeds}, key=7);"
            f"np.savez(sys.argv[1], **{{k: getattr(r, k) for k in {KEYS!r}}})"
        )
        subprocess.run([sys.executable, "-c", code, path], check=True, env=env)
        with np.load(path) as z:
            return {k: z[k] for k in z.files}


def _agreement(base, seeds: int) -> dict[str, Any]:
    import jax

    from simtransfer import run

    out: dict[str, Any] = {"seeds": seeds, "tolerance": TOL_ERR}
    for backend in ("dense", "gram"):
        exp = base.set(backend=backend)
        for precision in ("highest", "default"):
            ref = _cpu_reference(exp, seeds, precision)
            with jax.default_matmul_precision(precision):
                r = run(exp, seeds=seeds, key=7)
            diff = max(float(np.max(np.abs(np.asarray(getattr(r, k)) - ref[k]))) for k in KEYS)
            out[f"{backend}_{precision}"] = {"max_abs_diff": diff, "within_tolerance": bool(diff <= TOL_ERR)}
    return out


#: What ``--quick`` shrinks (a smoke test of this script on any machine, CPU included).
QUICK = {"task.d": 200, "n_source": 20, "n_target": 10, "model.m": 4, "upstream.steps": 40,
         "downstream.steps": 40, "eval.n_test": 200, "eval.mc_draws": 1024, "eval.curve_draws": 128}  # fmt: skip


def device_check(quick: bool = False) -> dict[str, Any]:
    """Every figure of the module docstring, as one dict (``quick``: tiny sizes, for tests)."""
    import jax

    from simtransfer import Experiment
    from simtransfer.experiments.bench import trial_flops

    seed_counts, dims, gvd_seeds, n = (1, 64, 1024, 8192), (1000, 10000, 100000), 256, 8192
    exp = Experiment()
    if quick:
        seed_counts, dims, gvd_seeds, n = (1, 4), (200,), 4, 512
        exp = exp.set(**QUICK)

    dev = jax.devices()[0]
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "device": {"platform": dev.platform, "kind": dev.device_kind, "count": jax.device_count(),
                   "jax": jax.__version__},
    }  # fmt: skip
    _log(f"device {dev.device_kind}")
    res["matmul_gflops"] = {"float32": round(_matmul_rate("highest", n)),
                            "tf32": round(_matmul_rate("tensorfloat32", n))}  # fmt: skip
    _log(f"matmul {res['matmul_gflops']}")
    flops = trial_flops(exp)["total"]
    trial: dict[str, Any] = {"flops_per_seed": flops}
    for seeds in seed_counts:
        t = _timed_run(exp, seeds)
        t["gflops"] = round(flops * t["seeds_per_s"] / 1e9, 1)
        t["fraction_of_float32_matmul"] = round(t["gflops"] / res["matmul_gflops"]["float32"], 3)
        trial[str(seeds)] = t
        _log(f"trial {seeds} seeds: {t}")
    res["cold_compile_s"] = trial["1"]["first_call_s"]
    res["default_trial"] = trial
    gvd: dict[str, Any] = {}
    for d in dims:
        row = {}
        for backend in ("gram", "dense"):
            e = exp.set(**{"backend": backend, "task.d": d})
            row[backend] = _timed_run(e, gvd_seeds, repeats=1)
        row["gram_over_dense_speed"] = round(row["gram"]["seeds_per_s"] / row["dense"]["seeds_per_s"], 2)
        gvd[f"d={d}"] = row
        _log(f"gram vs dense d={d}: {row['gram_over_dense_speed']}x")
    res[f"gram_vs_dense_{gvd_seeds}_seeds"] = gvd
    res["cpu_agreement"] = _agreement(exp, 2 if quick else 16)
    _log("agreement done")
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simtransfer.experiments.device_check",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of this script (any machine)")
    args = p.parse_args(argv)
    import simtransfer

    simtransfer.use_cpu_devices()  # a no-op for the GPU; the CPU fallback uses every core
    t0 = time.perf_counter()
    res = device_check(args.quick)
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
