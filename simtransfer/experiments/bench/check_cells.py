"""A theory check over shapes, timed cold (``bench --part latency``: ``check_cells_s``).

78 cells in 10 groups of distinct (d, n_S, n_T, m, P, T_down), 32 seeds each, gram backend,
exact errors, as the check runs them (``experiments.check.grid.run_blocks``: the sweep and
the plug-ins' measurements of every cell) and scored by every built-in hypothesis
(``experiments.check.cells``).  The cells lie outside the family of the check's base grid
(P = 3, d = 4000 and 8000, m = 20, n_T = 40, label noise 0.1, T_down = 600 and 1000 with
a small eta), near the transfer boundary, as a researcher probing the theory's domain
would lay them out; the persistent compilation cache is off and nothing is cached, so
every group's compilations are counted.  It is measured in a fresh process, also on a
``--baseline`` checkout (the code runs unchanged on checkouts since the check's blocks).
"""

from __future__ import annotations

import json

__all__ = ["CHECK_CELLS", "CHECK_CODE"]

_A3, _A2 = [0.5, 0.75, 1.0], [0.6, 0.9]
_AL = [0.3, 0.6, 1.0]
#: (name, static overrides, traced grid): 6 groups of 9 cells and 4 of 6, 78 cells.
CHECK_CELLS = (
    ("P3", {"n_source": 160, "task.P": 3}, {"task.a": _A3, "task.b_T": [2.2], "transfer.alpha": _AL}),
    ("d4000", {"n_source": 640, "task.d": 4000}, {"task.a": _A3, "task.b_T": [2.4], "transfer.alpha": _AL}),
    ("d8000", {"n_source": 160, "task.d": 8000}, {"task.a": _A3, "task.b_T": [2.4], "transfer.alpha": _AL}),
    ("m20", {"n_source": 160, "model.m": 20}, {"task.a": _A3, "task.b_T": [2.0], "transfer.alpha": _AL}),
    ("m20-nS640", {"n_source": 640, "model.m": 20}, {"task.a": _A3, "task.b_T": [2.0], "transfer.alpha": _AL}),
    ("label_flip", {"n_source": 160}, {"task.label_flip": [0.1], "task.a": _A3, "task.b_T": [2.0],
                                       "transfer.alpha": _AL}),
    ("T600", {"n_source": 160, "downstream.steps": 600, "downstream.log_every": 600},
     {"downstream.eta": [0.1], "task.a": _A2, "task.b_T": [2.0], "transfer.alpha": _AL}),
    ("T1000", {"n_source": 640, "downstream.steps": 1000, "downstream.log_every": 1000},
     {"downstream.eta": [0.06], "task.a": _A2, "task.b_T": [2.0], "transfer.alpha": _AL}),
    ("nT40", {"n_source": 160, "n_target": 40}, {"task.a": _A2, "task.b_T": [1.6], "transfer.alpha": _AL}),
    ("P3-m20", {"n_source": 640, "task.P": 3, "model.m": 20}, {"task.a": _A2, "task.b_T": [2.2],
                                                                "transfer.alpha": _AL}),
)  # fmt: skip

CHECK_CODE = """
import json, sys, time
t0 = time.perf_counter()
import simtransfer
getattr(simtransfer, "use_cpu_devices", lambda: None)()  # older checkouts: one CPU device
from simtransfer.experiments.check.grid import Block, run_blocks
from simtransfer.experiments.check.cells import cell_summary, hypotheses
t1 = time.perf_counter()
blocks = [Block(n, s, (g,)) for n, s, g in json.loads(sys.argv[1])]
recs = run_blocks(blocks, 32, 4242, cache_dir=None)
cells = [dict(c, pred=hypotheses(r['cfg'], c)) for r in recs for c in [cell_summary(r)]]
print(json.dumps({"check_s": time.perf_counter() - t1, "cells": len(cells), "process_s": time.perf_counter() - t0}))
"""


def check_args() -> str:
    """The cells as the subprocess's argument (JSON)."""
    return json.dumps(CHECK_CELLS)
