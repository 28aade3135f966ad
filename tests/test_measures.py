"""The plug-ins' measurements computed by the trial itself (``eval.measure_draws``) are those
of the separate measuring program (``experiments.measure.measure``), seed by seed."""

from __future__ import annotations

import numpy as np
import pytest

from simtransfer import ConfigError, Experiment, run
from simtransfer.experiments.measure import measure
from simtransfer.protocol.measures import MEASURES

SMALL = {
    "task.d": 200, "n_source": 40, "n_target": 10, "model.m": 4, "upstream.steps": 40, "downstream.steps": 40,
    "upstream.log_every": 40, "downstream.log_every": 40, "eval.mc_draws": 512, "eval.n_test": 0,
    "transfer.alpha": 0.5, "task.P": 3,
}  # fmt: skip


@pytest.mark.parametrize("backend", ["gram", "dense"])
def test_trial_measures_equal_the_measuring_program(backend):
    exp = Experiment().set(backend=backend, **SMALL)
    sep = measure([exp], 4, key=3, draws=256)
    res = run(exp.set(**{"eval.measure_draws": 256}), seeds=4, key=3)
    for k in MEASURES:
        # the same seeds' weights and Monte-Carlo draws in two compiled programs (a sweep's
        # chunk there, run's here, with other outputs): they differ by float32 round-off only
        # (measured: equal here); 1e-5 leaves room for other CPUs' instruction choices
        np.testing.assert_allclose(np.asarray(res.arrays[k]), sep[k][0], rtol=1e-5, atol=1e-7, err_msg=k)
    assert all(k not in run(exp, seeds=1).arrays for k in MEASURES)  # off by default


def test_measure_draws_is_validated():
    with pytest.raises(ConfigError, match="eval.measure_draws"):
        Experiment().set(**{"eval.measure_draws": -1})
    with pytest.raises(ConfigError, match="eval.measure_draws"):
        Experiment().set(**{"task.data": "digits", "task.d": 32, "eval.measure_draws": 64})


def test_plugins_take_lambda_from_the_trials_when_they_measured_it(monkeypatch):
    import simtransfer.experiments.measure as measure_mod
    from simtransfer.experiments.predictions import measured_of
    from simtransfer.protocol.measures import MEASURE_DRAWS

    exp = Experiment().set(backend="gram", **SMALL)
    own = run(exp.set(**{"eval.measure_draws": MEASURE_DRAWS}), seeds=4, key=3).arrays
    plain = {k: v for k, v in own.items() if k not in MEASURES}
    again = measured_of([exp], [plain], key=3)[0]  # no lam among the outputs: measured again

    def no_second_program(*a, **k):
        raise AssertionError("measure() ran although the trials measured lambda")

    monkeypatch.setattr(measure_mod, "measure", no_second_program)
    mine = measured_of([exp], [own], key=3)[0]
    # the same trials measured by two programs: float32 round-off (see above)
    np.testing.assert_allclose(mine.lam, again.lam, rtol=1e-5)
    assert mine.err_zeroshot == again.err_zeroshot and mine.G == again.G


def test_sweep_over_measure_draws_and_saved_results(tmp_path):
    from simtransfer import Result, sweep

    exp = Experiment().set(backend="gram", **SMALL)
    ds = sweep(exp, {"eval.measure_draws": [0, 64]}, seeds=2, quiet=True)  # two programs, one with the outputs
    lam = ds["lam"].values
    assert np.isnan(lam[0]).all() and np.isfinite(lam[1]).all()
    res = run(exp.set(**{"eval.measure_draws": 64}), seeds=2, out=tmp_path / "r")
    again = Result.load(tmp_path / "r")
    np.testing.assert_array_equal(again.arrays["lam"], res.arrays["lam"])
