"""``simtransfer check`` after issue 13: domains, families, bootstrap intervals, the baseline,
and a check grid that shares nothing with the calibration grids (docs/theory.md sections 5, 6, 10)."""

from __future__ import annotations

import itertools
import json
import math
import pathlib

import numpy as np
import pytest

import simtransfer  # noqa: F401  (sets up the CPU devices before jax initialises)
import theory
from simtransfer.experiments.check import CALIBRATION_KEY, CHECK_KEY, main
from simtransfer.experiments.check.cells import BASELINE, FAMILY_ROWS
from simtransfer.experiments.check.grid import CALIBRATION_BLOCKS, CHECK_BLOCKS, _base_experiment
from simtransfer.experiments.check.score import bootstrap_interval, family_table, metrics, score

ROOT = pathlib.Path(__file__).resolve().parents[1]
OLD_FAMILIES = {"nS160", "nS640", "nS40", "d2000"}


def _cells(blocks):
    for b in blocks:
        exp = _base_experiment(b.static)
        for g in b.grids:
            for vals in itertools.product(*g.values()):
                yield b.name, exp.set(**dict(zip(g, vals)))


def test_check_grid_is_broad_and_mostly_in_h5s_domain():
    cells = list(_cells(CHECK_BLOCKS))
    fams = {name for name, _ in cells}
    assert len(cells) >= 120 and len(fams - OLD_FAMILIES) >= 8
    in_dom = [theory.h5(cfg).in_domain for _, cfg in cells]
    assert np.mean(in_dom) >= 0.8
    # the families no theory models are flagged, every cell of them
    for name, cfg in cells:
        if name in ("momentum", "leaky_relu"):
            assert not any(p.in_domain for k, p in theory.predict(cfg).items() if k.startswith("H")), name


def test_check_grid_shares_no_cell_and_no_seed_with_the_calibration_grids():
    check = {cfg.to_toml() for _, cfg in _cells(CHECK_BLOCKS)}
    h4cal = {cfg.to_toml() for _, cfg in _cells(CALIBRATION_BLOCKS)}
    fam = json.loads((ROOT / "theory" / "families.json").read_text())
    from simtransfer import Experiment

    h5cal = {Experiment().set(**{**fam["base"], **fam["static"][c["block"]], **c["values"], "eval.curve_draws": 64})
             .to_toml() for c in fam["cells"]}  # fmt: skip
    assert not check & h4cal and not check & h5cal
    assert len({CHECK_KEY, CALIBRATION_KEY, fam["key"], 0}) == 4


def _pred(sign, err, in_domain=True, gain=0.0):
    out = () if in_domain else ("x=1 (r)",)
    return theory.Prediction("h", err, math.nan, gain, sign, in_domain=in_domain, outside=out)


def test_in_and_out_of_domain_scored_apart_and_per_family():
    cells = [{"block": b, "values": {}, "s": 1.0, "gain": g, "se": 0.01, "t": g / 0.01, "err_transfer": 0.2}
             for b, g in (("f1", 0.05), ("f1", -0.04), ("f2", 0.03), ("f2", -0.03))]  # fmt: skip
    preds = [{"h": ("config", _pred(s, 0.2, d))} for s, d in ((1, True), (-1, True), (-1, False), (1, False))]
    (row,) = score(cells, preds)
    assert row["in_domain"]["n_cells"] == 2 and row["in_domain"]["bal_acc"] == 1.0
    assert row["out_of_domain"]["n_cells"] == 2 and row["out_of_domain"]["bal_acc"] == 0.0
    fams = {(r["family"], r["hypothesis"]): r for r in family_table(cells, preds, ("h",))}
    assert fams[("f1", "h")]["in_domain"] == 2 and fams[("f2", "h")]["in_domain"] == 0
    assert fams[("all families", "h")]["cells"] == 4 and fams[("all families", "h")]["n_sig"] == 2


def test_bootstrap_interval():
    t = np.array([1] * 30 + [-1] * 30)
    assert bootstrap_interval(t, t) == (1.0, 1.0)
    p = t.copy()
    p[:6] = -1  # recall 0.8 on +1, 1 on -1: 0.9
    lo, hi = bootstrap_interval(t, p)
    assert lo < 0.9 < hi and hi - lo < 0.2
    assert all(math.isnan(x) for x in bootstrap_interval(t[:1], p[:1]))


def test_quick_check_has_domains_families_and_the_baseline(tmp_path):
    out = tmp_path / "table.json"
    assert main(["--quick", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    table = json.loads(out.read_text())
    rows = {r["hypothesis"]: r for r in table["rows"]}
    assert {"H5", "H5-plugin", BASELINE} <= set(rows) and rows[BASELINE]["kind"] == "baseline"
    for r in rows.values():
        assert r["in_domain"]["n_cells"] + r["out_of_domain"]["n_cells"] == r["n_cells"]
    assert {f["hypothesis"] for f in table["families"]} == set(FAMILY_ROWS)
    for c in table["cells"]:
        assert all(isinstance(v["in_domain"], bool) and isinstance(v["outside"], list) for v in c["pred"].values())
        assert c["pred"][BASELINE]["err_transfer"] == c["pred"]["H5"]["err_scratch"]  # no transfer effect
    m = metrics([], [])
    assert m["n_cells"] == 0 and math.isnan(m["bal_acc"])


def test_sweeps_carry_every_prediction_and_its_domain():
    from simtransfer import Experiment, sweep
    from simtransfer.experiments.check.grid import QUICK_STATIC

    exp = Experiment().set(**{"backend": "gram", "eval.n_test": 0, **QUICK_STATIC})
    grid = {"transfer.alpha": [0.0, 0.5], "task.P": [2]}
    ds = sweep(exp, grid, seeds=2, key=3)
    for i, alpha in enumerate(grid["transfer.alpha"]):
        cfg = exp.set(**{"transfer.alpha": alpha})
        for name, pred in theory.predict(cfg).items():
            tag = "".join(c if c.isalnum() else "_" for c in name)
            got = ds[f"theory_{tag}_in_domain"].isel({"transfer.alpha": i, "task.P": 0}).item()
            assert got == float(pred.in_domain), name
            if math.isfinite(pred.pred_err_transfer):
                got_err = ds[f"theory_{tag}_err_transfer"].isel({"transfer.alpha": i, "task.P": 0}).item()
                assert got_err == pytest.approx(pred.pred_err_transfer, rel=1e-12)
