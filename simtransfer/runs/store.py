"""A sweep on disk: its manifest (``DIR/sweep.json``), its chunks (``DIR/chunks``), and the
assembly of the chunks into one ``xarray.Dataset`` (``load_sweep``; see ``runs.sweep``)."""

from __future__ import annotations

import itertools
import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import ConfigError, Experiment, from_dict, group_static
from ..protocol import CURVES, trim_curves
from .cache import code_version
from .io import atomic_write
from .result import ResultsError
from .run import package_version

if TYPE_CHECKING:  # xarray loads on first use (``assemble``)
    import xarray as xr

__all__ = ["load_sweep", "chunk_path", "plan_chunks", "sweep_manifest", "check_or_write_manifest", "load_chunk",
           "write_npz", "assemble"]  # fmt: skip


def plan_chunks(exp: Experiment, grid: dict[str, list], chunk_points: int):
    """Points (with their configs) grouped by static part, then cut into chunks of at most
    ``chunk_points`` points: as few chunks as that allows, of sizes differing by at most
    one, so that padding every chunk of a group to its largest (``sweep``) compiles one
    program per group and wastes less than one point per chunk."""
    names = list(grid)
    points = []
    for idx in itertools.product(*(range(len(grid[n])) for n in names)):
        vals = {n: grid[n][i] for n, i in zip(names, idx)}
        try:
            cfg = exp.set(**vals)
        except ConfigError as e:
            raise ConfigError(f"grid point {vals}: {e}") from None
        points.append((idx, cfg))
    groups = {static: [points[i] for i in idx] for static, idx in group_static(c for _, c in points).items()}
    chunks = []
    for static, pts in groups.items():
        n = -(-len(pts) // chunk_points)  # chunks in this group
        bounds = [len(pts) * i // n for i in range(n + 1)]
        chunks.extend((static, pts[lo:hi]) for lo, hi in zip(bounds, bounds[1:]))
    return chunks


def sweep_manifest(exp: Experiment, grid: dict[str, list], seeds: int, key: int, chunk_points: int) -> dict[str, Any]:
    return {
        "config": exp.to_toml(),
        "grid": grid,
        "seeds": seeds,
        "key": key,
        "chunk_points": chunk_points,
        "version": package_version(),
        "code_version": code_version(),
    }


def chunk_path(chunk_dir: str | os.PathLike, c: int) -> str:
    """Where chunk ``c`` of a sweep is saved."""
    return os.path.join(chunk_dir, f"chunk-{c:05d}.npz")


def write_npz(fh, arrays):
    np.savez(fh, **arrays)


def load_chunk(path: str) -> dict[str, np.ndarray]:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ResultsError(f"{path}: corrupt chunk file ({e}); delete it to recompute that chunk") from None


def check_or_write_manifest(out: str | os.PathLike, manifest: dict[str, Any]) -> None:
    path = os.path.join(out, "sweep.json")
    if os.path.exists(path):
        try:
            with open(path) as fh:
                prev = json.load(fh)
        except json.JSONDecodeError as e:
            raise ResultsError(f"{path}: corrupt sweep manifest ({e})") from None
        keys = ("config", "grid", "seeds", "key", "chunk_points", "code_version")
        if any(prev.get(k) != json.loads(json.dumps(manifest[k])) for k in keys):
            diff = [k for k in keys if prev.get(k) != json.loads(json.dumps(manifest[k]))]
            if diff == ["code_version"]:
                raise ResultsError(
                    f"{out}: written by another version of the code (code version {prev.get('code_version')}, "
                    f"now {manifest['code_version']}); its chunks are never mixed with new ones: choose another "
                    "--out, or delete it to recompute"
                )
            raise ResultsError(
                f"{out}: holds a sweep of another configuration (differs in: {', '.join(diff)}); "
                "refusing to mix results: choose another --out or delete it"
            )
        return
    os.makedirs(out, exist_ok=True)
    atomic_write(path, json.dumps(manifest, indent=1).encode())


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
    chunks = plan_chunks(exp, grid, man["chunk_points"])
    results = {}
    for c in range(len(chunks)):
        p = chunk_path(os.path.join(out, "chunks"), c)
        if not os.path.exists(p):
            raise ResultsError(f"{p}: missing; the sweep is unfinished (rerun it to complete)")
        results[c] = load_chunk(p)
    return assemble(exp, grid, man["seeds"], man["key"], chunks, results)


def assemble(exp, grid, seeds, key, chunks, results) -> xr.Dataset:
    names = list(grid)
    shape = tuple(len(grid[n]) for n in names)
    # Points may log at different steps (a sweep over T or log_every): a stage's step
    # coordinate is the union of its points' logged steps, and each point's curves (cut to its
    # own log_steps, protocol.outputs.trim_curves) sit at their own steps, NaN elsewhere.
    point_cfg: dict[tuple, Experiment] = {idx: cfg for _, pts in chunks for idx, cfg in pts}
    stage_of = {k: "upstream" if k.startswith("curve_upstream") else "downstream" for k in CURVES}
    steps = {st: np.unique(np.concatenate([getattr(c, st).log_steps for c in point_cfg.values()]))
             for st in ("upstream", "downstream")}  # fmt: skip
    # every output of any point (NaN where a point has none, e.g. the measurements in a
    # sweep over eval.measure_draws)
    first: dict[str, np.ndarray] = {}
    for c in sorted(results):
        for k, v in results[c].items():
            first.setdefault(k, v)
    tail = {k: (len(steps[stage_of[k]]),) if k in CURVES else v.shape[2:] for k, v in first.items()}
    arrays = {k: np.full(shape + (seeds,) + tail[k], np.nan if v.dtype.kind == "f" else 0, v.dtype)
              for k, v in first.items()}  # fmt: skip
    for c, (_, pts) in enumerate(chunks):
        for i, (idx, cfg) in enumerate(pts):
            at = {st: np.searchsorted(steps[st], getattr(cfg, st).log_steps) for st in steps}
            for k, v in trim_curves(cfg, {k: v[i] for k, v in results[c].items()}).items():
                if k in CURVES:
                    arrays[k][idx][:, at[stage_of[k]]] = v  # (a view: idx is basic indexing)
                else:
                    arrays[k][idx] = v
    dims = names + ["seed"]
    data_vars: dict[str, Any] = {}
    for k, v in arrays.items():
        data_vars[k] = (dims + [f"step_{stage_of[k]}"], v) if k in CURVES else (dims, v)
    coords: dict[str, Any] = {n: grid[n] for n in names}
    coords["seed"] = np.arange(seeds)
    for stage, st_steps in steps.items():
        coords[f"step_{stage}"] = st_steps
    import xarray as xr  # on first use (``runs.sweep``)

    ds = xr.Dataset(data_vars, coords=coords)
    for name, val in _theory_predictions(point_cfg, names, shape).items():
        ds[name] = (names, val)
    ds.attrs.update(
        config=exp.to_toml(),
        grid=json.dumps(grid),
        seeds=seeds,
        key=key,
        version=package_version(),
    )
    return ds


def _theory_predictions(point_cfg: dict[tuple, Experiment], names: list[str], shape: tuple) -> dict[str, np.ndarray]:
    """Configuration-only predictions of every hypothesis of ``theory.predict`` at every point:
    ``theory_<hypothesis>_{err_transfer,err_scratch,gain,sign,in_domain}`` (``in_domain`` 1 or
    0: whether the point lies in the hypothesis' validity domain, docs/theory.md section 5).
    The theory speaks of the synthetic data only: points with ``task.data = "digits"`` get
    NaN (no variable at all when every point is a digits point)."""
    import theory

    fields = {"pred_err_transfer": "err_transfer", "pred_err_scratch": "err_scratch", "pred_gain": "gain",
              "sign": "sign",
              "in_domain": "in_domain"}
    out: dict[str, np.ndarray] = {}
    for idx, cfg in point_cfg.items():
        if cfg.task.data != "synthetic":
            continue
        for hyp, pred in theory.predict(cfg).items():
            tag = "".join(c if c.isalnum() else "_" for c in hyp)
            for attr, short in fields.items():
                out.setdefault(f"theory_{tag}_{short}", np.full(shape, np.nan))[idx] = float(getattr(pred, attr))
    return out
