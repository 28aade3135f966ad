"""What a researcher waits for: compilation, in whole processes (``bench --part latency``).

Each figure is measured in a fresh Python process (``python -c``), as a user meets it:

- ``cold_first_call_s``: ``run(Experiment(), seeds=8)`` in a new process with the
  persistent compilation cache off (``SIMTRANSFER_CACHE_DIR=none``): import, trace,
  compile and run;
- ``warm_first_call_s``: the same in a new process whose cache a previous process filled
  (a fresh temporary cache root, filled first);
- ``steady_s``: the next call in that process with a traced change (another
  ``transfer.alpha``), which reuses the compiled program;
- ``predict_ms``: ``theory.predict(exp)``, every hypothesis with its domain, the median of
  20 calls with another alpha (``predict_first_ms``: the first call of the process);
- ``shape_sweep_<backend>_s``: a sweep over shapes, n_T in 5 values x T_down in 3 values
  x 32 seeds, cache off, one per backend: every (n_T, T_down) is its own shape;
- ``check_cells_s``: a theory check of 78 cells in 10 shape groups outside the check's base
  family, 32 seeds, gram backend, cache off (``bench.check_cells``): runs, plug-in
  measurements and every built-in hypothesis's prediction.

The ratios asked of the latency goals (cold / steady, warm / cold) are computed from
figures of the same bench run.  Whole-process times include Python and JAX start-up
(``import_s`` gives that share alone).

With ``baseline=DIR`` (``bench --part latency --baseline DIR``), another checkout of the
package (e.g. ``git worktree add DIR <commit>``) is measured in the same run, each figure
right after this checkout's (``PYTHONPATH=DIR``), and ``baseline`` holds its figures and
``ratio`` this checkout's figure over the baseline's: a before/after comparison on a
shared, noisy machine compares figures taken side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from ...config import ConfigError
from .check_cells import CHECK_CODE, check_args

__all__ = ["bench_latency", "SHAPE_SWEEP"]

#: The shape sweep: 5 x 3 = 15 shapes, 32 seeds each.
SHAPE_SWEEP = {"n_target": [10, 20, 30, 40, 60], "downstream.steps": [100, 200, 300]}

_RUN = """
import json, time
t0 = time.perf_counter()
import simtransfer
simtransfer.use_cpu_devices()
from simtransfer import Experiment, run
t_import = time.perf_counter() - t0
exp = Experiment()
t1 = time.perf_counter(); run(exp, seeds=8, key=0); first = time.perf_counter() - t1
t2 = time.perf_counter(); run(exp.set(**{"transfer.alpha": 0.3}), seeds=8, key=0); steady = time.perf_counter() - t2
import theory
t3 = time.perf_counter(); theory.predict(exp); predict_first = time.perf_counter() - t3
ts = []
for i in range(20):
    e = exp.set(**{"transfer.alpha": 0.05 * (i + 1)})
    t4 = time.perf_counter(); theory.predict(e); ts.append(time.perf_counter() - t4)
print(json.dumps({"source": simtransfer.__file__, "import_s": t_import, "first_call_s": first, "steady_s": steady,
                  "predict_first_ms": 1e3 * predict_first, "predict_ms": 1e3 * sorted(ts)[len(ts) // 2],
                  "process_s": time.perf_counter() - t0}))
"""

_SWEEP = """
import json, sys, time
t0 = time.perf_counter()
import simtransfer
simtransfer.use_cpu_devices()
from simtransfer import Experiment, sweep
t1 = time.perf_counter()
ds = sweep(Experiment().set(backend=sys.argv[2]), json.loads(sys.argv[1]), seeds=32, quiet=True)
print(json.dumps({"sweep_s": time.perf_counter() - t1, "process_s": time.perf_counter() - t0}))
"""


def _python(code: str, *args: str, cache: str | None, src: str | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    env["SIMTRANSFER_CACHE_DIR"] = "none" if cache is None else cache
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if src is not None:  # another checkout first on the path (before the installed package)
        env["PYTHONPATH"] = os.pathsep.join([src] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    # from a neutral directory: ``python -c`` puts the working directory first on the path
    cwd = tempfile.gettempdir()
    p = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False,
                       cwd=cwd)  # fmt: skip
    if p.returncode:
        raise RuntimeError(f"bench latency: subprocess failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _figures(src: str | None) -> dict[str, Any]:
    cold = _python(_RUN, cache=None, src=src)
    if src is not None and not os.path.abspath(cold["source"]).startswith(os.path.abspath(src) + os.sep):
        raise RuntimeError(f"bench latency: --baseline {src}: the subprocess imported {cold['source']} instead")
    with tempfile.TemporaryDirectory(prefix="simtransfer-bench-cache-") as tmp:
        _python(_RUN, cache=tmp, src=src)  # fills the cache
        warm = _python(_RUN, cache=tmp, src=src)
    out: dict[str, Any] = {
        "cold_first_call_s": cold["first_call_s"],
        "warm_first_call_s": warm["first_call_s"],
        "steady_s": cold["steady_s"],
        "import_s": cold["import_s"],
        "predict_first_ms": cold["predict_first_ms"],
        "predict_ms": cold["predict_ms"],
        "cold_process_s": cold["process_s"],
        "warm_process_s": warm["process_s"],
    }
    out["cold_over_steady"] = out["cold_first_call_s"] / out["steady_s"]
    out["warm_over_cold"] = out["warm_first_call_s"] / out["cold_first_call_s"]
    return out


def bench_latency(shape_sweep: bool = True, baseline: str | None = None, check: bool = True) -> dict[str, Any]:
    """The latency figures above, as one dict (seconds, rounded to ms); with ``baseline``
    (a checkout's root directory) the same figures of that checkout, measured alternately
    with these, and the ratios of each figure (this / baseline)."""
    if baseline is not None and not os.path.isdir(os.path.join(baseline, "simtransfer")):
        raise ConfigError(f"--baseline: {baseline} is not a checkout of simtransfer (no simtransfer/ folder)")
    rnd = lambda d: {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}  # noqa: E731
    out: dict[str, Any] = {}
    base: dict[str, Any] = {}
    parts = (_figures,) + ((_sweeps,) if shape_sweep else ()) + ((_check,) if check else ())
    for part in parts:  # this checkout, then the baseline
        out.update(part(None))
        if baseline is not None:
            base.update(part(baseline))
    if check:
        out["check_cells"] = "check.grid.HELDOUT_BLOCKS: 78 cells, 10 shape groups, 32 seeds, gram, cache off"
    if shape_sweep:
        out["shape_sweep"] = f"{json.dumps(SHAPE_SWEEP)}, 32 seeds, cache off"
    if baseline is not None:
        out["baseline"] = dict(rnd(base), source=os.path.abspath(baseline))
        out["ratio"] = {k: round(out[k] / base[k], 3) for k in base if isinstance(base[k], float) and base[k]}
    return rnd(out)


def _sweeps(src: str | None) -> dict[str, float]:
    return {f"shape_sweep_{b}_s": _python(_SWEEP, json.dumps(SHAPE_SWEEP), b, cache=None, src=src)["sweep_s"]
            for b in ("dense", "gram")}  # fmt: skip


def _check(src: str | None) -> dict[str, float]:
    r = _python(CHECK_CODE, *check_args(), cache=None, src=src)
    return {"check_cells_s": r["check_s"]}
