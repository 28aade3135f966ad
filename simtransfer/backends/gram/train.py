"""Gradient descent on basis coefficients (docs/design.md sections 3 and 5): the dense
backend's GD, exactly, at O(m n^2) a step (see ``simtransfer.backends.gram``)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from theory.linalg import mm

from ...config import Train
from ...nn.model import Activation
from ...nn.train import gd_loop, make_optimizer

__all__ = ["train_gram"]


def train_gram(
    C0: jax.Array,
    G: jax.Array,
    y_signal: jax.Array,
    y: jax.Array,
    mu_frame: jax.Array,
    eta,
    *,
    noise: slice,
    cfg: Train,
    act: Activation,
    frozen: jax.Array | None = None,
    metrics_fn: Callable[[jax.Array], dict[str, jax.Array]] | None = None,
    clock: tuple | None = None,
) -> tuple[jax.Array, dict[str, jax.Array], jax.Array]:
    """``simtransfer.train.train`` on basis coefficients: the same GD, the same outputs.

    Args:
      C0: (2, m, K) initial coefficients; G: (K, K) Gram of the basis.
      y_signal, y: (n,) clean and observed labels; the training noise patches are the
        basis vectors ``noise`` (static slice of length n (P-1), ordered (i, p)).
      mu_frame: (3,) coordinates of the task signal mu on (e_u, e_S, e_T).
      frozen: optional (2, m) bool mask of filters that receive no update.
      clock: optional traced ``(T, log_every)`` (``nn.train.gd_loop``).

    Returns:
      (C_T, curves, diverged_at) as ``train`` returns (W_T, curves, diverged_at).
    """
    _, m, K = C0.shape  # (2, m, K)
    n = y.shape[0]
    N = noise.stop - noise.start
    opt = make_optimizer(cfg.optimizer, eta)
    keep = None if frozen is None else (~frozen)[..., None].astype(C0.dtype)
    # Columns: <b_k, mu> then <b_k, xi_{i,p}> (i-major); pre-activations are C @ A.  (K, 1 + N)
    A = jnp.concatenate([mm(G[:, :3], mu_frame)[:, None], G[:, noise]], axis=1)
    # GD only ever adds multiples of the stage's own patches (mu and the xi_{i,p}) to the
    # filters: the state is their coefficients D (2, m, 1 + N), C = C0 + D on those
    # vectors, and the pre-activations are C0 A + D G_tr with G_tr the (1 + N)-square Gram
    # of the patches.  The step then costs O(m n^2), not O(m n K): the K - N - 1 other
    # basis vectors (init filters, the other stage's noise) only enter through C0 A.
    G_tr = jnp.concatenate([mm(mu_frame, A[:3])[None], A[noise]], axis=0)  # (1 + N, 1 + N)
    Q0 = mm(C0.reshape(2 * m, K), A).reshape(2, m, 1 + N)

    def coef(D):
        """C = C0 + D in the basis: mu = sum_f mu_frame[f] e_f, xi_{i,p} = b_{noise}."""
        z = lambda w: jnp.zeros((2, m, w), C0.dtype)  # noqa: E731
        on_frame = D[:, :, :1] * mu_frame[None, None, :]  # (2, m, 3)
        return C0 + jnp.concatenate([on_frame, z(noise.start - 3), D[:, :, 1:], z(K - noise.stop)], axis=-1)

    def preacts(D):
        """(2, m, 1 + N): <w_{j,r}, mu> and <w_{j,r}, xi_{i,p}>, in the layout of D (no
        transposes or concatenations in the step: under vmap on XLA:CPU they cost more
        than the product itself)."""
        return Q0 + mm(D.reshape(2 * m, 1 + N), G_tr).reshape(2, m, 1 + N)

    def outputs(Q):
        """f(W, x_i) (n,) from the pre-activations (docs/design.md section 2): the signal patch
        contributes act(y_i <w, mu>), each noise patch act(<w, xi_{i,p}>)."""
        h_sig = act(y_signal[:, None, None] * Q[None, :, :, 0]).sum(2)  # (n, 2): sum over r
        h_noise = act(Q[:, :, 1:].reshape(2, m, n, N // n)).sum((1, 3))  # (2, n): over r, p
        return (h_sig[:, 0] - h_sig[:, 1] + h_noise[0] - h_noise[1]) / m

    def loss_of(Q):
        f = outputs(Q)
        return jnp.mean(jnp.logaddexp(0.0, -y * f)), f

    grad_Q = jax.value_and_grad(loss_of, has_aux=True)

    def grad_coef(D):
        # grad_W L = dL/d<w,mu> mu + sum_{i,p} dL/d<w,xi_{i,p}> xi_{i,p}: its coefficients
        # on (mu, xi_{i,p}) are dL/dQ itself.
        (loss, _), gQ = grad_Q(preacts(D))
        return loss, gQ

    def metrics(D):
        _, f = loss_of(preacts(D))
        out = {"loss": jnp.mean(jnp.logaddexp(0.0, -y * f)), "acc": jnp.mean(y * f > 0)}
        if metrics_fn is not None:
            out.update(metrics_fn(coef(D)))
        return out

    D_T, curves, bad_at = gd_loop(grad_coef, jnp.zeros((2, m, 1 + N), C0.dtype), opt, cfg, metrics, keep, clock)
    return coef(D_T), curves, bad_at
