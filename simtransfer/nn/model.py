"""Two-layer CNN with fixed second layer (docs/design.md section 2), as pure functions.

``W`` has shape (2, m, d): ``W[0]`` are the filters of class j = +1, ``W[1]`` those of
class j = -1.  The network output is

    f(W, x) = F_{+1}(W_{+1}, x) - F_{-1}(W_{-1}, x),
    F_j(W_j, x) = (1/m) sum_{r=1..m} sum_{p=1..P} act(<w_{j,r}, x^(p)>).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from theory.exact import activation_fn, output_from_preacts

__all__ = ["activation", "cnn_apply", "cnn_batch", "cnn_structured", "binary_kl", "distill_loss", "output_from_preacts",
           "logistic_loss", "init_filters"]  # fmt: skip

Activation = Callable[[jax.Array], jax.Array]


#: The filter nonlinearity by name: ``relu``, ``leaky_relu`` (slope ``leak`` below 0) or
#: ``relu_q`` = max(z, 0)^q (the polynomial ReLU of Cao et al. 2022); shared with ``theory``.
activation = activation_fn


def cnn_apply(W: jax.Array, x: jax.Array, act: Activation) -> jax.Array:
    """f(W, x) for one input ``x`` of shape (P, d); returns a scalar."""
    return output_from_preacts(jnp.einsum("pd,jrd->pjr", x, W), act)


def cnn_batch(W: jax.Array, X: jax.Array, act: Activation) -> jax.Array:
    """f(W, x_i) for a batch ``X`` of shape (n, P, d); returns (n,).

    Computed as one (n P, d) x (d, 2m) matrix product, the cost-dominant step.
    """
    n, P, d = X.shape
    pre = (X.reshape(n * P, d) @ W.reshape(-1, d).T).reshape(n, P, 2, -1)
    return output_from_preacts(pre, act)


def cnn_structured(
    W: jax.Array, xi: jax.Array, y_signal: jax.Array, mu: jax.Array | None, act: Activation
) -> jax.Array:
    """f(W, x_i) for inputs given by patch type (``config.data.Batch``): returns (n,).

    The signal patch ``y_i mu`` contributes ``y_i <w_{j,r}, mu>`` (one product with mu for
    the whole batch) and the noise patches ``xi`` (n, P-1, d) one (n (P-1), d) x (d, 2m)
    product.  Equal to ``cnn_batch(W, batch.inputs(mu))`` with (P-1)/P of its flops.

    ``mu = None`` means there is no signal patch: ``xi`` (n, P, d) holds every patch of
    the inputs (real images, ``simtransfer.config.digits``) and this is ``cnn_batch(W, xi)``.
    """
    if mu is None:
        return cnn_batch(W, xi, act)
    n, Pm1, d = xi.shape
    pre_noise = (xi.reshape(n * Pm1, d) @ W.reshape(-1, d).T).reshape(n, Pm1, 2, -1)
    pre_sig = y_signal[:, None, None, None] * (W @ mu)[None, None]  # (n, 1, 2, m)
    return output_from_preacts(jnp.concatenate([pre_sig, pre_noise], axis=1), act)


def sample_mean(v: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """(1/n) sum_i v_i over the samples, or over those with ``mask_i = 1`` (the real samples
    of a padded training set, ``config.data.Batch.mask``): sum_i mask_i v_i / sum_i mask_i,
    which is the plain mean, bit for bit, when no sample is masked."""
    return jnp.mean(v) if mask is None else jnp.sum(mask * v) / jnp.sum(mask)


def logistic_loss(W: jax.Array, xi: jax.Array, y_signal, y, mu, act: Activation, mask=None) -> jax.Array:
    """L(W) = (1/n) sum_i log(1 + exp(-y_i f(W, x_i))) (docs/design.md section 3), x_i given
    by its noise patches ``xi`` and signal patch ``y_signal_i mu`` (``mask``: see
    ``sample_mean``)."""
    return sample_mean(jnp.logaddexp(0.0, -y * cnn_structured(W, xi, y_signal, mu, act)), mask)


def binary_kl(logit_t: jax.Array, logit_s: jax.Array) -> jax.Array:
    """KL(sigma(logit_t) || sigma(logit_s)) between Bernoulli distributions, elementwise,
    computed from log-sigmoids (stable for large logits)."""
    p_t = jax.nn.sigmoid(logit_t)
    return p_t * (jax.nn.log_sigmoid(logit_t) - jax.nn.log_sigmoid(logit_s)) + (1 - p_t) * (
        jax.nn.log_sigmoid(-logit_t) - jax.nn.log_sigmoid(-logit_s)
    )


def distill_loss(W, xi, y_signal, y, mu, act, f_teacher, lam_i, tau, mask=None) -> jax.Array:
    """Per-sample mix of the label loss and distillation (Hinton et al.; Roth et al. 2024):

    ``(1/n) sum_i [(1 - lam_i) log(1 + exp(-y_i f_i)) + lam_i tau^2 KL(sigma(f_t,i/tau) || sigma(f_i/tau))]``

    with ``lam_i = lam`` on the samples that receive distillation and 0 elsewhere.
    ``lam_i = 0`` everywhere gives exactly the logistic loss."""
    f = cnn_structured(W, xi, y_signal, mu, act)
    label = jnp.logaddexp(0.0, -y * f)
    kl = binary_kl(f_teacher / tau, f / tau)
    return sample_mean((1 - lam_i) * label + lam_i * tau**2 * kl, mask)


def init_filters(key: jax.Array, m: int, d: int, sigma_0, dtype=jnp.float32) -> jax.Array:
    """w_{j,r} ~ N(0, sigma_0^2 I_d), shape (2, m, d)."""
    return sigma_0 * jax.random.normal(key, (2, m, d), dtype)
