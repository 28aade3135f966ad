"""``simtransfer check`` and H4 (issue 3, items 6 and 7): the table, balanced accuracy, and
H4 as a function of the configuration alone."""

from __future__ import annotations

import ast
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import theory
from simtransfer.experiments.check import balanced_accuracy, check, main, score
from theory import Prediction, Setting

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROWS = {"H1", "H1-default-lambda", "H1-corrected", "H2", "H3", "H4", "H1-plugin", "H1-corrected-plugin",
        "H2-plugin", "H3-plugin", "H4-plugin", "sign_of_s", "always_helps"}  # fmt: skip


def test_quick_check_writes_every_row(tmp_path):
    out = tmp_path / "table.json"
    cache = tmp_path / "cache"
    assert main(["--quick", "--out", str(out), "--cache-dir", str(cache)]) == 0
    table = json.loads(out.read_text())
    rows = {r["hypothesis"]: r for r in table["rows"]}
    assert set(rows) >= ROWS | set(theory.predict(theory.Setting()))
    assert rows["sign_of_s"]["kind"] == rows["always_helps"]["kind"] == "trivial"
    assert rows["H4"]["kind"] == "config" and rows["H4-plugin"]["kind"] == "plug-in"
    n = len(table["cells"])
    assert n == 5 and all(r["n_cells"] == n for r in table["rows"])
    for r in table["rows"]:
        for k in ("bal_acc", "bal_acc_s_pos", "r2_err_transfer", "rmse_err_transfer", "n_sig", "worst"):
            assert k in r
    # a trivial predictor predicts no error; a hypothesis does, for every cell
    assert rows["always_helps"]["rmse_err_transfer"] is None or math.isnan(rows["always_helps"]["rmse_err_transfer"])
    assert all(math.isfinite(c["pred"]["H4"]["err_transfer"]) for c in table["cells"])
    # the cache makes a rerun identical (and cheap)
    again = check(seeds=4, quick=True, cache_dir=str(cache), verbose=False)
    assert [r["bal_acc"] for r in again["rows"]] == [r["bal_acc"] for r in table["rows"]]


