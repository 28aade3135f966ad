"""Many seeds at once: ``jit(vmap(trial))`` over PRNG keys, sharded over local devices."""

from __future__ import annotations

import functools
import os
import platform
import time
import warnings
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .config import Experiment, static_part
from .result import STAGES, Result, ResultsError
from .trial import make_trial, theta_of

__all__ = ["run", "seed_keys", "compiled_trial", "default_micro_batch", "map_trials", "DivergenceWarning", "batched_call"]


class DivergenceWarning(RuntimeWarning):
    """Some seeds produced a non-finite training loss; they are excluded from summaries."""


def seed_keys(key: int | jax.Array, seeds: int) -> np.ndarray:
    """(seeds, 2) uint32 raw key data of ``split(key, seeds)``: seed i's key never depends
    on how many seeds run together or how they are batched."""
    if isinstance(key, (int, np.integer)):
        key = jax.random.key(int(key))
    return np.asarray(jax.random.key_data(jax.random.split(key, seeds)))


def default_micro_batch() -> int:
    """Trials each device runs at once inside one compiled call; 0 means all of its share.

    On CPU the default is 1: each device runs its share of the trials one after another
    (a ``lax.map``) instead of one ``vmap`` over all of them, because the vmap turns each
    trial's small matmuls into batched ones whose working set (every trial's training
    patches) leaves the cache.  Measured on 2 CPU cores, default trial, 128 seeds
    (``make bench`` prints both paths): 45.5 ms/seed vmapped, 18.1 ms/seed with 1 trial
    at a time (2026-11-30; on the earlier, slower machine: 153 vmapped, 94 with 1 at a
    time, 97 with 2, 120 with 4).  On GPU/TPU the default is 0: one vmap, which
    is what keeps an accelerator busy.  ``SIMTRANSFER_MICROBATCH=k`` overrides it.
    """
    env = os.environ.get("SIMTRANSFER_MICROBATCH", "").strip()
    if env:
        try:
            k = int(env)
        except ValueError:
            k = -1
        if k < 0:
            raise ValueError(f"SIMTRANSFER_MICROBATCH: must be an integer >= 0, got {env!r}")
        return k
    return 1 if jax.default_backend() == "cpu" else 0


def map_trials(fn: Callable, micro: int) -> Callable:
    """``g(batched, *broadcast)``: ``fn(row, *broadcast)`` for every row of the leading axis
    of ``batched`` (an array or pytree of arrays), results stacked along that axis.

    With several local devices (and a row count they divide) the axis is cut into one
    block per device by ``shard_map``: each device runs its own block with no
    communication at all (a vmap over a sharded axis would make every data-dependent
    loop, e.g. a rejection sampler's, agree across devices at each iteration).  Within a
    block, ``micro = 0`` is ``vmap``; otherwise the device scans over its block ``micro``
    rows at a time (``lax.map(batch_size=micro)``).  The trial's program is the same
    for every row either way, so the results do not depend on the device count.
    """

    def block(blk, *bc):
        if micro == 0:
            return jax.vmap(lambda row: fn(row, *bc))(blk)
        return jax.lax.map(lambda row: fn(row, *bc), blk, batch_size=micro if micro > 1 else None)

    def g(batched, *bc):
        N = jax.tree.leaves(batched)[0].shape[0]
        mesh = _mesh()
        if mesh is None or N % mesh.size:
            return block(batched, *bc)
        spec = PartitionSpec("seed")
        return jax.shard_map(
            block, mesh=mesh, in_specs=(spec,) + (PartitionSpec(),) * len(bc), out_specs=spec, check_vma=False
        )(batched, *bc)

    return g


@functools.lru_cache(maxsize=64)
def compiled_trial(static_exp: Experiment, micro: int | None = None) -> Callable:
    """Jitted ``(keys, theta) -> outputs`` over a batch of seeds for one static
    configuration (cached): ``vmap`` of the trial, or per-device ``lax.map`` of it when
    ``micro`` (default :func:`default_micro_batch`) is positive."""
    trial = make_trial(static_exp)
    micro = default_micro_batch() if micro is None else micro
    return jax.jit(map_trials(lambda k, theta: trial(k, theta), micro))


def _mesh() -> Mesh | None:
    devs = jax.local_devices()
    if len(devs) < 2:
        return None
    return Mesh(np.asarray(devs), ("seed",))


def batched_call(fn: Callable, batched: Any, *broadcast: Any, batch: int | None = None) -> dict[str, np.ndarray]:
    """``fn(batched_chunk, *broadcast)`` over chunks of the leading axis of ``batched`` (an
    array or a pytree of arrays: keys, or (keys, theta) in a sweep), results concatenated.

    Each chunk is padded (by repeating its last row) to a multiple of the local device
    count and sharded over the devices along that axis; the padding is dropped.  With
    fewer rows than devices, everything runs on one device.  Every
    chunk has the same padded size, so ``fn`` compiles once.
    """
    leaves = jax.tree.leaves(batched)
    N = leaves[0].shape[0]
    mesh = _mesh()
    if mesh is not None and N < mesh.size:
        mesh = None  # fewer rows than devices: one device, rather than padding copies onto the others
    n_dev = 1 if mesh is None else mesh.size
    batch = N if batch is None else max(1, min(batch, N))
    batch = -(-batch // n_dev) * n_dev
    outs: list[dict[str, np.ndarray]] = []
    for start in range(0, N, batch):
        n = min(batch, N - start)

        def take(x, start=start, n=n):
            x = np.asarray(x)[start : start + n]
            if n < batch:
                x = np.concatenate([x, np.repeat(x[-1:], batch - n, axis=0)])
            if mesh is not None:
                return jax.device_put(x, NamedSharding(mesh, PartitionSpec("seed")))
            return x

        res = fn(jax.tree.map(take, batched), *broadcast)
        outs.append({k: np.asarray(v)[:n] for k, v in res.items()})
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


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
    (:func:`default_micro_batch`).  ``batch`` bounds how many seeds run at once (memory).
    With ``out``, a finished result for the same config, seeds and key is loaded from
    there instead of recomputed; a directory holding another run is refused.
    """
    if not isinstance(exp, Experiment):
        raise TypeError(f"run: expected an Experiment, got {type(exp).__name__}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds: must be a positive integer, got {seeds!r}")
    if out is not None and os.path.exists(os.path.join(out, "meta.json")):
        prev = Result.load(out)
        if prev.exp != exp or prev.seeds != seeds or prev.key != key:
            raise ResultsError(
                f"{out}: holds a run of another config/seeds/key ({prev.seeds} seeds, key {prev.key}); "
                "choose another --out or delete it"
            )
        return prev
    t0 = time.perf_counter()
    fn = compiled_trial(static_part(exp))
    arrays = batched_call(fn, seed_keys(key, seeds), theta_of(exp), batch=batch)
    meta = {
        "version": _version(),
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


def _version() -> str:
    from . import __version__

    return __version__
