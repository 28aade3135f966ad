"""Benchmarks: ``python -m simtransfer bench`` (or ``make bench``) prints one JSON object.

* ``trial``: the default dense trial, seeds/s vmapped and looped, flops, GFLOP/s;
* ``gram``: the gram backend against the dense one across the dimension d;
* ``latency``: compilation as a user waits for it, in whole processes (cold, warm cache,
  steady state, a sweep over shapes).

``python -m simtransfer.experiments.bench`` runs both.
"""

from __future__ import annotations

import json
from typing import Any

from ...config import Experiment
from ...runs.devices import use_cpu_devices
from .gram import bench_gram
from .latency import bench_latency
from .trial import bench, matmul_gflops, trial_flops

__all__ = ["bench", "bench_gram", "bench_latency", "bench_all", "matmul_gflops", "trial_flops", "main"]


def bench_all(exp: Experiment | None = None, part: str = "all", repeats: int = 2,
              baseline: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The JSON object of ``python -m simtransfer bench``: ``trial``, ``gram`` and/or
    ``latency`` parts (``baseline``: another checkout measured beside this one's latency)."""
    exp = Experiment() if exp is None else exp
    out: dict[str, Any] = {}
    if part in ("all", "trial"):
        out["trial"] = bench(exp, repeats=repeats)
    if part in ("all", "gram"):
        out["gram"] = bench_gram(base=exp)
    if part in ("all", "latency"):
        out["latency"] = bench_latency(baseline=baseline)
    return out


def main(argv: list[str] | None = None) -> int:
    use_cpu_devices()
    print(json.dumps(bench_all(), indent=1))
    return 0
