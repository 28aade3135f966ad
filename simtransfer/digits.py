r"""Real images: the transfer protocol of DESIGN.md section 4 on scikit-learn's digits (issue 6).

``task.data = "digits"`` replaces the signal-plus-noise data of DESIGN.md section 1 by the
handwritten digits bundled with scikit-learn (``sklearn.datasets.load_digits``: 1797
grey-scale 8x8 images, values 0..16, 174-183 per digit; read from the installed package,
never downloaded).  The model, training, inheritance and scratch protocol are the dense
backend's (``model``, ``train``, ``trial.inheritance``, ``trial.assemble_outputs``).

**Cut.** Pixels are scaled to [0, 1] and each image is cut into ``task.P`` non-overlapping
patches, row-major (``config.DIGIT_CUTS``: P = 2 halves of 4x8, P = 4 quadrants of 4x4,
P = 8 blocks of 2x4, P = 16 blocks of 2x2; d = 64 / P).  With the default P = 4, d = 16,
the network of DESIGN.md section 2 is a stride-4 convolution with 4x4 filters followed by
a sum over the four positions: each filter is a stroke-fragment detector that may fire in
any quadrant, which is the weight sharing the theory's CNN assumes (one patch carries the
class evidence, the filter does not know where).  Smaller blocks (2x2) hold too little of
a stroke to tell digits apart; P = 2 leaves only two positions.

**Tasks.** A pair ``"a,b"`` is the binary task a (label +1) against b (label -1);
``task.source_digits`` is the upstream pair, ``task.target_digits`` the downstream one.

**Pools (per seed, from the seed's key).** Every digit's images are split at random into a
source half (floor(N_c / 2) images) and a target half (the rest).  The source pool is the
source halves of the source pair's digits, the target pool the target halves of the target
pair's digits, so a digit in both pairs never gives one image to both tasks, and the target
pool does not depend on the source pair or on n_S: at a given seed the target data, and so
the scratch model, are the same for every source configuration (paired comparisons).
``n_source`` (``n_target``) training images are drawn without replacement from the source
(target) pool; the rest of the pool is that stage's held-out test set (the target test set
is shared by the zero-shot, transfer and scratch models).

**Normalisation.** Each stage centres every pixel by the mean of its own training images
(training statistics only): the upstream by the source training mean (applied to its test
images too), the downstream stage by the target training mean (transfer, zero-shot and
scratch all see target-centred inputs).

**Outputs** are those of the synthetic dense trial (``trial.SCALARS`` and ``trial.CURVES``).
Real data has no exact conditional error: ``err_*`` and ``emp_err_*`` both hold the
held-out test error (so ``gain = emp_gain = err_scratch - err_transfer``), ``se_*`` its
binomial standard error sqrt(err (1 - err) / n_test) given the weights (the gain is
computed from the mistake counts, exactly 0 at alpha = 0); ``curve_*_err``
is the held-out error at the logged steps.  The signal/noise coefficient curves
(gamma, rho of DESIGN.md section 5) and every other output without a meaning on real data
are NaN.  Unused config fields: ``task.a, b_S, b_T, s, sigma_p, signal_position, frame``
and ``eval.*``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory.exact import ExactError, half_errors

from .config import DIGIT_COUNTS, DIGIT_CUTS, Experiment, parse_digit_pair
from .data import Batch
from .model import activation, cnn_batch
from .train import train
from .trial import CURVE_METRICS, CURVES, SCALARS, assemble_outputs, distill_mask, inheritance

__all__ = ["load", "cut", "uncut", "Pools", "split", "experiment", "make_trial_digits", "make_trial_state_digits"]


@functools.lru_cache(maxsize=1)
def load() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: (images (1797, 8, 8) float32 scaled to [0, 1], labels (1797,)
    int32), read once per process (the arrays are read-only)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            'task.data = "digits" reads the digits bundled with scikit-learn, which is not installed; '
            "install the dev extra (pip install -e '.[dev]') or scikit-learn>=1.4"
        ) from e
    bunch = load_digits()
    images = np.asarray(bunch.images, np.float32) / 16.0
    labels = np.asarray(bunch.target, np.int32)
    counts = tuple(int(c) for c in np.bincount(labels, minlength=10))
    if images.shape != (1797, 8, 8) or counts != DIGIT_COUNTS:
        raise RuntimeError(
            f"load_digits: unexpected data (shape {images.shape}, counts {counts}); expected config.DIGIT_COUNTS"
        )
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def cut(images, P: int):
    """Images (..., 8, 8) -> patches (..., P, d), non-overlapping, row-major (``config.DIGIT_CUTS``).

    Works on numpy and JAX arrays; :func:`uncut` is its exact inverse."""
    h, w = DIGIT_CUTS[P]
    lead = images.shape[:-2]
    x = images.reshape(lead + (8 // h, h, 8 // w, w)).swapaxes(-3, -2)  # (..., rows, cols, h, w)
    return x.reshape(lead + (P, h * w))


def uncut(patches, P: int):
    """Patches (..., P, d) -> images (..., 8, 8): the inverse of :func:`cut`."""
    h, w = DIGIT_CUTS[P]
    lead = patches.shape[:-2]
    x = patches.reshape(lead + (8 // h, 8 // w, h, w)).swapaxes(-3, -2)
    return x.reshape(lead + (8, 8))


def _flat_draw(sampler, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``sampler(key, shape)`` drawn flat and reshaped: the same numbers (threefry counters run
    over the flat index), but under ``vmap`` a multi-dimensional draw compiled 6-10x slower
    on XLA:CPU (jax 0.10.2: 4 s for a (2, 10, 16) normal, 0.6 s flat)."""
    return sampler(key, (int(np.prod(shape)),)).reshape(shape)


