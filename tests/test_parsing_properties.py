"""Property-based tests of every parser of user input (``hypothesis``): the config
dataclasses, TOML files, ``--set`` overrides and ``--grid`` specs.

The property: any input either gives a valid value or a ``ConfigError`` whose message
names the field (or, for a file, the file) -- never another exception.  Each test runs a
bounded number of examples (seconds in all); a failure prints the minimal input.
"""

from __future__ import annotations

import dataclasses
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simtransfer import ConfigError, Experiment
from simtransfer.config import (
    ALIASES,
    SECTIONS,
    TRACED_FIELDS,
    from_dict,
    load_toml,
    parse_grid,
    parse_overrides,
    with_overrides,
)

#: Every dotted field of an experiment.
FIELDS = sorted(
    [f.name for f in dataclasses.fields(Experiment) if f.name not in SECTIONS]
    + [f"{s}.{f.name}" for s, c in SECTIONS.items() for f in dataclasses.fields(c)]
)
NAMES = FIELDS + sorted(ALIASES)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Any value a TOML file or a Python caller can hand over, plus the awkward ones.
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["relu", "adam", "gram", "digits", "1,7", "4,4", "random", "fixed", "agree"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _names_a_field(msg: str, given: tuple[str, ...] = ()) -> bool:
    """The message starts with a known dotted field, or with one of the names the user gave
    (an unknown field is named as given)."""
    head = msg.split(":", 1)[0].strip()
    return head in FIELDS or head in given


@SETTINGS
@given(field=st.sampled_from(NAMES), value=VALUES)
def test_any_field_value_is_valid_or_names_a_field(field, value):
    try:
        exp = Experiment().set(**{field: value})
    except ConfigError as e:
        assert _names_a_field(str(e)), str(e)
    else:
        assert isinstance(exp, Experiment)


@SETTINGS
@given(data=st.dictionaries(st.sampled_from(FIELDS + list(SECTIONS) + ["x", "task.x"]),
                            st.one_of(VALUES, st.dictionaries(st.sampled_from(FIELDS + ["d", "a", "x"]), VALUES,
                                                              max_size=3)),
                            max_size=4))  # fmt: skip
def test_from_dict_is_valid_or_names_a_field(data):
    try:
        from_dict(data)
    except ConfigError as e:
        msg = str(e)
        head = msg.split(":", 1)[0].strip()
        assert head in FIELDS or head in SECTIONS or head.split(".")[0] in SECTIONS or head in ("x", "config"), msg


TOML_LINES = st.one_of(
    st.sampled_from(["[task]", "[model]", "[transfer]", "[task.sub]", "[[task]]", "[eval", "n_source = 40",
                     "d = 100", "a = 'x'", "m = 0", "alpha = 2.0", "policy = \"best\"", "backend = 'gram'",
                     "x = 1", "task = 3", "d = {a = 1}", "d = [1, 2]", "a = nan", "a = inf", "d = 1e400",
                     "steps = 99999999999999999999", "= 1", "a = ", "\"task.a\" = 0.5", "task.d = 50"]),
    st.text(alphabet=string.printable, max_size=20),
)


@SETTINGS
@given(lines=st.lists(TOML_LINES, max_size=6), raw=st.one_of(st.none(), st.binary(max_size=20)))
def test_toml_file_is_valid_or_names_the_file(tmp_path_factory, lines, raw):
    path = tmp_path_factory.mktemp("toml") / "c.toml"
    path.write_bytes(raw if raw is not None else "\n".join(lines).encode())
    try:
        exp = load_toml(str(path))
    except ConfigError as e:
        assert str(e).startswith(f"{path}:"), str(e)
        assert "\n" not in str(e).split(": ", 1)[0]
    else:
        assert isinstance(exp, Experiment)


def test_toml_unreadable_paths_name_the_file(tmp_path):
    for p in (tmp_path, tmp_path / "missing.toml"):
        with pytest.raises(ConfigError, match=str(p)):
            load_toml(str(p))


SET_ITEMS = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(NAMES + ["foo", "task.foo", "task", ""]),
              st.one_of(st.text(alphabet=string.printable, max_size=10),
                        st.sampled_from(["0.5", "true", "\"adam\"", "[1,2]", "{a=1}", "nan", "inf", "-1", "1e400",
                                         "99999999999999999999999"]))),  # fmt: skip
    st.text(alphabet=string.printable, max_size=12),
)


@SETTINGS
@given(items=st.lists(SET_ITEMS, max_size=4))
def test_set_overrides_are_valid_or_name_the_field(items):
    try:
        with_overrides(Experiment(), parse_overrides(items))
    except ConfigError as e:
        msg = str(e)
        keys = tuple(i.split("=", 1)[0].strip() for i in items)
        assert msg.startswith("--set ") or _names_a_field(msg, keys), msg


GRID_SPECS = st.builds(
    lambda k, v: f"{k}={v}",
    st.sampled_from(NAMES + ["foo", ""]),
    st.one_of(
        st.text(alphabet=string.printable, max_size=14),
        st.builds(lambda log, a, b, n: f"{log}{a}:{b}:{n}", st.sampled_from(["", "log"]),
                  st.sampled_from(["0", "-1", "0.5", "nan", "inf", "x", "1e400"]),
                  st.sampled_from(["1", "3", "-2", "nan", "inf"]), st.sampled_from(["0", "1", "3", "x", "-1", "10**9",
                                                                                    "1000000000000"])),
        st.sampled_from(["1,2,3", "0.5,1.5", "relu,adam", "true,false", "1,1", ",", "inf", "nan,1"]),
    ),
)  # fmt: skip


@SETTINGS
@given(items=st.lists(st.one_of(GRID_SPECS, st.text(alphabet=string.printable, max_size=10)), max_size=3))
def test_grid_specs_are_valid_or_name_the_field(items):
    try:
        grid = parse_grid(items)
    except ConfigError as e:
        keys = tuple(i.split("=", 1)[0].strip() for i in items)
        assert str(e).startswith("--grid ") or _names_a_field(str(e), keys), str(e)
        return
    for name, vals in grid.items():
        assert name in FIELDS and vals
        for v in vals[:5]:  # every value either makes a valid point or names the field
            try:
                Experiment().set(**{name: v})
            except ConfigError as e:
                assert _names_a_field(str(e)), str(e)


def test_traced_fields_are_fields():
    assert set(TRACED_FIELDS) <= set(FIELDS)


@pytest.mark.parametrize("cmd", [["run", "--seeds", "1"], ["sweep", "--seeds", "1", "--grid", "task.a=1.0"]])
def test_out_naming_an_existing_file_is_one_line(tmp_path, capsys, cmd):
    """``--out`` must name a directory: an existing file gives one line naming it, exit 2,
    before anything runs."""
    from simtransfer.cli import main

    f = tmp_path / "taken.txt"
    f.write_text("not a directory")
    assert main(cmd + ["--out", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(f) in err and "not a directory" in err, err
