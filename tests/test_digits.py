"""Real images (issue 6, ``simtransfer.config.digits``): the cut, the pools, the config checks, a run,
a sweep, and the figure's quick version.

The run, sweep and figure tests use one static configuration (``figures.digits.quick_config``
at n_S = 20), so the sweep and the figure share one compilation.
"""

import pathlib
import sys

import jax
import numpy as np
import pytest
import xarray as xr

import simtransfer as st
from simtransfer import ConfigError
from simtransfer.config import DIGIT_COUNTS, DIGIT_CUTS, digit_pool_size, digits
from simtransfer.protocol import CURVES, SCALARS

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root: `figures`

from figures import digits as fig  # noqa: E402


@pytest.fixture(scope="module")
def small():
    """The quick figure's configuration: source 1-vs-7, target 4-vs-7, m = 4, 40 + 40 steps."""
    return fig.quick_config().set(n_source=20)


def test_data_and_cut_reassembles_exactly():
    images, labels = digits.load()
    assert images.shape == (1797, 8, 8) and images.min() == 0.0 and images.max() == 1.0
    assert tuple(np.bincount(labels)) == DIGIT_COUNTS
    for P, (h, w) in DIGIT_CUTS.items():
        X = digits.cut(images, P)
        assert X.shape == (1797, P, h * w)
        np.testing.assert_array_equal(digits.uncut(X, P), images)
        np.testing.assert_array_equal(np.asarray(digits.uncut(digits.cut(jax.numpy.asarray(images), P), P)), images)
    X = digits.cut(images, 4)  # quadrants, row-major: top-left, top-right, bottom-left, bottom-right
    np.testing.assert_array_equal(X[:, 1], images[:, :4, 4:].reshape(-1, 16))
    np.testing.assert_array_equal(X[:, 2], images[:, 4:, :4].reshape(-1, 16))


def _sets(p: digits.Pools):
    return [np.asarray(x) for x in (p.source_train, p.source_test, p.target_train, p.target_test)]


@pytest.mark.parametrize("source,target", [((1, 7), (4, 7)), ((4, 7), (4, 7)), ((5, 8), (4, 7))])
def test_pools_disjoint_and_labelled(source, target):
    _, labels = digits.load()
    key = jax.random.key(3)
    p = digits.split(key, source, target, 30, 10)
    s_tr, s_te, t_tr, t_te = _sets(p)
    n_src, n_tgt = digit_pool_size(source, "source"), digit_pool_size(target, "target")
    assert (len(s_tr), len(s_te), len(t_tr), len(t_te)) == (30, n_src - 30, 10, n_tgt - 10)
    every = np.concatenate([s_tr, s_te, t_tr, t_te])
    assert len(np.unique(every)) == len(every)  # no image in two sets (a shared digit is split)
    for idx, y, pair in ((s_tr, p.y_source_train, source), (s_te, p.y_source_test, source),
                         (t_tr, p.y_target_train, target), (t_te, p.y_target_test, target)):  # fmt: skip
        y = np.asarray(y)
        assert set(np.unique(y)) <= {-1.0, 1.0}
        np.testing.assert_array_equal(labels[idx], np.where(y > 0, pair[0], pair[1]))
    # the target data do not depend on the source pair or n_S; source training sets are nested
    q = digits.split(key, (0, 1), target, 60, 10)
    for a, b in zip(_sets(p)[2:], _sets(q)[2:]):
        np.testing.assert_array_equal(a, b)
    r = digits.split(key, source, target, 60, 10)
    assert set(s_tr) <= set(np.asarray(r.source_train))
    assert not np.array_equal(t_tr, np.asarray(digits.split(jax.random.key(4), source, target, 30, 10).target_train))


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"task.source_digits": "3,3"}, "task.source_digits"),
        ({"task.source_digits": "1,10"}, "task.source_digits"),
        ({"task.target_digits": "4"}, "task.target_digits"),
        ({"task.target_digits": "four,7"}, "task.target_digits"),
        ({"task.data": "mnist"}, "task.data"),
        ({"task.P": 3}, "task.P"),
        ({"task.d": 15}, "task.d"),
        ({"task.P": 16}, "task.d"),  # 16 patches of 2x2 need d = 4
        ({"task.label_flip": 0.1}, "task.label_flip"),
        ({"backend": "gram"}, "backend"),
        ({"transfer.policy": "top_signal"}, "transfer.policy"),
        ({"n_source": 180}, "n_source"),  # the 1-vs-7 source pool holds 180 images
        ({"n_target": 181}, "n_target"),
    ],
)
def test_config_validation_names_the_field(small, overrides, field):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        small.set(**overrides)


