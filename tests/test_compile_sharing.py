"""Fields a sweep shares one compilation over (docs/design.md section 4.1): the gram
backend traces the dimension d, which enters its trial only as chi-square degrees of
freedom."""

from __future__ import annotations

import numpy as np

from simtransfer import run, sweep
from simtransfer.config import static_part, traced_values
from simtransfer.runs import sweep as sweep_mod


def test_gram_d_is_traced(tiny):
    g = tiny.set(backend="gram")
    assert static_part(g.set(**{"task.d": 300})) == static_part(g.set(**{"task.d": 30000}))
    assert "task.d" in traced_values(g) and "task.d" not in traced_values(tiny)
    assert static_part(tiny.set(**{"task.d": 300})) != static_part(tiny)  # dense: d is a shape


def test_gram_sweep_over_d_compiles_once(tiny):
    g = tiny.set(backend="gram")
    ds_d = [300, 3000, 3_000_000]
    before = sweep_mod.TRACE_COUNT[0]
    ds = sweep(g, {"task.d": ds_d}, seeds=3, key=2, quiet=True)
    assert sweep_mod.TRACE_COUNT[0] - before == 1
    for d in ds_d:
        r = run(g.set(**{"task.d": d}), seeds=3, key=2)
        for k in ("err_transfer", "err_scratch", "err_upstream", "gain"):
            # the same compiled program per (point, seed) as run's: identical up to float32
            # round-off of the Monte-Carlo averages (no test set noise: exact errors)
            np.testing.assert_allclose(ds[k].sel({"task.d": d}).values, getattr(r, k), atol=1e-6, err_msg=f"{k} d={d}")
    # d matters: the errors move with it (large d drowns the signal in memorised noise)
    e = ds.err_scratch.mean("seed").values
    assert e[-1] > e[0] + 0.05, e
