"""The accelerator check's code paths on any machine (``scripts/device_check.sh --quick``):
slow, because it compiles every configuration cold, as the real check does."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_device_check_quick(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, DEVICE_CHECK_TIMEOUT="880")
    env.pop("XLA_FLAGS", None)
    p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "device_check.sh"), "--quick"], env=env,
                       capture_output=True, text=True, timeout=900)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((tmp_path / "device_check.json").read_text())
    assert res == json.loads(p.stdout)
    assert set(res["default_trial"]) >= {"1", "4", "flops_per_seed"}
    # on the same machine and platform the "device" and CPU runs are the same program
    for row in res["cpu_agreement"].values():
        if isinstance(row, dict):
            assert row["within_tolerance"], row
