"""simtransfer: when does partial parameter transfer beat training from scratch?

Jit-compiled, vmapped simulation of two-layer ReLU CNNs on signal-plus-noise data
(docs/design.md).  The public surface is re-exported here, one name per line.

Importing the package changes nothing in the process (no environment variable, no JAX
setting).  On a multi-core CPU call :func:`use_cpu_devices` once, before the first JAX
computation, to run seeds on every core (the command line, ``python -m figures``, the
benchmarks and the tests do it themselves).
"""

from simtransfer.config import ConfigError as ConfigError
from simtransfer.config import Eval as Eval
from simtransfer.config import Experiment as Experiment
from simtransfer.config import Model as Model
from simtransfer.config import Task as Task
from simtransfer.config import Train as Train
from simtransfer.config import Transfer as Transfer
from simtransfer.config import load_toml as load_toml
from simtransfer.runs.devices import use_cpu_devices as use_cpu_devices
from simtransfer.runs.distributed import DistributedError as DistributedError
from simtransfer.runs.distributed import initialize as initialize_distributed
from simtransfer.runs.memory import TrialTooLarge as TrialTooLarge
from simtransfer.runs.result import Result as Result
from simtransfer.runs.result import ResultsError as ResultsError
from simtransfer.runs.run import DivergenceWarning as DivergenceWarning
from simtransfer.runs.run import run as run
from simtransfer.runs.sweep import load_sweep as load_sweep
from simtransfer.runs.sweep import sweep as sweep
from simtransfer.version import __version__ as __version__

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
    "use_cpu_devices",
]