def test_module_entry_point():
    cmd = [sys.executable, "-m", "simtransfer.experiments.check", "--help"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0 and "--calibrate-h4" in res.stdout


def test_balanced_accuracy_by_hand():
    # 3 "better" cells (2 right) and 1 "worse" cell (right): (2/3 + 1) / 2
    assert balanced_accuracy([1, 1, 1, -1], [1, 1, -1, -1]) == pytest.approx(5 / 6)
    # a predicted 0 ("no difference") is wrong for both classes
    assert balanced_accuracy([1, -1], [0, 0]) == 0.0
    # one class present: its recall; "always +1" scores 1/2 once both classes are present
    assert balanced_accuracy([1, 1, 1, 1], [1, 1, 1, -1]) == pytest.approx(0.75)
    assert balanced_accuracy([1, 1, 1, -1], [1, 1, 1, 1]) == pytest.approx(0.5)
    assert math.isnan(balanced_accuracy([], []))


def _pred(sign, err=0.2):
    return Prediction("x", err, 0.25, 0.25 - err, sign)


def test_score_by_hand():
    # 5 cells: t = +5, +3, -4, +1 (not significant), -2.5 (s < 0)
    gains = [0.05, 0.03, -0.04, 0.01, -0.025]
    cells = [{"block": "b", "values": {"task.a": i}, "s": -1.0 if i == 4 else 1.0, "gain": g, "se": 0.01,
              "t": g / 0.01, "err_transfer": 0.2 + 0.01 * i} for i, g in enumerate(gains)]  # fmt: skip
    signs = [1, -1, -1, -1, 1]  # right, wrong, right, (not significant), wrong
    preds = [{"h": ("config", _pred(s, 0.2 + 0.01 * i))} for i, s in enumerate(signs)]
    (row,) = score(cells, preds)
    assert row["n_sig"] == 4 and row["n_sig_s_pos"] == 3 and row["n_sig_better"] == 2 and row["n_sig_worse"] == 2
    assert row["bal_acc"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert row["bal_acc_s_pos"] == pytest.approx((1 / 2 + 1) / 2)
    assert row["acc"] == pytest.approx(2 / 4)
    assert row["r2_err_transfer"] == pytest.approx(1.0) and row["rmse_err_transfer"] == pytest.approx(0.0, abs=1e-12)
    assert [w["t"] for w in row["worst"]] == pytest.approx([3.0, -2.5])  # wrong, by |t|


def test_h4_is_a_function_of_the_configuration_only():
    c = Setting(a=0.6, b_T=2.0, n_S=320, alpha=0.5)
    p = theory.h4(c)
    assert p.hypothesis == "H4" and p.sign in (-1, 1) and 0 < p.pred_err_transfer < 1
    assert theory.h4(c) == p  # deterministic
    code = ("import sys, theory; theory.h4(theory.Setting()); theory.lambda_h4(theory.Setting()); "
            "assert not any(m.split('.')[0] == 'simtransfer' for m in sys.modules), 'simtransfer'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    for path in (ROOT / "theory").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.split(".")[0] == "simtransfer" for n in names), path


def test_h4_derived_parts():
    s = Setting()
    # the budget equation e^M + M = 1 + B T
    M = theory.margin_of_budget(0.7, 300)
    assert math.exp(M) + M == pytest.approx(1 + 0.7 * 300, rel=1e-10)
    assert theory.relu_cov(1.0) == pytest.approx(0.5 - 1 / (2 * math.pi))
    assert theory.relu_cov(0.0) == pytest.approx(0.0, abs=1e-15)
    # lambda: 0 without inheritance, grows with alpha and the upstream budget, falls with the downstream one
    assert theory.lambda_h4(theory.setting_of(s, alpha=0.0)) == 0.0
    lams = [theory.lambda_h4(theory.setting_of(s, alpha=a)) for a in (0.2, 0.5, 1.0)]
    assert lams == sorted(lams)
    assert theory.lambda_h4(theory.setting_of(s, eta_up=1.0)) > theory.lambda_h4(s)
    assert theory.lambda_h4(theory.setting_of(s, eta_down=1.0)) < theory.lambda_h4(s)
    assert theory.inh_factor_h4(theory.setting_of(s, alpha=1.0)) == pytest.approx(1.0)
    # kappa: 1 without inheritance, largest at alpha = 1
    assert theory.kappa_h4(theory.setting_of(s, alpha=0.0)) == 1.0
    assert theory.kappa_h4(theory.setting_of(s, alpha=1.0)) > theory.kappa_h4(theory.setting_of(s, alpha=0.5)) > 1.0
    consts = theory.load_h4()
    assert consts["command"].startswith("python -m simtransfer.experiments.check --calibrate-h4")
    assert consts["key"] != 20250  # the calibration grid's seeds are not the check's


def test_snr_of_error_inverts_the_calibrated_law():
    cal = theory.load_calibration()
    for r in (-0.8, -0.1, 0.05, 0.3, 1.2):
        e = float(cal.error_of_snr(r))
        assert theory.snr_of_error(e) == pytest.approx(r, rel=1e-4)


def test_fit_kappa_recovers_known_constant():
    rng = np.random.default_rng(0)
    cfgs = [Setting(a=a, b_T=b, alpha=al) for a in (0.5, 0.8) for b in (1.2, 2.2) for al in (0.3, 0.6, 1.0)]
    lam = np.array([theory.lambda_h4(c) for c in cfgs])
    rz = np.array([theory.inh_factor_h4(c) * theory.r_inh(c) for c in cfgs])
    consts = {"kappa": {"c": 0.1, "p": 0.0}}
    rtr = np.array([theory.h4(c, consts=consts).snr_transfer for c in cfgs]) + rng.normal(0, 1e-4, len(cfgs))
    fit = theory.fit_kappa(cfgs, lam, rz, rtr)
    assert fit["p"] == 0.0 and fit["c"] == pytest.approx(0.1, abs=2e-3)


def test_output_stats_matches_noise_output_sd():
    import jax
    import jax.numpy as jnp

    d, m = 50, 3
    W = jax.random.normal(jax.random.key(0), (2, m, d))
    frame = jnp.eye(3, d)
    key = jax.random.key(1)
    draws = jax.random.normal(key, (4096, 1, 2 * m))
    cov = theory.noise_cov(W, frame, 1.3)
    S, N = theory.output_stats(W @ frame[0], cov, jnp.ones((2, m), bool), draws, jax.nn.relu)
    assert float(N) == pytest.approx(float(theory.noise_output_sd(W, frame, 1.3, key)), rel=1e-5)
    # the signal margin of filters on u: (1/m) sum_r [relu(<w_{+1,r}, u>) - relu(<w_{-1,r}, u>)] at y = +1, ...
    pre = W @ frame[0]
    f = lambda y: (jax.nn.relu(y * pre[0]).sum() - jax.nn.relu(y * pre[1]).sum()) / m  # noqa: E731
    assert float(S) == pytest.approx(float(f(1.0) - f(-1.0)) / 2, rel=1e-5)
    # masked filters contribute nothing
    mask = jnp.zeros((2, m), bool).at[:, 0].set(True)
    S1, N1 = theory.output_stats(pre, cov, mask, draws, jax.nn.relu)
    S0, N0 = theory.output_stats(pre.at[:, 1:].set(0.0), theory.noise_cov(W.at[:, 1:].set(0.0), frame, 1.3),
                                 jnp.ones((2, m), bool), draws, jax.nn.relu)  # fmt: skip
    assert float(S1) == pytest.approx(float(S0), rel=1e-5) and float(N1) == pytest.approx(float(N0), rel=1e-4)


def test_heldout_grid_is_apart_from_the_check_grid():
    from simtransfer.experiments.check import CALIBRATION_BLOCKS, CHECK_BLOCKS, HELDOUT_BLOCKS, HELDOUT_KEY
    from simtransfer.experiments.check.grid import CALIBRATION_KEY, CHECK_KEY, _base_experiment
    from simtransfer.experiments.predictions import grid_points

    def configs(blocks):
        return [_base_experiment(b.static).set(**v).to_toml() for b in blocks for g in b.grids for v in grid_points(g)]

    held = configs(HELDOUT_BLOCKS)
    assert len(held) == len(set(held)) == 78
    assert not set(held) & set(configs(CHECK_BLOCKS) + configs(CALIBRATION_BLOCKS))  # no shared cell
    assert HELDOUT_KEY not in (CHECK_KEY, CALIBRATION_KEY)  # nor root seed
    shapes = {tuple(sorted(b.static.items())) for b in HELDOUT_BLOCKS}
    assert len(shapes) == 10


def test_check_refuses_an_unknown_grid():
    with pytest.raises(ValueError, match="grid"):
        check(grid="nope", verbose=False)
    r = subprocess.run([sys.executable, "-m", "simtransfer.experiments.check", "--grid", "nope"],
                       capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert r.returncode == 2 and "--grid" in r.stderr
