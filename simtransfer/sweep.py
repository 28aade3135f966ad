"""Parameter sweeps: the Cartesian product of a grid, S paired seeds per point, resumable.

Points whose configs differ only in traced fields (``config.TRACED_FIELDS``: signal
norms, sigma_p, eta, alpha, s, ...) share one compiled call over the flat (point, seed)
axis (a vmap, or on CPU a per-device scan: ``run.map_trials``); points that change shapes (d, n, m, P, steps ...) are grouped so each
distinct static configuration compiles once.  Seed i uses the same key at every point
(common random numbers: differences between points are paired).

With ``out=DIR`` every chunk of points is saved as it finishes (temporary file, then
rename) under ``DIR/chunks``; ``DIR/sweep.json`` records the config, grid, seeds, key
and version, and a rerun of the same sweep skips finished chunks, giving a dataset
identical to an uninterrupted run.  A ``DIR`` written by another sweep is refused.

Multi-host (``jax.distributed.initialize()`` first): process p computes the chunks
c with ``c % process_count == p`` and writes only those; any process (or a later
``load_sweep(DIR)``) assembles the dataset once every chunk is on disk.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import time
from dataclasses import fields
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
import xarray as xr

from .config import SECTIONS, ConfigError, Experiment, _resolve, from_dict, static_part
from .result import ResultsError, _atomic_write
from .run import _version, batched_call, default_micro_batch, map_trials, seed_keys
from .trial import CURVES, SCALARS, make_trial, theta_of

__all__ = ["sweep", "load_sweep", "parse_grid", "TRACE_COUNT"]

#: Number of times a sweep's batched trial has been traced (a test asserts one per shape group).
TRACE_COUNT = [0]


def _field_type(name: str) -> type:
    if "." in name:
        sec, f = name.split(".")
        cls = SECTIONS[sec]
    else:
        cls, f = Experiment, name
    t = {x.name: x.type for x in fields(cls)}[f]
    return {"int": int, "float": float, "str": str, "bool": bool, "int | None": int}.get(str(t), object)


def parse_grid(items: Sequence[str]) -> dict[str, list]:
    """Parse CLI grid specs: ``n_source=10,40,160``, ``task.a=0.5:3:8`` (linspace, both ends
    included), ``task.a=log0.1:10:5`` (log-spaced).  Integer fields get integer values."""
    from .config import parse_value

    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid {item}: expected field=values")
        key, spec = (x.strip() for x in item.split("=", 1))
        name = _resolve(key)
        log = spec.startswith("log")
        body = spec[3:] if log else spec
        if ":" in body:
            parts = body.split(":")
            try:
                lo, hi, num = float(parts[0]), float(parts[1]), int(parts[2])
            except (ValueError, IndexError):
                raise ConfigError(f"--grid {item}: a range is start:stop:num (optionally log-prefixed)") from None
            if len(parts) != 3 or num < 1:
                raise ConfigError(f"--grid {item}: a range is start:stop:num with num >= 1")
            if log and (lo <= 0 or hi <= 0):
                raise ConfigError(f"--grid {item}: log ranges need positive ends")
            vals: list = list(np.geomspace(lo, hi, num) if log else np.linspace(lo, hi, num))
            vals = [float(v) for v in vals]
        else:
            if log:
                raise ConfigError(f"--grid {item}: 'log' applies to a start:stop:num range")
            vals = [parse_value(v.strip()) for v in body.split(",") if v.strip()]
        if _field_type(name) is int:  # ranges of an integer field are rounded, duplicates dropped
            try:
                vals = list(dict.fromkeys(int(round(float(v))) for v in vals))
            except (TypeError, ValueError):
                raise ConfigError(f"--grid {item}: {name} takes integers") from None
        if not vals:
            raise ConfigError(f"--grid {item}: no values")
        grid[name] = vals
    return grid


def _canonical_grid(exp: Experiment, grid: Mapping[str, Sequence]) -> dict[str, list]:
    out: dict[str, list] = {}
    for k, vals in grid.items():
        name = _resolve(k)
        if name in out:
            raise ConfigError(f"grid: {k} given twice")
        vals = list(vals)
        if not vals:
            raise ConfigError(f"grid: {name} has no values")
        if len(set(map(repr, vals))) != len(vals):
            raise ConfigError(f"grid: {name} repeats a value")
        out[name] = vals
    return out


@functools.lru_cache(maxsize=64)
def _compiled_points(static_exp: Experiment, micro: int) -> Callable:
    one = make_trial(static_exp)
    trial = map_trials(lambda kt: one(*kt), micro)

    def fn(keys_theta):
        TRACE_COUNT[0] += 1  # runs at trace time only
        return trial(keys_theta)

    return jax.jit(fn)


def _manifest(exp: Experiment, grid: dict[str, list], seeds: int, key: int, chunk_points: int) -> dict[str, Any]:
    return {
        "config": exp.to_toml(),
        "grid": grid,
        "seeds": seeds,
        "key": key,
        "chunk_points": chunk_points,
        "version": _version(),
    }


def _plan(exp: Experiment, grid: dict[str, list], chunk_points: int):
    """Points (with their configs) grouped by static part, then cut into chunks."""
    names = list(grid)
    points = []
    for idx in itertools.product(*(range(len(grid[n])) for n in names)):
        vals = {n: grid[n][i] for n, i in zip(names, idx)}
        try:
            cfg = exp.set(**vals)
        except ConfigError as e:
            raise ConfigError(f"grid point {vals}: {e}") from None
        points.append((idx, cfg))
    groups: dict[Experiment, list] = {}
    for idx, cfg in points:
        groups.setdefault(static_part(cfg), []).append((idx, cfg))
    chunks = []
    for static, pts in groups.items():
        for i in range(0, len(pts), chunk_points):
            chunks.append((static, pts[i : i + chunk_points]))
    return chunks


def _run_chunk(static: Experiment, pts: list, keys: np.ndarray, batch_trials: int) -> dict[str, np.ndarray]:
    S = keys.shape[0]
    thetas = [theta_of(cfg) for _, cfg in pts]
    theta = {k: np.repeat(np.stack([np.asarray(t[k]) for t in thetas]), S) for k in thetas[0]}
    flat_keys = np.tile(keys, (len(pts), 1))
    out = batched_call(_compiled_points(static, default_micro_batch()), (flat_keys, theta), batch=batch_trials)
    return {k: v.reshape((len(pts), S) + v.shape[1:]) for k, v in out.items()}


def sweep(
    exp: Experiment,
    grid: Mapping[str, Sequence],
    seeds: int = 32,
    key: int = 0,
    *,
    out: str | os.PathLike | None = None,
    quiet: bool = False,
    chunk_trials: int = 256,
) -> xr.Dataset:
    """Run every point of the Cartesian product of ``grid`` at ``seeds`` paired seeds.

    Args:
      grid: dotted field (or alias) -> list of values, e.g.
        ``{"n_source": [10, 40, 160], "task.a": [0.5, 1.0]}``.
      chunk_trials: trials (points x seeds) per saved chunk and per compiled call; every
        chunk of a shape group is padded to the same size, so each group compiles once.

    Returns:
      ``xarray.Dataset`` with one dimension per grid field (in grid order) plus ``seed``
      (and ``step_upstream``/``step_downstream`` for curves), every per-seed quantity of
      ``Result`` as a variable, the theory's predictions per point (``theory_*``) and the
      config, grid, seeds, key and package version in ``attrs``.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds: must be a positive integer, got {seeds!r}")
    grid = _canonical_grid(exp, grid)
    chunk_points = max(1, chunk_trials // seeds)
    chunks = _plan(exp, grid, chunk_points)
    manifest = _manifest(exp, grid, seeds, key, chunk_points)
    keys = seed_keys(key, seeds)
    chunk_dir = None
    if out is not None:
        chunk_dir = os.path.join(out, "chunks")
        _check_or_write_manifest(out, manifest)
        os.makedirs(chunk_dir, exist_ok=True)
    nproc, me = jax.process_count(), jax.process_index()
    results: dict[int, dict[str, np.ndarray]] = {}
    todo = [c for c in range(len(chunks)) if c % nproc == me]
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="chunk", desc="sweep", dynamic_ncols=True)
    t0, done_seeds = time.perf_counter(), 0
    try:
        for c in todo:
            path = None if chunk_dir is None else os.path.join(chunk_dir, f"chunk-{c:05d}.npz")
            if path is not None and os.path.exists(path):
                results[c] = _load_chunk(path)
            else:
                static, pts = chunks[c]
                results[c] = _run_chunk(static, pts, keys, chunk_points * seeds)
                if path is not None:
                    _atomic_write(path, functools.partial(_write_npz, arrays=results[c]))
                done_seeds += len(pts) * seeds
            if bar is not None:
                rate = done_seeds / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix_str(f"{rate:.1f} seeds/s")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if nproc > 1:
        if out is None:
            raise ConfigError("sweep: a multi-host sweep needs out=DIR (processes share chunks through it)")
        return load_sweep(out)  # raises until every process has written its chunks
    return _assemble(exp, grid, seeds, key, chunks, results)


