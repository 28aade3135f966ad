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


# ---- the step counts and logging periods (config.CLOCK_FIELDS) are traced by every backend


def test_clock_fields_are_traced(tiny):
    from simtransfer.config import CLOCK_FIELDS, log_buffer

    for f in CLOCK_FIELDS:
        assert f in traced_values(tiny)
    # T = 60, 40 with log_every 20: 4 and 3 logged steps share a buffer of 4
    assert static_part(tiny) == static_part(tiny.set(**{"downstream.steps": 40}))
    assert static_part(tiny) != static_part(tiny.set(**{"downstream.steps": 200}))  # 11 logged steps: buffer 16
    assert [log_buffer(n) for n in (1, 2, 3, 4, 5, 31, 32, 33)] == [1, 2, 4, 4, 8, 32, 32, 64]


def _exact_length_trial(exp, seeds, key):
    """The trial compiled at exp's own shapes (log buffer = its own len(log_steps)): the
    computation before the clock was traced."""
    import jax

    from simtransfer.protocol import add_scores, make_trial, theta_of
    from simtransfer.runs.run import seed_keys

    one = jax.jit(make_trial(exp))
    outs = [one(k, theta_of(exp)) for k in seed_keys(key, seeds)]
    return add_scores(exp, {k: np.stack([np.asarray(o[k]) for o in outs]) for k in outs[0]})


def test_traced_steps_match_the_exact_length_program(tiny):
    """A run whose T and log_every reach the compiled program as traced integers, in a log
    buffer longer than its curves, gives what the program compiled at its own lengths gives."""
    for backend in ("dense", "gram"):
        # T_down = 50 with log_every 20: logged steps 0, 20, 40, 50 (a remainder segment);
        # T_up = 30 with log_every 7: 6 logged steps in a buffer of 8
        exp = tiny.set(backend=backend, **{"downstream.steps": 50, "upstream.steps": 30, "upstream.log_every": 7})
        r = run(exp, seeds=2, key=5)
        ref = _exact_length_trial(exp, 2, 5)
        assert r.curve_upstream_err.shape == (2, 6) and r.curve_transfer_err.shape == (2, 4)
        for k, v in ref.items():
            # The same operations on the same values; only XLA's fusion of the logged
            # metrics may differ, which moves the logged coefficients by float32 round-off
            # (measured: at most 4e-7 on curves of order 1, scripts/bitcheck.py).
            np.testing.assert_allclose(getattr(r, k), v, rtol=1e-5, atol=1e-6, err_msg=f"{backend} {k}")


def test_sweep_over_steps_compiles_once(tiny):
    steps = [20, 40, 60]
    before = sweep_mod.TRACE_COUNT[0]
    ds = sweep(tiny.set(**{"downstream.log_every": 10}), {"downstream.steps": steps}, seeds=2, key=3, quiet=True)
    assert sweep_mod.TRACE_COUNT[0] - before == 1
    assert list(ds.step_downstream.values) == [0, 10, 20, 30, 40, 50, 60]
    for T in steps:
        pt = ds.sel({"downstream.steps": T})
        r = run(tiny.set(**{"downstream.log_every": 10, "downstream.steps": T}), seeds=2, key=3)
        n = T // 10 + 1
        np.testing.assert_array_equal(np.isnan(pt.curve_scratch_err.values[:, n:]), True)  # past its T: NaN
        np.testing.assert_allclose(pt.curve_scratch_err.values[:, :n], r.curve_scratch_err, atol=1e-6)
        np.testing.assert_allclose(pt.err_transfer.values, r.err_transfer, atol=1e-6)
    # T matters: longer training fits the target better
    assert float(ds.loss_scratch.mean("seed")[-1]) < float(ds.loss_scratch.mean("seed")[0])


# ---- the dense backend's training-set sizes (config.SAMPLE_FIELDS): padded, masked samples


def test_sample_sizes_are_bucketed(tiny):
    from simtransfer.config import sample_bucket

    assert [sample_bucket(n) for n in (1, 8, 9, 10, 17, 20, 30, 33, 60, 80)] == [1, 8, 10, 10, 20, 20, 32, 40, 64, 80]
    assert static_part(tiny.set(n_target=9)) == static_part(tiny.set(n_target=10))  # both drawn at 10
    g = tiny.set(backend="gram")  # the gram basis holds every sample: n stays a shape there
    assert static_part(g.set(n_target=9)) != static_part(g.set(n_target=10))


def test_padded_training_sets_match_the_exact_size_program(tiny):
    """n_S = 17 and n_T = 7 in a sweep group with n_T = 13 (drawn at n_S = 20, n_T = 14):
    the results equal those of the program compiled at the exact sizes."""
    exp = tiny.set(n_source=17, n_target=7, **{"transfer.mode": "inherit+distill", "transfer.partition": "agree"})
    ref = _exact_length_trial(exp, 3, 6)
    ds = sweep(exp, {"n_target": [7, 13]}, seeds=3, key=6, quiet=True)  # one group: n_T drawn at 14, n_S at 20
    pt = ds.sel(n_target=7)
    for k, v in ref.items():
        # The same samples (the partitionable PRNG's first rows) and the same means up to the
        # order of float32 sums.  Measured (8 seeds; also at n_S = 80, n_T = 20, T = 300):
        # every error and loss equal bit for bit, the coefficient curves (the projector
        # factors a larger Gram with the padded patches) within 1.5e-6; tolerance ~10x that.
        np.testing.assert_allclose(pt[k].values, v, rtol=1e-5, atol=1e-5, err_msg=k)


def test_sweep_over_sample_sizes_compiles_once(tiny):
    before = sweep_mod.TRACE_COUNT[0]
    ds = sweep(tiny, {"n_target": [4, 10, 30]}, seeds=3, key=7, quiet=True)
    assert sweep_mod.TRACE_COUNT[0] - before == 1
    # n matters: more target samples, a better scratch model
    e = ds.err_scratch.mean("seed").values
    assert e[-1] < e[0], e


def test_sweep_over_log_every_places_each_curve_at_its_own_steps(tiny):
    """Points logging at different steps share the union of their steps as the coordinate;
    each point's curve sits at its own logged steps (NaN at the others)."""
    ds = sweep(tiny, {"downstream.log_every": [20, 30]}, seeds=2, key=3, quiet=True)
    assert list(ds.step_downstream.values) == [0, 20, 30, 40, 60]
    for le, own in ((20, [0, 20, 40, 60]), (30, [0, 30, 60])):
        c = ds.curve_scratch_err.sel({"downstream.log_every": le})
        r = run(tiny.set(**{"downstream.log_every": le}), seeds=2, key=3)
        # the same program per (point, seed) as run's up to the log buffer's length: round-off
        np.testing.assert_allclose(c.sel(step_downstream=own).values, r.curve_scratch_err, atol=1e-6)
        others = [s for s in ds.step_downstream.values if s not in own]
        assert np.isnan(c.sel(step_downstream=others).values).all()
