"""One registry of backends, keyed by (``task.data``, ``backend``), and the trial functions
built from it: ``make_trial`` (outputs) and ``make_trial_state`` (every array).

Backends register themselves with ``@register(data, backend)`` in their module under
``simtransfer/backends/``; the registry finds those modules on first use (every module of
the ``simtransfer.backends`` package is imported once), so a new backend is one new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

import jax

from ..config import Experiment
from .interface import Backend
from .transfer import run_trial

__all__ = ["register", "backend_class", "backend_for", "make_trial", "make_trial_state"]

_REGISTRY: dict[tuple[str, str], type[Backend]] = {}
_LOADED = [False]


def register(data: str, backend: str) -> Callable[[type[Backend]], type[Backend]]:
    """Class decorator: the backend for ``task.data = data`` and ``backend = backend``."""

    def deco(cls: type[Backend]) -> type[Backend]:
        key = (data, backend)
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"backend {key} registered twice ({_REGISTRY[key].__name__}, {cls.__name__})")
        _REGISTRY[key] = cls
        return cls

    return deco


def _load_all() -> None:
    if _LOADED[0]:
        return
    pkg = importlib.import_module("simtransfer.backends")
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"simtransfer.backends.{info.name}")
    _LOADED[0] = True


def backend_class(data: str, backend: str) -> type[Backend]:
    """The registered class for (data, backend); ``ValueError`` naming the pair if none."""
    _load_all()
    try:
        return _REGISTRY[(data, backend)]
    except KeyError:
        have = ", ".join(f"{d}/{b}" for d, b in sorted(_REGISTRY))
        raise ValueError(
            f"backend: no backend for task.data = {data!r} with backend = {backend!r} (have {have})"
        ) from None


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
