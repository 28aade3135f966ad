"""Several processes, one result: the multi-controller runtime of ``jax.distributed``
(docs/design.md section 4.9).

Each process (one per host, or several on one machine) calls :func:`initialize` first,
then the same ``sweep(..., out=DIR)`` (or ``check``, ``falsify``) on a file system they
share.  Work is cut into numbered units (a sweep's chunks, a check's cells); process p
computes the units ``u % process_count == p`` on its own local devices, with no
cross-process communication, and writes each to ``DIR`` as it finishes (atomically).
:func:`wait_for_files` then waits for every unit to be on disk, and each process
assembles the whole result from ``DIR``.  A rerun after a crash skips the units already on disk, so it resumes.
"""

from __future__ import annotations

import os
import socket
import time

import jax

__all__ = ["DistributedError", "initialize", "wait_for_files", "is_multiprocess", "my_units", "add_arguments",
           "initialize_from_args"]  # fmt: skip


class DistributedError(RuntimeError):
    """A process could not join (or finish with) the others."""


def _probe(address: str, timeout_s: float) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DistributedError(f"coordinator_address: expected host:port, got {address!r}")
    deadline = time.monotonic() + timeout_s
    err: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=min(2.0, timeout_s)):
                return
        except OSError as e:  # not listening yet: the coordinator may start after us
            err = e
            time.sleep(0.2)
    raise DistributedError(
        f"coordinator_address {address}: no coordinator reachable within {timeout_s:g} s ({err}); "
        "start process 0 (the coordinator) first, and check the address and the firewall"
    )


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: float = 120.0,
    **kwargs,
) -> None:
    """``jax.distributed.initialize`` with a bounded wait and a one-line error.

    With no arguments, JAX detects the cluster (SLURM, TPU pods, Open MPI, ...).  With an
    explicit ``coordinator_address`` ("host:port", process 0 listens there), processes
    other than 0 first check within ``timeout_s`` that the coordinator accepts
    connections, so an unreachable coordinator raises :class:`DistributedError` instead
    of the runtime aborting the process; ``timeout_s`` also bounds JAX's own wait for
    every process to register.  Call it before any other JAX computation.
    """
    if num_processes is not None and (isinstance(num_processes, bool) or int(num_processes) < 1):
        raise DistributedError(f"num_processes: must be >= 1, got {num_processes!r}")
    if process_id is not None and num_processes is not None and not 0 <= int(process_id) < int(num_processes):
        raise DistributedError(f"process_id: must be in [0, {num_processes}), got {process_id!r}")
    if coordinator_address is not None and process_id not in (None, 0):
        _probe(coordinator_address, timeout_s)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=max(1, int(timeout_s)),
        **kwargs,
    )


def is_multiprocess() -> bool:
    """True when this process is one of several under ``jax.distributed``."""
    return jax.process_count() > 1


def my_units(n_units: int) -> list[int]:
    """The unit indices this process computes: ``u % process_count == process_index``."""
    nproc, me = jax.process_count(), jax.process_index()
    return [u for u in range(n_units) if u % nproc == me]


def wait_for_files(paths, what: str, timeout_s: float | None = None, poll_s: float = 0.2) -> None:
    """Wait until every path in ``paths`` exists: the units the other processes write.

    This is the processes' meeting point, through the shared directory itself (a
    collective such as ``multihost_utils.sync_global_devices`` gives up after ~30 s,
    shorter than a process's share of a sweep).  If another process dies, the runtime's
    heartbeat ends this one too; ``timeout_s`` (None: no limit) bounds the wait anyway.
    """
    paths = [os.fspath(p) for p in paths]
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        missing = [p for p in paths if not os.path.exists(p)]
        if not missing:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise DistributedError(
                f"{what}: {len(missing)} of {len(paths)} units still missing after {timeout_s:g} s "
                f"(first: {missing[0]}); is every process running?"
            )
        time.sleep(poll_s)


def add_arguments(parser) -> None:
    """The command-line options that join a multi-process run (``sweep``, ``check``, ...)."""
    g = parser.add_argument_group("several processes (jax.distributed; README 'Many processes and many hosts')")
    g.add_argument("--distributed", action="store_true",
                   help="join the others by jax.distributed.initialize() (SLURM, TPU pods: detected)")  # fmt: skip
    g.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0 (explicit launch)")
    g.add_argument("--num-processes", type=int, metavar="N", help="processes in all (with --coordinator)")
    g.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1 (with --coordinator)")
    g.add_argument("--dist-timeout", type=float, default=120.0, metavar="S",
                   help="seconds to wait for the coordinator and the other processes (default 120)")  # fmt: skip


def initialize_from_args(args) -> None:
    """Call :func:`initialize` as the options of :func:`add_arguments` say (nothing if none)."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in explicit):
        if any(v is None for v in explicit):
            raise DistributedError("--coordinator, --num-processes and --process-id go together")
        initialize(args.coordinator, args.num_processes, args.process_id, timeout_s=args.dist_timeout)
    elif args.distributed:
        initialize(timeout_s=args.dist_timeout)
