"""Exact conditional test error given the weights (docs/theory.md section 2).

For a fresh point with label y, its signal patch contributes the deterministic
pre-activations ``y <w_{j,r}, mu>`` and each of its P - 1 noise patches contributes
``z = (<w_{j,r}, xi>)_{j,r} ~ N(0, sigma_p^2 W (I - Pi) W^T)``, independent across patches.
Given ``W`` the test error is therefore a 2m(P-1)-dimensional Gaussian expectation; here
it is computed by Monte Carlo (common random numbers: the caller passes the standard
normal draws, so several models can share them) with its own standard error.
A prediction with ``y f = 0`` counts as half an error (a tie).  Label flips with
probability p give ``err = p + (1 - 2p) err_clean``.

Pure JAX; needs only the (2m, 2m) covariance and the signal pre-activations, so the
dense and the gram backends (and any user with weights in hand) share it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from theory.linalg import half_errors, psd_cholesky

__all__ = [
    "ExactError",
    "psd_cholesky",
    "exact_error",
    "exact_errors",
    "output_from_preacts",
    "half_errors",
    "activation_fn",
    "noise_cov",
    "test_error_given_weights",
]


def output_from_preacts(pre: jax.Array, act: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """f from pre-activations ``pre[..., p, j, r] = <w_{j,r}, x^(p)>`` of shape (..., P, 2, m):
    ``f = (1/m) sum_{p, r} [act(pre[p, 0, r]) - act(pre[p, 1, r])]``."""
    h = act(pre).sum(axis=(-3, -1))  # (..., 2): m * F_j
    m = pre.shape[-1]
    return (h[..., 0] - h[..., 1]) / m


class ExactError(NamedTuple):
    err: jax.Array  # () test error given the weights
    se: jax.Array  # () Monte-Carlo standard error of err


def exact_error(
    sig_pre: jax.Array,
    cov: jax.Array,
    draws: jax.Array,
    act: Callable[[jax.Array], jax.Array],
    label_flip=0.0,
) -> ExactError:
    """Test error given the weights, integrating the fresh noise patches out exactly.

    Args:
      sig_pre: (2, m) pre-activations ``<w_{j,r}, mu>`` on the signal of the test task.
      cov: (2m, 2m) covariance ``sigma_p^2 W (I - Pi) W^T`` of the noise pre-activations
        ``<w_{j,r}, xi>``, indexed by (j, r) flattened class-major.
      draws: (M, P - 1, 2m) standard normal draws.
      act: the filter nonlinearity.
      label_flip: p; the returned error is ``p + (1 - 2p) err_clean``.
    """
    m = cov.shape[-1] // 2
    L = psd_cholesky(cov)
    z = (draws @ L.T).reshape(draws.shape[:-1] + (2, m))  # (M, P-1, 2, m), Cov(z) = L L^T
    noise_out = output_from_preacts(z, act)  # (M,)
    sig_out = jnp.stack([output_from_preacts(y * sig_pre[None], act) for y in (1.0, -1.0)])  # (2,)
    per_draw = 0.5 * (half_errors(sig_out[0] + noise_out) + half_errors(-(sig_out[1] + noise_out)))
    M = per_draw.shape[0]
    clean = per_draw.mean()
    se = per_draw.std() / jnp.sqrt(M - 1.0)
    return ExactError(label_flip + (1 - 2 * label_flip) * clean, (1 - 2 * label_flip) * se)


def exact_errors(
    sig_pre: jax.Array,
    cov: jax.Array,
    draws: jax.Array,
    act: Callable[[jax.Array], jax.Array],
    label_flip=0.0,
) -> ExactError:
    """``exact_error`` of T weight settings at once on the same draws: ``sig_pre`` (T, 2, m),
    ``cov`` (T, 2m, 2m); returns (T,) errors and standard errors.

    The same numbers as T calls, computed with the T Cholesky factors side by side, so
    that the draws meet all of them in one matrix product (M (P-1), 2m) x (2m, T 2m)
    rather than T small ones (training curves: T = the logged steps).
    """
    T, _, m = sig_pre.shape
    L = jax.vmap(psd_cholesky)(cov)  # (T, 2m, 2m)
    Lcat = L.transpose(2, 0, 1).reshape(2 * m, T * 2 * m)  # columns (t, i): L_t[i, :]
    M, Pm1 = draws.shape[0], draws.shape[1]
    z = (draws.reshape(-1, 2 * m) @ Lcat).reshape(M, Pm1, T, 2, m)
    h = act(z).sum(axis=(1, 4))  # (M, T, 2): m F_j, summed in place (no transpose of z)
    noise_out = ((h[..., 0] - h[..., 1]) / m).T  # (T, M)
    sig_out = jnp.stack([output_from_preacts(y * sig_pre[:, None], act) for y in (1.0, -1.0)], axis=1)  # (T, 2)
    per_draw = 0.5 * (half_errors(sig_out[:, :1] + noise_out) + half_errors(-(sig_out[:, 1:] + noise_out)))
    clean = per_draw.mean(axis=1)
    se = per_draw.std(axis=1) / jnp.sqrt(M - 1.0)
    return ExactError(label_flip + (1 - 2 * label_flip) * clean, (1 - 2 * label_flip) * se)


def activation_fn(kind: str = "relu", leak=0.1, q=3.0) -> Callable[[jax.Array], jax.Array]:
    """The filter nonlinearity by name (docs/design.md section 2): ``relu``, ``leaky_relu`` (slope
    ``leak`` below 0) or ``relu_q`` = max(z, 0)^q; the same functions as the simulator's."""
    if kind == "relu":
        return jax.nn.relu
    if kind == "leaky_relu":
        return lambda z: jnp.where(z > 0, z, leak * z)
    if kind == "relu_q":
        return lambda z: jnp.maximum(z, 0.0) ** q
    raise ValueError(f"activation: unknown activation {kind!r}")


def noise_cov(W: jax.Array, frame: jax.Array, sigma_p) -> jax.Array:
    """(2m, 2m) covariance ``sigma_p^2 W (I - Pi) W^T`` of the noise pre-activations
    ``<w_{j,r}, xi>`` for ``xi ~ N(0, sigma_p^2 (I - Pi))``; ``Pi`` projects on the rows of
    ``frame`` (3, d), orthonormal."""
    Wf = W.reshape(-1, W.shape[-1])
    Wp = Wf - (Wf @ frame.T) @ frame
    return sigma_p**2 * (Wp @ Wf.T)


def test_error_given_weights(
    W: jax.Array,
    mu: jax.Array,
    frame: jax.Array,
    sigma_p,
    key: jax.Array,
    draws: int = 8192,
    activation: str | Callable[[jax.Array], jax.Array] = "relu",
    label_flip=0.0,
    P: int = 2,
) -> ExactError:
    r"""Exact conditional test error of filters ``W`` (2, m, d) on the task with signal ``mu``.

    The fresh point's signal patch gives the pre-activations ``y <w_{j,r}, mu>``; its P - 1
    noise patches give independent ``z ~ N(0, sigma_p^2 W (I - Pi) W^T)`` (docs/theory.md
    section 2), integrated by Monte Carlo with ``draws`` standard-normal draws from ``key``.
    Returns ``(err, se)``, ``se`` the Monte-Carlo standard error (no test-set noise).
    """
    act = activation_fn(activation) if isinstance(activation, str) else activation
    z = jax.random.normal(key, (draws, P - 1, 2 * W.shape[1]), W.dtype)
    return exact_error(W @ mu, noise_cov(W, frame, sigma_p), z, act, label_flip)


test_error_given_weights.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
