"""The (``task.data``, ``backend``) pairs an experiment may name, and the classes that serve
them (docs/design.md section 4).

A backend enters itself with the class decorator ``@register(data, backend)`` in its
module under ``simtransfer/backends/``.  The table is filled on first use by importing
every module of that package, found by name (``pkgutil``), so the configuration imports
no backend code, and it is searched again for modules not yet imported when a name is
missing: a new backend or data source is one new module, with no list to edit.
``config.checks.BACKENDS`` / ``DATA`` (what ``Experiment`` validates ``backend`` and
``task.data`` against) and ``protocol.registry`` read it.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Callable, TypeVar

__all__ = ["PACKAGE", "register", "registered", "pairs", "names"]

#: The package whose modules hold the backends.
PACKAGE = "simtransfer.backends"

C = TypeVar("C", bound=type)
_TABLE: dict[tuple[str, str], type] = {}
_STATE = {"searched": False, "searching": False}


def register(data: str, backend: str) -> Callable[[C], C]:
    """Class decorator: the backend class for ``task.data = data`` and ``backend = backend``."""

    def deco(cls: C) -> C:
        key = (data, backend)
        if key in _TABLE and _TABLE[key] is not cls:
            raise ValueError(f"backend: {data}/{backend} registered twice ({_TABLE[key].__name__}, {cls.__name__})")
        _TABLE[key] = cls
        return cls

    return deco


def _search() -> None:
    """Import every module and subpackage of :data:`PACKAGE` not imported yet."""
    if _STATE["searching"]:  # a backend module that validates an Experiment as it loads
        return
    _STATE["searching"] = True
    try:
        pkg = importlib.import_module(PACKAGE)
        new = [i.name for i in pkgutil.iter_modules(pkg.__path__, PACKAGE + ".") if i.name not in sys.modules]
        if new:
            importlib.invalidate_caches()  # a file written since the last import is seen
        for name in new:
            importlib.import_module(name)
    finally:
        _STATE["searching"] = False
        _STATE["searched"] = True


def pairs(fresh: bool = False) -> tuple[tuple[str, str], ...]:
    """The registered (data, backend) pairs, sorted; ``fresh``: search the package again first."""
    if fresh or not _STATE["searched"]:
        _search()
    return tuple(sorted(_TABLE))


def names(field: str, fresh: bool = False) -> tuple[str, ...]:
    """The registered names of ``field`` (``"task.data"`` or ``"backend"``), sorted."""
    i = {"task.data": 0, "backend": 1}[field]
    return tuple(sorted({p[i] for p in pairs(fresh)}))


def registered(data: str, backend: str) -> type:
    """The class registered for (data, backend); ``ValueError`` naming ``backend`` and the
    known pairs if none."""
    key = (data, backend)
    if key not in _TABLE:
        pairs(fresh=True)
    if key not in _TABLE:
        have = ", ".join(f"{d}/{b}" for d, b in sorted(_TABLE))
        raise ValueError(f"backend: no backend for task.data = {data!r} with backend = {backend!r} (have {have})")
    return _TABLE[key]
