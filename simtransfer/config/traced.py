"""Which fields of an experiment enter its compiled trial as scalars (*traced*) and which fix
the program (*static*), and the static part that keys a compilation (docs/design.md
sections 4.1 and 6.2)."""

from __future__ import annotations

from typing import Mapping

from .experiment import Experiment, with_overrides
from .registry import registered

__all__ = [
    "TRACED_FIELDS", "GRAM_TRACED_FIELDS", "CLOCK_FIELDS", "SAMPLE_FIELDS", "INT_TRACED_FIELDS", "traced_fields",
    "traced_values", "log_buffer", "sample_bucket", "static_part", "group_static", "split_traced",
]  # fmt: skip

#: Dotted fields that enter the compiled trial as traced scalars (no recompilation).
TRACED_FIELDS: tuple[str, ...] = (
    "task.a",
    "task.b_S",
    "task.b_T",
    "task.s",
    "task.sigma_p",
    "task.label_flip",
    "model.sigma_0",
    "model.leak",
    "model.q",
    "upstream.eta",
    "downstream.eta",
    "transfer.alpha",
    "transfer.rescale",
    "transfer.lam",
    "transfer.tau",
    "transfer.confidence",
)


#: Fields traced only by the gram backend on synthetic data: there d enters only as the
#: degrees of freedom of chi-square draws (``backends.gram.basis``), so a sweep over d
#: shares one compilation.  Kept as an integer (``protocol.outputs.theta_of``).
GRAM_TRACED_FIELDS: tuple[str, ...] = ("task.d",)

#: The step count T and the logging period of each stage, traced by every backend as
#: integers: the GD loop runs a traced number of steps into a log buffer of static length
#: (``nn.train.gd_loop``), so runs that differ only in these share a compilation.
CLOCK_FIELDS: tuple[str, ...] = ("upstream.steps", "upstream.log_every", "downstream.steps", "downstream.log_every")

#: The training-set sizes, traced by the dense backend on synthetic data: each training set
#: is drawn at a bucketed size (:func:`sample_bucket`; the first n samples are those an
#: unpadded draw gives) and the samples past n are masked out of every mean
#: (``backends.dense``), so runs that differ in n_S or n_T share a compilation.
SAMPLE_FIELDS: tuple[str, ...] = ("n_source", "n_target")

#: Traced fields that enter the trial as int32 rather than float32.
INT_TRACED_FIELDS: frozenset[str] = frozenset(GRAM_TRACED_FIELDS + CLOCK_FIELDS + SAMPLE_FIELDS)


def traced_fields(exp: Experiment) -> tuple[str, ...]:
    """The fields of ``exp`` that enter its compiled trial as scalars: :data:`TRACED_FIELDS`
    and :data:`CLOCK_FIELDS`, plus those its backend declares (``Backend.TRACED``: the gram
    backend :data:`GRAM_TRACED_FIELDS`, the dense one on synthetic data :data:`SAMPLE_FIELDS`)."""
    return TRACED_FIELDS + CLOCK_FIELDS + tuple(registered(exp.task.data, exp.backend).TRACED)


def traced_values(exp: Experiment) -> dict[str, float]:
    """The traced scalars of ``exp``, keyed by dotted name (the ``theta`` of a trial)."""
    return {name: float(exp.get(name)) for name in traced_fields(exp)}


def log_buffer(n_logged: int) -> int:
    """The static length of a stage's log buffer for ``n_logged`` logged steps: the next
    power of two (so runs of similar length share a compilation, at most 2x the logged
    metrics computed; the extra entries are cut off by ``protocol.outputs.trim_curves``)."""
    return 1 << max(n_logged - 1, 0).bit_length()


def sample_bucket(n: int) -> int:
    """The static size a training set of n samples is drawn at: n up to 8, else n rounded
    up to a multiple of 2^(bit_length(n) - 3), four sizes per octave (10, 12, 14, 16, 20,
    24, 28, 32, 40, ...): at most 25% of masked samples, and the defaults 20 and 80 exact."""
    if n <= 8:
        return n
    step = 1 << (n.bit_length() - 3)
    return -(-n // step) * step


def _buckets(exp: Experiment) -> dict[str, int]:
    """Each bucketed dimension of ``exp``: log buffer lengths per stage, sample buckets."""
    out = {st: log_buffer(len(getattr(exp, st).log_steps)) for st in ("upstream", "downstream")}
    out.update({f: sample_bucket(exp.get(f)) for f in SAMPLE_FIELDS if f in traced_fields(exp)})
    return out


def static_part(exp: Experiment, buckets: Mapping[str, int] | None = None) -> Experiment:
    """``exp`` with every traced field set to its default: the compilation cache key.

    ``transfer.alpha`` is set to 0 so that the (alpha-dependent) ``m_up`` check passes.
    The clock fields become a canonical stage with ``log_every = 1`` and ``steps = L - 1``,
    whose ``log_steps`` has the log buffer's length L; traced sample counts become their
    bucket.  ``buckets`` (``{"upstream": L, "downstream": L, "n_source": n, ...}``) sets
    these sizes (a sweep uses the largest of its group); by default they are
    :func:`log_buffer` of the stage's own ``len(log_steps)`` and :func:`sample_bucket`.
    """
    ref = Experiment()
    fields = traced_fields(exp)
    size = _buckets(exp) if buckets is None else buckets
    vals = {name: ref.get(name) for name in fields if name not in CLOCK_FIELDS + SAMPLE_FIELDS}
    vals["transfer.alpha"] = 0.0
    for stage in ("upstream", "downstream"):
        vals[f"{stage}.steps"], vals[f"{stage}.log_every"] = size[stage] - 1, 1
    vals.update({f: size[f] for f in SAMPLE_FIELDS if f in fields})
    return with_overrides(exp, vals)


def group_static(cfgs) -> dict[Experiment, list[int]]:
    """Indices of ``cfgs`` grouped by compilation: configs whose static parts differ only in
    their buckets (log buffers, sample counts) share one, with the largest bucket of the
    group (a sweep over T, log_every or, dense, n compiles once).  Keys: the groups'
    static parts, in order of first appearance."""
    cfgs = list(cfgs)
    by_key: dict[Experiment, list[int]] = {}
    for i, c in enumerate(cfgs):
        by_key.setdefault(static_part(c, dict.fromkeys(_buckets(c), 1)), []).append(i)
    out: dict[Experiment, list[int]] = {}
    for idx in by_key.values():
        sizes = [_buckets(cfgs[i]) for i in idx]
        out[static_part(cfgs[idx[0]], {k: max(z[k] for z in sizes) for k in sizes[0]})] = idx
    return out


def split_traced(exp: Experiment) -> tuple[Experiment, dict[str, float]]:
    """(static part, traced values): trials sharing the static part share a compilation."""
    return static_part(exp), traced_values(exp)
