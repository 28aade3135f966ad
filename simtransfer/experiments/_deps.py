"""What the falsifier and the user hypotheses take from the rest of simtransfer, in one place
(the configuration, the batched runner of sweeps, the measurements before fine-tuning, the
atomic writes of results), so a change of the package layout is one edit here.  Not for
``user_hypotheses`` and ``predictions``: ``runs.sweep`` imports those, and this imports it."""

from ..config import TRACED_FIELDS, ConfigError, Experiment, group_static, load_toml, parse_value, resolve_field
from ..config.experiment import _toml_value as toml_value
from ..config.parse import _field_type as field_type
from ..protocol.measures import MEASURE_DRAWS
from ..runs.cache import enable_compilation_cache
from ..runs.distributed import is_multiprocess, my_units, wait_for_files
from ..runs.io import atomic_write
from ..runs.points import run_points as run_chunk
from ..runs.result import ResultsError
from ..runs.run import seed_keys
from ..runs.store import load_chunk, write_npz
from .measure import measure

__all__ = [
    "TRACED_FIELDS", "ConfigError", "Experiment", "load_toml", "parse_value", "group_static", "resolve_field",
    "toml_value", "measure", "MEASURE_DRAWS", "ResultsError", "atomic_write", "seed_keys", "field_type", "run_chunk",
    "enable_compilation_cache", "is_multiprocess", "my_units", "wait_for_files", "load_chunk", "write_npz",
]  # fmt: skip
