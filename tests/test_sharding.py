"""The seed axis sharded over 4 (forced) CPU devices gives the unsharded results (issue 2)."""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json, sys
import simtransfer, jax, numpy as np
from simtransfer import Experiment, run
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


def test_cpu_split_when_jax_imported_first():
    """``import jax; import simtransfer`` (IPython) still gets one device per requested core
    while JAX has run nothing; after a JAX computation the count is left as it is."""
    code = (
        "import jax{pre}\nimport simtransfer\nprint(len(jax.local_devices()))"
    )
    env = dict(os.environ, SIMTRANSFER_CPU_DEVICES="3")
    env.pop("XLA_FLAGS", None)
    counts = []
    for pre in ("", "; jax.numpy.ones(1)"):
        out = subprocess.run([sys.executable, "-c", code.format(pre=pre)], capture_output=True, text=True, env=env, check=True)
        counts.append(int(out.stdout.split()[-1]))
    assert counts == [3, 1]
