r"""Real images: scikit-learn's digits as the data of the transfer protocol (docs/design.md section 4).

``task.data = "digits"`` replaces the signal-plus-noise data of docs/design.md section 1 by the
handwritten digits bundled with scikit-learn (``sklearn.datasets.load_digits``: 1797
grey-scale 8x8 images, values 0..16, 174-183 per digit; read from the installed package,
never downloaded).  The model, training, inheritance and scratch protocol are the dense
backend's (``simtransfer.backends.digits``: ``nn.train``, ``protocol.transfer``).

**Cut.** Pixels are scaled to [0, 1] and each image is cut into ``task.P`` non-overlapping
patches, row-major (``config.DIGIT_CUTS``: P = 2 halves of 4x8, P = 4 quadrants of 4x4,
P = 8 blocks of 2x4, P = 16 blocks of 2x2; d = 64 / P).  With the default P = 4, d = 16,
the network of docs/design.md section 2 is a stride-4 convolution with 4x4 filters followed by
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

**Outputs** are those of the synthetic dense trial (``protocol.SCALARS`` and ``protocol.CURVES``).
Real data has no exact conditional error: ``err_*`` and ``emp_err_*`` both hold the
held-out test error (so ``gain = emp_gain = err_scratch - err_transfer``), ``se_*`` its
binomial standard error sqrt(err (1 - err) / n_test) given the weights (the gain is
computed from the mistake counts, exactly 0 at alpha = 0); ``curve_*_err``
is the held-out error at the logged steps.  The signal/noise coefficient curves
(gamma, rho of docs/design.md section 5) and every other output without a meaning on real data
are NaN.  Unused config fields: ``task.a, b_S, b_T, s, sigma_p, signal_position, frame``
and ``eval.*``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .checks import DIGIT_COUNTS, DIGIT_CUTS
from .experiment import Experiment

__all__ = ["load", "cut", "uncut", "Pools", "split", "experiment", "flat_draw"]


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


def flat_draw(sampler, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
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
    prio = flat_draw(jax.random.uniform, key, (3,) + labels.shape)  # (3, 1797): half, source order, target order
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