def _write_npz(fh, arrays):
    np.savez(fh, **arrays)


def _load_chunk(path: str) -> dict[str, np.ndarray]:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ResultsError(f"{path}: corrupt chunk file ({e}); delete it to recompute that chunk") from None


def _check_or_write_manifest(out: str | os.PathLike, manifest: dict[str, Any]) -> None:
    path = os.path.join(out, "sweep.json")
    if os.path.exists(path):
        try:
            with open(path) as fh:
                prev = json.load(fh)
        except json.JSONDecodeError as e:
            raise ResultsError(f"{path}: corrupt sweep manifest ({e})") from None
        keys = ("config", "grid", "seeds", "key", "chunk_points")
        if any(prev.get(k) != json.loads(json.dumps(manifest[k])) for k in keys):
            diff = [k for k in keys if prev.get(k) != json.loads(json.dumps(manifest[k]))]
            raise ResultsError(
                f"{out}: holds a sweep of another configuration (differs in: {', '.join(diff)}); "
                "refusing to mix results: choose another --out or delete it"
            )
        return
    os.makedirs(out, exist_ok=True)
    _atomic_write(path, json.dumps(manifest, indent=1).encode())


def load_sweep(out: str | os.PathLike) -> xr.Dataset:
    """Assemble the dataset of a finished sweep directory (every chunk must be there)."""
    path = os.path.join(out, "sweep.json")
    try:
        with open(path) as fh:
            man = json.load(fh)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing (not a sweep directory)") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: corrupt sweep manifest ({e})") from None
    import tomllib

    exp = from_dict(tomllib.loads(man["config"]), source=path)
    grid = {k: list(v) for k, v in man["grid"].items()}
    chunks = _plan(exp, grid, man["chunk_points"])
    results = {}
    for c in range(len(chunks)):
        p = os.path.join(out, "chunks", f"chunk-{c:05d}.npz")
        if not os.path.exists(p):
            raise ResultsError(f"{p}: missing; the sweep is unfinished (rerun it to complete)")
        results[c] = _load_chunk(p)
    return _assemble(exp, grid, man["seeds"], man["key"], chunks, results)


