"""Every prediction knows its domain, and H5's derived parts (issue 13; docs/theory.md sections 5, 8).

Deterministic: no simulation, no statistical tolerance.  Tolerances below are float64
round-off (1e-9) unless stated."""

from __future__ import annotations

import json
import math
import pathlib

import pytest

import theory
from simtransfer import Experiment
from theory import Setting, setting_of
from theory.domain import CONFIG_NAMES, QUANTITIES, load_domains
from theory.h5_model import group, kappa_h5, margin_of_budget_from, parts

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONSTS = theory.load_h5()


def test_setting_reads_every_field_that_changes_the_outcome():
    exp = Experiment().set(**{
        "task.P": 3, "transfer.policy": "top_signal", "transfer.freeze_inherited": True, "transfer.rescale": 1.5,
        "model.sigma_0": 0.02, "upstream.optimizer": "momentum", "downstream.optimizer": "adam",
        "model.activation": "leaky_relu", "task.label_flip": 0.1,
    })  # fmt: skip
    st = setting_of(exp)
    assert (st.P, st.policy, st.freeze, st.rescale, st.sigma_0) == (3, "top_signal", True, 1.5, 0.02)
    assert (st.optimizer_up, st.optimizer_down, st.activation, st.label_flip) == ("momentum", "adam", "leaky_relu", 0.1)
    assert setting_of(Experiment().set(**{"transfer.mode": "distill"})).k == 0  # distillation inherits nothing
    assert set(CONFIG_NAMES) == {f.name for f in Setting.__dataclass_fields__.values()}


def test_predict_returns_every_hypothesis_with_its_domain():
    preds = theory.predict(Experiment().set(**{"task.a": 0.6, "task.b_T": 1.7, "n_source": 160}))
    assert tuple(preds) == theory.HYPOTHESES and {"H4", "H5"} <= set(preds)
    for name, p in preds.items():
        assert isinstance(p.in_domain, bool) and isinstance(p.outside, tuple)
        assert p.in_domain == (not p.outside), name
    assert preds["H5"].in_domain, preds["H5"].outside


@pytest.mark.parametrize("field,value,flag", [
    ("transfer.mode", "distill", "transfer.mode=distill (not modelled"),
    ("downstream.optimizer", "momentum", "downstream.optimizer=momentum (not modelled"),
    ("model.activation", "leaky_relu", "model.activation=leaky_relu (not modelled"),
])  # fmt: skip
def test_unmodelled_fields_put_every_theory_out_of_domain(field, value, flag):
    exp = Experiment().set(**{"task.a": 0.6, "task.b_T": 1.7, "n_source": 160, field: value})
    preds = theory.predict(exp)
    for name in ("H1", "H2", "H3", "H4", "H5"):
        assert not preds[name].in_domain and any(o.startswith(flag) for o in preds[name].outside), name
    assert preds["sign_of_s"].in_domain  # a trivial baseline claims no domain


def test_numeric_ranges_and_upstream_only_fields():
    base = Experiment().set(**{"task.a": 0.6, "task.b_T": 1.7, "n_source": 160})
    h4 = theory.h4(base.set(**{"task.d": 4000}))
    assert not h4.in_domain and any(o.startswith("task.d=4000 (outside [1000, 1000]") for o in h4.outside)
    assert theory.h4(base.set(**{"task.P": 3})).outside[0].startswith("task.P=3 (not modelled by h4: assumes 2)")
    h5 = theory.h5(base.set(**{"model.m": 40}))
    assert not h5.in_domain and any(o.startswith("model.m=40 (outside") for o in h5.outside)
    # fields of the upstream stage do not matter when nothing is inherited
    far = base.set(**{"n_source": 5000, "transfer.alpha": 0.0})
    assert theory.h5(far).in_domain and not theory.h5(far.set(**{"transfer.alpha": 0.5})).in_domain


