"""Parameter sweeps: the Cartesian product of a grid, S paired seeds per point, resumable.

Points whose configs differ only in traced fields (``config.TRACED_FIELDS``: signal
norms, sigma_p, eta, alpha, s, ...) share one compiled call over the flat (point, seed)
axis (a vmap, or on CPU a per-device scan: ``runs.devices.map_trials``); points that change
shapes (d, n, m, P, steps ...) are grouped so each
distinct static configuration compiles once.  Seed i uses the same key at every point
(common random numbers: differences between points are paired).

With ``out=DIR`` every chunk of points is saved as it finishes (temporary file, then
rename) under ``DIR/chunks``; ``DIR/sweep.json`` records the config, grid, seeds, key
and version, and a rerun of the same sweep skips finished chunks, giving a dataset
identical to an uninterrupted run.  A ``DIR`` written by another sweep is refused.

Several processes (``runs.distributed.initialize`` first, one process per host or
several on one machine): process p computes the chunks c with ``c % process_count == p``
and writes only those; the processes then wait for each other's chunks
(``runs.distributed.wait_for_files``)
and every one assembles the whole dataset from ``DIR`` (``load_sweep``), identical to a
single-process run.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import jax
import numpy as np

from ..config import ConfigError, Experiment, resolve_field
from .cache import enable_compilation_cache
from .distributed import my_units, wait_for_files
from .io import atomic_write
from .points import TRACE_COUNT, run_points
from .result import check_out_dir
from .run import seed_keys
from .store import (
    assemble,
    check_or_write_manifest,
    chunk_path,
    load_chunk,
    load_sweep,
    plan_chunks,
    sweep_manifest,
    write_npz,
)

if TYPE_CHECKING:  # xarray (and pandas) load on first use: ``import simtransfer`` ~0.4 s sooner
    import xarray as xr

__all__ = ["sweep", "load_sweep", "TRACE_COUNT"]

def _canonical_grid(exp: Experiment, grid: Mapping[str, Sequence]) -> dict[str, list]:
    out: dict[str, list] = {}
    for k, vals in grid.items():
        name = resolve_field(k)
        if name in out:
            raise ConfigError(f"grid: {k} given twice")
        vals = list(vals)
        if not vals:
            raise ConfigError(f"grid: {name} has no values")
        if len(set(map(repr, vals))) != len(vals):
            raise ConfigError(f"grid: {name} repeats a value")
        out[name] = vals
    return out


def sweep(
    exp: Experiment,
    grid: Mapping[str, Sequence],
    seeds: int = 32,
    key: int = 0,
    *,
    out: str | os.PathLike | None = None,
    quiet: bool = False,
    chunk_trials: int = 256,
    hypotheses: Any = None,
) -> xr.Dataset:
    """Run every point of the Cartesian product of ``grid`` at ``seeds`` paired seeds.

    Args:
      grid: dotted field (or alias) -> list of values, e.g.
        ``{"n_source": [10, 40, 160], "task.a": [0.5, 1.0]}``.
      chunk_trials: trials (points x seeds) per saved chunk and per compiled call; every
        chunk of a shape group is padded to the same size, so each group compiles once.
      hypotheses: the user's own hypotheses, ``{name: fn}`` or a list of specs (anything
        ``simtransfer.experiments.user_hypotheses.resolve`` takes): each adds its prediction
        per point (``theory_<name>_*``, with ``_in_domain``), computed after every chunk is saved.

    Returns:
      ``xarray.Dataset`` with one dimension per grid field (in grid order) plus ``seed``
      (and ``step_upstream``/``step_downstream`` for curves), every per-seed quantity of
      ``Result`` as a variable, the theory's predictions per point (``theory_*``) and the
      config, grid, seeds, key and package version in ``attrs``.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds: must be a positive integer, got {seeds!r}")
    grid = _canonical_grid(exp, grid)
    from ..experiments.user_hypotheses import resolve_all

    hyps = resolve_all(hypotheses)  # import errors before any work
    if hyps:
        from ..experiments.predictions import grid_points, precheck

        precheck(((exp.set(**v), v) for v in grid_points(grid)), hyps)  # bad predictions too
    chunk_points = max(1, chunk_trials // seeds)
    chunks = plan_chunks(exp, grid, chunk_points)
    width: dict[Experiment, int] = {}  # points per compiled call, per shape group
    for static, pts in chunks:
        width[static] = max(width.get(static, 0), len(pts))
    manifest = sweep_manifest(exp, grid, seeds, key, chunk_points)
    keys = seed_keys(key, seeds)
    nproc = jax.process_count()
    if nproc > 1 and out is None:
        raise ConfigError("sweep: several processes need out=DIR on a shared file system (they exchange chunks there)")
    enable_compilation_cache()
    chunk_dir = None
    if out is not None:
        check_out_dir(out)
        chunk_dir = os.path.join(out, "chunks")
        check_or_write_manifest(out, manifest)
        os.makedirs(chunk_dir, exist_ok=True)
    results: dict[int, dict[str, np.ndarray]] = {}
    todo = my_units(len(chunks))
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="chunk", desc="sweep", dynamic_ncols=True)
    t0, done_seeds = time.perf_counter(), 0
    try:
        for c in todo:
            path = None if chunk_dir is None else chunk_path(chunk_dir, c)
            if path is not None and os.path.exists(path):
                results[c] = load_chunk(path)
            else:
                static, pts = chunks[c]
                results[c] = run_points(static, pts, keys, width[static])
                if path is not None:
                    atomic_write(path, functools.partial(write_npz, arrays=results[c]))
                done_seeds += len(pts) * seeds
            if bar is not None:
                rate = done_seeds / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix_str(f"{rate:.1f} seeds/s")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if nproc > 1:  # wait until every process has written its chunks, then read them all
        wait_for_files([chunk_path(chunk_dir, c) for c in range(len(chunks))], f"sweep {out}")
        ds = load_sweep(out)
    else:
        ds = assemble(exp, grid, seeds, key, chunks, results)
    if hyps:
        from ..experiments.predictions import add_predictions

        ds = add_predictions(ds, exp, grid, hyps, key)
    return ds


