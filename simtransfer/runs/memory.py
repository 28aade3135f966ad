"""How many seeds fit in one compiled call (docs/design.md section 4.9).

A trial's memory is computed from its shapes (:func:`trial_bytes`), checked against the
device's free memory (:func:`free_bytes`: the accelerator's allocator limit less what it
holds, or the host's available memory on CPU), and :func:`seeds_per_call` cuts a run
into calls that fit: a run of 100k seeds streams through in batches instead of running
out of memory, and a configuration of which even one trial cannot fit is refused up
front with a message naming the fields to change.
"""

from __future__ import annotations

import os

from .devices import default_micro_batch, local_mesh

__all__ = ["TrialTooLarge", "trial_bytes", "output_bytes", "free_bytes", "seeds_per_call", "FRACTION"]

#: Share of the free memory a call may plan to use (XLA's own buffers, fragmentation and
#: the other arrays of the process take the rest).
FRACTION = 0.5
_F32 = 4


class TrialTooLarge(MemoryError):
    """Not even one trial of the configuration fits in the device's free memory."""


def trial_bytes(exp) -> int:
    """Peak bytes of one trial's buffers, from the shapes (an upper estimate).

    Checked against XLA's own ``memory_analysis`` of the compiled trial in
    ``tests/test_memory.py`` (it must lie between 1x and 3x of it).  Terms, in float32:

    - dense backend: every stage keeps its noise patches xi (n, P-1, d), their
      projection basis, and the gradients' intermediates: about 10 copies of
      (n_S + n_T)(P-1) d; and the filters of every model, their initial values, gradients
      and optimizer state: 12 copies of 2 (m + m_up) d;
    - both backends: the logged exact-error inputs (``eval.curve_draws`` Gaussian draws
      per logged step of each of the three trained models), the final exact errors
      (``eval.mc_draws``), the empirical test points drawn through the 2mk projections
      (``eval.n_test``), and for gram the (K x K) Gram blocks of the K = 3 + (n_S+n_T)(P-1)
      basis vectors.
    """
    t, mdl, ev = exp.task, exp.model, exp.eval
    Pm1, m, m_up = t.P - 1, mdl.m, mdl.m_upstream
    n = exp.n_source + exp.n_target
    L = len(exp.upstream.log_steps) + 2 * len(exp.downstream.log_steps)
    two_m = 2 * max(m, m_up)
    floats = 1.5 * L * ev.curve_draws * Pm1 * two_m
    floats += 3 * ev.mc_draws * Pm1 * two_m
    floats += 3 * (ev.n_test + ev.n_test_source) * Pm1 * 3 * two_m
    if exp.backend == "dense" or t.data != "synthetic":
        d = t.d if t.data == "synthetic" else t.d
        floats += 10 * n * Pm1 * d + 12 * 2 * (m + m_up) * d
    else:
        K = 3 + n * Pm1
        floats += 16 * K * K + 12 * 2 * (m + m_up) * K
    return int(floats * _F32) + (1 << 20)


def output_bytes(exp) -> int:
    """Bytes of one seed's outputs (scalars and logged curves)."""
    L = len(exp.upstream.log_steps) + 2 * len(exp.downstream.log_steps)
    return _F32 * (64 + 16 * L)


def free_bytes(device=None) -> int:
    """Free memory of ``device`` (default: the first local device): ``bytes_limit -
    bytes_in_use`` of an accelerator's allocator; on CPU the host's MemAvailable."""
    import jax

    dev = device if device is not None else jax.local_devices()[0]
    if dev.platform != "cpu":
        try:
            st = dev.memory_stats() or {}
        except Exception:  # some runtimes do not report; fall back to the host's memory
            st = {}
        if "bytes_limit" in st:
            return int(st["bytes_limit"]) - int(st.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _describe(exp) -> str:
    t = exp.task
    parts = [f"task.d = {t.d}", f"n_source = {exp.n_source}", f"n_target = {exp.n_target}", f"task.P = {t.P}",
             f"model.m = {exp.model.m}", f"eval.mc_draws = {exp.eval.mc_draws}",
             f"eval.n_test = {exp.eval.n_test}"]  # fmt: skip
    return ", ".join(parts)


def seeds_per_call(exp, seeds: int, micro: int | None = None, n_devices: int | None = None,
                   free: int | None = None) -> int:
    """The most seeds one compiled call of ``exp`` may take (at most ``seeds``).

    ``micro`` (default :func:`simtransfer.runs.devices.default_micro_batch`) and
    ``n_devices`` (default: the devices ``batched_call`` shards over) describe the call: with ``micro = 0``
    (accelerators: one vmap over each device's seeds) every seed of a call is live at
    once; with ``micro = k > 0`` (CPU) a device holds k trials at a time and a call's
    other seeds cost only their outputs.  Raises :class:`TrialTooLarge` when the trials
    that must be live at once do not fit in ``FRACTION`` of the free memory.
    """
    if micro is None:
        micro = default_micro_batch()
    if n_devices is None:
        mesh = local_mesh()
        n_devices = 1 if mesh is None else mesh.size
    free = free_bytes() if free is None else free
    budget = FRACTION * free
    per_trial, per_out = trial_bytes(exp), output_bytes(exp)
    live = n_devices * max(micro, 1)
    if live * per_trial > budget:
        hint = "use backend = \"gram\" (memory independent of d), or lower task.d / n_source / n_target" \
            if exp.backend == "dense" and exp.task.data == "synthetic" else "lower n_source / n_target / eval.mc_draws"
        raise TrialTooLarge(
            f"one trial needs ~{per_trial / 2**30:.2f} GiB ({_describe(exp)}), {live} at once, but only "
            f"{free / 2**30:.2f} GiB is free: {hint}"
        )
    if micro == 0:
        per_device = int(budget // (n_devices * (per_trial + per_out)))
        return max(1, min(seeds, per_device * n_devices))
    return max(1, min(seeds, int((budget - live * per_trial) // per_out)))
