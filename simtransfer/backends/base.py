"""The backend interface: what the transfer protocol (``protocol.transfer``) asks of a way of
representing the data and the filters (docs/design.md sections 4-5).  The protocol stands
above the backends and calls down into them through this interface.

A backend is built once per static experiment (``Backend(exp)``, which may refuse a
configuration with ``ConfigError``) and then serves every seed.  Its ``sample`` returns
the seed's *data*: an object of the backend's own type holding the training sets (or the
basis), the keys and the Monte-Carlo draws; every other method receives it back.
Filters are whatever array the backend trains (dense: (2, m, d) weights; gram: (2, m, K)
basis coefficients).  ``stage`` is ``"upstream"`` or ``"downstream"``.

To add a backend or a data source: write one module under ``simtransfer/backends/``
with a subclass of :class:`Backend` decorated by ``@register(data, backend)`` (imported
from here; the table is ``config.registry``).  Nothing else changes: the configuration accepts the new names
and ``protocol.registry`` serves them, both finding the module on first use.  A backend
that takes more fields as traced scalars (so that changing them does not recompile)
lists them in its class attribute ``TRACED``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

from theory.exact import ExactError

from ..config import Experiment
from ..config.registry import register
from ..nn.coefficients import COEF_CURVES
from ..nn.model import Activation

__all__ = ["Backend", "Evaluation", "CURVE_METRICS", "clock_of", "register"]

#: The curves logged per stage (``protocol.outputs.CURVES`` names them per model).
CURVE_METRICS = ("loss", "acc", "err") + COEF_CURVES


def clock_of(th: dict[str, jax.Array], stage: str) -> tuple[jax.Array, jax.Array]:
    """The traced (T, log_every) of a stage (``config.CLOCK_FIELDS``), the ``clock`` of
    ``nn.train.gd_loop``."""
    return th[f"{stage}.steps"], th[f"{stage}.log_every"]


class Evaluation(NamedTuple):
    """Step 5's results: exact errors (``ExactError``; upstream scalar, downstream (3,) for
    zero-shot, transfer, scratch), empirical errors (same shapes), the logged curves in
    their final form (:data:`CURVE_METRICS`; downstream with a leading axis of 2: transfer,
    scratch), the upstream model's estimator features (``({"target": phi_T, "source":
    phi_S}, {"target": y_T, "source": y_S})``, phi (n, 2 m_up), ``nn.estimators``; None
    with ``eval.scores = false`` or where the scores have no meaning, then they are NaN),
    and outputs that the backend computes its own way (e.g. ``emp_gain`` from error counts)."""

    exact_up: ExactError
    emp_up: jax.Array
    exact_dn: ExactError
    emp_dn: jax.Array
    curves_up: dict[str, jax.Array]
    curves_dn: dict[str, jax.Array]
    feats: tuple[dict, dict] | None
    extra: dict[str, jax.Array]


class Backend:
    """Interface of a backend; see the module docstring.  Subclasses implement every method."""

    #: Fields this backend takes as traced scalars beyond ``config.TRACED_FIELDS`` and
    #: ``config.CLOCK_FIELDS`` (``config.traced_fields`` reads it), e.g. the dense backend's
    #: sample counts: ``config.SAMPLE_FIELDS``.
    TRACED: tuple[str, ...] = ()

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp

    def sample(self, key_data: jax.Array, th: dict[str, jax.Array]) -> Any:
        """The seed's data from its raw key: training sets or basis, keys (``pol`` for the
        inheritance policy), Monte-Carlo draws.  ``th``: the traced scalars (float32)."""
        raise NotImplementedError

    def init_filters(self, data: Any, th: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        """(upstream initial filters (2, m_up, .), fresh downstream filters (2, m, .)),
        w ~ N(0, sigma_0^2 I)."""
        raise NotImplementedError

    def train_stage(self, data: Any, stage: str, W0: jax.Array, act: Activation, th: dict[str, jax.Array],
                    frozen: jax.Array | None = None, distill: tuple | None = None) -> tuple[jax.Array, dict, jax.Array]:
        """One GD stage from ``W0`` through ``nn.train.gd_loop`` with the stage's traced
        ``clock_of(th, stage)``: (W_T, curves, diverged_at) as ``nn.train.train`` returns
        them (the curves as logged: ``evaluate`` puts them in their final form);
        ``frozen`` (2, m) bool, ``distill`` as there."""
        raise NotImplementedError

    def inheritable(self, data: Any, W_up: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(trained upstream filters in the downstream's representation, unit direction of
        the universal signal u in it, for the ``top_signal`` policy)."""
        raise NotImplementedError

    def teacher(self, data: Any, W_up: jax.Array, act: Activation) -> tuple[jax.Array, jax.Array]:
        """(upstream outputs f_t (n_T,) on the target training inputs, their observed labels)."""
        raise NotImplementedError

    def evaluate(self, data: Any, W_up: jax.Array, models: jax.Array, curves: tuple[dict, dict], act: Activation,
                 th: dict[str, jax.Array]) -> Evaluation:
        """Everything measured of the trained models: exact and empirical test errors of the
        upstream model (on the source task) and of ``models`` (3, ...), zero-shot, transfer
        and scratch (on the target task); the logged ``curves`` (upstream, downstream pair)
        in their final form; the upstream model's estimator features (``Evaluation``).

        The dense and gram backends compute the exact test error at every logged step from
        the logged inputs (``nn.evaluate.stage_curves``, docs/theory.md section 2), with the
        seed's common Gaussian draws."""
        raise NotImplementedError

    def state(self, data: Any, common: dict[str, Any]) -> dict[str, Any]:
        """The trial state (``make_trial_state``) from the protocol's arrays ``common``
        (``up0, up, fresh, transfer0, transfer, scratch, inherited, source_index, frozen,
        f_teacher, distill_weight, diverged_at, features``)."""
        raise NotImplementedError

    def target_moments(self, state: dict[str, Any], th: dict[str, jax.Array]) -> dict[str, tuple[jax.Array, jax.Array]]:
        """For ``experiments.measure``: (signal pre-activations <w, mu_T> (2, m), noise
        covariance sigma_p^2 W (I - Pi) W^T (2m, 2m)) of the models ``init`` (transfer at
        initialisation), ``tr`` (trained transfer) and ``sc`` (scratch) of a trial state."""
        raise NotImplementedError


#: A trial: ``trial(key_data, theta) -> outputs`` (or the state).
Trial = Callable[[jax.Array, dict], dict]