def test_h5_domain_is_what_the_calibration_grid_spans():
    dom = load_domains()["h5"]
    fam = json.loads((ROOT / "theory" / "families.json").read_text())
    sts = [setting_of(Experiment().set(**{**fam["base"], **fam["static"][c["block"]], **c["values"]}))
           for c in fam["cells"]]  # fmt: skip
    for f, (lo, hi) in dom.ranges.items():
        pool = [s for s, c in zip(sts, fam["cells"]) if f not in dom.upstream_only or c["block"].startswith("tr-")]
        vals = [QUANTITIES[f](s) if f in QUANTITIES else float(getattr(s, f)) for s in pool]
        assert (min(vals), max(vals)) == pytest.approx((lo, hi)), f
    assert fam["key"] not in (20250, 777, 0)  # not the check's, H4's or the scratch calibration's root seed


def test_h5_budget_and_bounded_kappa():
    # the discrete budget is the gradient flow e^M + M = 1 + B T while B is small ...
    M = margin_of_budget_from(0.01, 3000)
    assert math.exp(M) + M == pytest.approx(1 + 0.01 * 3000, rel=2e-3)  # O(B) discretisation error
    # ... and overshoots it when B >> 1 (the first step alone reaches B / 2)
    assert margin_of_budget_from(80.0, 300) > 3.5 * theory.margin_of_budget(80.0, 300)
    s = Setting(a=0.6, b_T=1.7, n_S=160)
    k1 = [kappa_h5(setting_of(s, alpha=1.0, m=m, m_up=m), CONSTS) for m in (5, 10, 20, 1000)]
    assert k1 == sorted(k1, reverse=True) and k1[-1] < k1[0] <= 1 + CONSTS["kappa"]["c"] / 5 + 1e-12
    assert kappa_h5(setting_of(s, alpha=0.0), CONSTS) == 1.0
    assert kappa_h5(setting_of(s, alpha=1.0, freeze=True), CONSTS) == 1.0


def test_h5_derived_extensions():
    s = Setting(a=0.6, b_T=1.7, n_S=160, alpha=0.6)
    p0 = parts(s, CONSTS)
    # rescale multiplies the inherited signal and noise alike (ReLU is positively homogeneous)
    p2 = parts(setting_of(s, rescale=2.0), CONSTS)
    assert p2["S_inh"] == pytest.approx(2 * p0["S_inh"], rel=1e-12)
    assert p2["lam"] == pytest.approx(2 * p0["lam"], rel=1e-12)
    # frozen at alpha = 1, the transfer model is the zero-shot model: SNR = S_inh / N_inh
    pf = parts(setting_of(s, alpha=1.0, freeze=True), CONSTS)
    assert pf["snr_transfer"] == pytest.approx(pf["S_inh"] / pf["N_inh"], rel=1e-12)
    # label noise shrinks the signal by (1 - 2p)^beta, not the noise
    pp = parts(setting_of(s, label_flip=0.2), CONSTS)
    assert pp["S_sc"] == pytest.approx(p0["S_sc"] * 0.6 ** CONSTS["law"]["beta"], rel=1e-12)
    assert pp["N_sc"] == pytest.approx(p0["N_sc"], rel=1e-12)
    # P - 1 noise patches: the same scratch SNR at SNR2 scaled by (P - 1)^2, up to the
    # initialisation noise and the budget's signal term (a few per cent here)
    r2 = parts(setting_of(s, alpha=0.0), CONSTS)["snr_scratch"]
    b3 = math.sqrt(math.sqrt(4) * s.norm_mu_T**2 - (s.s * s.a) ** 2)
    r3 = parts(setting_of(s, alpha=0.0, P=3, b_T=b3), CONSTS)["snr_scratch"]
    assert r3 == pytest.approx(r2, rel=0.1)
    # initialisation noise: a larger sigma_0 lowers the scratch SNR at fixed SNR2
    assert parts(setting_of(s, sigma_0=0.03), CONSTS)["snr_scratch"] < p0["snr_scratch"]
    g = group(10, 10, 20, 3.0, 0.5, 300, s)
    # gamma / rho = n ||mu||^2 / (2 sigma_p^2 d)
    assert g.gamma / g.rho == pytest.approx(20 * 3.0 / (2 * 1000), rel=1e-12)


def test_h5_constants_are_listed_with_their_provenance():
    c = CONSTS
    assert set(c["law"]) == {"c", "k", "beta"} and set(c["kappa"]) == {"c", "q"}
    assert c["command"] == "scripts/fit_theory.py" and c["inputs"]["key"] == 31337
