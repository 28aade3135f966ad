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
from typing import Mapping

import jax
import numpy as np

from ..config import Experiment
from ..nn.estimators import SCORES, transfer_scores

__all__ = ["PRIVATE", "add_scores", "strip_private"]

#: Private outputs of a trial: features and labels of the target and source training sets.
PRIVATE = ("_phi_T", "_y_T", "_phi_S", "_y_S")


@functools.lru_cache(maxsize=1)
def _program():
    # a lax.map over seeds: on CPU one seed's small eigenproblems at a time run faster than
    # a vmap's batched ones (docs/design.md section 7.1), as inside the trial
    return jax.jit(lambda args: jax.lax.map(lambda a: transfer_scores(*a), args))


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
    scores = _program()(args)
    out.update({k: np.asarray(scores[k]) for k in SCORES})
    return out
