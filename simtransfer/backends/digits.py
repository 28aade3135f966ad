"""The digits backend (``task.data = "digits"``, docs/design.md section 4): the transfer
protocol on scikit-learn's handwritten digits (``config.digits``) with dense filters.

Real data has no exact conditional error: ``err_*`` and ``emp_err_*`` both hold the
held-out test error (``gain = emp_gain``, from the mistake counts), ``se_*`` its binomial
standard error; the signal/noise coefficient curves and the transferability scores are NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from theory.exact import ExactError
from theory.linalg import half_errors

from ..config import Experiment, parse_digit_pair
from ..config.data import Batch
from ..config.digits import Pools, cut, flat_draw, load, split
from ..nn.model import cnn_batch
from ..nn.train import train
from .base import CURVE_METRICS, Evaluation, clock_of, register
from .dense import DenseBackend

__all__ = ["DigitsData", "DigitsBackend"]


def _mistakes(Ws: jax.Array, X: jax.Array, y: jax.Array, act) -> jax.Array:
    """Held-out mistakes (ties count 1/2) of each model of ``Ws`` (k, 2, m, d) on (X, y): (k,),
    exact in float32 (multiples of 1/2); the error is this divided by the test-set size."""
    f = jax.vmap(lambda W: cnn_batch(W, X, act))(Ws)  # (k, n)
    return jnp.sum(half_errors(y[None] * f), axis=1)


def _as_exact(err: jax.Array, n_test: int) -> ExactError:
    """The held-out error in the place of the exact one, with its binomial standard error."""
    return ExactError(err, jnp.sqrt(err * (1 - err) / n_test))


def _nan_curves(curves: dict[str, jax.Array], lead: tuple[int, ...]) -> dict[str, jax.Array]:
    """The logged curves with every metric of ``CURVE_METRICS`` they lack as NaN (``lead``:
    the leading model axes, () upstream, (2,) downstream)."""
    nan = jnp.full(lead + curves["loss"].shape[len(lead):], jnp.nan)
    return {q: curves.get(q, nan) for q in CURVE_METRICS}


def _stage(images: jax.Array, idx_train, y_train, idx_test, P: int) -> tuple[Batch, jax.Array]:
    """Training batch (full inputs in ``xi``, no signal patch) and test inputs of a stage,
    both centred per pixel by the mean of the stage's training images."""
    x_tr, x_te = images[idx_train], images[idx_test]  # (n, 8, 8)
    mean = x_tr.mean(axis=0, keepdims=True)
    X_tr, X_te = cut(x_tr - mean, P), cut(x_te - mean, P)
    return Batch(X_tr, y_train, y_train, jnp.zeros(y_train.shape, jnp.int32)), X_te


class DigitsData(NamedTuple):
    """One seed of the digits backend."""

    keys: dict[str, jax.Array]  # pol, init
    pools: Pools
    source: Batch  # full inputs in ``xi``, no signal patch
    target: Batch
    X_test: dict[str, jax.Array]  # stage -> (n_test, P, d) held-out inputs
    y_test: dict[str, jax.Array]


