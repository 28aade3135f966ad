"""Where the compilation time of the default trial goes (issue 15, part 3).

    python scripts/compile_profile.py [--repeats 2] [--backends dense,gram] [--variants full,no_test,...]

Every figure is a cold compile in a fresh Python process (``SIMTRANSFER_CACHE_DIR=none``,
no JAX persistent cache), split with ``jax.stages`` into tracing (``jit(f).trace``),
lowering to StableHLO (``.lower()``) and XLA compilation (``.compile()``); each variant
runs ``--repeats`` times (round-robin over the variants) and the repeat with the least total CPU time is kept (wall and
CPU seconds of every phase are both printed; shares are of CPU seconds, which the load of a
shared machine disturbs far less).  HLO size: the
characters of the lowered StableHLO text and of the optimised HLO of the executable.

Variants of the whole one-seed trial ``jit(trial)(key_data, theta)`` of
``Experiment(backend=B)``, each with one component removed.  Where a configuration switch
exists it is used; otherwise a profiling-only subclass of the backend (built here, the
simulator is untouched) stubs the component out:

- ``full``: the default trial;  ``run_path``: what ``run(exp, seeds=8)`` compiles
  (``runs.run.compiled_trial``: per-device ``lax.map`` over 8 seeds, sharded);
- ``no_up_gd`` / ``no_down_gd`` / ``no_gd``: the upstream / the transfer+scratch GD loop
  removed (``nn.train.gd_loop`` stubbed: the logged metrics at the initial filters, tiled);
- ``no_log_cfg``: ``upstream.log_every = downstream.log_every = steps`` (the switch);
- ``no_log``: that, and no per-step metrics (exact-error moments, gamma/rho) nor
  exact-error curves (``nn.evaluate.stage_curves``): the curve outputs are zeros;
- ``no_test``: ``eval.n_test = 0`` (no empirical test set);
- ``no_scores``: ``eval.scores = false`` (no upstream features; the scores themselves are
  computed after the trial, ``protocol.scores``, so ``c_scores`` is their own program);
- ``bare``: ``no_log`` + ``no_test`` + ``no_scores``.

And components alone, at the default trial's shapes (D = 2 m_up features, n_T, n_S):

- ``c_scores``: ``nn.estimators.transfer_scores`` on (n_T, D), (n_S, D) features;
- ``c_jacobi``: its batched Jacobi solver alone, ``vmap(theory.linalg.sym_eig)`` on
  (4, min(n_T, D), min(n_T, D)).

The machine is shared and loaded: compare figures within one run only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

WHOLE = ("full", "run_path", "no_up_gd", "no_down_gd", "no_gd", "no_log_cfg", "no_log", "no_test",
         "no_scores", "bare")  # fmt: skip
ALONE = ("c_scores", "c_jacobi")
VARIANTS = WHOLE + ALONE
#: The repeats and the shares use CPU seconds (all threads of the process), which a loaded,
#: shared machine disturbs far less than wall seconds (both are printed).
KEY = "cpu_"
#: component -> (variant without it, variant it is measured against)
SHARES = {
    "upstream_gd": ("no_up_gd", "full"),
    "transfer_scratch_gd": ("no_down_gd", "full"),
    "all_gd": ("no_gd", "full"),
    "logging_cfg_switch": ("no_log_cfg", "full"),
    "logging_and_exact_error_curves": ("no_log", "full"),
    "empirical_test_set": ("no_test", "full"),
    "estimators": ("no_scores", "full"),
    "logging+test+estimators": ("bare", "full"),
}


# ---------------------------------------------------------------- child: one variant
def _profiling_backend(base, *, skip_gd=(), no_metrics=False):
    """A subclass of the backend class ``base`` with components stubbed out (profiling only)."""
    import jax.numpy as jnp

    from simtransfer.protocol.outputs import CURVE_METRICS

    mod = sys.modules[base.__module__]
    train_name = "train" if hasattr(mod, "train") else "train_gram"
    real_train = getattr(mod, train_name)
    import jax

    import simtransfer.backends.gram.train as gram_train
    import simtransfer.nn.train as nn_train

    loops = (nn_train, gram_train)  # the modules that call the shared GD loop
    real_loop = nn_train.gd_loop

    def no_loop(grad_fn, params0, opt, cfg, metrics, keep=None, clock=None):
        """No GD at all (the loop has a traced trip count, so 0 steps would still compile its
        body): the logged metrics of the initial parameters, tiled to the log length."""
        n_log = len(cfg.log_steps)
        curves = jax.tree.map(lambda v: jnp.broadcast_to(v, (n_log,) + v.shape), metrics(params0))
        return params0, curves, jnp.asarray(-1, jnp.int32)

    @contextlib.contextmanager
    def patched(stage):
        def fake(*a, cfg, metrics_fn=None, **k):
            return real_train(*a, cfg=cfg, metrics_fn=None if no_metrics else metrics_fn, **k)

        setattr(mod, train_name, fake)
        if stage in skip_gd:
            for m in loops:
                m.gd_loop = no_loop
        try:
            yield
        finally:
            setattr(mod, train_name, real_train)
            for m in loops:
                m.gd_loop = real_loop

    class Prof(base):
        def train_stage(self, data, stage, *a, **k):
            with patched(stage):
                return super().train_stage(data, stage, *a, **k)

        def evaluate(self, data, W_up, models, curves, act, th):
            if not no_metrics:
                return super().evaluate(data, W_up, models, curves, act, th)
            zeros = lambda c: {q: c[q] if q in c else jnp.zeros_like(c["loss"]) for q in CURVE_METRICS}  # noqa: E731
            real_curves = mod.stage_curves
            mod.stage_curves = lambda c_up, c_dn, *a: (zeros(c_up), zeros(c_dn))
            try:
                return super().evaluate(data, W_up, models, curves, act, th)
            finally:
                mod.stage_curves = real_curves

    return Prof


def _variant(name: str, backend: str):
    """(function, args) of a variant."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from simtransfer import Experiment
    from simtransfer.config import static_part
    from simtransfer.protocol import backend_for, make_trial, run_trial, theta_of
    from simtransfer.runs.run import compiled_trial, seed_keys

    exp = Experiment().set(backend=backend)
    if name in ("no_log_cfg", "no_log", "bare"):
        exp = exp.set(**{"upstream.log_every": exp.upstream.steps, "downstream.log_every": exp.downstream.steps})
    if name in ("no_test", "bare"):
        exp = exp.set(**{"eval.n_test": 0})
    if name in ("no_scores", "bare"):  # the switch: no upstream features (scores are computed after the trial)
        exp = exp.set(**{"eval.scores": False})
    key1 = seed_keys(0, 1)[0]
    theta = theta_of(exp)
    if name == "full" or name in ("no_log_cfg", "no_test", "no_scores"):
        return make_trial(exp), (key1, theta)
    if name == "run_path":
        return compiled_trial(static_part(exp)), (seed_keys(0, 8), theta)
    if name in WHOLE:
        kw = {
            "skip_gd": {"no_up_gd": ("upstream",), "no_down_gd": ("downstream",),
                        "no_gd": ("upstream", "downstream")}.get(name, ()),  # fmt: skip
            "no_metrics": name in ("no_log", "bare"),
        }
        bk = _profiling_backend(type(backend_for(exp)), **kw)(exp)
        return (lambda k, th: run_trial(bk, k, th)[0]), (key1, theta)
    rng = np.random.default_rng(0)
    n_T, n_S, D = exp.n_target, exp.n_source, 2 * exp.model.m_upstream
    if name == "c_scores":
        from simtransfer.nn.estimators import transfer_scores

        args = (rng.standard_normal((n_T, D)), np.sign(rng.standard_normal(n_T)),
                rng.standard_normal((n_S, D)), np.sign(rng.standard_normal(n_S)))  # fmt: skip
        return transfer_scores, tuple(jnp.asarray(a, jnp.float32) for a in args)
    if name == "c_jacobi":
        from theory.linalg import sym_eig

        k = min(n_T, D)
        A = rng.standard_normal((4, k, k))
        return jax.vmap(sym_eig), (jnp.asarray(A @ A.transpose(0, 2, 1), jnp.float32),)
    raise SystemExit(f"--variants: unknown variant {name!r} (have {', '.join(VARIANTS)})")


