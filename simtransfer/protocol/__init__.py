"""The transfer protocol (docs/design.md section 4), written once against the backend
interface ``backends.base.Backend``: the protocol stands above the backends and calls down.

* ``transfer``: upstream -> inheritance -> transfer and scratch -> evaluation -> outputs;
* ``inherit``: the inheritance policies and the distillation weights;
* ``outputs``: SCALARS, CURVES and their assembly;
* ``scores``: the transferability scores, computed after the trials from their features;
* ``measures``: the plug-ins' measurements of a trial's models (``eval.measure_draws``);
* ``registry``: ``make_trial``, ``make_trial_state`` from the backend registered for (``task.data``, ``backend``).
"""

from ..backends.base import Backend, Evaluation
from .inherit import distill_mask, inheritance
from .outputs import CURVE_METRICS, CURVES, SCALARS, assemble_outputs, theta_of, trim_curves
from .registry import backend_for, make_trial, make_trial_state, register
from .scores import PRIVATE, add_scores, strip_private
from .transfer import run_trial, transfer_trial

__all__ = [
    "Backend", "CURVES", "CURVE_METRICS", "Evaluation", "PRIVATE", "SCALARS", "add_scores", "assemble_outputs",
    "backend_for", "strip_private",
    "distill_mask", "inheritance", "make_trial", "make_trial_state", "register", "run_trial", "theta_of", "trim_curves",
    "transfer_trial",
]  # fmt: skip
