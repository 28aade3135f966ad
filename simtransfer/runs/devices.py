"""Where the trials run: a batch of seeds sharded over the local devices, each device
scanning or vmapping over its share (docs/design.md section 7), and the CPU device split."""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["use_cpu_devices", "cpu_cores", "default_micro_batch", "map_trials", "batched_call", "local_mesh"]

_XLA_COUNT_FLAG = "xla_force_host_platform_device_count"


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def use_cpu_devices(n: int | None = None) -> int:
    """Split the CPU into ``n`` XLA devices so that ``run`` and ``sweep`` shard their seeds
    over the cores; returns the number of CPU devices JAX will have.

    Why: on a multi-core CPU, XLA runs the small matrix products of one trial on a shared
    thread pool at about half the speed of one core per trial (measured: 47 ms vs 31 ms
    for a default upstream stage); one device per core lets the seed axis use every core.

    ``n`` defaults to ``SIMTRANSFER_CPU_DEVICES`` if set, else the number of cores.  It
    only sets this process's ``jax_num_cpu_devices`` (no environment variable, so nothing
    leaks into subprocesses, and GPU/TPU backends are untouched) and it must run before
    JAX's first computation; afterwards the count is fixed, this warns and returns it.
    A device count chosen elsewhere wins: ``XLA_FLAGS=--xla_force_host_platform_device_count``
    or an earlier ``jax.config.update("jax_num_cpu_devices", k)``.  Entry points that
    own their process (the command line, ``python -m figures``, the benchmarks, the
    tests' conftest) call it; in IPython or a notebook call it once, first thing.
    """
    if n is None:
        env = os.environ.get("SIMTRANSFER_CPU_DEVICES", "").strip()
        try:
            n = int(env) if env else cpu_cores()
        except ValueError:
            raise ValueError(f"SIMTRANSFER_CPU_DEVICES: must be a positive integer, got {env!r}") from None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"use_cpu_devices: n must be a positive integer, got {n!r}")
    flags = os.environ.get("XLA_FLAGS", "")
    if _XLA_COUNT_FLAG in flags:  # the user's (or CI's) explicit choice
        tail = flags.split(_XLA_COUNT_FLAG, 1)[1].lstrip("=").split()[0]
        return int(tail) if tail.isdigit() else n
    chosen = jax.config.jax_num_cpu_devices
    if chosen not in (-1, None) and chosen != n:  # set explicitly before us: keep it
        return int(chosen)
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # JAX has run a computation: its CPU client is fixed
        have = len(jax.devices("cpu"))
        if have != n:
            warnings.warn(
                f"use_cpu_devices: JAX has already run a computation, so its {have} CPU device(s) stay; "
                "call use_cpu_devices() before the first JAX operation",
                RuntimeWarning,
                stacklevel=2,
            )
        return have
    return n


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
        mesh = local_mesh()
        if mesh is None or N % mesh.size:
            return block(batched, *bc)
        spec = PartitionSpec("seed")
        return jax.shard_map(
            block, mesh=mesh, in_specs=(spec,) + (PartitionSpec(),) * len(bc), out_specs=spec, check_vma=False
        )(batched, *bc)

    return g


def local_mesh() -> Mesh | None:
    """One mesh axis ``seed`` over the local devices; None with a single device."""
    devs = jax.local_devices()
    if len(devs) < 2:
        return None
    return Mesh(np.asarray(devs), ("seed",))


def batched_call(fn: Callable, batched: Any, *broadcast: Any, batch: int | None = None) -> dict[str, np.ndarray]:
    """``fn(batched_chunk, *broadcast)`` over chunks of the leading axis of ``batched`` (an
    array or a pytree of arrays: keys, or (keys, theta) in a sweep), results concatenated.

    ``batch`` bounds the rows of a call; the rows are cut into as few calls as that
    allows, of equal size (e.g. 300 rows with ``batch=256``: two calls of 150, not 256 and
    a padded 44).  Each chunk is padded (by repeating its last row) to that size, a
    multiple of the local device count, and sharded over the devices along that axis; the
    padding is dropped.  With fewer rows than devices, everything runs on one device.
    Every chunk has the same padded size, so ``fn`` compiles once.
    """
    leaves = jax.tree.leaves(batched)
    N = leaves[0].shape[0]
    mesh = local_mesh()
    if mesh is not None and N < mesh.size:
        mesh = None  # fewer rows than devices: one device, rather than padding copies onto the others
    n_dev = 1 if mesh is None else mesh.size
    batch = N if batch is None else max(1, min(batch, N))
    calls = -(-N // batch)
    batch = -(-N // calls)  # as many calls as ``batch`` needs, of even size: little padding
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