def test_missing_scikit_learn_says_what_to_install(monkeypatch):
    digits.load.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(ImportError, match=r"scikit-learn.*\.\[dev\]"):
            digits.load()
    finally:
        digits.load.cache_clear()


def test_small_run_is_finite_and_alpha_zero_is_scratch(small):
    res0 = st.run(small.set(**{"transfer.alpha": 0.0}), seeds=4, key=1)
    res = st.run(small.set(**{"transfer.alpha": 0.5}), seeds=4, key=1)  # traced: same compilation
    for r in (res0, res):
        assert set(SCALARS) | set(CURVES) <= set(r.arrays)
        for name in ("upstream", "zeroshot", "transfer", "scratch"):
            e = r.arrays[f"err_{name}"]
            assert np.all((e >= 0) & (e <= 1)), name
            np.testing.assert_array_equal(e, r.arrays[f"emp_err_{name}"])  # held-out error in both
        assert not r.valid.sum() < 4
        np.testing.assert_allclose(r.gain, r.err_scratch - r.err_transfer, rtol=0, atol=1e-6)
        assert np.all(np.isnan(r.curve_transfer_gamma_u)) and np.all(np.isfinite(r.curve_transfer_err))
        assert np.all(r.loss_scratch < r.curve_scratch_loss[:, 0])  # training reduced the loss
    for k in res0.arrays:  # alpha = 0: the transfer model is the scratch model, bit for bit
        if k.startswith("curve_transfer_") or k in ("err_transfer", "loss_transfer", "acc_transfer"):
            np.testing.assert_array_equal(res0.arrays[k], res0.arrays[k.replace("transfer", "scratch")], err_msg=k)
    assert np.all(res0.gain == 0) and np.all(res0.k == 0) and np.all(res.k == 2)
    np.testing.assert_array_equal(res.err_scratch, res0.err_scratch)  # scratch does not depend on alpha
    assert "err_transfer" in str(res.summary())


def test_sweep_over_alpha_and_quick_figure(small, tmp_path):
    from simtransfer import sweep

    ds = sweep(small, {"transfer.alpha": [0.0, 0.5, 1.0]}, seeds=2, quiet=True, chunk_trials=2)
    assert ds["err_transfer"].dims == ("transfer.alpha", "seed")
    assert not [v for v in ds.data_vars if v.startswith("theory_")]  # the theory is for synthetic data
    assert np.all(np.isfinite(ds["err_transfer"])) and np.all(ds["gain"].sel({"transfer.alpha": 0.0}) == 0)
    np.testing.assert_array_equal(ds["err_scratch"].values[0], ds["err_scratch"].values[2])
    paths = fig.main(out_dir=str(tmp_path), quick=True)  # the same static configuration: no compilation
    for f in ("digits.png", "digits.pdf", "data/digits.nc"):
        assert (tmp_path / f).stat().st_size > 1000, f
    assert {p.name for p in paths} == {"digits.png", "digits.pdf"}
    out = fig.summary(xr.load_dataset(tmp_path / "data" / "digits.nc"))
    assert all(np.isfinite(v["gain"]).all() for v in out.values())


@pytest.mark.slow
def test_scratch_is_the_same_for_every_source_configuration(small):
    """At a seed the target data and fresh filters do not depend on the source pair or n_S."""
    a = st.run(small, seeds=4, key=2)
    b = st.run(small.set(**{"task.source_digits": "5,8", "n_source": 40}), seeds=4, key=2)
    for k in ("err_scratch", "loss_scratch", "curve_scratch_err"):
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    assert not np.array_equal(a.err_transfer, b.err_transfer)
