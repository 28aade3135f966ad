"""The bench's inputs (its figures are measured by ``make bench``, never asserted in tests)."""

from __future__ import annotations

import pytest

from simtransfer import ConfigError
from simtransfer.experiments.bench.latency import bench_latency


def test_baseline_must_be_a_checkout(tmp_path):
    # refused before any process is started: one line naming the option
    with pytest.raises(ConfigError, match=r"^--baseline: .* is not a checkout of simtransfer"):
        bench_latency(shape_sweep=False, baseline=str(tmp_path))
