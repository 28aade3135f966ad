r"""Transferability estimators (issue 6): scores of the inherited model, before fine-tuning.

Practitioners rank pre-trained models by a score computed from the model's *features* on
the target training set, without fine-tuning.  Here the pre-trained model is the upstream
CNN of docs/design.md section 4, and its features are the 2 m_up filter responses

    phi(x)_{j,r} = sum_{p=1..P} act(<w_{j,r}, x^(p)>),   j in {+1, -1}, r = 1..m_up,

flattened class-major into D = 2 m_up columns (``features``).  The upstream classifier is
a fixed linear read-out of them: ``f(W_up, x) = (1/m_up) sum_r (phi_{+1,r} - phi_{-1,r})``.
Every score is a pure JAX function of the features F (n, D) of the target training inputs
(and, for task relatedness, of the source training inputs), jit- and vmap-safe, with
"higher = more transferable"; ``transfer_scores`` computes all of them at once inside
the trial (``simtransfer.protocol.transfer``, every backend with features), and
``simtransfer.experiments.testbed`` measures
how well they rank the true transfer gain.

Numerics.  The estimators need thin SVDs of the feature matrix and eigenvalues of small
PSD matrices, all min(n_T, D)-square (D = 2 m_up <= ~40; the n_T x n_T Gram side when
n_T <= D).  LAPACK calls (``jnp.linalg.eigh``/``svd``) inside vmapped jits have hung
XLA:CPU (docs/design.md section 7), so ``theory.linalg.sym_eig`` is a hand-written cyclic Jacobi method in
round-robin order (each round n/2 disjoint rotations as elementwise row/column updates),
with a relative stopping rule so that small eigenvalues converge too (4-8 sweeps).
Jacobi needs only ``jnp`` ops and batches: the trial's four eigenproblems run as one
vmapped call (measured: ~2 ms a seed on one CPU core at n_T = D = 20).  Matrix products
use full float32 precision (the GPU default, TF32, would drown the small eigenvalues).
Computing the scores after the run in numpy instead would need the (n_T + n_S) x D
features of every seed stored in every Result and sweep: ~40x the rest of its scalars.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.linalg import sym_eig

from .features import features, features_from_preacts
from .relatedness import _class_stats, _relatedness_from, _w2_matrices, gaussian_w2, relatedness
from .spectral import (
    HSCORE_RIDGE,
    _gram_side,
    _logme_from_svd,
    _one_hot,
    _spectral_and_hscore,
    _svd_matrix,
    _svd_parts,
    hscore,
    logme,
    logme_evidence,
    spectral_score,
)

__all__ = [
    "SCORES",
    "HSCORE_RIDGE",
    "features",
    "features_from_preacts",
    "logme",
    "logme_evidence",
    "spectral_score",
    "hscore",
    "gaussian_w2",
    "relatedness",
    "transfer_scores",
]

#: Per-seed score outputs of a trial (``simtransfer.protocol.SCALARS``); higher = more transferable.
SCORES = ("score_logme", "score_spectral", "score_relatedness", "score_hscore")


def transfer_scores(F_T: jax.Array, y_T: jax.Array, F_S: jax.Array, y_S: jax.Array,
                    ridge: float = HSCORE_RIDGE) -> dict[str, jax.Array]:  # fmt: skip
    """Every score of ``SCORES`` from the inherited (upstream) model's features on the target
    (``F_T`` (n_T, D), labels ``y_T``) and source (``F_S`` (n_S, D), ``y_S``) training inputs,
    with one batched Jacobi call for the four eigenproblems (the thin SVDs of the raw and of
    the centred target features, and the two class-conditional W2 matrices, all
    min(n_T, D)-square).  Each equals its stand-alone function (``logme``,
    ``spectral_score``, ``relatedness``, ``hscore``) to float32 rounding."""
    F_T, F_S = F_T.astype(jnp.float32), F_S.astype(jnp.float32)
    y_T, y_S = y_T.astype(jnp.float32), y_S.astype(jnp.float32)
    D = F_T.shape[1]
    Fc = F_T - F_T.mean(0, keepdims=True)
    Y_T = _one_hot(y_T)
    st_S, st_T = _class_stats(F_S, _one_hot(y_S)), _class_stats(F_T, Y_T)
    mats = jnp.concatenate([jnp.stack([_svd_matrix(F_T), _svd_matrix(Fc)]), _w2_matrices(st_S, st_T, Y_T)])
    w, Q = jax.vmap(sym_eig)(mats)
    spectral, h = _spectral_and_hscore(*_svd_parts(Fc, w[1], Q[1]), y_T, D, ridge)
    return {
        "score_logme": _logme_from_svd(*_svd_parts(F_T, w[0], Q[0]), Y_T, D, Q[0] if _gram_side(F_T) else None)[0],
        "score_spectral": spectral,
        "score_relatedness": -sum(_relatedness_from(F_S, F_T, y_T, st_S, st_T, w[2:])),
        "score_hscore": h,
    }
