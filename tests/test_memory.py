"""Memory-bounded batching (``simtransfer.runs.memory``, docs/design.md section 4.9)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from simtransfer import Experiment, TrialTooLarge, run
from simtransfer.config import static_part
from simtransfer.protocol import make_trial, theta_of
from simtransfer.runs import memory
from simtransfer.runs.run import seed_keys


@pytest.mark.parametrize("backend", ["dense", "gram"])
def test_estimate_bounds_xla(tiny, backend):
    """The shape formula is an upper estimate of XLA's own buffer plan of one trial,
    and not a wild one: between 1x and 3x of ``memory_analysis`` (temporaries, arguments
    and outputs of the compiled single-seed trial)."""
    exp = static_part(tiny.set(backend=backend))
    compiled = jax.jit(make_trial(exp)).lower(seed_keys(0, 1)[0], theta_of(tiny.set(backend=backend))).compile()
    ma = compiled.memory_analysis()
    xla = ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes
    est = memory.trial_bytes(exp)
    assert xla <= est <= 3 * xla + (1 << 20), (est, xla)


def test_seeds_per_call_streams():
    exp = Experiment()
    per = memory.trial_bytes(exp) + memory.output_bytes(exp)
    free = int(4 * per / memory.FRACTION)  # room for 4 live trials
    assert memory.seeds_per_call(exp, 100_000, micro=0, n_devices=2, free=free) == 4
    assert memory.seeds_per_call(exp, 3, micro=0, n_devices=2, free=free) == 3
    # one trial at a time per device (CPU): the other seeds of a call cost only their outputs
    room = int((memory.FRACTION * free - 2 * memory.trial_bytes(exp)) // memory.output_bytes(exp))
    assert 4 < room < 100_000
    assert memory.seeds_per_call(exp, 100_000, micro=1, n_devices=2, free=free) == room


def test_too_large_names_fields():
    exp = Experiment().set(**{"task.d": 1_000_000})
    with pytest.raises(TrialTooLarge, match=r'task.d = 1000000.*use backend = "gram"'):
        memory.seeds_per_call(exp, 8, micro=1, n_devices=2, free=2**30)
    gram = exp.set(backend="gram")  # the gram trial's memory does not grow with d
    assert memory.trial_bytes(gram) == memory.trial_bytes(Experiment().set(backend="gram"))


def test_run_in_memory_bounded_batches(tiny, monkeypatch):
    """A run cut into calls by the memory bound gives the seeds of one call."""
    ref = run(tiny, seeds=6, key=5)
    per = memory.trial_bytes(static_part(tiny)) + memory.output_bytes(tiny)
    monkeypatch.setenv("SIMTRANSFER_MICROBATCH", "0")  # every seed of a call live at once
    monkeypatch.setattr(memory, "free_bytes", lambda device=None: int(2 * per / memory.FRACTION))
    from simtransfer.runs import run as run_mod

    calls = []
    real = run_mod.batched_call
    monkeypatch.setattr(run_mod, "batched_call", lambda *a, **kw: calls.append(kw["batch"]) or real(*a, **kw))
    res = run(tiny, seeds=6, key=5)
    assert calls == [2]
    for k in ("err_transfer", "err_scratch", "gain", "err_upstream"):
        # vmap over 2 rows vs a per-device scan: the same ops on each seed; XLA may fuse
        # them differently, so allow float32 round-off of an average over mc_draws terms.
        np.testing.assert_allclose(getattr(res, k), getattr(ref, k), atol=1e-5, err_msg=k)