class Pools(NamedTuple):
    """One seed's images of each stage, as indices into :func:`load`'s arrays, with labels
    y = +1 for the pair's first digit and -1 for its second."""

    source_train: jax.Array  # (n_S,) int
    y_source_train: jax.Array  # (n_S,)
    source_test: jax.Array  # (pool_S - n_S,) int: the upstream's held-out test images
    y_source_test: jax.Array
    target_train: jax.Array  # (n_T,) int
    y_target_train: jax.Array  # (n_T,)
    target_test: jax.Array  # (pool_T - n_T,) int: shared test set of zero-shot, transfer, scratch
    y_target_test: jax.Array


def split(key: jax.Array, source_pair: tuple[int, int], target_pair: tuple[int, int], n_S: int, n_T: int) -> Pools:
    """The disjoint pools of one seed (module docstring).

    One draw gives every image three uniform priorities (the draw does not depend on the
    configuration, so neither do the priorities).  By the first, the floor(N_c / 2) images
    of digit c with the lowest priorities form its source half, the others its target half.
    Each stage orders its pool by the second (source) or third (target) priority, trains on
    the first n images and tests on the rest: the training sets of one seed are nested in
    n (those at n_S = 10 are among those at n_S = 40), and the target data do not depend on
    the source pair or on n_S.  (Priorities and sorts rather than one
    ``jax.random.permutation`` per digit and pool: one random draw instead of six, and two
    sorts, compile faster.)
    """
    _, labels = load()
    prio = _flat_draw(jax.random.uniform, key, (3,) + labels.shape)  # (3, 1797): half, source order, target order
    # One lexicographic sort by (digit, priority) orders every used digit's images (two sorts
    # in all, rather than one argsort per digit and pool: fewer ops to compile).
    used = sorted(set(source_pair) | set(target_pair))
    idx = np.concatenate([np.flatnonzero(labels == c) for c in used]).astype(np.int32)
    seg = np.concatenate([np.full(DIGIT_COUNTS[c], i, np.int32) for i, c in enumerate(used)])
    _, _, order = jax.lax.sort((jnp.asarray(seg), prio[0, idx], jnp.asarray(idx)), num_keys=2)
    start = dict(zip(used, np.cumsum([0] + [DIGIT_COUNTS[c] for c in used])))

    def half(c: int, which: str) -> jax.Array:
        h = DIGIT_COUNTS[c] // 2
        return order[start[c] : start[c] + h] if which == "source" else order[start[c] + h : start[c] + DIGIT_COUNTS[c]]

    pools, ys, segs, keys = [], [], [], []
    for i, (pair, which) in enumerate(((source_pair, "source"), (target_pair, "target"))):
        a, b = half(pair[0], which), half(pair[1], which)
        pools.append(jnp.concatenate([a, b]))
        ys.append(np.concatenate([np.ones(a.shape[0], np.float32), -np.ones(b.shape[0], np.float32)]))
        segs.append(np.full(a.shape[0] + b.shape[0], i, np.int32))
        keys.append(prio[1 + i, pools[-1]])
    # both pools ordered at once by (pool, its own priority); labels travel with the images
    _, _, idx_o, y_o = jax.lax.sort((jnp.asarray(np.concatenate(segs)), jnp.concatenate(keys), jnp.concatenate(pools),
                                     jnp.asarray(np.concatenate(ys))), num_keys=2)  # fmt: skip
    n_src = pools[0].shape[0]
    S_idx, S_y, T_idx, T_y = idx_o[:n_src], y_o[:n_src], idx_o[n_src:], y_o[n_src:]
    return Pools(S_idx[:n_S], S_y[:n_S], S_idx[n_S:], S_y[n_S:], T_idx[:n_T], T_y[:n_T], T_idx[n_T:], T_y[n_T:])


