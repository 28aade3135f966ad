"""The transferability scores of a batch of trials, computed after the trials
(docs/design.md section 4.7).

A trial with ``eval.scores`` returns the upstream model's features phi (n, 2 m_up) on both
training sets with their observed labels (the private outputs ``PRIVATE``), and
:func:`add_scores` turns them into ``score_*`` (``nn.estimators.transfer_scores``) with one
small program per shape (n_T, n_S, 2 m_up).  That program is compiled once and shared by
every configuration of that shape (other T, policies, modes, backends ...), where inside
the trial the estimators and their Jacobi solver were compiled again with each trial
program (a fifth to a third of its compilation).  Only the first n rows of each feature
matrix are scored, so a trial may pad its training sets.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Mapping

import jax
import numpy as np

from ..config import Experiment
from ..nn.estimators import SCORES, transfer_scores

__all__ = ["PRIVATE", "add_scores", "precompile_scores", "strip_private"]

#: Private outputs of a trial: features and labels of the target and source training sets.
PRIVATE = ("_phi_T", "_y_T", "_phi_S", "_y_S")


@functools.lru_cache(maxsize=1)
def _program():
    # a lax.map over seeds: on CPU one seed's small eigenproblems at a time run faster than
    # a vmap's batched ones (docs/design.md section 7.1), as inside the trial
    return jax.jit(lambda args: jax.lax.map(lambda a: transfer_scores(*a), args))


#: Background compilations of the scores' program, by argument shapes (``precompile_scores``).
_AHEAD: dict[tuple, Future] = {}
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simtransfer-scores-compile")


def _shapes(args) -> tuple:
    return tuple((a.shape, str(a.dtype)) for a in args)


def precompile_scores(exp: Experiment, seeds: int) -> None:
    """Start compiling, in a background thread, the scores' program for ``seeds`` trials of
    ``exp`` (synthetic tasks with ``eval.scores``), so that a first call overlaps it with the
    trial's own compilation: XLA compiles with the GIL released and leaves part of the cores
    idle (measured: the cold ``run(Experiment(), seeds=8)`` about 1 s sooner, 2 CPU cores).
    :func:`add_scores` uses the result for arguments of these shapes, and compiles as
    usual when it fails or the shapes differ."""
    if not exp.eval.scores or exp.task.data != "synthetic":
        return
    m2 = 2 * exp.model.m_upstream
    shapes = ((seeds, exp.n_target, m2), (seeds, exp.n_target), (seeds, exp.n_source, m2), (seeds, exp.n_source))
    specs = tuple(jax.ShapeDtypeStruct(s, np.float32) for s in shapes)
    key = tuple((s, "float32") for s in shapes)
    if key not in _AHEAD:
        while len(_AHEAD) >= 32:  # keep a bounded number of executables
            _AHEAD.pop(next(iter(_AHEAD)))
        _AHEAD[key] = _POOL.submit(lambda: _program().lower(specs).compile())


def _run_scores(args):
    fut = _AHEAD.get(_shapes(args))
    if fut is not None and fut.exception() is None:
        return fut.result()(args)
    return _program()(args)


def strip_private(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` without the private outputs."""
    return {k: v for k, v in arrays.items() if k not in PRIVATE}


def add_scores(exp: Experiment, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-seed outputs ``arrays`` (seed axis first) of trials of ``exp`` with ``score_*``
    computed from their private features (``nn.estimators.transfer_scores`` on the first
    ``n_target`` / ``n_source`` rows) and the private outputs removed; unchanged (scores
    NaN) when the trial returned no features (``eval.scores = false``, real images)."""
    out = strip_private(arrays)
    if PRIVATE[0] not in arrays:
        return out
    rows = (exp.n_target, exp.n_target, exp.n_source, exp.n_source)
    args = tuple(np.asarray(arrays[k])[:, :n] for k, n in zip(PRIVATE, rows))
    scores = _run_scores(args)
    out.update({k: np.asarray(scores[k]) for k in SCORES})
    return out
