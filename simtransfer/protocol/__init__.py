"""The transfer protocol (docs/design.md section 4), written once against a backend interface.

* ``transfer``: upstream -> inheritance -> transfer and scratch -> evaluation -> outputs;
* ``inherit``: the inheritance policies and the distillation weights;
* ``outputs``: SCALARS, CURVES and their assembly;
* ``scores``: the transferability scores, computed after the trials from their features;
* ``interface``: what a backend provides (``Backend``);
* ``registry``: the backends by (``task.data``, ``backend``); ``make_trial``, ``make_trial_state``.
"""

from .inherit import distill_mask, inheritance
from .interface import Backend, Evaluation
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