def experiment(**overrides: Any) -> Experiment:
    """The digits configuration of the README and ``figures/digits.py``, with dotted overrides.

    Source 1-vs-7, target 4-vs-7 (a related pair: they share the digit 7, class -1 in
    both); P = 4 quadrants of 4x4 (d = 16); m = 10 filters per class, sigma_0 = 0.01;
    n_S = 80, n_T = 10; plain GD, eta = 4 for 150 steps in both stages (the centred pixels
    are small, so a larger step than the synthetic default; measured: eta = 2, 3, 6 for
    300, 200, 100 steps give the same errors to +-0.001, GD follows its gradient flow up to
    time eta T = 600); alpha = 0.5.
    """
    base = Experiment().set(
        **{
            "task.data": "digits",
            "task.P": 4,
            "task.d": 16,
            "task.source_digits": "1,7",
            "task.target_digits": "4,7",
            "model.m": 10,
            "model.sigma_0": 0.01,
            "n_source": 80,
            "n_target": 10,
            "upstream.steps": 150,
            "downstream.steps": 150,
            "upstream.eta": 4.0,
            "downstream.eta": 4.0,
            "upstream.log_every": 15,
            "downstream.log_every": 15,
            "transfer.alpha": 0.5,
        }
    )
    return base.set(**overrides) if overrides else base


def _mistakes(Ws: jax.Array, X: jax.Array, y: jax.Array, act) -> jax.Array:
    """Held-out mistakes (ties count 1/2) of each model of ``Ws`` (k, 2, m, d) on (X, y): (k,),
    exact in float32 (multiples of 1/2); the error is this divided by the test-set size."""
    f = jax.vmap(lambda W: cnn_batch(W, X, act))(Ws)  # (k, n)
    return jnp.sum(half_errors(y[None] * f), axis=1)


def _as_exact(err: jax.Array, n_test: int) -> ExactError:
    """The held-out error in the place of the exact one, with its binomial standard error."""
    return ExactError(err, jnp.sqrt(err * (1 - err) / n_test))


def _stage(images: jax.Array, idx_train, y_train, idx_test, P: int) -> tuple[Batch, jax.Array]:
    """Training batch (full inputs in ``xi``, no signal patch) and test inputs of a stage,
    both centred per pixel by the mean of the stage's training images."""
    x_tr, x_te = images[idx_train], images[idx_test]  # (n, 8, 8)
    mean = x_tr.mean(axis=0, keepdims=True)
    X_tr, X_te = cut(x_tr - mean, P), cut(x_te - mean, P)
    return Batch(X_tr, y_train, y_train, jnp.zeros(y_train.shape, jnp.int32)), X_te


