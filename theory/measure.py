r"""Measured inputs of the plug-in hypotheses (docs/theory.md section 3): lambda and r_inh from weights.

* lambda = output s.d. of the inherited filters on fresh target noise / that of the
  scratch network, both with the downstream 1/m; available before fine-tuning.
* r_inh from the inherited filters' decomposition (:func:`theory.decompose.decompose`):
  signal part s j gamma_{j,r,u} over the s.d. of the memorised-noise part on fresh noise.
* :func:`output_stats`: signal margin S and noise output s.d. N of any subset of a model's
  filters from its signal pre-activations and noise covariance (any backend; used by
  ``simtransfer.measure`` for the check's plug-ins).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.exact import activation_fn, noise_cov, output_from_preacts, psd_cholesky

__all__ = ["noise_output_sd", "lambda_measured", "r_inh_measured", "output_stats"]


def noise_output_sd(W, frame, sigma_p, key, m: int | None = None, draws: int = 4096, activation="relu", P: int = 2):
    r"""S.d. of the network output's noise part ``(1/m) sum_{p,r} [act(z_{+1,r}) - act(z_{-1,r})]``
    over fresh noise patches, ``z ~ N(0, sigma_p^2 W (I - Pi) W^T)`` (Monte Carlo, ``draws``).

    ``W`` is (2, k, d); ``m`` (default k) is the width of the network the filters sit in, so
    the k inherited filters of an m-filter model are normalised by 1/m.
    """
    k = W.shape[1]
    m = k if m is None else m
    act = activation_fn(activation) if isinstance(activation, str) else activation
    L = psd_cholesky(noise_cov(W, frame, sigma_p))
    z = jax.random.normal(key, (draws, P - 1, 2 * k), W.dtype) @ L.T
    out = output_from_preacts(z.reshape(draws, P - 1, 2, k), act) * (k / m)
    return jnp.std(out)


def lambda_measured(W_inherited, W_scratch, frame, sigma_p, key, draws: int = 4096, activation="relu", P: int = 2):
    r"""lambda = noise_output_sd(inherited filters in the m-filter model) / noise_output_sd(scratch).

    ``W_inherited`` (2, k, d) the inherited filters before fine-tuning, ``W_scratch`` (2, m, d)
    the trained scratch model; both use the same draws (common random numbers).
    """
    m = W_scratch.shape[1]
    kw = dict(draws=draws, activation=activation, P=P)
    return noise_output_sd(W_inherited, frame, sigma_p, key, m=m, **kw) / noise_output_sd(
        W_scratch, frame, sigma_p, key, **kw
    )


def r_inh_measured(gamma_u, rho, xi_norm2, s, sigma_p):
    r"""r_inh from the coefficients of the inherited filters (H1's plug-in, docs/theory.md section 3).

        r_inh = s mean_{j,r}(j gamma_{j,r,u}) / (sigma_p sqrt(mean_{j,r} sum_i rho_{j,r,i}^2 / ||xi_i||^2))

    Numerator: the projection of an inherited filter on the target signal, s gamma_u
    (gamma_u = <w - w0, u>), signed by its class j.  Denominator: the s.d. of its memorised
    noise ``sum_i rho_i xi_i/||xi_i||^2`` on a fresh N(0, sigma_p^2 I) vector, treating the
    upstream patches as orthogonal (the proofs' idealisation).

    Args:
      gamma_u: (2, k) gamma along u; rho: (2, k, N) upstream noise coefficients;
      xi_norm2: (N,) squared norms of the upstream noise patches.
    """
    j = jnp.array([1.0, -1.0])[:, None]
    sig = s * jnp.mean(j * gamma_u)
    noise = sigma_p * jnp.sqrt(jnp.mean(jnp.sum(rho**2 / jnp.asarray(xi_norm2)[None, None, :], axis=-1)))
    return sig / noise


def output_stats(sig_pre, cov, mask, draws, act) -> tuple[jax.Array, jax.Array]:
    """(S, N) of the filters selected by ``mask`` in an m-filter model (the others zeroed).

    Args:
      sig_pre: (2, m) pre-activations on the target signal ``<w_{j,r}, mu_T>``.
      cov: (2m, 2m) noise pre-activation covariance; mask: (2, m) bool.
      draws: (M, P - 1, 2m) standard normals.
    Returns:
      S = (f_sig(+1) - f_sig(-1)) / 2, the signal margin averaged over the label, and
      N = s.d. of the noise output ``(1/m) sum_{p,r} [act(z_{+1,r}) - act(z_{-1,r})]``.
    """
    mf = mask.reshape(-1).astype(cov.dtype)
    cov = cov * mf[:, None] * mf[None, :]
    sig = jnp.where(mask, sig_pre, 0.0)
    m = sig.shape[-1]
    L = psd_cholesky(cov)
    z = (draws @ L.T).reshape(draws.shape[:-1] + (2, m))
    N = jnp.std(output_from_preacts(z, act))
    f = [output_from_preacts(y * sig[None], act) for y in (1.0, -1.0)]
    return 0.5 * (f[0] - f[1]), N
