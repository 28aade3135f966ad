"""The shipped scratch calibration (``theory/calibration.json``) and its loader.

The file is produced by ``python -m simtransfer.calibrate --out theory/calibration.json``
(scratch-only simulations, docs/theory.md section 1) and holds one :class:`theory.scratch.Fit`
per law, the name of the default law, the grid, the per-point data and the command.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping

from theory.scratch import Fit

__all__ = ["Calibration", "load_calibration", "DEFAULT_PATH"]

DEFAULT_PATH = "calibration.json"  # inside the theory package


@dataclass(frozen=True)
class Calibration:
    """Calibrated scratch laws: ``fits[law]`` for each law, ``default`` the law used by the
    transfer predictions unless told otherwise, ``meta`` the grid, points and command."""

    fits: Mapping[str, Fit]
    default: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def fit(self, law: str | None = None) -> Fit:
        law = self.default if law is None else law
        if law not in self.fits:
            raise KeyError(f"calibration has no fit for law {law!r}; it has {', '.join(self.fits)}")
        return self.fits[law]

    def error(self, snr2_value, p: float | None = None, law: str | None = None):
        """Scratch error predicted at SNR2 by the calibrated ``law``."""
        return self.fit(law).error(snr2_value, p)

    def error_of_snr(self, r, p: float | None = None, law: str | None = None):
        """Error at a signed margin SNR ``r`` (see :meth:`theory.scratch.Fit.error_of_snr`)."""
        return self.fit(law).error_of_snr(r, p)

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default, "fits": {k: f.to_dict() for k, f in self.fits.items()}, **dict(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        meta = {k: v for k, v in d.items() if k not in ("default", "fits")}
        return cls({k: Fit.from_dict(v) for k, v in d["fits"].items()}, d["default"], meta)

    def save(self, path: str | os.PathLike) -> None:
        """Write the JSON to a temporary file beside ``path``, then rename (never half-written)."""
        tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)


@functools.lru_cache(maxsize=8)
def _load(path: str | None) -> Calibration:
    if path is None:
        text = resources.files("theory").joinpath(DEFAULT_PATH).read_text()
        return Calibration.from_dict(json.loads(text))
    with open(path) as fh:
        return Calibration.from_dict(json.load(fh))


def load_calibration(path: str | os.PathLike | None = None) -> Calibration:
    """The calibration in ``path`` (default: the one shipped as ``theory/calibration.json``)."""
    return _load(None if path is None else os.fspath(path))
