"""Config validation, TOML and CLI, Result persistence, resume and corrupt files (issue 2)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from simtransfer import ConfigError, DivergenceWarning, Experiment, Result, ResultsError, run
from simtransfer.config import load_toml, parse_overrides, split_traced

BAD = [
    ("task.d", 3), ("task.P", 1), ("task.a", -0.1), ("task.b_S", float("nan")), ("task.s", 1.5),
    ("task.sigma_p", 0.0), ("task.label_flip", 0.5), ("task.signal_position", "middle"), ("task.frame", "x"),
    ("model.m", 0), ("model.m_up", 0), ("model.sigma_0", -1.0), ("model.activation", "tanh"), ("model.leak", 1.0),
    ("model.q", 0.5), ("upstream.steps", -1), ("upstream.eta", 0.0), ("downstream.eta", float("inf")),
    ("downstream.optimizer", "newton"), ("upstream.log_every", 0), ("transfer.alpha", 1.2),
    ("transfer.policy", "best"), ("transfer.freeze_inherited", "yes"), ("transfer.rescale", float("nan")),
    ("eval.n_test", -5), ("eval.mc_draws", 1), ("n_source", 0), ("n_target", 2.5), ("backend", "sparse"),
    ("task.d", True),
]  # fmt: skip


@pytest.mark.parametrize("field,value", BAD)
def test_out_of_range_field_names_itself(field, value):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        Experiment().set(**{field: value})


def test_alpha_bounded_by_upstream_width():
    with pytest.raises(ConfigError, match=r"transfer\.alpha.*m_up"):
        Experiment().set(**{"model.m_up": 3, "transfer.alpha": 0.5})
    assert Experiment().set(**{"model.m_up": 5, "transfer.alpha": 0.5}).k_inherited == 5


def test_unknown_field_and_aliases():
    with pytest.raises(ConfigError, match="task.foo: unknown"):
        Experiment().set(**{"task.foo": 1})
    e = Experiment().set(a=2.0, n_S=40, alpha=0.3)
    assert (e.task.a, e.n_source, e.transfer.alpha) == (2.0, 40, 0.3)


def test_toml_round_trip_and_errors(tmp_path):
    e = Experiment().set(**{"task.a": 0.7, "model.m_up": 12, "transfer.policy": "random", "downstream.eta": 0.25})
    p = tmp_path / "c.toml"
    p.write_text(e.to_toml())
    assert load_toml(str(p)) == e
    p.write_text("[task]\nd = 'big'\n")
    with pytest.raises(ConfigError, match=r"c\.toml: task\.d: must be an integer"):
        load_toml(str(p))
    p.write_text("[task\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(str(p))
    with pytest.raises(ConfigError, match="not found"):
        load_toml(str(tmp_path / "missing.toml"))


def test_overrides_parse_toml_values():
    assert parse_overrides(["transfer.alpha=0.5", "upstream.optimizer=adam", "transfer.freeze_inherited=true"]) == {
        "transfer.alpha": 0.5, "upstream.optimizer": "adam", "transfer.freeze_inherited": True}  # fmt: skip


def test_traced_fields_share_the_static_part():
    a, _ = split_traced(Experiment().set(**{"task.a": 3.0, "transfer.alpha": 0.9, "upstream.eta": 0.1}))
    b, _ = split_traced(Experiment())
    c, _ = split_traced(Experiment().set(**{"task.d": 500}))
    assert a == b and a != c


def test_result_save_load_resume_and_refuse(tiny, tmp_path):
    out = tmp_path / "res"
    res = run(tiny, seeds=3, key=5, out=str(out))
    back = Result.load(str(out))
    assert back.exp == tiny and back.key == 5 and back.seeds == 3
    for k, v in res.arrays.items():
        np.testing.assert_array_equal(v, back.arrays[k])
    assert str(back.summary()) == str(res.summary())
    # a rerun with the same config loads instead of recomputing
    again = run(tiny, seeds=3, key=5, out=str(out))
    assert again.meta["seconds"] == res.meta["seconds"]
    with pytest.raises(ResultsError, match="another config"):
        run(tiny.set(**{"task.a": 2.0}), seeds=3, key=5, out=str(out))
    # corrupt files are named, and the finished arrays stay on disk
    (out / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(ResultsError, match=r"arrays\.npz: corrupt"):
        Result.load(str(out))
    (out / "meta.json").write_text("{")
    with pytest.raises(ResultsError, match=r"meta\.json: corrupt"):
        Result.load(str(out))
    os.remove(out / "config.toml")
    with pytest.raises(ResultsError, match=r"config\.toml: missing"):
        Result.load(str(out))


def test_divergent_seeds_are_flagged_and_excluded(tiny):
    exp = tiny.set(**{"model.activation": "relu_q", "model.q": 6.0, "model.sigma_0": 1.0,
                      "task.a": 5.0, "upstream.eta": 1e4})  # fmt: skip
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = run(exp, seeds=3, key=0)
    assert res.diverged_upstream.all()
    assert any(issubclass(x.category, DivergenceWarning) and "upstream.eta" in str(x.message) for x in w)
    s = res.summary()
    assert s["err_transfer"].n == 0 and np.isnan(s["err_transfer"].mean)
    assert "diverged" in str(s)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "simtransfer", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    r = _cli("run", "--set", "transfer.alpha=1.5")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "transfer.alpha" in r.stderr and "Traceback" not in r.stderr
    p = tmp_path / "bad.toml"
    p.write_text("[model]\nm = -2\n")
    r = _cli("run", "--config", str(p))
    assert r.returncode == 2 and "model.m" in r.stderr and str(p) in r.stderr


def test_cli_run_prints_summary(tiny, tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tiny.to_toml())
    r = _cli("run", "--config", str(cfg), "--seeds", "2", "--set", "transfer.alpha=0.25", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert "err_transfer" in r.stdout and "win rate" in r.stdout
    assert Result.load(str(tmp_path / "o")).exp.transfer.alpha == 0.25
