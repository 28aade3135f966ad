"""The empirical test set sampled through the filters' projections, and the batched exact
errors (simtransfer.evaluate, theory.exact)."""

import jax
import jax.numpy as jnp
import numpy as np

from simtransfer.config.data import make_frame, make_signals
from simtransfer.nn.evaluate import empirical_error, empirical_error_dense
from simtransfer.nn.model import activation
from theory.exact import exact_error, exact_errors


def _models(d=40, m=3, P=3):
    """Three models on a random frame: a generic one, one aligned with the signal, and an
    exact copy of the second (what transfer and scratch are at alpha = 0)."""
    k = jax.random.split(jax.random.key(3), 3)
    frame = make_frame(k[0], d, "random")
    sig = make_signals(frame, 2.0, 1.0, 1.5, 1.0)
    W1 = 0.4 * jax.random.normal(k[1], (2, m, d))
    W2 = 0.3 * jax.random.normal(k[2], (2, m, d)) + 0.5 * jnp.stack([sig.mu_T, -sig.mu_T])[:, None] / 2.5
    return frame, sig, jnp.stack([W1, W2, W2]), P


def test_projected_test_set_has_the_law_of_materialised_points():
    """``empirical_error_dense`` (2m k-dimensional Gaussian projections) and
    ``empirical_error`` (n_test x P x d explicit points) estimate the same errors, with
    label noise and a leaky ReLU; each is a mean of n = 40000 independent indicators, so
    the two differ by N(0, s^2) with s = sqrt(2 e (1 - e) / n) <= 0.0036; we allow 4.5 s
    per model (false-failure rate ~7e-6 each).  The copy of model 2 gets exactly
    model 2's counts (pairing), and errors lie inside (p, 1/2) so the check bites."""
    frame, sig, Ws, P = _models()
    act = activation("leaky_relu", 0.1, 3.0)
    kw = dict(n_test=40_000, chunk=4000, P=P, mu=sig.mu_T, frame=frame, sigma_p=1.0, label_flip=0.1, act=act)
    proj = np.asarray(jax.jit(lambda key: empirical_error_dense(key, Ws, **kw))(jax.random.key(0)))
    pts = np.asarray(jax.jit(lambda key: empirical_error(key, Ws, fixed_position=False, **kw))(jax.random.key(1)))
    assert proj[1] == proj[2] and pts[1] == pts[2]
    assert np.all((proj > 0.15) & (proj < 0.49)), proj
    s = np.sqrt(2 * pts * (1 - pts) / kw["n_test"])
    assert np.all(np.abs(proj - pts) < 4.5 * s), (proj, pts, s)


def test_projected_test_set_counts_ties_and_partial_chunks():
    """n_test not a multiple of chunk: the padding points are not counted; n_test = 0
    gives NaN; an all-zero model ties on every point (half an error each)."""
    frame, sig, Ws, P = _models()
    Ws = Ws.at[0].set(0.0)
    act = activation("relu", 0.1, 3.0)
    kw = dict(chunk=300, P=P, mu=sig.mu_T, frame=frame, sigma_p=1.0, label_flip=0.0, act=act)
    e = np.asarray(empirical_error_dense(jax.random.key(2), Ws, n_test=1000, **kw))
    assert e[0] == 0.5
    assert np.all(np.isnan(np.asarray(empirical_error_dense(jax.random.key(2), Ws, n_test=0, **kw))))


def test_exact_errors_equals_exact_error_one_by_one():
    """The batched exact error (one matrix product over T Cholesky factors) is the same
    computation as T calls of ``exact_error``: equal to float32 rounding of the draws'
    products, so every indicator agrees except within ~1e-6 of a tie (none here)."""
    T, m = 6, 4
    k = jax.random.split(jax.random.key(0), 3)
    sig = jax.random.normal(k[0], (T, 2, m))
    B = jax.random.normal(k[1], (T, 2 * m, 2 * m))
    cov = B @ B.transpose(0, 2, 1)
    draws = jax.random.normal(k[2], (4096, 2, 2 * m))
    act = jax.nn.relu
    batched = exact_errors(sig, cov, draws, act, 0.1)
    single = jax.vmap(lambda s, c: exact_error(s, c, draws, act, 0.1))(sig, cov)
    np.testing.assert_allclose(np.asarray(batched.err), np.asarray(single.err), atol=1 / 4096)
    np.testing.assert_allclose(np.asarray(batched.se), np.asarray(single.se), atol=1e-4)
