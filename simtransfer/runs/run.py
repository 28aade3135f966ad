"""Many seeds at once: ``jit(vmap(trial))`` over PRNG keys, sharded over local devices."""

from __future__ import annotations

import functools
import os
import platform
import time
import warnings
from typing import Callable

import jax
import numpy as np

from ..config import Experiment, static_part
from ..protocol import add_scores, make_trial, theta_of, trim_curves
from ..protocol.scores import precompile_scores
from ..version import __version__
from .cache import code_version, enable_compilation_cache
from .devices import batched_call, default_micro_batch, map_trials
from .memory import seeds_per_call
from .result import STAGES, Result, ResultsError, check_out_dir

__all__ = ["run", "seed_keys", "compiled_trial", "DivergenceWarning", "package_version"]


class DivergenceWarning(RuntimeWarning):
    """Some seeds produced a non-finite training loss; they are excluded from summaries."""


def seed_keys(key: int | jax.Array, seeds: int) -> np.ndarray:
    """(seeds, 2) uint32 raw key data of ``split(key, seeds)``: seed i's key never depends
    on how many seeds run together or how they are batched."""
    if isinstance(key, (int, np.integer)):
        key = jax.random.key(int(key))
    return np.asarray(jax.random.key_data(jax.random.split(key, seeds)))


@functools.lru_cache(maxsize=64)
def compiled_trial(static_exp: Experiment, micro: int | None = None) -> Callable:
    """Jitted ``(keys, theta) -> outputs`` over a batch of seeds for one static
    configuration (cached): ``vmap`` of the trial, or per-device ``lax.map`` of it when
    ``micro`` (default :func:`default_micro_batch`) is positive."""
    trial = make_trial(static_exp)
    micro = default_micro_batch() if micro is None else micro
    return jax.jit(map_trials(lambda k, theta: trial(k, theta), micro))


def _warn_divergence(exp: Experiment, arrays: dict[str, np.ndarray]) -> None:
    for st in STAGES:
        n = int(arrays[f"diverged_{st}"].sum())
        if n:
            field = "upstream.eta" if st == "upstream" else "downstream.eta"
            warnings.warn(
                f"{n}/{arrays[f'diverged_{st}'].shape[0]} seeds diverged (non-finite loss) in the {st} stage; "
                f"they are excluded from every mean. Lower {field} (now {exp.get(field)}).",
                DivergenceWarning,
                stacklevel=3,
            )


def run(
    exp: Experiment,
    seeds: int = 32,
    key: int = 0,
    *,
    batch: int | None = None,
    out: str | os.PathLike | None = None,
) -> Result:
    """Run ``seeds`` paired trials of ``exp`` (seed i uses ``split(key(key), seeds)[i]``).

    All seeds of a batch run under one ``jit``; with several local devices the seed axis
    is sharded over them, and each device vmaps or scans over its seeds
    (:func:`default_micro_batch`).  ``batch`` bounds how many seeds run at once; by
    default it is what fits in the device's free memory (:func:`runs.memory.seeds_per_call`),
    so a run of any number of seeds streams through in batches.
    With ``out``, a finished result for the same config, seeds, key and code version
    (:func:`runs.cache.code_version`) is loaded from there instead of recomputed; a
    directory holding another run, or one written by other code, is refused.
    Compiled programs are kept in the persistent compilation cache (``runs.cache``).
    """
    if not isinstance(exp, Experiment):
        raise TypeError(f"run: expected an Experiment, got {type(exp).__name__}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds: must be a positive integer, got {seeds!r}")
    if out is not None:
        check_out_dir(out)
    if out is not None and os.path.exists(os.path.join(out, "meta.json")):
        prev = Result.load(out)
        if prev.exp != exp or prev.seeds != seeds or prev.key != key:
            raise ResultsError(
                f"{out}: holds a run of another config/seeds/key ({prev.seeds} seeds, key {prev.key}); "
                "choose another --out or delete it"
            )
        if prev.meta.get("code_version") != code_version():
            raise ResultsError(
                f"{out}: written by another version of the code (code version {prev.meta.get('code_version')}, "
                f"now {code_version()}); it is kept as it is (Result.load reads it): choose another --out, "
                "or delete it to recompute"
            )
        return prev
    enable_compilation_cache()
    t0 = time.perf_counter()
    static = static_part(exp)
    if batch is None:
        batch = seeds_per_call(static, seeds)
    fn = compiled_trial(static)
    precompile_scores(exp, seeds)  # in the background, beside the trial's compilation
    arrays = batched_call(fn, seed_keys(key, seeds), theta_of(exp), batch=batch)
    arrays = trim_curves(exp, add_scores(exp, arrays))
    meta = {
        "version": package_version(),
        "code_version": code_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.local_devices()],
        "platform": platform.platform(),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    res = Result(exp, arrays, key, meta)
    _warn_divergence(exp, arrays)
    if out is not None:
        res.save(out)
    return res


def package_version() -> str:
    """The version of this package, recorded in every result."""
    return __version__
