"""Full-batch training of one stage (docs/design.md section 3) with an optax optimizer.

``train`` runs T = ``cfg.steps`` updates (or a traced T: ``clock``) and records metrics at
the steps ``cfg.log_steps`` (0, log_every, ..., T): training loss and accuracy, plus whatever
``metrics_fn(W)`` returns (the trial adds the exact conditional test error).  A
non-finite loss is never hidden: the step at which it first occurs is returned.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from ..config import Train
from ..config.data import Batch
from .model import Activation, cnn_structured, distill_loss, logistic_loss, sample_mean

__all__ = ["make_optimizer", "train", "gd_loop"]


def make_optimizer(name: str, eta) -> optax.GradientTransformation:
    """The optax optimizer ``name`` with learning rate eta (a traced scalar is fine).

    ``sgd`` is plain gradient descent W <- W - eta grad L(W), the theory's algorithm;
    ``momentum``/``nesterov`` are SGD with momentum 0.9; the others are optax aliases.
    """
    if name == "sgd":
        return optax.sgd(eta)
    if name == "momentum":
        return optax.sgd(eta, momentum=0.9)
    if name == "nesterov":
        return optax.sgd(eta, momentum=0.9, nesterov=True)
    return getattr(optax, name)(eta)


def _metrics(W, data: Batch, mu, act, metrics_fn) -> dict[str, jax.Array]:
    f = cnn_structured(W, data.xi, data.y_signal, mu, act)
    out = {
        "loss": sample_mean(jnp.logaddexp(0.0, -data.y * f), data.mask),
        "acc": sample_mean(data.y * f > 0, data.mask),
    }
    if metrics_fn is not None:
        out.update(metrics_fn(W))
    return out


def train(
    W0: jax.Array,
    data: Batch,
    mu: jax.Array | None,
    eta,
    *,
    cfg: Train,
    act: Activation,
    frozen: jax.Array | None = None,
    metrics_fn: Callable[[jax.Array], dict[str, jax.Array]] | None = None,
    distill: tuple[jax.Array, jax.Array, Any] | None = None,
    clock: tuple | None = None,
) -> tuple[jax.Array, dict[str, jax.Array], jax.Array]:
    """Minimise the logistic loss L(W) on the samples ``data`` of the task with signal
    ``mu``, from ``W0`` (2, m, d), by ``cfg.steps`` full-batch updates (every mean over the
    samples restricted to ``data.mask`` when given: a padded training set).  With ``mu = None``
    ``data.xi`` (n, P, d) holds the full inputs (real images: ``simtransfer.config.digits``).

    Args:
      frozen: optional (2, m) bool mask of filters that receive no update.
      metrics_fn: extra metrics of W recorded at every logged step.
      distill: optional ``(f_teacher (n,), lam_i (n,), tau)``: train on
        ``nn.model.distill_loss`` instead of the logistic loss (the logged ``loss`` stays the
        logistic label loss).
      clock: optional traced ``(T, log_every)`` (``gd_loop``); default ``cfg``'s.

    Returns:
      (W_T, curves, diverged_at): the final filters, a dict of arrays with leading axis
      ``len(cfg.log_steps)``, and the first step whose loss was not finite (-1 if none).
    """
    opt = make_optimizer(cfg.optimizer, eta)
    keep = None if frozen is None else (~frozen)[..., None].astype(W0.dtype)
    if distill is None:
        grad_fn = jax.value_and_grad(lambda W: logistic_loss(W, data.xi, data.y_signal, data.y, mu, act, data.mask))
    else:
        grad_fn = jax.value_and_grad(
            lambda W: distill_loss(W, data.xi, data.y_signal, data.y, mu, act, *distill, mask=data.mask)
        )
    return gd_loop(grad_fn, W0, opt, cfg, lambda W: _metrics(W, data, mu, act, metrics_fn), keep, clock)


def gd_loop(grad_fn: Callable, params0: jax.Array, opt, cfg: Train, metrics: Callable, keep: jax.Array | None = None,
            clock: tuple | None = None):
    """T updates ``params <- optax update of grad_fn(params)``, logging ``metrics(params)``
    at the steps ``0, log_every, 2 log_every, ..., T`` (docs/design.md section 3); shared
    by the dense filters (``train``) and the gram coefficients (``gram``).

    ``grad_fn(params) -> (loss, grad)``; ``keep`` (broadcastable to params) zeroes the
    gradient and the update of frozen rows.  ``clock = (T, log_every)``, traced integers,
    sets the step count and the logging period at run time (default: ``cfg.steps`` and
    ``cfg.log_every``): the program is one loop over a log buffer of the static length
    ``L = len(cfg.log_steps)``, whose j-th pass runs the steps up to ``min(j log_every, T)``
    (``lax.fori_loop`` with a traced trip count) and records ``metrics``: one ``lax.scan``, so the
    metrics are compiled once and a change of T or of log_every shares the compilation.
    Logged entries past the last logged step of (T, log_every) repeat the final step;
    ``protocol.outputs.trim_curves`` cuts them off.  Requires ``len(log_steps(T,
    log_every)) <= L``.

    Returns (params_T, curves, diverged_at): curves with leading axis L, and the first step
    whose loss was not finite, or T if only the final params are non-finite, else -1.
    """
    if clock is None:
        clock = (cfg.steps, cfg.log_every)
    T, every = (jnp.asarray(v, jnp.int32) for v in clock)
    n_log = len(cfg.log_steps)

    def step(t, carry):
        P, opt_state, bad_at = carry
        loss, g = grad_fn(P)
        if keep is not None:
            g = g * keep
        updates, opt_state = opt.update(g, opt_state, P)
        if keep is not None:
            updates = updates * keep  # also stops weight decay of frozen rows
        bad_at = jnp.where((bad_at < 0) & ~jnp.isfinite(loss), t, bad_at)
        return optax.apply_updates(P, updates), opt_state, bad_at

    def log_pass(carry, j):
        t0 = jnp.minimum(jnp.maximum(j - 1, 0) * every, T)
        carry = jax.lax.fori_loop(t0, jnp.minimum(j * every, T), step, carry)
        return carry, metrics(carry[0])

    carry: Any = (params0, opt.init(params0), jnp.asarray(-1, jnp.int32))
    carry, curves = jax.lax.scan(log_pass, carry, jnp.arange(n_log, dtype=jnp.int32))
    P, _, bad_at = carry
    # A non-finite final P (e.g. overflow without a non-finite loss) also counts.
    bad_at = jnp.where((bad_at < 0) & ~jnp.all(jnp.isfinite(P)), T, bad_at)
    return P, curves, bad_at
