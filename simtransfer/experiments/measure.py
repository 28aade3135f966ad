"""Per-seed output statistics of the trial's models, for the plug-in hypotheses (issue 3).

``measure(points, seeds, key)`` reruns each seed's trial with ``eval.measure_draws`` set and
keeps the numbers of ``protocol.measures`` (S and N of each model on the target task,
lambda = N_inh / N_sc).  A sweep whose configuration sets ``eval.measure_draws`` gets the
same outputs from its own trials, without this second run (the theory check does that).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..config import Experiment, group_static
from ..protocol.measures import MEASURE_DRAWS, MEASURES
from ..runs.points import run_points
from ..runs.run import seed_keys

__all__ = ["MEASURES", "measure"]


def measure(
    points: Sequence[Experiment], seeds: int, key: int = 0, *, draws: int = MEASURE_DRAWS
) -> dict[str, np.ndarray]:
    """Every :data:`MEASURES` quantity, (len(points), seeds), for points sharing one static part.

    Seed i uses ``seed_keys(key, seeds)[i]``, the key ``sweep`` gives it, so the measured
    trial is the swept one (the same weights).  The points run as one chunk of a sweep
    (``runs.points.run_points``), with the measurements on and the transferability scores
    off (the measurements do not depend on them).
    """
    on = {"eval.measure_draws": draws, "eval.scores": False}
    pts = [(None, p.set(**on)) for p in points]
    statics = list(group_static([p for _, p in pts]))
    if len(statics) != 1:
        raise ValueError("measure: the points must share their static part (one compilation)")
    out = run_points(statics[0], pts, seed_keys(key, seeds))
    return {k: out[k] for k in MEASURES}
