"""Which fields of an experiment enter its compiled trial as scalars (*traced*) and which fix
the program (*static*), and the static part that keys a compilation (docs/design.md
sections 4.1 and 6.2)."""

from __future__ import annotations

from typing import Mapping

from .experiment import Experiment, with_overrides

__all__ = [
    "TRACED_FIELDS", "GRAM_TRACED_FIELDS", "CLOCK_FIELDS", "INT_TRACED_FIELDS", "traced_fields", "traced_values",
    "log_buffer", "static_part", "group_static", "split_traced",
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

#: Traced fields that enter the trial as int32 rather than float32.
INT_TRACED_FIELDS: frozenset[str] = frozenset(GRAM_TRACED_FIELDS + CLOCK_FIELDS)


def traced_fields(exp: Experiment) -> tuple[str, ...]:
    """The fields of ``exp`` that enter its compiled trial as scalars: :data:`TRACED_FIELDS`
    and :data:`CLOCK_FIELDS`, plus :data:`GRAM_TRACED_FIELDS` for the gram backend on
    synthetic data."""
    if exp.backend == "gram" and exp.task.data == "synthetic":
        return TRACED_FIELDS + CLOCK_FIELDS + GRAM_TRACED_FIELDS
    return TRACED_FIELDS + CLOCK_FIELDS


def traced_values(exp: Experiment) -> dict[str, float]:
    """The traced scalars of ``exp``, keyed by dotted name (the ``theta`` of a trial)."""
    return {name: float(exp.get(name)) for name in traced_fields(exp)}


def log_buffer(n_logged: int) -> int:
    """The static length of a stage's log buffer for ``n_logged`` logged steps: the next
    power of two (so runs of similar length share a compilation, at most 2x the logged
    metrics computed; the extra entries are cut off by ``protocol.outputs.trim_curves``)."""
    return 1 << max(n_logged - 1, 0).bit_length()


def static_part(exp: Experiment, log_buffers: Mapping[str, int] | None = None) -> Experiment:
    """``exp`` with every traced field set to its default: the compilation cache key.

    ``transfer.alpha`` is set to 0 so that the (alpha-dependent) ``m_up`` check passes.
    The clock fields become a canonical stage with ``log_every = 1`` and ``steps = L - 1``,
    whose ``log_steps`` has the log buffer's length L: ``log_buffers[stage]`` if given
    (a sweep uses the longest of its group), else :func:`log_buffer` of the stage's own
    ``len(log_steps)``.
    """
    ref = Experiment()
    vals = {name: ref.get(name) for name in traced_fields(exp) if name not in CLOCK_FIELDS}
    vals["transfer.alpha"] = 0.0
    for stage in ("upstream", "downstream"):
        L = log_buffers[stage] if log_buffers else log_buffer(len(getattr(exp, stage).log_steps))
        vals[f"{stage}.steps"], vals[f"{stage}.log_every"] = L - 1, 1
    return with_overrides(exp, vals)


def group_static(cfgs) -> dict[Experiment, list[int]]:
    """Indices of ``cfgs`` grouped by compilation: configs whose static parts differ only in
    their log buffers share one, with the longest buffer of the group (a sweep over T or
    log_every compiles once).  Keys: the groups' static parts, in order of first appearance."""
    one = {"upstream": 1, "downstream": 1}
    by_key: dict[Experiment, list[int]] = {}
    cfgs = list(cfgs)
    for i, c in enumerate(cfgs):
        by_key.setdefault(static_part(c, one), []).append(i)
    out: dict[Experiment, list[int]] = {}
    for idx in by_key.values():
        bufs = {st: max(log_buffer(len(getattr(cfgs[i], st).log_steps)) for i in idx) for st in one}
        out[static_part(cfgs[idx[0]], bufs)] = idx
    return out


def split_traced(exp: Experiment) -> tuple[Experiment, dict[str, float]]:
    """(static part, traced values): trials sharing the static part share a compilation."""
    return static_part(exp), traced_values(exp)
