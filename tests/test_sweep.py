"""Sweeps: grid parsing, single compilation, resume after interruption, refusal (issue 4)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

import simtransfer.runs.sweep as sw
from simtransfer import ConfigError, ResultsError, load_sweep, sweep
from simtransfer.config import parse_grid
from simtransfer.runs.points import compiled_points


def test_parse_grid():
    g = parse_grid(["n_source=10,40,160", "task.a=0.5:3:6", "sigma_p=log0.1:10:3", "policy=first,random"])
    assert g["n_source"] == [10, 40, 160]
    np.testing.assert_allclose(g["task.a"], [0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    np.testing.assert_allclose(g["task.sigma_p"], [0.1, 1.0, 10.0])
    assert g["transfer.policy"] == ["first", "random"]
    assert parse_grid(["n_S=log10:1000:3"])["n_source"] == [10, 100, 1000]
    for bad, msg in [("task.a=1:2", "start:stop:num"), ("task.zz=1,2", "unknown"), ("task.a", "field=values"),
                     ("task.a=log0:1:3", "positive"), ("n_source=a,b", "integers")]:  # fmt: skip
        with pytest.raises(ConfigError, match=msg):
            parse_grid([bad])


def test_bad_grid_point_names_field(tiny):
    with pytest.raises(ConfigError, match=r"task\.s"):
        sweep(tiny, {"task.s": [0.5, 2.0]}, seeds=2, quiet=True)


def test_traced_sweep_compiles_once_per_shape_group(tiny):
    before = sw.TRACE_COUNT[0]
    ds = sweep(tiny, {"task.a": [0.3, 0.9], "transfer.alpha": [0.0, 0.5, 1.0], "task.s": [-1.0, 1.0]},
               seeds=3, quiet=True, chunk_trials=6)  # fmt: skip
    assert sw.TRACE_COUNT[0] - before == 1  # 12 points, 6 chunks, one compilation
    assert ds["err_transfer"].dims == ("task.a", "transfer.alpha", "task.s", "seed")
    assert ds["curve_transfer_err"].dims == ("task.a", "transfer.alpha", "task.s", "seed", "step_downstream")
    assert ds.attrs["seeds"] == 3 and json.loads(ds.attrs["grid"])["task.a"] == [0.3, 0.9]
    # alpha = 0 is scratch at every point; scratch does not depend on alpha (paired seeds)
    np.testing.assert_array_equal(ds.gain.sel({"transfer.alpha": 0.0}).values, 0.0)
    sc = ds.err_scratch.values
    np.testing.assert_array_equal(sc[:, 0], sc[:, 2])
    before = sw.TRACE_COUNT[0]
    sweep(tiny, {"model.m": [3, 5], "task.a": [0.3, 0.9]}, seeds=2, quiet=True)
    assert sw.TRACE_COUNT[0] - before == 2  # two shapes, each compiled once


def test_uneven_chunks_compile_once_and_equal_one_chunk(tiny):
    # 5 points in chunks of at most 2 (2 + 2 + 1): every chunk is padded to the group's
    # widest, so the group compiles once (the last, smaller chunk used to compile a second
    # program), and each seed's results do not depend on the chunking
    grid = {"transfer.alpha": [0.0, 0.2, 0.4, 0.6, 0.8]}
    compiled_points.cache_clear()  # traced here, whatever ran before
    before = sw.TRACE_COUNT[0]
    chunked = sweep(tiny, grid, seeds=3, quiet=True, chunk_trials=6)
    assert sw.TRACE_COUNT[0] - before == 1
    whole = sweep(tiny, grid, seeds=3, quiet=True, chunk_trials=15)
    xr.testing.assert_identical(chunked, whole)


def test_chunks_are_balanced(tiny):
    from simtransfer.runs.store import plan_chunks

    for n, cap, sizes in [(5, 2, [2, 2, 1]), (9, 8, [4, 5]), (16, 8, [8, 8]), (3, 8, [3])]:
        chunks = plan_chunks(tiny, {"transfer.alpha": [i / n for i in range(n)]}, cap)
        assert sorted(len(p) for _, p in chunks) == sorted(sizes), (n, cap)


def test_resume_after_interrupt_equals_uninterrupted(tiny, tmp_path, monkeypatch):
    grid = {"task.a": [0.4, 0.8, 1.2], "transfer.alpha": [0.25, 0.75]}
    full = sweep(tiny, grid, seeds=4, quiet=True, chunk_trials=8)
    out = tmp_path / "sw"
    real = sw.run_points
    calls = []

    def flaky(*a, **k):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(sw, "run_points", flaky)
    with pytest.raises(KeyboardInterrupt):
        sweep(tiny, grid, seeds=4, out=str(out), quiet=True, chunk_trials=8)
    assert len(os.listdir(out / "chunks")) == 2
    monkeypatch.setattr(sw, "run_points", real)
    with pytest.raises(ResultsError, match="unfinished"):
        load_sweep(str(out))
    resumed = sweep(tiny, grid, seeds=4, out=str(out), quiet=True, chunk_trials=8)
    xr.testing.assert_identical(resumed, full)
    xr.testing.assert_identical(load_sweep(str(out)), full)


def test_mismatched_directory_is_refused(tiny, tmp_path):
    out = str(tmp_path / "sw")
    sweep(tiny, {"task.a": [0.5]}, seeds=2, out=out, quiet=True)
    with pytest.raises(ResultsError, match="another configuration.*grid"):
        sweep(tiny, {"task.a": [0.6]}, seeds=2, out=out, quiet=True)
    with pytest.raises(ResultsError, match="another configuration.*config"):
        sweep(tiny.set(**{"task.sigma_p": 2.0}), {"task.a": [0.5]}, seeds=2, out=out, quiet=True)
    with open(os.path.join(out, "chunks", "chunk-00000.npz"), "wb") as fh:
        fh.write(b"garbage")
    with pytest.raises(ResultsError, match="chunk-00000.npz: corrupt"):
        sweep(tiny, {"task.a": [0.5]}, seeds=2, out=out, quiet=True)


def test_cli_sweep_survives_kill_9(tiny, tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tiny.to_toml())
    args = [sys.executable, "-m", "simtransfer", "sweep", "--config", str(cfg), "--grid", "task.a=0.3:1.2:4",
            "--grid", "n_source=10,20", "--seeds", "4", "--chunk-trials", "4", "--quiet"]  # fmt: skip
    ref = subprocess.run(args + ["--out", str(tmp_path / "ref")], capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    p = subprocess.Popen(args + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "chunks" / "chunk-00001.npz").exists():
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n_done = len([f for f in os.listdir(out / "chunks") if f.endswith(".npz")])
    assert 0 < n_done < 8  # killed mid-sweep, no temporary file under a final name
    again = subprocess.run(args + ["--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    a = xr.open_dataset(out / "dataset.nc")
    b = xr.open_dataset(tmp_path / "ref" / "dataset.nc")
    xr.testing.assert_identical(a.load(), b.load())
