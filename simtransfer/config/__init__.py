"""Configuration and data: the frozen, validated dataclasses of an experiment
(docs/design.md sections 1-4), their TOML / ``--set`` / ``--grid`` parsing, and the data
they describe (synthetic signal-plus-noise samples, the digits images).

* ``checks``: ``ConfigError`` and the range checks; ``sections``: Task, Model, Train,
  Transfer, Eval; ``experiment``: Experiment, dotted access, TOML; ``traced``: the traced/static split;
  ``parse``: ``--set`` and ``--grid`` values; ``data``: synthetic sampling;
  ``digits``: scikit-learn's digits as patches.
"""

from .checks import DIGIT_COUNTS, DIGIT_CUTS, ConfigError, digit_pool_size, parse_digit_pair
from .experiment import (
    ALIASES,
    SECTIONS,
    Experiment,
    dump_toml,
    from_dict,
    load_toml,
    resolve_field,
    with_overrides,
)
from .parse import parse_grid, parse_overrides, parse_value
from .sections import Eval, Model, Task, Train, Transfer
from .traced import (
    CLOCK_FIELDS,
    GRAM_TRACED_FIELDS,
    INT_TRACED_FIELDS,
    SAMPLE_FIELDS,
    TRACED_FIELDS,
    group_static,
    log_buffer,
    sample_bucket,
    split_traced,
    static_part,
    traced_fields,
    traced_values,
)

__all__ = [
    "ALIASES", "CLOCK_FIELDS", "DIGIT_COUNTS", "DIGIT_CUTS", "GRAM_TRACED_FIELDS", "INT_TRACED_FIELDS", "SECTIONS",
    "TRACED_FIELDS", "ConfigError", "Eval", "Experiment", "Model", "Task", "Train", "Transfer", "digit_pool_size",
    "dump_toml", "from_dict", "group_static", "load_toml", "log_buffer", "sample_bucket", "SAMPLE_FIELDS",
    "parse_digit_pair", "parse_grid", "parse_overrides", "parse_value", "resolve_field", "split_traced",
    "static_part", "traced_fields", "traced_values", "with_overrides",
]  # fmt: skip
