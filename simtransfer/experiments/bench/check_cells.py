"""A theory check over shapes, timed cold (``bench --part latency``: ``check_cells_s``).

The held-out grid of the check (``experiments.check.grid.HELDOUT_BLOCKS``): 78 cells in 10
groups of distinct (d, n_S, n_T, m, P, T_down), 32 seeds each, gram backend, exact errors,
run as the check runs them (``run_blocks``: the sweeps and the plug-ins' measurements) and
given every built-in hypothesis's prediction (``experiments.check.cells``).  The cells lie
outside the family of the check's base grid (P = 3, d = 4000 and 8000, m = 20, n_T = 40,
label noise 0.1, T_down = 600 and 1000 with a small eta), near the transfer boundary; the
persistent compilation cache is off and nothing is cached, so every group's compilations
are counted.  It is measured in a fresh process, also on a
``--baseline`` checkout (the code runs unchanged on checkouts since the check's blocks).
"""

from __future__ import annotations

import json

from ..check.grid import HELDOUT_BLOCKS, HELDOUT_KEY

__all__ = ["CHECK_CODE", "check_args"]

CHECK_CODE = """
import json, sys, time
t0 = time.perf_counter()
import simtransfer
getattr(simtransfer, "use_cpu_devices", lambda: None)()  # older checkouts: one CPU device
from simtransfer.experiments.check.grid import Block, run_blocks
from simtransfer.experiments.check.cells import cell_summary, hypotheses
t1 = time.perf_counter()
blocks = [Block(n, s, tuple(g)) for n, s, g in json.loads(sys.argv[1])]
recs = run_blocks(blocks, 32, int(sys.argv[2]), cache_dir=None)
cells = [dict(c, pred=hypotheses(r['cfg'], c)) for r in recs for c in [cell_summary(r)]]
print(json.dumps({"check_s": time.perf_counter() - t1, "cells": len(cells), "process_s": time.perf_counter() - t0}))
"""


def check_args() -> tuple[str, str]:
    """The subprocess's arguments: the held-out blocks (JSON) and their root seed."""
    blocks = [(b.name, dict(b.static), [dict(g) for g in b.grids]) for b in HELDOUT_BLOCKS]
    return json.dumps(blocks), str(HELDOUT_KEY)