def child(name: str, backend: str) -> dict:
    import jax

    import simtransfer

    simtransfer.use_cpu_devices()  # as ``run`` and the command line split the CPU
    jax.jit(lambda x: x + 1)(1.0).block_until_ready()  # start the backend outside the timings
    f, args = _variant(name, backend)
    jf = f if hasattr(f, "trace") else jax.jit(f)
    clocks = (time.perf_counter, time.process_time)  # wall, and CPU of all threads
    t0 = [c() for c in clocks]
    traced = jf.trace(*args)
    t1 = [c() for c in clocks]
    lowered = traced.lower()
    t2 = [c() for c in clocks]
    compiled = lowered.compile()
    t3 = [c() for c in clocks]
    out = {"stablehlo_chars": len(lowered.as_text()), "hlo_chars": len(compiled.as_text() or "")}
    for i, tag in enumerate(("", "cpu_")):
        out.update({f"{tag}trace_s": t1[i] - t0[i], f"{tag}lower_s": t2[i] - t1[i],
                    f"{tag}compile_s": t3[i] - t2[i], f"{tag}total_s": t3[i] - t0[i]})  # fmt: skip
    return out


# ---------------------------------------------------------------- parent
def _run_child(name: str, backend: str) -> dict:
    env = dict(os.environ, SIMTRANSFER_CACHE_DIR="none")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    p = subprocess.run([sys.executable, __file__, "--child", name, backend], env=env, capture_output=True,
                       text=True, check=False)  # fmt: skip
    if p.returncode:
        raise SystemExit(f"compile_profile: variant {name} ({backend}) failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def profile(backends, variants, repeats: int) -> dict:
    out: dict = {"repeats": repeats, "backends": {}}
    for b in backends:
        res = {}
        todo = [v for v in variants if v != "run_path" or b == "dense"]
        every: dict[str, list] = {v: [] for v in todo}
        for _ in range(repeats):  # round-robin, so that each variant meets the machine's load at several times
            for v in todo:
                r = _run_child(v, b)
                every[v].append(r)
                print(f"# {b:5s} {v:12s} wall {r['total_s']:.2f} cpu {r['cpu_total_s']:.2f}", file=sys.stderr)
        for v in todo:
            runs = every[v]
            best = min(runs, key=lambda r: r[KEY + "total_s"])
            res[v] = {k: round(x, 3) if isinstance(x, float) else x for k, x in best.items()}
            res[v]["wall_totals_s"] = [round(r["total_s"], 3) for r in runs]
            res[v]["cpu_totals_s"] = [round(r["cpu_total_s"], 3) for r in runs]
        full = res.get("full")
        if full:
            phases = tuple(KEY + k for k in ("trace_s", "lower_s", "compile_s"))
            res["phase_share_of_full"] = {k: round(full[k] / full[KEY + "total_s"], 3) for k in phases}
            shares = {}
            for comp, (without, ref) in SHARES.items():
                if without in res and ref in res:
                    keys = (KEY + "total_s", KEY + "compile_s", "hlo_chars")
                    d = {k: round(res[ref][k] - res[without][k], 3) for k in keys}
                    d["share_of_total"] = round(d[KEY + "total_s"] / full[KEY + "total_s"], 3)
                    shares[comp] = d
            for v in ALONE:
                if v in res:
                    t = res[v][KEY + "total_s"]
                    shares[v] = {KEY + "total_s": t, "share_of_total": round(t / full[KEY + "total_s"], 3)}
            res["component_shares"] = shares
        out["backends"][b] = res
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--backends", default="dense,gram")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "BACKEND"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(*a.child)))
        return
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"--variants: unknown variant {v!r} (have {', '.join(VARIANTS)})")
    t0 = time.perf_counter()
    import jax

    out = profile([b.strip() for b in a.backends.split(",") if b.strip()], variants, a.repeats)
    out["jax"] = jax.__version__
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
