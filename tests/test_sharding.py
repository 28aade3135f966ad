"""The seed axis sharded over 4 (forced) CPU devices gives the unsharded results (issue 2), and
the CPU split is explicit: ``use_cpu_devices`` (issue 14), never an import side effect."""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json, sys
import simtransfer, jax, numpy as np
from simtransfer import Experiment, run
simtransfer.use_cpu_devices()           # SIMTRANSFER_CPU_DEVICES of the test
exp = Experiment.from_toml(sys.argv[1])
res = run(exp, seeds=6, key=7)          # 6 seeds do not divide 4 devices
print(json.dumps({"devices": len(jax.local_devices()),
                  "arrays": {k: np.asarray(v, np.float64).tolist() for k, v in res.arrays.items()}}))
"""


def _run(cfg, devices):
    env = dict(os.environ, SIMTRANSFER_CPU_DEVICES=str(devices))
    env.pop("XLA_FLAGS", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT, cfg], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sharded_equals_unsharded(tiny, tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tiny.to_toml())
    one, four = _run(str(cfg), 1), _run(str(cfg), 4)
    assert one["devices"] == 1 and four["devices"] == 4
    for k, v in one["arrays"].items():
        # Each device runs the same per-seed program on a smaller batch; XLA may order
        # float32 reductions differently by batch size, so agree to float32 rounding.
        np.testing.assert_allclose(np.asarray(four["arrays"][k]), np.asarray(v), rtol=1e-5, atol=1e-6, err_msg=k)


def _stdout(code: str) -> list[str]:
    env = dict(os.environ, SIMTRANSFER_CPU_DEVICES="3")
    env.pop("XLA_FLAGS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return out.stdout.split()


def test_import_changes_nothing_and_the_split_is_explicit():
    """``use_cpu_devices()`` after ``import jax`` (IPython) and before any computation gives
    the requested CPU devices; it writes no environment variable, and ``import simtransfer``
    alone changes nothing: a subprocess that imports it has one CPU device."""
    child = "import simtransfer, jax, os; print(len(jax.devices()), 'XLA_FLAGS' in os.environ)"
    code = ("import jax, simtransfer, os, subprocess, sys; print(simtransfer.use_cpu_devices()); "
            "print(len(jax.local_devices()), 'XLA_FLAGS' in os.environ); "
            f"subprocess.run([sys.executable, '-c', {child!r}])")  # fmt: skip
    assert _stdout(code) == ["3", "3", "False", "1", "False"]


def test_split_after_a_computation_warns_and_keeps_the_count():
    """After a JAX computation the CPU client exists: the count stays, with a RuntimeWarning."""
    code = ("import jax, simtransfer, warnings; jax.numpy.ones(1)\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always'); k = simtransfer.use_cpu_devices()\n"
            "print(k, len(w), w[0].category.__name__)")  # fmt: skip
    assert _stdout(code) == ["1", "1", "RuntimeWarning"]


def test_batched_call_cuts_even_calls():
    # rows are cut into as few calls as the bound allows, of one (padded) size: 300 rows
    # under a bound of 256 are two calls of 150, not 256 and a padded 44; results in order
    from simtransfer.runs.devices import batched_call, local_mesh

    n_dev = 1 if local_mesh() is None else local_mesh().size
    for N, bound, size in [(300, 256, 150), (7, 4, 4), (8, 8, 8), (9, 100, 9)]:
        sizes = []

        def fn(x):
            sizes.append(x.shape[0])
            return {"y": x * 2}

        out = batched_call(fn, np.arange(N, dtype=np.int32), batch=bound)
        np.testing.assert_array_equal(out["y"], 2 * np.arange(N))
        want = -(-size // n_dev) * n_dev if N >= n_dev else size
        assert sizes == [want] * -(-N // bound), (N, bound, sizes)
