"""Tests of the theory package: calibration, exact decomposition, exact conditional error,
idealised vs real dynamics, and the transfer hypotheses (docs/theory.md sections 1-4).

Statistical checks state their false-failure rate; float32 checks justify their tolerance.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from simtransfer import Eval, Experiment, Task, Train
from simtransfer.config.data import Batch, sample
from simtransfer.nn.model import cnn_structured
from simtransfer.nn.train import train
from simtransfer.protocol import make_trial_state, theta_of
from simtransfer.runs.run import seed_keys
from theory.exact import half_errors

ROOT = pathlib.Path(__file__).resolve().parents[1]


# -- scratch law and calibration ---------------------------------------------------------------


def test_snr2_laws_and_regime():
    assert theory.snr2(20, 2.0, 1.0, 1000) == pytest.approx(20 * 16 / 1000)
    assert theory.snr2(20, 2.0, 2.0, 1000) == pytest.approx(20 * 16 / (16 * 1000))
    s = np.geomspace(1e-3, 30, 50)
    for e in (theory.err_gauss(s, 0.1, 1.5), theory.err_gauss(s, 0.1, 1.4, 0.42), theory.err_exp(s, 0.1, 0.8)):
        assert np.all(np.diff(e) < 0) and np.all(e > 0.1) and np.all(e < 0.5)
    assert theory.err_gauss(0.0, 0.0, 1.5) == pytest.approx(0.5)
    assert theory.err_exp(0.0, 0.2, 1.0) == pytest.approx(0.5)
    assert theory.regime(2.0, 1.0, 0.1) == "benign"
    assert theory.regime(0.05, 1.0, 0.1) == "harmful"
    assert list(theory.regime(np.array([0.05, 0.5, 2.0]), 1.0, 0.1)) == ["harmful", "in-between", "benign"]
    with pytest.raises(ValueError, match="c3 <= c1"):
        theory.regime(1.0, 0.1, 1.0)


@pytest.mark.parametrize(
    "law,true,p",
    [("gauss", (1.5,), 0.0), ("gauss_free", (1.39, 0.42), 0.1), ("exp", (0.8,), 0.0)],
)
def test_calibrate_recovers_known_constants(law, true, p):
    # 40 synthetic data sets of 30 scratch errors drawn from the law itself with Gaussian
    # noise of known s.e. 0.01.  Each nominal 95% CI covers the truth with probability
    # 0.93-0.955 (measured over 400 data sets: nonlinear least squares on 30 points slightly
    # under-covers); requiring >= 32 of 40 to cover fails with probability <= 0.15% at
    # coverage 0.93 (binomial tail), per parameter.  Seeds are fixed, so the run is deterministic.
    s = np.geomspace(0.01, 10, 30)
    law_fn = theory.err_exp if law == "exp" else theory.err_gauss
    clean = law_fn(s, p, *true)
    se = np.full(s.shape, 0.01)
    covered = np.zeros(len(true), int)
    for seed in range(40):
        y = clean + np.random.default_rng(seed).normal(0, se)
        fit = theory.calibrate(s, y, se, p=p, law=law, bootstrap=50 if seed == 0 else 0)
        covered += [lo < t < hi for t, (lo, hi) in zip(true, fit.ci95)]
        assert fit.n == 30 and fit.names == theory.LAWS[law]
        assert 0.005 < fit.rmse < 0.015  # the injected noise is 0.01
        if seed == 0:
            assert all(blo < est < bhi for est, (blo, bhi) in zip(fit.estimate, fit.ci95_boot))
            assert theory.Fit.from_dict(fit.to_dict()) == fit
            np.testing.assert_allclose(fit.error(s), clean, atol=0.02)
    assert np.all(covered >= 32), covered


def test_shipped_calibration():
    cal = theory.load_calibration()
    assert set(cal.fits) == {"gauss", "gauss_free", "exp"}
    assert cal.default in cal.fits
    assert cal.meta["command"].startswith("python -m simtransfer.experiments.calibrate")
    assert len(cal.meta["points"]) == cal.fit().n
    for f in cal.fits.values():
        for est, (lo, hi) in zip(f.estimate, f.ci95):
            assert lo < est < hi
    c = cal.fit("gauss").estimate[0]
    assert 0.5 < c < 3.0  # docs/theory.md section 1: c ~ 1.5 in the prototype
    e = cal.error(np.array([0.01, 1.0, 10.0]))
    assert np.all(np.diff(e) < 0)
    # a wrong-sign margin is worse than chance, symmetrically
    assert cal.error_of_snr(-1.0) == pytest.approx(1 - cal.error_of_snr(1.0))


# -- one real trial: decomposition, exact error, measured lambda --------------------------------

SMALL = Experiment(
    task=Task(d=200),
    upstream=Train(steps=50, log_every=50),
    downstream=Train(steps=50, log_every=50),
    eval=Eval(n_test=0, mc_draws=64, curve_draws=16),
    n_source=20,
    n_target=10,
)


@pytest.fixture(scope="module")
def state():
    return jax.jit(make_trial_state(SMALL))(seed_keys(0, 1)[0], theta_of(SMALL))


def test_decompose_is_exact_on_trained_weights(state):
    d = SMALL.task.d
    src, tgt = state["source"].xi, state["target"].xi
    both = jnp.concatenate([src.reshape(-1, d), tgt.reshape(-1, d)])
    cases = [
        ("W_up", "W_up0", src, both),
        ("W_scratch", "W_fresh", tgt, both),
        ("W_transfer", "W_transfer0", tgt, both),
    ]
    for w, w0, own, allp in cases:
        for patches in (own, allp):
            dec = theory.decompose(state[w], state[w0], state["signals"], patches)
            assert dec.gamma.shape == (2, SMALL.model.m, 3)
            assert dec.rho.shape == (2, SMALL.model.m) + patches.shape[:-1]
            # float32: W - W0 is rebuilt from ~30-50 unit vectors with coefficients of O(1-10);
            # rounding is ~1e-7 relative (measured 2e-7), so 1e-4 leaves a wide margin while
            # any component outside the span (a wrong decomposition) would show at O(1).
            assert float(dec.residual) < 1e-4, (w, float(dec.residual))
    # upstream filters learn u and v_S equally (mu_S = u + v_S, a = b_S = 1), not v_T;
    # class +1 filters have gamma >= 0-ish, class -1 <= 0-ish (j gamma is signal learning)
    g = theory.decompose(state["W_up"], state["W_up0"], state["signals"], src).gamma
    np.testing.assert_allclose(g[..., 0], g[..., 1], atol=1e-4 * float(jnp.max(jnp.abs(g))))
    assert float(jnp.max(jnp.abs(g[..., 2]))) < 1e-4 * float(jnp.max(jnp.abs(g)))
    assert float(jnp.sum(g[0, :, 0])) > 0 > float(jnp.sum(g[1, :, 0]))
    # gamma_z = ||z|| x (coefficient along the unit direction), which a zero norm leaves as is
    frame = state["signals"].frame
    g2 = theory.decompose(state["W_up"], state["W_up0"], frame, src, signal_norms=(2.0, 0.0, 1.0)).gamma
    np.testing.assert_allclose(g2[..., 0], 2 * g[..., 0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g2[..., 1], g[..., 1], rtol=1e-5, atol=1e-7)
    # a direction outside the span is not reconstructed: residual ~ 1
    junk = jax.random.normal(jax.random.key(1), state["W_up"].shape)
    assert float(theory.decompose(state["W_up0"] + junk, state["W_up0"], state["signals"], src).residual) > 0.5


def test_exact_error_matches_20000_point_test_set(state):
    W, sig = state["W_scratch"], state["signals"]
    exact = theory.test_error_given_weights(W, sig.mu_T, sig.frame, 1.0, jax.random.key(3), draws=20000)
    b = sample(jax.random.key(4), 20000, 2, sig.frame, 1.0, 0.0, False)
    emp = float(jnp.mean(half_errors(b.y * cnn_structured(W, b.xi, b.y_signal, sig.mu_T, jax.nn.relu))))
    err = float(exact.err)
    assert 0.05 < err < 0.45  # a model whose error is neither trivial nor chance
    # Independent estimates of the same error: |difference| < 3 combined s.e. fails with
    # probability 0.3% (normal approximation; both s.e. from 20000 draws).
    comb = math.sqrt(float(exact.se) ** 2 + emp * (1 - emp) / 20000)
    assert abs(err - emp) < 3 * comb, (err, emp, comb)


def test_measured_lambda_and_r_inh(state):
    sig, k = state["signals"], SMALL.k_inherited
    W_inh = state["W_transfer0"][:, :k]
    lam = float(theory.lambda_measured(W_inh, state["W_scratch"], sig.frame, 1.0, jax.random.key(5)))
    assert 0.0 < lam < 100.0
    src = state["source"].xi.reshape(-1, SMALL.task.d)
    dec = theory.decompose(state["W_up"][:, :k], state["W_up0"][:, :k], sig, src)
    r = float(theory.r_inh_measured(dec.gamma[..., 0], dec.rho, jnp.sum(src**2, -1), SMALL.task.s, 1.0))
    assert r > 0  # s = +1: the inherited filters carry the right-sign signal


# -- idealised dynamics -------------------------------------------------------------------------


def _coef_vs_train(W0, mu, xi, y_sig, y, eta, steps, K, norms):
    batch = Batch(xi, y_sig, y, jnp.zeros(y.shape, jnp.int32))
    W, _, bad = train(W0, batch, mu, eta, cfg=Train(steps=steps, eta=eta, log_every=steps), act=jax.nn.relu)
    assert int(bad) < 0
    frame = jnp.eye(3, W0.shape[-1])
    dec = theory.decompose(W, W0, frame, xi, signal_norms=norms)
    A, B = theory.initial_preacts(W0, mu, xi)
    co = theory.coefficient_dynamics(A, B, y_sig, y, K, eta, steps)
    return dec, co


def test_idealised_recursion_equals_gd_on_orthogonal_data():
    # Noise patches exactly orthogonal with ||xi_i||^2 = sigma_p^2 d: xi_i = sigma_p sqrt(d) e_{3+i},
    # so the proofs' idealisation holds exactly and the recursion must reproduce real GD.
    n, d, m, sigma_p, a, eta, T = 16, 40, 5, 1.0, 1.5, 0.5, 200
    k_w, k_y = jax.random.split(jax.random.key(11))
    xi = (sigma_p * math.sqrt(d) * jnp.eye(d)[3 : 3 + n])[:, None, :]  # (n, 1, d)
    mu = jnp.zeros(d).at[0].set(a)
    y_sig = jax.random.rademacher(k_y, (n,), jnp.float32)
    y = y_sig.at[:2].multiply(-1.0)  # two flipped labels: noise memorisation against the signal
    W0 = 0.1 * jax.random.normal(k_w, (2, m, d))
    K = theory.ideal_gram(a**2, n, sigma_p, d)
    dec, co = _coef_vs_train(W0, mu, xi, y_sig, y, eta, T, K, (a, 1.0, 1.0))
    assert float(dec.residual) < 1e-4
    # float32: both sides are float32 GD with the same arithmetic in a different order; with
    # ~1e-7 rounding per step and 200 contracting steps the gap stays ~1e-6 of the largest
    # coefficient, so 1e-4 of it is a safe bound that a wrong recursion (O(1) gaps) cannot meet.
    scale = float(jnp.max(jnp.abs(co.rho)))
    np.testing.assert_allclose(co.gamma, dec.gamma[..., 0], atol=1e-4 * scale)
    np.testing.assert_allclose(co.rho, dec.rho, atol=1e-4 * scale)
    assert float(jnp.max(jnp.abs(co.gamma))) > 0.1 and scale > 1.0  # the dynamics did something
    inactive = (jnp.abs(co.rho) < 1e-6).mean()
    assert 0.05 < float(inactive) < 0.95  # and some filters were inactive on some patches


def test_coefficient_dynamics_with_true_gram_equals_gd_on_gaussian_data():
    # The "real" side of divergence_vs_d_over_n: with the true Gram matrix the recursion is GD.
    n, d, m, eta, T = 10, 100, 5, 0.5, 100
    k_w, k_y, k_x = jax.random.split(jax.random.key(12), 3)
    xi = jax.random.normal(k_x, (n, 1, d)).at[..., :3].set(0.0)
    mu = jnp.zeros(d).at[0].set(1.5)
    y = jax.random.rademacher(k_y, (n,), jnp.float32)
    W0 = 0.1 * jax.random.normal(k_w, (2, m, d))
    dec, co = _coef_vs_train(W0, mu, xi, y, y, eta, T, theory.patch_gram(mu, xi), (1.5, 1.0, 1.0))
    # non-orthogonal patches: the decomposition's Gram solve adds ~1e-6 relative error on top
    # of the float32 GD rounding; 1e-3 of the largest coefficient still separates it from O(1).
    scale = float(jnp.max(jnp.abs(co.rho)))
    np.testing.assert_allclose(co.gamma, dec.gamma[..., 0], atol=1e-3 * scale)
    np.testing.assert_allclose(co.rho, dec.rho, atol=1e-3 * scale)


def test_divergence_table():
    rows = theory.divergence_vs_d_over_n(jax.random.key(0), d_values=(30, 3000), n=10, steps=50, seeds=1)
    assert [r["d"] for r in rows] == [30, 3000]
    small, large = rows
    assert small["orth"] > large["orth"] and small["norm_dev"] > large["norm_dev"]
    for r in rows:
        assert all(math.isfinite(v) for v in r.values())
        assert 0.0 <= r["pattern"] <= 1.0


# -- transfer hypotheses ------------------------------------------------------------------------

CAL = theory.Calibration({"gauss": theory.Fit("gauss", ("c",), (1.5,), (0.01,), ((1.48, 1.52),), 0.02, 30)}, "gauss")


def test_h1_monotone_in_n_S_and_a():
    # H1: r_inh = s sqrt(n_S) a^2/(sigma_p^2 sqrt d) grows with n_S and a; r_T grows with a
    # through ||mu_T||^2 = s^2 a^2 + b_T^2; SNR_transfer = (lambda r_inh + r_T)/sqrt(1+lambda^2).
    base = theory.Setting(alpha=0.5, s=1.0)
    for lam in (math.inf, "default", "log", 0.7):
        for s in (1.0, -1.0):
            by_n = [theory.h1(theory.setting_of(base, n_S=n, s=s), lam, cal=CAL) for n in (10, 40, 160, 640, 2560)]
            snr = np.array([p.snr_transfer for p in by_n])
            err = np.array([p.pred_err_transfer for p in by_n])
            assert np.all(np.sign(np.diff(snr)) == s) and np.all(np.sign(np.diff(err)) == -s), (lam, s)
            assert len({p.pred_err_scratch for p in by_n}) == 1  # scratch does not see n_S
        by_a = [theory.h1(theory.setting_of(base, a=a), lam, cal=CAL) for a in (0.25, 0.5, 1.0, 2.0, 3.0)]
        assert np.all(np.diff([p.snr_transfer for p in by_a]) > 0)
        assert np.all(np.diff([p.pred_err_transfer for p in by_a]) < 0)
    # the gain's sign is the derived threshold condition r_inh > r_T (sqrt(1+lam^2) - 1)/lam
    for n_S in (10, 40, 160, 640):
        for a in (0.5, 1.0, 2.0):
            c = theory.setting_of(base, n_S=n_S, a=a)
            lam = theory.lambda_default(c)
            p = theory.h1(c, lam, cal=CAL)
            thr = theory.r_target(c) * (math.sqrt(1 + lam**2) - 1) / lam
            assert p.sign == (1 if theory.r_inh(c) > thr else -1)
            assert np.sign(p.pred_gain) == p.sign
    # lambda -> inf: transfer wins iff s > 0 and n_S a^4 > n_T ||mu_T||^4
    c = theory.setting_of(base, n_S=640, a=1.0, b_T=0.0)
    assert theory.h1(c, cal=CAL).sign == 1 and theory.h1(theory.setting_of(c, n_S=10), cal=CAL).sign == -1


def test_predictions_from_an_experiment_and_the_other_hypotheses():
    exp = Experiment(n_source=160)
    preds = theory.predict(exp)  # duck-typed Experiment, shipped calibration
    assert set(preds) >= {"H1", "H1-corrected", "H2", "H3", "sign_of_s", "always_helps"}
    for p in preds.values():
        assert p.sign in (-1, 0, 1)
    assert theory.predict(exp.set(**{"transfer.alpha": 0.0}))["H1"].sign == 0
    assert theory.sign_of_s(exp.set(s=-1.0)).sign == -1 and theory.always_helps(exp.set(s=-1.0)).sign == 1
    # H2: noise-carrier negative transfer grows with alpha and with upstream training
    base = theory.Setting(a=0.5, n_S=640, s=1.0)
    g_alpha = [theory.h2(theory.setting_of(base, alpha=al), signal=False, cal=CAL).pred_gain for al in (0.2, 0.5, 1.0)]
    g_up = [theory.h2(theory.setting_of(base, T_up=t), signal=False, cal=CAL).pred_gain for t in (100, 500, 2000)]
    assert np.all(np.diff(g_alpha) < 0) and np.all(np.diff(g_up) < 0) and g_alpha[0] < 0
    # H3: with s < 0, recovery (no loss) iff |G| <= 1; beyond, worse, and worse than chance
    anti = theory.Setting(a=1.0, s=-1.0, alpha=1.0, n_S=10, n_T=40, b_T=2.0)
    assert abs(theory.h3_ratio(anti)) <= 1 and theory.h3(anti, cal=CAL).sign == 0
    strong = theory.setting_of(anti, n_S=2000, a=2.0)
    assert theory.h3_ratio(strong) < -2 and theory.h3(strong, cal=CAL).sign == -1
    assert theory.h3(strong, cal=CAL).pred_err_transfer > 0.5
    # the plug-in H1 is H1 with the measured values put in
    c = theory.Setting(n_S=160, a=0.8)
    assert theory.h1_plugin(c, 0.7, cal=CAL) == dataclasses.replace(theory.h1(c, 0.7, cal=CAL), hypothesis="H1-plugin")
    assert theory.h1_plugin(c, 0.7, r_inh_value=-1.0, cal=CAL).sign == -1
    # corrected H1 at alpha = 1 boosts the learned part by kappa
    assert theory.h1_corrected(theory.Setting(alpha=1.0), lam=0.0, cal=CAL).sign == 1


def test_theory_never_imports_simtransfer():
    for f in (ROOT / "theory").glob("*.py"):
        assert "simtransfer" not in "".join(
            line for line in f.read_text().splitlines(True) if line.lstrip().startswith(("import", "from"))
        ), f
    code = "import sys, theory; theory.predict(theory.Setting()); assert 'simtransfer' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
