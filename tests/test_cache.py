"""The cache root, the compilation cache switch and code-versioned results (``runs.cache``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from simtransfer import ResultsError, run
from simtransfer.runs import cache


def test_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV, str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c"
    assert cache.cache_dir("check") == tmp_path / "c" / "check"
    monkeypatch.setenv(cache.ENV, "none")
    assert cache.cache_root() is None and cache.cache_dir("jax") is None
    monkeypatch.delenv(cache.ENV)
    assert cache.cache_root().name == "simtransfer"  # the platform's user cache directory
    with pytest.raises(ValueError, match="cache kind"):
        cache.cache_dir("results")


def test_code_version_is_a_stable_hash():
    v = cache.code_version()
    assert len(v) == 16 and int(v, 16) >= 0
    assert cache.code_version() == v


def test_cli_cache_info_and_clear(tmp_path):
    env = dict(os.environ, **{cache.ENV: str(tmp_path)})
    (tmp_path / "check").mkdir()
    (tmp_path / "check" / "x.npz").write_bytes(b"0123")
    info = subprocess.run([sys.executable, "-m", "simtransfer", "cache", "--info"], env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    got = json.loads(info.stdout)
    assert got["root"] == str(tmp_path) and got["check"] == {"path": str(tmp_path / "check"), "files": 1, "bytes": 4}
    subprocess.run([sys.executable, "-m", "simtransfer", "cache", "--clear"], env=env, capture_output=True, check=True)
    assert not (tmp_path / "check").exists()


def test_run_out_refuses_results_of_other_code(tiny, tmp_path):
    out = tmp_path / "r"
    res = run(tiny, seeds=2, key=1, out=out)
    assert res.meta["code_version"] == cache.code_version()
    assert run(tiny, seeds=2, key=1, out=out).meta == res.meta  # same code: reused
    meta = json.loads((out / "meta.json").read_text())
    meta["code_version"] = "0" * 16  # as if written by another version of the code
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ResultsError, match="another version of the code"):
        run(tiny, seeds=2, key=1, out=out)


def test_sweep_out_refuses_chunks_of_other_code(tiny, tmp_path):
    from simtransfer import sweep

    out = tmp_path / "s"
    exp = tiny.set(n_target=11)  # a shape no other test compiles (test_sweep counts its compilations)
    sweep(exp, {"task.a": [0.5, 1.0]}, seeds=2, out=out, quiet=True)
    man = json.loads((out / "sweep.json").read_text())
    assert man["code_version"] == cache.code_version()
    man["code_version"] = "0" * 16
    (out / "sweep.json").write_text(json.dumps(man))
    with pytest.raises(ResultsError, match="another version of the code"):
        sweep(exp, {"task.a": [0.5, 1.0]}, seeds=2, out=out, quiet=True)