def _assemble(exp, grid, seeds, key, chunks, results) -> xr.Dataset:
    names = list(grid)
    shape = tuple(len(grid[n]) for n in names)
    # A sweep over steps gives curves of different lengths: pad the shorter with NaN (with
    # a fixed log_every their logged steps are a prefix of the longest run's).
    tail = {k: max((r[k].shape[2:] for r in results.values()), key=lambda s: s[-1] if s else 0) for k in results[min(results)]}
    arrays = {k: np.full(shape + (seeds,) + tail[k], np.nan if v.dtype.kind == "f" else 0, v.dtype)
              for k, v in results[min(results)].items()}  # fmt: skip
    point_cfg: dict[tuple, Experiment] = {}
    longest = {"upstream": exp.upstream, "downstream": exp.downstream}
    for c, (_, pts) in enumerate(chunks):
        for i, (idx, cfg) in enumerate(pts):
            point_cfg[idx] = cfg
            for st in longest:
                if getattr(cfg, st).steps > longest[st].steps:
                    longest[st] = getattr(cfg, st)
            for k, v in results[c].items():
                arrays[k][idx + (slice(None),) + tuple(slice(0, n) for n in v.shape[2:])] = v[i]
    dims = names + ["seed"]
    data_vars: dict[str, Any] = {}
    for k, v in arrays.items():
        if k in CURVES:
            stage = "upstream" if k.startswith("curve_upstream") else "downstream"
            data_vars[k] = (dims + [f"step_{stage}"], v)
        else:
            data_vars[k] = (dims, v)
    coords: dict[str, Any] = {n: grid[n] for n in names}
    coords["seed"] = np.arange(seeds)
    for stage, cfg_stage in longest.items():
        coords[f"step_{stage}"] = np.asarray(cfg_stage.log_steps)
    ds = xr.Dataset(data_vars, coords=coords)
    for name, val in _theory_predictions(point_cfg, names, shape).items():
        ds[name] = (names, val)
    ds.attrs.update(
        config=exp.to_toml(),
        grid=json.dumps(grid),
        seeds=seeds,
        key=key,
        version=_version(),
    )
    return ds


def _theory_predictions(point_cfg: dict[tuple, Experiment], names: list[str], shape: tuple) -> dict[str, np.ndarray]:
    """Configuration-only predictions of every hypothesis of ``theory.predict`` at every point:
    ``theory_<hypothesis>_{err_transfer,err_scratch,gain,sign}``.  The theory speaks of the
    synthetic data only: points with ``task.data = "digits"`` get NaN (no variable at all
    when every point is a digits point)."""
    import theory

    fields = {"pred_err_transfer": "err_transfer", "pred_err_scratch": "err_scratch", "pred_gain": "gain", "sign": "sign"}
    out: dict[str, np.ndarray] = {}
    for idx, cfg in point_cfg.items():
        if cfg.task.data != "synthetic":
            continue
        for hyp, pred in theory.predict(cfg).items():
            tag = "".join(c if c.isalnum() else "_" for c in hyp)
            for attr, short in fields.items():
                out.setdefault(f"theory_{tag}_{short}", np.full(shape, np.nan))[idx] = float(getattr(pred, attr))
    return out
