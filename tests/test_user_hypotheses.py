"""A researcher's own hypothesis in ``check`` and ``sweep`` (simtransfer.experiments.user_hypotheses)."""

import math

import numpy as np
import pytest

import theory
from simtransfer import sweep
from simtransfer.experiments.check import check
from simtransfer.experiments.check import main as check_main
from simtransfer.experiments.user_hypotheses import HypothesisError, Measured, resolve, resolve_all


def my_h1(cfg):
    """A user's copy of H1 (lambda = inf), from the configuration only."""
    return theory.h1(cfg)


def my_h4_plugin(cfg, measured):
    """A user's copy of the H4 plug-in, from the measured quantities it is handed."""
    return theory.h4_plugin(cfg, measured.lam, measured.r_zeroshot)


def my_h1_gain(cfg):
    """H1 as a bare number: the predicted gain."""
    return theory.h1(cfg).pred_gain


@pytest.fixture(scope="module")
def quick_table(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("check-cache"))
    hyps = {"mine-H1": my_h1, "mine-H4-plugin": my_h4_plugin, "mine-gain": my_h1_gain}
    return cache, check(seeds=4, quick=True, cache_dir=cache, verbose=False, hypotheses=hyps)


def test_user_hypotheses_score_like_the_builtins_they_copy(quick_table):
    _, table = quick_table
    rows = {r["hypothesis"]: r for r in table["rows"]}
    assert rows["mine-H1"]["kind"] == "user" and rows["mine-H4-plugin"]["kind"] == "user plug-in"
    assert "sign_of_s" in rows and "always_helps" in rows  # the trivial rows stay beside them
    for mine, ref in (("mine-H1", "H1"), ("mine-H4-plugin", "H4-plugin")):
        for k in ("bal_acc", "bal_acc_s_pos", "acc", "r2_err_transfer", "rmse_err_transfer", "n_sig"):
            a, b = rows[mine][k], rows[ref][k]
            assert (math.isnan(a) and math.isnan(b)) or a == b, (mine, k, a, b)  # the same numbers, exactly
        assert rows[mine]["worst"] == rows[ref]["worst"]
    # a bare float is its sign: the same sign scores as H1; no error prediction (R^2 NaN)
    for k in ("bal_acc", "bal_acc_s_pos", "acc"):
        a, b = rows["mine-gain"][k], rows["H1"][k]
        assert (math.isnan(a) and math.isnan(b)) or a == b
    assert math.isnan(rows["mine-gain"]["r2_err_transfer"])
    for cell in table["cells"]:
        assert cell["pred"]["mine-H1"] == cell["pred"]["H1"]


def test_plugin_receives_the_measured_quantities(quick_table):
    seen = []

    def spy(cfg, measured):
        seen.append(measured)
        return 0.0

    cache, table = quick_table
    check(seeds=4, quick=True, cache_dir=cache, verbose=False, hypotheses={"spy": spy})  # cached: re-scores only
    assert len(seen) == len(table["cells"]) and all(isinstance(m, Measured) for m in seen)
    for m, cell in zip(seen, table["cells"]):
        assert (m.lam, m.r_zeroshot, m.G, m.seeds) == (
            cell["lam_measured"],
            cell["r_zeroshot"],
            cell["G_measured"],
            cell["seeds"],
        )


@pytest.mark.parametrize(
    "fn, msg",
    [
        (lambda cfg: 1 / 0, "raised ZeroDivisionError: division by zero"),
        (lambda cfg: math.nan, "returned nan"),
        (lambda cfg: "yes", "returned str; expected a theory.Prediction or a float"),
        (lambda cfg, measured: math.nan, "returned nan"),  # a plug-in: fails after the runs, which are cached
        (lambda cfg: theory.Prediction("x", 0.1, 0.1, 0.0, 2), "Prediction.sign must be -1, 0 or 1"),
    ],
)
def test_bad_hypothesis_is_one_line_naming_it_and_the_cell_and_no_cell_is_lost(quick_table, fn, msg):
    cache, table = quick_table
    with pytest.raises(HypothesisError) as e:
        check(seeds=4, quick=True, cache_dir=cache, verbose=False, hypotheses={"bad": fn})
    text = str(e.value)
    assert "\n" not in text and "hypothesis 'bad' at cell (" in text and msg in text, text
    assert "task.a=" in text  # the cell's varied fields
    # the finished cells are cached: a good hypothesis right after re-scores the same cells
    again = check(seeds=4, quick=True, cache_dir=cache, verbose=False, hypotheses={"ok": my_h1})
    assert [c["gain"] for c in again["cells"]] == [c["gain"] for c in table["cells"]]


def test_cli_bad_import_paths_are_one_line_errors(capsys):
    from simtransfer.cli import main

    for spec, msg in (
        ("no_such_pkg_xyz.mod:fn", "no module named 'no_such_pkg_xyz'"),
        ("tests.test_user_hypotheses:missing", "has no attribute 'missing'"),
        ("nonexistent_dir/h.py:fn", "file nonexistent_dir/h.py not found"),
        ("justaname", "expected a built-in name"),
    ):
        assert main(["check", "--quick", "--no-cache", "--hypothesis", spec]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: --hypothesis") and msg in err, err


def test_cli_check_with_an_import_path(tmp_path, capsys, quick_table):
    cache, _ = quick_table
    f = tmp_path / "conj.py"
    f.write_text("import theory\n\ndef conj(cfg):\n    return theory.h1(cfg)\n")
    assert check_main(["--quick", "--cache-dir", cache, "--hypothesis", f"mine={f}:conj"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("mine "))
    h1 = next(x for x in out.splitlines() if x.startswith("H1 "))
    assert line.split()[2:] == h1.split()[2:]  # the same scores as H1


def test_resolve_builtins_and_signatures():
    assert resolve("H4").plugin is False and resolve("H4-plugin").plugin is True
    assert resolve(lambda cfg, measured: 0.0).plugin and not resolve(lambda cfg: 0.0).plugin
    with pytest.raises(HypothesisError, match="must take"):
        resolve(lambda a, b, c: 0.0)
    with pytest.raises(HypothesisError, match="given twice"):
        resolve_all(["H1", "H1"])


def test_sweep_carries_user_predictions(tiny):
    grid = {"task.a": [0.5, 1.5], "transfer.alpha": [0.5, 1.0]}
    ds = sweep(tiny, grid, seeds=2, quiet=True, hypotheses={"mine": my_h1, "mine_pi": my_h4_plugin})
    np.testing.assert_array_equal(ds["theory_mine_sign"].values, ds["theory_H1_sign"].values)
    np.testing.assert_array_equal(ds["theory_mine_gain"].values, ds["theory_H1_gain"].values)
    assert ds["theory_mine_in_domain"].dtype == bool and ds["theory_mine_pi_gain"].shape == (2, 2)
    assert np.isfinite(ds["theory_mine_pi_gain"].values).all()


def test_sweep_with_a_failing_hypothesis_fails_before_running(tiny, tmp_path):
    with pytest.raises(HypothesisError, match=r"hypothesis 'bad' at cell \(task.a=2\) raised KeyError"):
        sweep(
            tiny,
            {"task.a": [0.5, 2.0]},
            seeds=2,
            quiet=True,
            out=tmp_path / "sw",
            hypotheses={"bad": lambda cfg: {}["x"] if cfg.task.a > 1 else 0.1},
        )
    assert not (tmp_path / "sw").exists()  # nothing ran, nothing written
