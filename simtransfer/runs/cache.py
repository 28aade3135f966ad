"""One cache root for everything simtransfer reuses between processes (docs/design.md section 7).

Under the root (``SIMTRANSFER_CACHE_DIR``, else the platform's user cache directory, e.g.
``~/.cache/simtransfer`` on Linux; ``SIMTRANSFER_CACHE_DIR=none`` disables caching):

- ``jax/``: JAX's persistent compilation cache.  A compiled trial is looked up by XLA's
  own key (the program, the jax/jaxlib version, the device), so a new process skips XLA
  compilation of every shape it has compiled before.
- ``check/``: the per-cell results of ``check`` (and the falsifier's rounds), keyed on the
  configuration, the grid, the seeds, the key *and* :func:`code_version`, so results made
  by other code are never reused.

``python -m simtransfer cache --info`` shows the root and what it holds; ``--clear``
empties it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["ENV", "cache_root", "cache_dir", "code_version", "enable_compilation_cache", "info", "clear"]

#: Environment variable that sets the cache root (``none``: no cache at all).
ENV = "SIMTRANSFER_CACHE_DIR"
#: What lives under the root.
KINDS = ("jax", "check")


def cache_root() -> Path | None:
    """The cache root: ``$SIMTRANSFER_CACHE_DIR`` if set (``none`` or empty-after-strip
    ``none`` disables caching and gives None), else ``platformdirs.user_cache_dir("simtransfer")``."""
    env = os.environ.get(ENV)
    if env is not None and env.strip():
        if env.strip().lower() == "none":
            return None
        return Path(env.strip()).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("simtransfer", appauthor=False))


def cache_dir(kind: str) -> Path | None:
    """``cache_root() / kind`` for ``kind`` in :data:`KINDS` (None when caching is off)."""
    if kind not in KINDS:
        raise ValueError(f"cache kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    root = cache_root()
    return None if root is None else root / kind


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A short hash of every source file of the ``simtransfer`` and ``theory`` packages
    (``*.py`` and ``theory/*.json``, by relative path and content).  Any code change gives
    another hash, so a cached or saved result keyed on it is never reused by other code."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parents[1]  # simtransfer/
    roots = [pkg, pkg.parent / "theory"]
    for root in roots:
        files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts)
        for p in files:
            h.update(str(p.relative_to(root.parent)).encode())
            h.update(b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()[:16]


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache under ``cache_dir("jax")``; returns the
    directory in use (None when disabled).  Idempotent and cheap; called by ``run``,
    ``sweep``, ``check``, ``falsify``, the CLI and the figures before they compile.

    A directory the user chose (``jax.config.update("jax_compilation_cache_dir", ...)`` or
    ``JAX_COMPILATION_CACHE_DIR``) is kept.  Entries are written for programs that took at
    least 0.2 s to compile (JAX's default is 1 s, which would skip the small per-stage
    programs of a sweep).
    """
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    d = cache_dir("jax")
    if d is None:
        return None
    d.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(d))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    # JAX decides once per process whether the cache is used (at its first compilation):
    # if something compiled before the directory was set, make it decide again.
    from jax.experimental.compilation_cache import compilation_cache as cc

    cc.reset_cache()
    return str(d)


def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def info() -> dict[str, Any]:
    """The cache root, whether caching is on, the code version, and files/bytes per kind."""
    root = cache_root()
    out: dict[str, Any] = {"root": None if root is None else str(root), "enabled": root is not None,
                           "env": ENV, "code_version": code_version()}  # fmt: skip
    if root is not None:
        for kind in KINDS:
            n, b = _size(root / kind)
            out[kind] = {"path": str(root / kind), "files": n, "bytes": b}
    return out


def clear() -> dict[str, Any]:
    """Delete everything under the cache root (only the kinds simtransfer writes); returns
    what was removed.  Results saved with ``--out`` are never touched."""
    before = info()
    root = cache_root()
    if root is not None:
        for kind in KINDS:
            shutil.rmtree(root / kind, ignore_errors=True)
    return before
