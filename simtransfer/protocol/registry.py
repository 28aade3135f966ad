"""The trial functions of an experiment, built from the backend registered for its
(``task.data``, ``backend``): ``make_trial`` (outputs) and ``make_trial_state`` (every array).

Backends register themselves with ``@register(data, backend)`` in their module under
``simtransfer/backends/``; the table (``config.registry``) finds those modules on first
use, so a new backend is one new module.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

from ..backends.base import Backend
from ..config import Experiment
from ..config.registry import register, registered
from .transfer import run_trial

__all__ = ["register", "backend_class", "backend_for", "make_trial", "make_trial_state"]


def backend_class(data: str, backend: str) -> type[Backend]:
    """The registered class for (data, backend); ``ValueError`` naming the pair if none."""
    return registered(data, backend)


def backend_for(exp: Experiment) -> Backend:
    """The backend instance serving ``exp`` (its constructor may raise ``ConfigError``)."""
    return backend_class(exp.task.data, exp.backend)(exp)


def make_trial(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, jax.Array]]:
    """Pure ``trial(key_data, theta) -> outputs`` (``SCALARS`` and ``CURVES``), where
    ``key_data`` is the raw uint32 data of one PRNG key and ``theta`` maps every name of
    ``config.TRACED_FIELDS`` to a scalar.  Static fields of ``exp`` are baked in; traced
    ones come from ``theta``, so a sweep over them reuses the compilation."""
    bk = backend_for(exp)
    return lambda key_data, theta: run_trial(bk, key_data, theta)[0]


def make_trial_state(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, Any]]:
    """Pure ``trial(key_data, theta) -> state``: every array of the trial (data or basis,
    initial and trained filters, inheritance masks), for tests and the theory package."""
    bk = backend_for(exp)
    return lambda key_data, theta: run_trial(bk, key_data, theta)[1]
