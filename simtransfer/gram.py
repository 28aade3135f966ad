"""The exact, dimension-free ``gram`` backend (DESIGN.md section 5; issue 5).

Gradient descent only ever adds multiples of training patches to a filter, so every
filter of a trial lies in the span of a fixed, finite basis.  In the order used here

    b = [e_u, e_S, e_T | upstream init filters (2 m_up) | source noise patches (n_S (P-1))
         | fresh downstream init filters (2 m) | target noise patches (n_T (P-1))],

K = 3 + 2 m_up + n_S (P-1) + 2 m + n_T (P-1) vectors, and every filter is
``w_{j,r} = sum_k C[j, r, k] b_k`` (the init filter is one of the b_k, so C carries
``w^(0)`` too).  In DESIGN.md section 5's convention the coefficients *are* the theory's
signal/noise coordinates: ``gamma_{j,r,z} = ||z|| * (C[j,r,z] - C^(0)[j,r,z])`` for
z in {u, v_S, v_T} and ``rho_{j,r,i} = ||xi_i||^2 (C[j,r,i] - C^(0)[j,r,i])``.

Everything the trial needs is an inner product of basis vectors, i.e. the Gram matrix
``G = B B^T`` (K, K), which is sampled directly in its exact joint distribution:

* frame directions are orthonormal; the noise patches ``xi ~ N(0, sigma_p^2 (I - Pi))``
  have no frame component; an init filter ``w^(0) ~ N(0, sigma_0^2 I_d)`` has three
  explicit N(0, sigma_0^2) frame components (it is *not* orthogonal to the signals);
* the (d-3)-dimensional complement parts of the K - 3 Gaussian vectors are
  ``D Z`` with ``Z`` (K-3, d-3) standard normal and ``D`` the scales (sigma_0 or sigma_p);
  their Gram ``D Z Z^T D`` is ``D L L^T D`` with ``L`` the Bartlett factor of
  ``Wishart_{K-3}(d-3, I)``: lower triangular, ``L_ii = sqrt(chi^2_{d-3-i})``
  (0-indexed), ``L_ij ~ N(0, 1)`` below the diagonal (and, when d-3 < K-3, only in the
  first d-3 columns: the singular Wishart).  This is equality in distribution, and
  the cost is O(K^3), independent of d.

Training (full-batch GD on the logistic loss, DESIGN.md section 3) works on C: the
pre-activations ``<w_{j,r}, x_i^(p)>`` are ``C G[:, patch]``, and the gradient
``grad_W L = sum_{i,p} dL/dpre_{i,p} xi_{i,p} + (sum_i y_i dL/dpre_i) mu`` has the basis
coefficients ``dL/dpre`` on the noise patches and ``mu``'s frame coordinates, so the
update ``C <- C - eta g`` maps to exactly the dense ``W <- W - eta grad_W L``; per step
O(m n K) flops.  The same holds for any optimizer *linear* in the gradient history
(``sgd``, ``momentum``, ``nesterov``); coordinate-wise ones (adam, ...) would act on
other coordinates than the dense backend, so they are refused at ``make_trial_gram``.

Evaluation is exact as well: ``<w, mu> = C G[:, :3] mu_frame`` and the noise covariance
``sigma_p^2 W (I - Pi) W^T = sigma_p^2 C G_perp C^T`` with ``G_perp = L_p L_p^T`` the Gram
of the complement parts (THEORY.md section 2).  A fresh test noise patch enters only
through ``h_k = <b_k, xi>``, jointly ``N(0, sigma_p^2 G_perp)`` given the basis, so
``h = sigma_p L_p eps`` with ``eps`` standard normal is the test patch *exactly in
distribution* (jointly with everything else of the seed): the empirical test error is
an exact sample of the dense backend's, without a d-dimensional vector.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from theory.exact import exact_error, exact_errors

from .coefficients import coef_summaries
from .config import ConfigError, Experiment, Train
from .estimators import features_from_preacts, transfer_scores
from .evaluate import curve_errors, projected_error_counts, sign_and_uniform
from .model import Activation, activation
from .train import gd_loop, make_optimizer
from .trial import assemble_outputs, inheritance

__all__ = [
    "LINEAR_OPTIMIZERS",
    "GramBasis",
    "basis_layout",
    "normal",
    "chi2",
    "wishart_factor",
    "sample_gram",
    "sample_basis",
    "train_gram",
    "exact_error_gram",
    "empirical_error_gram",
    "make_trial_gram",
    "make_trial_state_gram",
    "features_gram",
]

#: Optimizers whose update is linear in the gradient history: exact on coefficients.
LINEAR_OPTIMIZERS = ("sgd", "momentum", "nesterov")


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """Matrix product at full float32 precision: Gram entries span sigma_p^2 d (1e7 at
    d = 1e7) down to O(sqrt(d)) off-diagonal, which TF32/bf16 passes (the GPU default
    for f32) would drown.  On CPU it is the ordinary product."""
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


class GramBasis(NamedTuple):
    """One seed's basis, as inner products, and the labels of its training sets.

    ``G = F F^T + L_p L_p^T``: ``F`` are the frame coordinates and ``L_p`` a factor of the
    complement Gram ``G_perp[k, l] = <(I - Pi) b_k, (I - Pi) b_l>`` (any factor works;
    the sampler gives a lower-triangular one, a test may pass the explicit vectors).
    """

    G: jax.Array  # (K, K) Gram matrix of the basis
    Lp: jax.Array  # (K, R) with Lp Lp^T = G_perp
    y_signal_S: jax.Array  # (n_S,) clean source labels: the signal patch is y mu_S
    y_S: jax.Array  # (n_S,) observed source labels (flipped with probability p)
    y_signal_T: jax.Array  # (n_T,)
    y_T: jax.Array  # (n_T,)


def basis_layout(exp: Experiment) -> dict[str, slice]:
    """Static position of each block of the common basis (see the module docstring).

    The upstream model lives on the prefix ``upstream`` (frame, upstream init, source
    noise), so the upstream stage trains on ``G[:K_up, :K_up]``.
    """
    P, m, m_up = exp.task.P, exp.model.m, exp.model.m_upstream
    sizes = (
        ("frame", 3),
        ("up_init", 2 * m_up),
        ("source_noise", exp.n_source * (P - 1)),
        ("fresh_init", 2 * m),
        ("target_noise", exp.n_target * (P - 1)),
    )
    out: dict[str, slice] = {}
    lo = 0
    for name, size in sizes:
        out[name] = slice(lo, lo + size)
        lo += size
    out["upstream"] = slice(0, out["source_noise"].stop)
    out["all"] = slice(0, lo)
    return out


#: Size of the blocks ``normal`` draws (see there).
_BLOCK = 4096


def normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Standard normals of any ``shape``, drawn in blocks of ``_BLOCK``: one block from
    ``key`` when it suffices, else block i from ``fold_in(key, i)`` under ``lax.map``.

    Why: XLA:CPU compiles a separate threefry kernel for every distinct random shape, ~1.3 s
    each in a vmapped trial (measured: six shapes 8.5 s, the same six drawn in blocks 2.5 s).
    Every draw of the gram trial goes through here, so its program holds one such kernel.
    """
    n = math.prod(shape)
    n_blocks = -(-n // _BLOCK)
    if n_blocks == 1:
        z = jax.random.normal(key, (_BLOCK,))
    else:
        z = jax.lax.map(lambda i: jax.random.normal(jax.random.fold_in(key, i), (_BLOCK,)), jnp.arange(n_blocks))
    return z.reshape(-1)[:n].reshape(shape)


def chi2(key: jax.Array, df: jax.Array) -> jax.Array:
    """Chi-square draws with ``df`` (any shape, every entry >= 1) degrees of freedom.

    ``df = 1``: ``x^2`` for a standard normal x.  Otherwise ``2 Gamma(df / 2)`` by
    Marsaglia and Tsang's rejection method (ACM TOMS 26, 2000; shape ``df/2 >= 1``, no
    boosting needed), as ``jax.random.gamma`` does it, with three changes:

    * the log acceptance ratio is written ``0.5 x^2 + delta (3 (log1p(t) - t) - 3 t^2 - t^3)``
      with ``t = x / (3 sqrt(delta))``: jax's form ``delta (1 - v + log v)`` cancels
      catastrophically in float32 once ``delta = df/2 - 1/3`` is ~1e6 (here df = d - 3 - i,
      up to 1e7); this form keeps ~1e-4 absolute accuracy;
    * one vectorised rejection loop for the whole array, each round one ``normal`` draw
      (the proposal x, and the uniform as ``Phi(z)``, compared in log space): no new
      random kernel, where ``jax.random.gamma`` alone cost ~6 s of XLA:CPU compilation
      inside a trial.
    """

    def body(state):
        it, out, done = state
        z = normal(jax.random.fold_in(key, it), (2,) + df.shape)
        x = z[0]
        log_u = jax.scipy.special.log_ndtr(z[1])
        delta = 0.5 * df - 1.0 / 3.0
        t = x / (3.0 * jnp.sqrt(delta))
        tt = jnp.where(t > -1.0, t, 0.0)  # keep log1p finite; t <= -1 is rejected anyway
        log_ratio = 0.5 * x**2 + delta * (3.0 * (jnp.log1p(tt) - tt) - 3.0 * tt**2 - tt**3)
        mt_ok = (t > -1.0) & (log_u < log_ratio)
        one = df < 1.5  # chi^2_1 = x^2, accepted at once
        ok = (one | mt_ok) & ~done
        return it + 1, jnp.where(ok, jnp.where(one, x**2, 2.0 * delta * (1.0 + tt) ** 3), out), done | ok

    init = (jnp.asarray(0, jnp.int32), jnp.zeros(df.shape), jnp.zeros(df.shape, bool))
    return jax.lax.while_loop(lambda st: ~jnp.all(st[2]), body, init)[1]


def wishart_factor(k_normal: jax.Array, k_chi: jax.Array, p: int, n) -> jax.Array:
    """Bartlett factor: lower-triangular ``L`` (p, p) with ``L L^T ~ Wishart_p(n, I)``.

    ``L L^T`` has the law of ``Z Z^T`` for ``Z`` (p, n) with iid N(0, 1) entries:
    ``L_ii^2 ~ chi^2_{n-i}`` (i = 0..p-1; zero once n - i <= 0), ``L_ij ~ N(0, 1)`` for
    j < min(i, n), zero elsewhere (for n < p the Wishart is singular, of rank n).
    No n-sized array: ``n`` (an int, or a traced integer scalar) only enters as degrees
    of freedom.  ``k_normal`` draws the below-diagonal part, ``k_chi`` the diagonal.
    """
    i = jnp.arange(p)
    df = (n - i).astype(jnp.float32)  # (p,) degrees of freedom
    diag = jnp.where(df > 0, jnp.sqrt(chi2(k_chi, jnp.maximum(df, 1.0))), 0.0)
    below = (i[None, :] < i[:, None]) & (i[None, :] < n)  # (p, p): j < i and j < n
    return jnp.where(below, normal(k_normal, (p, p)), 0.0) + jnp.diag(diag)


def sample_gram(
    k_normal: jax.Array, k_chi: jax.Array, d, scale: jax.Array, frame_coords: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Exact Gram of ``[e_u, e_S, e_T, g_1, ..., g_N]`` for Gaussian vectors ``g_k`` in R^d.

    Args:
      k_normal, k_chi: keys of the Bartlett factor (``wishart_factor``).
      d: ambient dimension, an int or a traced integer (only enters as chi-square
        degrees of freedom: nothing of size d is formed).
      scale: (N,) ``g_k``'s complement part is ``N(0, scale_k^2 (I - Pi))``.
      frame_coords: (N, 3) ``g_k``'s coordinates on (e_u, e_S, e_T) (zeros for noise).

    Returns:
      (G (K, K), Lp (K, K)) with K = N + 3, ``G = F F^T + Lp Lp^T`` and ``Lp`` lower
      triangular (first three rows zero): ``Lp Lp^T`` is the complement Gram G_perp.
    """
    N = scale.shape[0]
    L = wishart_factor(k_normal, k_chi, N, d - 3)  # (N, N): law of the complement parts' Gram
    Lp = jnp.pad(scale[:, None] * L, ((3, 0), (3, 0)))  # (K, K)
    F = jnp.concatenate([jnp.eye(3), frame_coords])  # (K, 3)
    return _mm(F, F.T) + _mm(Lp, Lp.T), Lp


def sample_basis(
    exp: Experiment, *, k_normal: jax.Array, k_chi: jax.Array, k_init: jax.Array, k_labels: jax.Array,
    sigma_0, sigma_p, label_flip,
) -> GramBasis:  # fmt: skip
    """One seed's basis Gram (DESIGN.md sections 1, 2 and 5) and training labels.

    Keys: ``k_normal`` / ``k_chi`` the Bartlett factor; ``k_init`` the frame coordinates
    (N(0, sigma_0^2) each) of the upstream and fresh downstream init filters;
    ``k_labels`` the labels of both training sets (y uniform on {-1, +1}, the observed
    label flipped with probability ``label_flip``, DESIGN.md section 1).
    """
    lay = basis_layout(exp)
    size = {name: sl.stop - sl.start for name, sl in lay.items()}
    n_up, n_src, n_dn, n_tgt = (size[b] for b in ("up_init", "source_noise", "fresh_init", "target_noise"))
    full = lambda n, v: jnp.full((n,), v, jnp.float32)  # noqa: E731
    scale = jnp.concatenate([full(n_up, sigma_0), full(n_src, sigma_p), full(n_dn, sigma_0), full(n_tgt, sigma_p)])
    init_coords = sigma_0 * normal(k_init, (n_up + n_dn, 3))
    zeros = lambda n: jnp.zeros((n, 3))  # noqa: E731
    frame_coords = jnp.concatenate([init_coords[:n_up], zeros(n_src), init_coords[n_up:], zeros(n_tgt)])
    G, Lp = sample_gram(k_normal, k_chi, exp.task.d, scale, frame_coords)
    n_S = exp.n_source
    y_signal, u = sign_and_uniform(normal(k_labels, (2, n_S + exp.n_target)))
    y = jnp.where(u[1] < label_flip, -y_signal[0], y_signal[0])
    return GramBasis(G, Lp, y_signal[0, :n_S], y[:n_S], y_signal[0, n_S:], y[n_S:])


def _one_hot_init(lo: int, m: int, K: int) -> jax.Array:
    """(2, m, K) coefficients of the init filters b_{lo + j m + r} themselves."""
    return jnp.eye(2 * m, K, k=lo).reshape(2, m, K)


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
) -> tuple[jax.Array, dict[str, jax.Array], jax.Array]:
    """``simtransfer.train.train`` on basis coefficients: the same GD, the same outputs.

    Args:
      C0: (2, m, K) initial coefficients; G: (K, K) Gram of the basis.
      y_signal, y: (n,) clean and observed labels; the training noise patches are the
        basis vectors ``noise`` (static slice of length n (P-1), ordered (i, p)).
      mu_frame: (3,) coordinates of the task signal mu on (e_u, e_S, e_T).
      frozen: optional (2, m) bool mask of filters that receive no update.

    Returns:
      (C_T, curves, diverged_at) as ``train`` returns (W_T, curves, diverged_at).
    """
    _, m, K = C0.shape  # (2, m, K)
    n = y.shape[0]
    N = noise.stop - noise.start
    opt = make_optimizer(cfg.optimizer, eta)
    keep = None if frozen is None else (~frozen)[..., None].astype(C0.dtype)
    # Columns: <b_k, mu> then <b_k, xi_{i,p}> (i-major); pre-activations are C @ A.  (K, 1 + N)
    A = jnp.concatenate([_mm(G[:, :3], mu_frame)[:, None], G[:, noise]], axis=1)
    # GD only ever adds multiples of the stage's own patches (mu and the xi_{i,p}) to the
    # filters: the state is their coefficients D (2, m, 1 + N), C = C0 + D on those
    # vectors, and the pre-activations are C0 A + D G_tr with G_tr the (1 + N)-square Gram
    # of the patches.  The step then costs O(m n^2), not O(m n K): the K - N - 1 other
    # basis vectors (init filters, the other stage's noise) only enter through C0 A.
    G_tr = jnp.concatenate([_mm(mu_frame, A[:3])[None], A[noise]], axis=0)  # (1 + N, 1 + N)
    Q0 = _mm(C0.reshape(2 * m, K), A).reshape(2, m, 1 + N)

    def coef(D):
        """C = C0 + D in the basis: mu = sum_f mu_frame[f] e_f, xi_{i,p} = b_{noise}."""
        z = lambda w: jnp.zeros((2, m, w), C0.dtype)  # noqa: E731
        on_frame = D[:, :, :1] * mu_frame[None, None, :]  # (2, m, 3)
        return C0 + jnp.concatenate([on_frame, z(noise.start - 3), D[:, :, 1:], z(K - noise.stop)], axis=-1)

    def preacts(D):
        """(2, m, 1 + N): <w_{j,r}, mu> and <w_{j,r}, xi_{i,p}>, in the layout of D (no
        transposes or concatenations in the step: under vmap on XLA:CPU they cost more
        than the product itself)."""
        return Q0 + _mm(D.reshape(2 * m, 1 + N), G_tr).reshape(2, m, 1 + N)

    def outputs(Q):
        """f(W, x_i) (n,) from the pre-activations (DESIGN.md section 2): the signal patch
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

    D_T, curves, bad_at = gd_loop(grad_coef, jnp.zeros((2, m, 1 + N), C0.dtype), opt, cfg, metrics, keep)
    return coef(D_T), curves, bad_at


def _noise_cov(C: jax.Array, Lp: jax.Array, sigma_p) -> jax.Array:
    """(2m, 2m) ``sigma_p^2 W (I - Pi) W^T = sigma_p^2 (C L_p)(C L_p)^T``."""
    M = _mm(C.reshape(-1, C.shape[-1]), Lp)  # (2m, R)
    return sigma_p**2 * _mm(M, M.T)


def exact_error_gram(C, Gmu, Lp, sigma_p, draws, act, label_flip=0.0):
    """Exact conditional test error (THEORY.md section 2) of coefficients ``C`` (2, m, K)
    on the task whose signal has basis inner products ``Gmu = G[:, :3] mu_frame`` (K,)."""
    return exact_error(_mm(C, Gmu), _noise_cov(C, Lp, sigma_p), draws, act, label_flip)


def empirical_error_gram(key, Cs, Gmu, Lp, n_test: int, chunk: int, P: int, sigma_p, label_flip, act) -> jax.Array:
    """Error of each model of ``Cs`` (k, 2, m, K) on one shared fresh test set of ``n_test``
    target points (``Gmu`` (K,) = <b_k, mu>), as ``evaluate.empirical_error_dense``: a
    test point's noise patch xi enters only via ``(<b_k, xi>)_k``, jointly
    ``N(0, sigma_p^2 G_perp)`` = ``sigma_p L_p eps``, so model k sees
    ``sigma_p (C_k L_p) eps`` (``evaluate.projected_error_counts``), exact in
    distribution given the basis.  Returns (k,) counts / n_test; NaN if n_test = 0."""
    return _error_counts(key, Cs, Gmu, Lp, n_test, chunk, P, sigma_p, label_flip, act) / max(n_test, 1)


def _error_counts(key, Cs, Gmu, Lp, n_test: int, chunk: int, P: int, sigma_p, label_flip, act) -> jax.Array:
    k, _, m, K = Cs.shape
    M = jax.vmap(lambda C: _mm(C.reshape(2 * m, K), Lp))(Cs)  # (k, 2m, K): <w, xi> = sigma_p M eps
    return projected_error_counts(key, _mm(Cs, Gmu), M, n_test, chunk, P, sigma_p, label_flip, act, normal=normal)


def _check(exp: Experiment) -> None:
    for stage in ("upstream", "downstream"):
        opt = getattr(exp, stage).optimizer
        if opt not in LINEAR_OPTIMIZERS:
            raise ConfigError(
                f"{stage}.optimizer: {opt!r} is not available with backend = 'gram': the gram backend "
                f"updates basis coefficients, which equals the dense update only for optimizers linear in "
                f"the gradient ({', '.join(LINEAR_OPTIMIZERS)}); use one of them or backend = 'dense'"
            )


def _stage_coords(dC, G, scale_z, noise: slice) -> tuple[jax.Array, jax.Array]:
    """DESIGN.md section 5 coordinates of a stage's update ``dC = C - C0`` (2, m, K):
    ``gamma`` (2, m, 3) along (u, v_S, v_T) and ``rho`` (2, m, N) over the noise patches
    ``noise``.  With ``w - w0 = sum_z gamma_z z/||z||^2 + sum_i rho_i xi_i/||xi_i||^2``:
    a unit frame direction's coefficient is gamma/||z||, a raw patch's rho/||xi||^2.
    ``scale_z`` (3,) is ||z||, 1 for a zero-norm signal (then gamma is the coefficient
    along its unit direction, as in ``coefficients.stage_projector``)."""
    diag = jnp.diagonal(G)  # ||b_k||^2
    return dC[..., :3] * scale_z[None, None, :], dC[..., noise] * diag[noise][None, None, :]


def _coef_curves(dC, G, scale_z, noise: slice, y: jax.Array) -> dict[str, jax.Array]:
    """The COEF_CURVES summaries of ``coefficients.stage_projector``, read off the
    coefficients instead of solved for: ``gamma_z = mean_r (gamma_{+1,r,z} -
    gamma_{-1,r,z}) / 2``; ``rho_same`` / ``rho_other``: rho_{j,r,i} summed over the
    patches with y_i = j / y_i != j, divided by (patches x m) as there."""
    gamma, rho = _stage_coords(dC, G, scale_z, noise)
    return coef_summaries(gamma, rho, jnp.repeat(y, rho.shape[2] // y.shape[0]))


def features_gram(C: jax.Array, G_noise: jax.Array, Gmu: jax.Array, y_signal: jax.Array, act: Activation) -> jax.Array:
    """``estimators.features`` in the basis: phi (n, 2m) of the filters with coefficients ``C``
    (2, m, K') on n inputs whose noise patches have the basis inner products ``G_noise``
    (K', n (P-1), ordered (i, p)) and whose signal patch is ``y_signal mu``, ``Gmu`` (K',) =
    <b_k, mu>: the pre-activations are ``C G_noise`` and ``y_i C Gmu``, exactly the dense ones."""
    _, m, K = C.shape
    n = y_signal.shape[0]
    pre_noise = _mm(C.reshape(2 * m, K), G_noise).reshape(2, m, n, -1).transpose(2, 3, 0, 1)  # (n, P-1, 2, m)
    pre_sig = y_signal[:, None, None, None] * _mm(C, Gmu)[None, None]  # (n, 1, 2, m)
    return features_from_preacts(jnp.concatenate([pre_sig, pre_noise], axis=1), act)


def run_from_basis(exp: Experiment, keys: dict[str, jax.Array], th: dict[str, jax.Array], basis: GramBasis):
    """The trial (DESIGN.md section 4) on a given basis: the part of the gram trial after
    sampling.  ``keys`` holds ``pol`` (the inheritance policy's key), ``src_test`` and
    ``tgt_test`` (the empirical test sets) and ``mc`` (the exact errors' Monte-Carlo
    draws), each in the role of the dense trial's key of that name.  Returns
    (outputs, state).

    Separate so that tests can run it on the Gram of explicit vectors and compare it with
    the dense trial's functions on those vectors.
    """
    task, model, ev, tr = exp.task, exp.model, exp.eval, exp.transfer
    P, m, m_up = task.P, model.m, model.m_upstream
    lay = basis_layout(exp)
    K, K_up = lay["all"].stop, lay["upstream"].stop
    G, Lp = basis.G, basis.Lp
    sigma_p, p = th["task.sigma_p"], th["task.label_flip"]
    act = activation(model.activation, th["model.leak"], th["model.q"])
    a, b_S, b_T, s = th["task.a"], th["task.b_S"], th["task.b_T"], th["task.s"]
    zero = jnp.zeros_like(a)
    mu_S, mu_T = jnp.stack([a, b_S, zero]), jnp.stack([s * a, zero, b_T])  # frame coordinates
    Gmu_S, Gmu_T = _mm(G[:, :3], mu_S), _mm(G[:, :3], mu_T)  # (K,): <b_k, mu>

    # Common random numbers, as in the dense trial: one set of standard normal draws serves
    # every exact error of the seed (curves its first curve_draws rows, the upstream its
    # first 2 m_up columns); drawn by the blocked ``normal``, so not the dense trial's values.
    mc = normal(keys["mc"], (max(ev.mc_draws, ev.curve_draws), P - 1, 2 * max(m, m_up)))
    final_up, final_dn = mc[: ev.mc_draws, :, : 2 * m_up], mc[: ev.mc_draws, :, : 2 * m]
    curve_up, curve_dn = mc[: ev.curve_draws, :, : 2 * m_up], mc[: ev.curve_draws, :, : 2 * m]

    norms_z = jnp.stack([a, b_S, b_T])  # ||u||, ||v_S||, ||v_T||
    scale_z = jnp.where(norms_z == 0, 1.0, norms_z)

    def metrics(Gmu, Lp_, C0, noise, y):
        """Logged per step: what the exact test error needs (``evaluate.curve_errors``
        computes it after training, for all logged steps at once), and gamma/rho of the
        stage's update C - C0."""
        return lambda C: {
            "_sig": _mm(C, Gmu), "_cov": _noise_cov(C, Lp_, sigma_p),
            **_coef_curves(C - C0, G, scale_z, noise, y),
        }  # fmt: skip

    # 1. upstream, on the prefix basis (frame, upstream init, source noise)
    G_up, Lp_up, Gmu_S_up = G[:K_up, :K_up], Lp[:K_up], Gmu_S[:K_up]
    C_up0 = _one_hot_init(lay["up_init"].start, m_up, K_up)
    C_up, c_up, bad_up = train_gram(
        C_up0, G_up, basis.y_signal_S, basis.y_S, mu_S, th["upstream.eta"], noise=lay["source_noise"],
        cfg=exp.upstream, act=act,
        metrics_fn=metrics(Gmu_S_up, Lp_up, C_up0, lay["source_noise"], basis.y_S),
    )  # fmt: skip
    c_up = curve_errors(c_up, curve_up, act, p)
    # 2. inheritance (the dense function: <w, e_u> = C G[:, 0]); scratch starts from the fresh filters
    pad = lambda C: jnp.pad(C, ((0, 0), (0, 0), (0, K - K_up)))  # noqa: E731
    C_fresh = _one_hot_init(lay["fresh_init"].start, m, K)
    C_tr0, mask, src_idx, frozen = inheritance(
        keys["pol"], pad(C_up), C_fresh, G[:, 0], th["transfer.alpha"], th["transfer.rescale"],
        tr.policy, tr.freeze_inherited,
    )  # fmt: skip
    # 3-4. transfer and scratch under one lax.map, as in the dense trial (alpha = 0: bit-for-bit equal)
    C0s = jnp.stack([C_tr0, C_fresh])
    frozen_s = jnp.stack([frozen, jnp.zeros_like(frozen)])
    down = lambda C0, fz: train_gram(  # noqa: E731
        C0, G, basis.y_signal_T, basis.y_T, mu_T, th["downstream.eta"], noise=lay["target_noise"],
        cfg=exp.downstream, act=act, frozen=fz,
        metrics_fn=metrics(Gmu_T, Lp, C0, lay["target_noise"], basis.y_T),
    )  # fmt: skip
    Cs, c_dn, bad_dn = jax.lax.map(lambda args: down(*args), (C0s, frozen_s))
    c_dn = jax.vmap(lambda c: curve_errors(c, curve_dn, act, p))(c_dn)

    # 5. evaluation
    ex_up = exact_error_gram(C_up, Gmu_S_up, Lp_up, sigma_p, final_up, act, p)
    tgt_models = jnp.stack([C_tr0, Cs[0], Cs[1]])  # zero-shot, transfer, scratch
    ex_dn = exact_errors(_mm(tgt_models, Gmu_T), jax.vmap(lambda C: _noise_cov(C, Lp, sigma_p))(tgt_models), final_dn, act, p)
    emp_kw = dict(Lp=Lp, chunk=ev.test_chunk, P=P, sigma_p=sigma_p, label_flip=p, act=act)
    emp_up = empirical_error_gram(keys["src_test"], pad(C_up)[None], Gmu_S, n_test=ev.n_test_source, **emp_kw)[0]
    emp_count = _error_counts(keys["tgt_test"], tgt_models, Gmu_T, n_test=ev.n_test, **emp_kw)
    emp_dn = emp_count / max(ev.n_test, 1)

    # transferability scores from the upstream model's features on both training sets (as dense)
    phi = {
        "target": features_gram(C_up, G[:K_up, lay["target_noise"]], Gmu_T[:K_up], basis.y_signal_T, act),
        "source": features_gram(C_up, G[:K_up, lay["source_noise"]], Gmu_S_up, basis.y_signal_S, act),
    }
    scores = transfer_scores(phi["target"], basis.y_T, phi["source"], basis.y_S)

    out = assemble_outputs(ex_up, emp_up, c_up, bad_up, mask, ex_dn, emp_dn, c_dn, bad_dn, scores)
    # From the counts: XLA:CPU contracts ``c_s / n - c_t / n`` into an FMA whose rounding
    # leaves ~1e-9 at alpha = 0 although the two errors are bit-for-bit equal.
    out["emp_gain"] = (emp_count[2] - emp_count[1]) / max(ev.n_test, 1)

    coords = lambda C, C0, noise: dict(zip(("gamma", "rho"), _stage_coords(C - C0, G, scale_z, noise)))  # noqa: E731
    state = {
        "basis": basis,
        "C_up0": pad(C_up0), "C_up": pad(C_up), "C_fresh": C_fresh, "C_transfer0": C_tr0,
        "C_transfer": Cs[0], "C_scratch": Cs[1], "inherited": mask, "source_index": src_idx,
        "frozen": frozen, "diverged_at": {"upstream": bad_up, "transfer": bad_dn[0], "scratch": bad_dn[1]},
        "features": phi,
        "coords": {
            "upstream": coords(C_up, C_up0, lay["source_noise"]),
            "transfer": coords(Cs[0], C_tr0, lay["target_noise"]),
            "scratch": coords(Cs[1], C_fresh, lay["target_noise"]),
        },
    }  # fmt: skip
    return out, state


def _core_gram(exp: Experiment, key_data: jax.Array, theta: dict[str, Any]) -> tuple[dict, dict]:
    key = jax.random.wrap_key_data(key_data)
    # The dense trial's nine keys, in its order; the policy, test-set and Monte-Carlo keys
    # serve as there, the others drive the basis (k_tgt is unused: one draw gives both
    # label sets).
    (k_frame, k_src, k_tgt, k_up, k_down, k_pol, k_src_test, k_tgt_test, k_mc) = jax.random.split(key, 9)
    th = {k: jnp.asarray(v, jnp.float32) for k, v in theta.items()}
    basis = sample_basis(
        exp, k_normal=k_frame, k_chi=k_up, k_init=k_down, k_labels=k_src,
        sigma_0=th["model.sigma_0"], sigma_p=th["task.sigma_p"], label_flip=th["task.label_flip"],
    )  # fmt: skip
    keys = {"pol": k_pol, "src_test": k_src_test, "tgt_test": k_tgt_test, "mc": k_mc}
    return run_from_basis(exp, keys, th, basis)


def make_trial_gram(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, jax.Array]]:
    """Pure ``trial(key_data, theta) -> outputs`` of the gram backend: the keys, shapes and
    meaning of ``simtransfer.trial.make_trial``'s (SCALARS and CURVES), at a cost
    independent of ``task.d``.  Raises ``ConfigError`` for a non-linear optimizer."""
    _check(exp)
    return lambda key_data, theta: _core_gram(exp, key_data, theta)[0]


def make_trial_state_gram(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, Any]]:
    """Pure ``trial(key_data, theta) -> state``: the basis (Gram, complement factor, labels;
    its blocks are ``basis_layout(exp)``), the coefficients of every model (``C_*``,
    (2, m, K)), the inheritance masks, and each stage's DESIGN.md section 5 coordinates of
    its update ``coords[stage]``: ``gamma`` (2, m, 3) along (u, v_S, v_T) and ``rho``
    (2, m, n (P-1)) over the stage's own training noise patches."""
    _check(exp)
    return lambda key_data, theta: _core_gram(exp, key_data, theta)[1]
