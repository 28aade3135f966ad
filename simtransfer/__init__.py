"""simtransfer: when does partial parameter transfer beat training from scratch?

Jit-compiled, vmapped simulation of two-layer ReLU CNNs on signal-plus-noise data
(DESIGN.md).  The public surface is re-exported here, one name per line.
"""

import os as _os
import sys as _sys


def _split_cpu_into_devices() -> None:
    """Expose one XLA CPU device per core (before JAX initialises), so ``run`` shards
    seeds over the cores.

    Why an import-time side effect: on a multi-core CPU, XLA runs the small matrix
    products of one trial on a shared thread pool at ~half the speed of one core per
    trial (measured: 47 ms vs 31 ms for a default upstream stage); one device per core
    lets the seed axis use every core.  It must happen before JAX creates its CPU
    client, hence here.  It changes nothing on GPU/TPU (the default backend stays the
    accelerator) and is skipped when JAX has already run a computation, when XLA_FLAGS already
    sets a device count, or when SIMTRANSFER_CPU_DEVICES is set (``1`` disables it,
    ``N`` asks for N devices).
    """
    flags = _os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    want = _os.environ.get("SIMTRANSFER_CPU_DEVICES")
    n = int(want) if want else (len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else _os.cpu_count() or 1)
    if n <= 1:
        return
    if "jax" not in _sys.modules:
        _os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
        return
    # JAX imported first (``import jax; import simtransfer`` in IPython): still possible
    # until its first computation, through the config flag; afterwards the device count
    # is fixed and this is a no-op (the run is then correct, only slower on CPU).
    import jax

    if jax.config.jax_num_cpu_devices in (-1, None):  # not chosen by the user
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:
            pass


_split_cpu_into_devices()

from simtransfer.version import __version__ as __version__
from simtransfer.config import ConfigError as ConfigError
from simtransfer.config import Eval as Eval
from simtransfer.config import Experiment as Experiment
from simtransfer.config import Model as Model
from simtransfer.config import Task as Task
from simtransfer.config import Train as Train
from simtransfer.config import Transfer as Transfer
from simtransfer.config import load_toml as load_toml
from simtransfer.runs.result import Result as Result
from simtransfer.runs.result import ResultsError as ResultsError
from simtransfer.runs.run import DivergenceWarning as DivergenceWarning
from simtransfer.runs.run import run as run
from simtransfer.runs.sweep import load_sweep as load_sweep
from simtransfer.runs.sweep import sweep as sweep
from simtransfer.runs.distributed import DistributedError as DistributedError
from simtransfer.runs.distributed import initialize as initialize_distributed
from simtransfer.runs.memory import TrialTooLarge as TrialTooLarge

__all__ = [
    "ConfigError",
    "DistributedError",
    "DivergenceWarning",
    "Eval",
    "Experiment",
    "Model",
    "Result",
    "ResultsError",
    "Task",
    "Train",
    "Transfer",
    "TrialTooLarge",
    "initialize_distributed",
    "load_sweep",
    "load_toml",
    "run",
    "sweep",
]