def _core(exp: Experiment, images: np.ndarray, key_data: jax.Array, theta: dict[str, Any]) -> tuple[dict, dict]:
    model, tr, P = exp.model, exp.transfer, exp.task.P
    d, m, m_up = exp.task.d, model.m, model.m_upstream
    key = jax.random.wrap_key_data(key_data)
    k_pools, k_init, k_pol = jax.random.split(key, 3)
    th = {k: jnp.asarray(v, jnp.float32) for k, v in theta.items()}
    act = activation(model.activation, th["model.leak"], th["model.q"])
    src_pair = parse_digit_pair("task.source_digits", exp.task.source_digits)
    tgt_pair = parse_digit_pair("task.target_digits", exp.task.target_digits)
    pools = split(k_pools, src_pair, tgt_pair, exp.n_source, exp.n_target)
    imgs = jnp.asarray(images)  # a constant of the compiled trial
    src, X_src_te = _stage(imgs, pools.source_train, pools.y_source_train, pools.source_test, P)
    tgt, X_tgt_te = _stage(imgs, pools.target_train, pools.y_target_train, pools.target_test, P)
    y_src_te, y_tgt_te = pools.y_source_test, pools.y_target_test
    def metrics(X_te, y_te):
        return lambda W: {"err": _mistakes(W[None], X_te, y_te, act)[0] / y_te.shape[0]}

    def with_nan_curves(curves: dict, lead: tuple[int, ...]) -> dict:
        """The coefficient curves (gamma, rho: no meaning on real data) as NaN, added after
        training rather than carried through its scan."""
        nan = jnp.full(lead + curves["loss"].shape[len(lead):], jnp.nan)
        return {q: curves.get(q, nan) for q in CURVE_METRICS}

    # Initial filters w ~ N(0, sigma_0^2 I) of both stages from one draw (one random-number
    # site compiles faster than two): upstream W_up0 and fresh downstream W_fresh.
    z = th["model.sigma_0"] * _flat_draw(jax.random.normal, k_init, (2, 2, max(m, m_up), d))
    W_up0, W_fresh = z[0, :, :m_up], z[1, :, :m]
    # 1. upstream
    W_up, c_up, bad_up = train(W_up0, src, None, th["upstream.eta"], cfg=exp.upstream, act=act,
                               metrics_fn=metrics(X_src_te, y_src_te))  # fmt: skip
    # 2. inheritance (no signal direction: top_signal is refused by the config)
    alpha = th["transfer.alpha"] if tr.inherits else jnp.zeros(())
    W_tr0, mask, src_idx, frozen = inheritance(
        k_pol, W_up, W_fresh, jnp.zeros((d,)), alpha, th["transfer.rescale"], tr.policy, tr.freeze_inherited
    )
    # 3-4. transfer and scratch by one lax.map over the pair, as the synthetic trial
    W0s = jnp.stack([W_tr0, W_fresh])
    frozen_s = jnp.stack([frozen, jnp.zeros_like(frozen)])
    lam_s = jnp.zeros((2, exp.n_target))
    f_teacher = jnp.zeros((exp.n_target,))
    if tr.distills:
        f_teacher = cnn_batch(W_up, tgt.xi, act)
        lam_i = distill_mask(f_teacher, tgt.y, tr.partition, th["transfer.confidence"])
        lam_s = lam_s.at[0].set(th["transfer.lam"] * lam_i)
    down = lambda W0, fz, lam_i: train(  # noqa: E731
        W0, tgt, None, th["downstream.eta"], cfg=exp.downstream, act=act, frozen=fz,
        metrics_fn=metrics(X_tgt_te, y_tgt_te),
        distill=(f_teacher, lam_i, th["transfer.tau"]) if tr.distills else None,
    )  # fmt: skip
    Ws, c_dn, bad_dn = jax.lax.map(lambda a: down(*a), (W0s, frozen_s, lam_s))
    c_up, c_dn = with_nan_curves(c_up, ()), with_nan_curves(c_dn, (2,))

    # 5. held-out errors: upstream on the source pool's rest, the rest on the target test set
    n_up, n_dn = y_src_te.shape[0], y_tgt_te.shape[0]
    err_up = _mistakes(W_up[None], X_src_te, y_src_te, act)[0] / n_up
    tgt_models = jnp.stack([W_tr0, Ws[0], Ws[1]])  # zero-shot, transfer, scratch
    miss = _mistakes(tgt_models, X_tgt_te, y_tgt_te, act)
    err_dn = miss / n_dn
    out = assemble_outputs(_as_exact(err_up, n_up), err_up, c_up, bad_up, mask, _as_exact(err_dn, n_dn), err_dn,
                           c_dn, bad_dn)  # fmt: skip
    # The gain from the exact difference of mistake counts: err_s - err_t computed from the
    # rounded errors can come out as +-1 ulp when XLA contracts it with the division into an
    # FMA, which would break "alpha = 0 gives gain = 0 exactly".
    out["gain"] = out["emp_gain"] = (miss[2] - miss[1]) / n_dn
    # Every output of the synthetic trial, NaN where real data gives it no meaning (e.g.
    # scores another module adds to trial.SCALARS; the coefficient curves are NaN above).
    nan = jnp.full((), jnp.nan)
    for name in SCALARS:
        out.setdefault(name, nan)
    for name in CURVES:
        stage = exp.upstream if name.startswith("curve_upstream") else exp.downstream
        out.setdefault(name, jnp.full((len(stage.log_steps),), jnp.nan))
    state = {
        "pools": pools, "source": src, "target": tgt, "X_source_test": X_src_te, "X_target_test": X_tgt_te,
        "W_up0": W_up0, "W_up": W_up, "W_fresh": W_fresh, "W_transfer0": W_tr0, "W_transfer": Ws[0],
        "W_scratch": Ws[1], "inherited": mask, "source_index": src_idx, "frozen": frozen,
        "f_teacher": f_teacher, "distill_weight": lam_s[0],
        "diverged_at": {"upstream": bad_up, "transfer": bad_dn[0], "scratch": bad_dn[1]},
    }  # fmt: skip
    return out, state


def make_trial_digits(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, jax.Array]]:
    """Pure ``trial(key_data, theta) -> outputs`` (``trial.SCALARS`` and ``trial.CURVES``) on
    the digits; the images are read here once and enter the compiled trial as a constant."""
    if exp.task.data != "digits":
        raise ValueError(f"task.data: make_trial_digits needs 'digits', got {exp.task.data!r}")
    images, _ = load()
    return lambda key_data, theta: _core(exp, images, key_data, theta)[0]


def make_trial_state_digits(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, Any]]:
    """Pure ``trial(key_data, theta) -> state``: pools, stage data and every filter array."""
    images, _ = load()
    return lambda key_data, theta: _core(exp, images, key_data, theta)[1]