@register("digits", "dense")
class DigitsBackend(DenseBackend):
    """Real images, dense filters: the dense backend's training (``mu = None``: every patch
    of the input is in ``xi``) and teacher, with held-out errors instead of exact ones."""

    TRACED = ()  # the sample counts stay shapes (image pools)

    def __init__(self, exp: Experiment) -> None:
        if exp.task.data != "digits":
            raise ValueError(f"task.data: the digits backend needs 'digits', got {exp.task.data!r}")
        super().__init__(exp)
        self.images, _ = load()  # read once; a constant of the compiled trial

    def sample(self, key_data, th) -> DigitsData:
        exp, P = self.exp, self.exp.task.P
        key = jax.random.wrap_key_data(key_data)
        k_pools, k_init, k_pol = jax.random.split(key, 3)
        src_pair = parse_digit_pair("task.source_digits", exp.task.source_digits)
        tgt_pair = parse_digit_pair("task.target_digits", exp.task.target_digits)
        pools = split(k_pools, src_pair, tgt_pair, exp.n_source, exp.n_target)
        imgs = jnp.asarray(self.images)
        src, X_src_te = _stage(imgs, pools.source_train, pools.y_source_train, pools.source_test, P)
        tgt, X_tgt_te = _stage(imgs, pools.target_train, pools.y_target_train, pools.target_test, P)
        return DigitsData({"pol": k_pol, "init": k_init}, pools, src, tgt,
                          {"upstream": X_src_te, "downstream": X_tgt_te},
                          {"upstream": pools.y_source_test, "downstream": pools.y_target_test})  # fmt: skip

    def init_filters(self, data, th):
        # Initial filters w ~ N(0, sigma_0^2 I) of both stages from one draw (one random-number
        # site compiles faster than two): upstream W_up0 and fresh downstream W_fresh.
        m, m_up, d = self.exp.model.m, self.exp.model.m_upstream, self.exp.task.d
        z = th["model.sigma_0"] * flat_draw(jax.random.normal, data.keys["init"], (2, 2, max(m, m_up), d))
        return z[0, :, :m_up], z[1, :, :m]

    def _stage(self, data, stage):
        return (data.source if stage == "upstream" else data.target), None

    def train_stage(self, data, stage, W0, act, th, frozen=None, distill=None):
        X_te, y_te = data.X_test[stage], data.y_test[stage]
        metrics = lambda W: {"err": _mistakes(W[None], X_te, y_te, act)[0] / y_te.shape[0]}  # noqa: E731
        batch, _ = self._stage(data, stage)
        return train(W0, batch, None, th[f"{stage}.eta"], cfg=getattr(self.exp, stage), act=act, frozen=frozen,
                     metrics_fn=metrics, distill=distill, clock=clock_of(th, stage))  # fmt: skip

    def inheritable(self, data, W_up):
        return W_up, jnp.zeros((self.exp.task.d,))  # no signal direction: top_signal is refused by the config

    def teacher(self, data, W_up, act):
        return cnn_batch(W_up, data.target.xi, act), data.target.y

    def evaluate(self, data, W_up, models, curves, act, th):
        # held-out errors: upstream on the source pool's rest, the rest on the target test set
        X, y = data.X_test, data.y_test
        n_up, n_dn = y["upstream"].shape[0], y["downstream"].shape[0]
        err_up = _mistakes(W_up[None], X["upstream"], y["upstream"], act)[0] / n_up
        miss = _mistakes(models, X["downstream"], y["downstream"], act)
        err_dn = miss / n_dn
        # The gain from the exact difference of mistake counts: err_s - err_t computed from the
        # rounded errors can come out as +-1 ulp when XLA contracts it with the division into an
        # FMA, which would break "alpha = 0 gives gain = 0 exactly".
        gain = (miss[2] - miss[1]) / n_dn
        # the coefficient curves (gamma, rho: no meaning on real data) as NaN, added after
        # training rather than carried through its scan; no estimator features (scores NaN)
        c_up, c_dn = (_nan_curves(c, lead) for c, lead in zip(curves, ((), (2,))))
        return Evaluation(_as_exact(err_up, n_up), err_up, _as_exact(err_dn, n_dn), err_dn, c_up, c_dn, None,
                          {"gain": gain, "emp_gain": gain})  # fmt: skip

    def state(self, data, common):
        c = common
        return {
            "pools": data.pools, "source": data.source, "target": data.target,
            "X_source_test": data.X_test["upstream"], "X_target_test": data.X_test["downstream"],
            "W_up0": c["up0"], "W_up": c["up"], "W_fresh": c["fresh"], "W_transfer0": c["transfer0"],
            "W_transfer": c["transfer"], "W_scratch": c["scratch"], "inherited": c["inherited"],
            "source_index": c["source_index"], "frozen": c["frozen"], "f_teacher": c["f_teacher"],
            "distill_weight": c["distill_weight"], "diverged_at": c["diverged_at"],
        }  # fmt: skip

    def target_moments(self, state, th):
        raise ValueError('task.data: output moments need the synthetic tasks, not "digits"')
