"""``theory.predict``: every configuration-only hypothesis with its domain (docs/theory.md sections 3, 5).

Keys: H1 (lambda = inf), H1-default-lambda, the empirical H1-corrected, H2, H3, H4, H5 (H4's
successor) and the two trivial predictors.  Each :class:`theory.Prediction` carries
``in_domain`` and ``outside`` (:mod:`theory.domain`): no prediction extrapolates silently.
"""

from __future__ import annotations

from typing import Any

from theory.calibration import Calibration
from theory.h4_model import h4
from theory.h5_model import h5
from theory.hypotheses import always_helps, h1, h1_corrected, h2, h3, sign_of_s
from theory.prediction import Prediction

__all__ = ["predict", "HYPOTHESES"]

#: The names :func:`predict` returns, in order.
HYPOTHESES = ("H1", "H1-default-lambda", "H1-corrected", "H2", "H3", "H4", "H5", "sign_of_s", "always_helps")


def predict(cfg: Any, cal: Calibration | None = None) -> dict[str, Prediction]:
    """Every configuration-only prediction, keyed by name (:data:`HYPOTHESES`), each with its
    domain.  ``cal`` replaces the shipped scratch calibration of H1-H4 (H5 has its own law)."""
    return {
        "H1": h1(cfg, cal=cal),
        "H1-default-lambda": h1(cfg, "default", cal=cal),
        "H1-corrected": h1_corrected(cfg, cal=cal),
        "H2": h2(cfg, cal=cal),
        "H3": h3(cfg, cal=cal),
        "H4": h4(cfg, cal=cal),
        "H5": h5(cfg),
        "sign_of_s": sign_of_s(cfg),
        "always_helps": always_helps(cfg),
    }
