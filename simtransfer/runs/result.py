"""Per-seed results of ``run`` with summaries and save/load to a directory."""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import ConfigError, Experiment, from_dict
from .io import atomic_write

__all__ = ["Result", "Summary", "ResultsError", "STAGES", "check_out_dir"]

STAGES = ("upstream", "transfer", "scratch")
_FILES = ("config.toml", "meta.json", "arrays.npz")


class ResultsError(RuntimeError):
    """A results directory or file is missing, corrupt, or belongs to another config."""


def check_out_dir(out: str | os.PathLike) -> None:
    """``ResultsError`` naming ``out`` unless it is a directory or does not exist yet (results
    are saved as several files in a directory)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ResultsError(f"{os.fspath(out)}: exists and is not a directory; --out/out= names a directory to save in")


@dataclass(frozen=True)
class Row:
    name: str
    mean: float
    se: float
    n: int


@dataclass(frozen=True)
class Summary:
    """Mean and standard error over the valid (non-diverged) seeds, and the win rate.

    ``win_rate`` is the fraction of seeds where the transfer model's (exact conditional)
    target error is strictly below the scratch model's.
    """

    rows: tuple[Row, ...]
    n_seeds: int
    diverged: dict[str, int]
    win_rate: float
    win_rate_se: float

    def __getitem__(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_seeds": self.n_seeds,
            "diverged": dict(self.diverged),
            "win_rate": self.win_rate,
            "win_rate_se": self.win_rate_se,
            **{r.name: {"mean": r.mean, "se": r.se, "n": r.n} for r in self.rows},
        }

    def __str__(self) -> str:
        w = max(len(r.name) for r in self.rows)
        lines = [f"{'quantity':<{w}}  {'mean':>9}  {'s.e.':>8}  {'seeds':>5}"]
        for r in self.rows:
            lines.append(f"{r.name:<{w}}  {r.mean:9.4f}  {r.se:8.4f}  {r.n:5d}")
        lines.append(f"{'win rate':<{w}}  {self.win_rate:9.4f}  {self.win_rate_se:8.4f}  {self._n_valid:5d}")
        bad = {k: v for k, v in self.diverged.items() if v}
        if bad:
            lines.append("diverged (excluded): " + ", ".join(f"{k} {v}/{self.n_seeds}" for k, v in bad.items()))
        return "\n".join(lines)

    @property
    def _n_valid(self) -> int:
        return self["gain"].n

    __repr__ = __str__


def _mean_se(x: np.ndarray) -> tuple[float, float, int]:
    x = np.asarray(x, np.float64)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(x.mean()), se, n


_SUMMARY_ROWS = (
    "err_upstream", "err_zeroshot", "err_transfer", "err_scratch", "gain",
    "emp_err_upstream", "emp_err_zeroshot", "emp_err_transfer", "emp_err_scratch", "emp_gain",
    "loss_upstream", "loss_transfer", "loss_scratch", "acc_upstream", "acc_transfer", "acc_scratch",
)  # fmt: skip


@dataclass
class Result:
    """Per-seed arrays of a run (leading axis: seed) and the experiment that made them.

    ``res.err_transfer`` etc. give the arrays directly; ``res.steps("upstream")`` gives the
    training steps at which the ``curve_upstream_*`` arrays were logged.  ``err_*`` are
    exact conditional test errors (docs/theory.md section 2), ``emp_err_*`` empirical ones on
    the shared test set, ``gain = err_scratch - err_transfer``.
    """

    exp: Experiment
    arrays: dict[str, np.ndarray]
    key: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def seeds(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0])

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def __dir__(self):
        return list(super().__dir__()) + list(self.arrays)

    def steps(self, stage: str) -> np.ndarray:
        """Steps at which the curves of ``stage`` (upstream, transfer, scratch) were logged."""
        cfg = self.exp.upstream if stage == "upstream" else self.exp.downstream
        return np.asarray(cfg.log_steps)

    @property
    def valid(self) -> np.ndarray:
        """(S,) bool: seeds where no stage diverged (the ones every statistic uses)."""
        ok = np.ones(self.seeds, bool)
        for st in STAGES:
            ok &= ~self.arrays[f"diverged_{st}"].astype(bool)
        return ok

    def summary(self) -> Summary:
        ok = self.valid
        rows = tuple(Row(name, *_mean_se(self.arrays[name][ok])) for name in _SUMMARY_ROWS if name in self.arrays)
        wins = (self.arrays["gain"][ok] > 0).astype(np.float64)
        n = wins.size
        wr = float(wins.mean()) if n else math.nan
        wr_se = math.sqrt(wr * (1 - wr) / n) if n else math.nan
        div = {st: int(self.arrays[f"diverged_{st}"].sum()) for st in STAGES}
        return Summary(rows, self.seeds, div, wr, wr_se)

    def __repr__(self) -> str:
        t = self.exp.task
        data = (f"digits {t.source_digits} -> {t.target_digits}, P={t.P}" if t.data == "digits"
                else f"a={t.a}, b_S={t.b_S}, b_T={t.b_T}, s={t.s}, sigma_p={t.sigma_p}")  # fmt: skip
        head = (
            f"Result({self.seeds} seeds, key={self.key}, backend={self.exp.backend}: d={t.d}, "
            f"n_S={self.exp.n_source}, n_T={self.exp.n_target}, m={self.exp.model.m}, "
            f"alpha={self.exp.transfer.alpha}, {data})"
        )
        return head + "\n" + str(self.summary())

    # -- persistence -----------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write ``config.toml``, ``meta.json`` and ``arrays.npz`` to ``directory``.

        Each file is written to a temporary name and renamed, so an interrupted save never
        leaves a half-written file under a final name.
        """
        os.makedirs(directory, exist_ok=True)
        meta = dict(self.meta, key=self.key, seeds=self.seeds)
        atomic_write(os.path.join(directory, "config.toml"), self.exp.to_toml().encode())
        atomic_write(os.path.join(directory, "meta.json"), json.dumps(meta, indent=1, default=str).encode())

        def write_npz(fh):
            np.savez(fh, **self.arrays)

        atomic_write(os.path.join(directory, "arrays.npz"), write_npz)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Result":
        """Read a saved Result; a missing or corrupt file raises ``ResultsError`` naming it."""
        import tomllib

        paths = {f: os.path.join(directory, f) for f in _FILES}
        for f, p in paths.items():
            if not os.path.isfile(p):
                raise ResultsError(f"{p}: missing (not a complete simtransfer result directory)")
        try:
            with open(paths["config.toml"], "rb") as fh:
                exp = from_dict(tomllib.load(fh), source=paths["config.toml"])
        except (tomllib.TOMLDecodeError, ConfigError) as e:
            raise ResultsError(f"{paths['config.toml']}: corrupt or invalid config ({e})") from None
        try:
            with open(paths["meta.json"]) as fh:
                meta = json.load(fh)
        except json.JSONDecodeError as e:
            raise ResultsError(f"{paths['meta.json']}: corrupt JSON ({e})") from None
        try:
            with np.load(paths["arrays.npz"], allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise ResultsError(f"{paths['arrays.npz']}: corrupt array file ({e})") from None
        if not arrays:
            raise ResultsError(f"{paths['arrays.npz']}: holds no arrays")
        sizes = {v.shape[0] if v.ndim else -1 for v in arrays.values()}
        if len(sizes) != 1 or sizes != {meta.get("seeds")}:
            raise ResultsError(f"{paths['arrays.npz']}: arrays disagree on the number of seeds ({sorted(sizes)})")
        key = int(meta.pop("key", 0))
        meta.pop("seeds", None)
        return cls(exp, arrays, key, meta)
