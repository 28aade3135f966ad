"""Transfer by distillation beside inheritance (issue 7)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simtransfer import ConfigError, Experiment, run
from simtransfer.config.data import make_frame, sample
from simtransfer.nn.model import activation, binary_kl, distill_loss, init_filters, logistic_loss
from simtransfer.protocol import distill_mask


def test_lam_zero_distillation_equals_scratch_bit_for_bit(tiny):
    res = run(tiny.set(**{"transfer.mode": "distill", "transfer.lam": 0.0}), seeds=3, key=0)
    for name, v in res.arrays.items():
        if "transfer" in name:
            np.testing.assert_array_equal(v, res.arrays[name.replace("transfer", "scratch")], err_msg=name)
    # and the paired scratch baseline is the one of inheritance mode
    inh = run(tiny, seeds=3, key=0)
    np.testing.assert_array_equal(res.err_scratch, inh.err_scratch)
    # lam > 0 changes the transfer model (same compilation: lam is traced)
    res2 = run(tiny.set(**{"transfer.mode": "distill", "transfer.lam": 0.8}), seeds=3, key=0)
    assert not np.array_equal(res2.err_transfer, res2.err_scratch)
    assert np.all(res2.k == 0)  # distill alone inherits nothing


def test_kl_gradient_matches_finite_differences():
    d, m, n = 40, 3, 12
    with jax.enable_x64(True):
        act = activation("relu")
        frame = make_frame(None, d, "canonical").astype(jnp.float64)
        mu = 1.5 * frame[0]
        b = sample(jax.random.key(0), n, 2, frame, 1.0, 0.0, False, dtype=jnp.float64)
        W = init_filters(jax.random.key(1), m, d, 0.5, jnp.float64)
        f_t = 3.0 * jax.random.normal(jax.random.key(2), (n,), jnp.float64)
        lam_i = jnp.linspace(0.0, 1.0, n)
        tau = 2.0
        loss = lambda W: distill_loss(W, b.xi, b.y_signal, b.y, mu, act, f_t, lam_i, tau)  # noqa: E731
        g = jax.grad(loss)(W)
        for i in range(5):
            V = jax.random.normal(jax.random.key(10 + i), W.shape, jnp.float64)
            eps = 1e-6
            fd = (loss(W + eps * V) - loss(W - eps * V)) / (2 * eps)
            np.testing.assert_allclose(float(jnp.vdot(g, V)), float(fd), rtol=1e-6, atol=1e-10)
        # lam = 0 everywhere is the logistic loss exactly; KL(p || p) = 0; closed form
        zero = distill_loss(W, b.xi, b.y_signal, b.y, mu, act, f_t, jnp.zeros(n), tau)
        assert float(zero) == float(logistic_loss(W, b.xi, b.y_signal, b.y, mu, act))
        assert float(jnp.max(jnp.abs(binary_kl(f_t, f_t)))) < 1e-15
        p, q = jax.nn.sigmoid(1.3), jax.nn.sigmoid(-0.4)
        ref = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
        np.testing.assert_allclose(float(binary_kl(jnp.float64(1.3), jnp.float64(-0.4))), float(ref), rtol=1e-12)


def test_partition_mask_selects_exactly():
    f_t = jnp.array([2.0, -0.5, 0.1, -3.0, 0.0, 1.0])
    y = jnp.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0])
    np.testing.assert_array_equal(np.asarray(distill_mask(f_t, y, "none", 0.9)), np.ones(6))
    # agree: sign(f_t) == y (a tie f_t = 0 does not agree)
    np.testing.assert_array_equal(np.asarray(distill_mask(f_t, y, "agree", 0.9)), [1, 0, 0, 1, 0, 0])
    # confident: sigma(|f_t|) >= 0.8 <=> |f_t| >= log(4) = 1.386
    np.testing.assert_array_equal(np.asarray(distill_mask(f_t, y, "confident", 0.8)), [1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(np.asarray(distill_mask(f_t, y, "confident", 0.7)), [1, 0, 0, 1, 0, 1])


def test_partitioned_trial_state_weights(tiny):
    from simtransfer.protocol import make_trial_state, theta_of
    from simtransfer.runs.run import seed_keys

    exp = tiny.set(**{"transfer.mode": "inherit+distill", "transfer.partition": "agree", "transfer.lam": 0.7})
    st = jax.jit(make_trial_state(exp))(seed_keys(0, 1)[0], theta_of(exp))
    agree = np.asarray(st["target"].y * st["f_teacher"] > 0)
    np.testing.assert_allclose(np.asarray(st["distill_weight"]), 0.7 * agree, rtol=1e-6)
    assert int(np.asarray(st["inherited"]).sum()) == 2 * 2  # still inherits k = 2 per class


def test_mode_validation():
    with pytest.raises(ConfigError, match=r"transfer\.mode"):
        Experiment().set(**{"transfer.mode": "copy"})
    with pytest.raises(ConfigError, match=r"transfer\.tau"):
        Experiment().set(**{"transfer.tau": 0.0})
    with pytest.raises(ConfigError, match=r"transfer\.mode.*gram"):
        Experiment().set(**{"backend": "gram", "transfer.mode": "distill"})
    assert Experiment().set(**{"transfer.mode": "distill"}).k_inherited == 0
