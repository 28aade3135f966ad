"""Validation helpers of the configuration: the error type, range checks and the choice lists
(docs/design.md sections 1-4)."""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

from .registry import names

__all__ = ["ConfigError", "parse_digit_pair", "digit_pool_size", "DIGIT_CUTS", "DIGIT_COUNTS"]

ACTIVATIONS = ("relu", "leaky_relu", "relu_q")
POLICIES = ("first", "random", "top_signal")
MODES = ("inherit", "distill", "inherit+distill")
PARTITIONS = ("none", "agree", "confident")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "lamb", "lion")


class Registered(Sequence[str]):
    """The names of ``field`` (``backend`` or ``task.data``) that the registered backends
    serve (``config.registry``), read at each use; a name not found searches the backends'
    package again, so a backend module added since is seen."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __contains__(self, v: object) -> bool:
        return isinstance(v, str) and (v in names(self.field) or v in names(self.field, fresh=True))

    def __iter__(self) -> Iterator[str]:
        return iter(names(self.field))

    def __len__(self) -> int:
        return len(names(self.field))

    def __getitem__(self, i):  # type: ignore[override]
        return names(self.field)[i]


BACKENDS = Registered("backend")
DATA = Registered("task.data")
#: Cuts of the 8x8 digits into P patches (``simtransfer.config.digits``): P -> (patch rows, patch
#: columns), non-overlapping, row-major; d = rows * columns.
DIGIT_CUTS = {2: (4, 8), 4: (4, 4), 8: (2, 4), 16: (2, 2)}
#: Images per digit 0..9 in scikit-learn's ``load_digits`` (1797 in all; checked at load).
DIGIT_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong type (names the field)."""


def _fail(name: str, msg: str) -> None:
    raise ConfigError(f"{name}: {msg}")


#: Largest magnitude of an integer field (sizes and counts index int32 arrays).
INT_LIMIT = 2**31 - 1


def _check_int(name: str, v: Any, lo: int | None = None, hi: int | None = None) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(name, f"must be an integer, got {v!r}")
    if abs(v) > INT_LIMIT:
        _fail(name, f"must be at most {INT_LIMIT} in magnitude, got a {len(str(abs(v)))}-digit integer")
    if lo is not None and v < lo:
        _fail(name, f"must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        _fail(name, f"must be <= {hi}, got {v}")


def _check_float(
    name: str,
    v: Any,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _fail(name, f"must be a number, got {v!r}")
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an integer beyond the float range
        finite = False
    if not finite:
        _fail(name, f"must be finite, got {v if isinstance(v, float) else f'a {len(str(abs(v)))}-digit integer'}")
    lb = "(" if lo_open else "["
    rb = ")" if hi_open else "]"
    rng = f"{lb}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{rb}"
    if lo is not None and (v < lo or (lo_open and v == lo)):
        _fail(name, f"must be in {rng}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        _fail(name, f"must be in {rng}, got {v}")


def _check_choice(name: str, v: Any, choices: tuple[str, ...]) -> None:
    if v not in choices:
        _fail(name, f"must be one of {', '.join(choices)}; got {v!r}")


def parse_digit_pair(name: str, v: Any) -> tuple[int, int]:
    """Two distinct digits 0..9 from ``"a,b"`` (label +1 = a, -1 = b); ``ConfigError`` naming ``name``."""
    parts = v.split(",") if isinstance(v, str) else []
    try:
        pair = tuple(int(x.strip()) for x in parts)
    except ValueError:
        pair = ()
    if len(pair) != 2:
        _fail(name, f'must be two digits "a,b" (label +1 = a, -1 = b), got {v!r}')
    if not all(0 <= x <= 9 for x in pair):
        _fail(name, f"digits must be in 0..9, got {v!r}")
    if pair[0] == pair[1]:
        _fail(name, f"the two digits must differ, got {v!r}")
    return pair  # type: ignore[return-value]


def digit_pool_size(pair: tuple[int, int], half: str) -> int:
    """Images of a pair's pool (``simtransfer.config.digits``): every digit's images are split per
    seed into a source half (floor(N_c / 2)) and a target half (the rest)."""
    return sum(DIGIT_COUNTS[c] // 2 if half == "source" else DIGIT_COUNTS[c] - DIGIT_COUNTS[c] // 2 for c in pair)


def _check_bool(name: str, v: Any) -> None:
    if not isinstance(v, bool):
        _fail(name, f"must be true or false, got {v!r}")
