"""Several processes under ``jax.distributed`` run one sweep (docs/design.md section 4.9).

Each test starts worker processes (``tests/mp_worker.py``) on the loopback address only,
each with its own CPU devices, and compares what they assemble with a single-process run
of the same sweep, bit for bit.  Every process has a hard timeout, so nothing hangs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from mp_setup import CHUNK_TRIALS, EXP_FIELDS, GRID, KEY, SEEDS, dataset_arrays

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_worker.py")
#: Bound on one worker process (import, join, compile, 4 chunks): a stuck test fails, never hangs.
PROC_TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # each worker chooses its own CPU devices
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(nproc: int, out: str, port: int, **opts: dict[int, list[str]]) -> list[subprocess.Popen]:
    extra = opts.get("extra", {})
    return [
        subprocess.Popen([sys.executable, WORKER, str(nproc), str(i), str(port), out, *extra.get(i, [])],
                         env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for i in range(nproc)
    ]


def _wait(procs: list[subprocess.Popen], timeout: float = PROC_TIMEOUT) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    out = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"worker {p.args[3]} did not finish within {timeout} s")
        out.append((p.returncode, err))
    return out


@pytest.fixture(scope="module")
def reference():
    """The same sweep in this (single) process."""
    from simtransfer import Experiment, sweep

    ds = sweep(Experiment().set(**EXP_FIELDS), GRID, seeds=SEEDS, key=KEY, quiet=True, chunk_trials=CHUNK_TRIALS)
    return dataset_arrays(ds)


def _assert_same(ref: dict[str, np.ndarray], path: str) -> None:
    with np.load(path) as z:
        got = {k: z[k] for k in z.files}
    assert sorted(got) == sorted(ref)
    for k in ref:  # bit for bit: the same program runs every (point, seed), whichever process
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k, strict=True)


def _run_all(nproc: int, out: str, port: int, reference) -> None:
    results = _wait(_start(nproc, out, port))
    for i, (rc, err) in enumerate(results):
        assert rc == 0, f"process {i} failed:\n{err[-3000:]}"
    for i in range(nproc):
        _assert_same(reference, os.path.join(out, f"process-{i}.npz"))


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, reference):
    """Without a crash (the fast suite checks the same equality after a crash and a rerun)."""
    _run_all(2, str(tmp_path / "mp"), _free_port(), reference)
    n_chunks = len(os.listdir(tmp_path / "mp" / "chunks"))
    assert n_chunks == 8  # one point per chunk


@pytest.mark.slow
def test_four_processes_equal_one(tmp_path, reference):
    _run_all(4, str(tmp_path / "mp4"), _free_port(), reference)


def test_killed_process_resumes_and_equals_one(tmp_path, reference):
    """Two processes run one sweep; one is killed mid-run (SIGKILL); rerunning both resumes,
    and what each assembles equals the single-process run bit for bit.  (Process 1 compiles
    its program every time: JAX writes the persistent cache from process 0 only.)"""
    out = str(tmp_path / "mp")
    procs = _start(2, out, _free_port(), extra={1: ["--die-after", "2"]})
    _, err1 = procs[1].communicate(timeout=PROC_TIMEOUT)
    assert procs[1].returncode == -9, err1[-3000:]  # SIGKILL after its 2nd chunk
    procs[0].kill()  # it waits for the dead process's chunks: stop it as an operator would
    procs[0].communicate(timeout=30)
    chunks = os.path.join(out, "chunks")
    before = {f: os.stat(os.path.join(chunks, f)).st_mtime_ns for f in os.listdir(chunks) if f.endswith(".npz")}
    assert 2 <= len(before) < 8, before
    _run_all(2, out, _free_port(), reference)  # rerun every process: it resumes
    after = {f: os.stat(os.path.join(chunks, f)).st_mtime_ns for f in before}
    assert after == before  # finished chunks were reused, not recomputed


def test_unreachable_coordinator_fails_fast(tmp_path):
    port = _free_port()  # nobody listens there
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, WORKER, "2", "1", str(port), str(tmp_path / "x"), "--timeout", "3"],
                       env=_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    elapsed = time.monotonic() - t0
    assert p.returncode == 2, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: coordinator_address 127.0.0.1:"), lines[-3:]
    assert "Traceback" not in p.stderr
    assert elapsed < 60  # 3 s of probing plus the imports
