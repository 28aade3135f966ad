"""Transferability estimators and their testbed (issue 6).

1. Each estimator against a case with a closed-form answer (float64 numpy/scipy references).
2. The scores inside the trial: dense and gram features agree, finite per seed, saved.
3. ``evaluate_estimators`` on a known monotone relation and on noise; rank correlations
   equal scipy's.
4. The figure's quick version.

Float32 tolerances: the Jacobi eigensolver's eigenvalues are accurate to ~n eps ||A||
(n <= 40, eps = 1.2e-7: ~5e-6 relative to the largest; seen <= 4e-6), so scores built on
them are compared at 1e-4 relative unless said otherwise.
"""

from __future__ import annotations

import math
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from simtransfer import run
from simtransfer.backends.gram import features_gram
from simtransfer.experiments.testbed import evaluate_estimators, fit_threshold, fooled, kendall, spearman
from simtransfer.nn import estimators as E
from simtransfer.nn.estimators import SCORES, features, logme_evidence, transfer_scores
from simtransfer.nn.model import activation, cnn_structured
from simtransfer.runs.result import Result
from theory.linalg import sym_eig

scipy_stats = pytest.importorskip("scipy.stats")  # dev dependency (via scikit-learn): references only
scipy_linalg = pytest.importorskip("scipy.linalg")

f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
# jitted: in eager mode every op (and loop body) would compile on its own, ~10x slower here
logme, spectral_score, relatedness, gaussian_w2 = (jax.jit(f) for f in (E.logme, E.spectral_score, E.relatedness,
                                                                        E.gaussian_w2))  # fmt: skip
hscore = jax.jit(E.hscore)  # ridge traced: one compilation


# -- 1. closed forms ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 20, 40])  # trivial, odd (padded), the trial sizes
def test_sym_eig_matches_lapack(n):
    """Jacobi vs float64 LAPACK on a PSD matrix with a large common mode (like raw features)
    and on an indefinite one: eigenvalues to 1e-5 of the largest (float32: ~n eps), V
    orthogonal to 1e-5.  The residual ||A v - lambda v|| is looser: the rotated float32
    matrix accumulates rounding over ~100 updates of each entry, so the eigenvectors of the
    small eigenvalues lean by ~1e-4 towards the dominant one (seen: 9e-5 ||A|| at n = 20,
    with lambda_max / lambda_min ~ 1e3); we allow 3e-4 ||A||."""
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, max(n // 2, 1))) + 3.0
    M = rng.normal(size=(n, n))
    for A in (X @ X.T, M + M.T):
        A = np.asarray(A, np.float32)
        w, V = jax.jit(sym_eig)(f32(A))
        w, V = np.asarray(w, np.float64), np.asarray(V, np.float64)
        ref = np.linalg.eigvalsh(A.astype(np.float64))[::-1]
        scale = np.abs(ref).max()
        np.testing.assert_allclose(w, ref, rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(A @ V - V * w, 0, atol=3e-4 * scale)
        np.testing.assert_allclose(V.T @ V, np.eye(n), atol=1e-5)


def _log_normal(y, C):
    """log N(y; 0, C) in float64."""
    _, logdet = np.linalg.slogdet(C)
    return -0.5 * (y.size * np.log(2 * np.pi) + logdet + y @ np.linalg.solve(C, y))


@pytest.mark.parametrize("n, D", [(30, 6), (8, 12)])  # X^T X side and Gram (X X^T) side
def test_logme_evidence_equals_gaussian_marginal(n, D):
    """At fixed (alpha, beta) the evidence formula is log N(y; 0, I/beta + F F^T/alpha) / n
    (Bishop 3.86): brute force in float64 with a dense covariance."""
    rng = np.random.default_rng(1)
    F = rng.normal(size=(n, D)) + 0.5
    y = (rng.random(n) < 0.5).astype(float)  # a one-hot column
    w, Q = jax.jit(sym_eig)(E._svd_matrix(f32(F)))
    s, proj = E._svd_parts(f32(F), w, Q)
    keep = np.asarray(s) > 1e-6 * float(s[0])
    z = np.where(keep, np.asarray(proj).T @ y / np.sqrt(np.where(keep, s, 1.0)), 0.0)
    perp2 = max(y @ y - z @ z, 0.0)
    evidence = jax.jit(lambda *a: logme_evidence(*a[:3], n, D, *a[3:]))
    for alpha, beta in ((0.1, 1.0), (2.0, 5.0), (30.0, 0.3)):
        got = float(evidence(jnp.where(keep, s, 0.0), f32(z), perp2, alpha, beta))
        ref = _log_normal(y, np.eye(n) / beta + F @ F.T / alpha) / n
        assert abs(got - ref) < 1e-4 * max(1.0, abs(ref)), (alpha, beta, got, ref)


@pytest.mark.parametrize("n, D", [(40, 5), (10, 16)])
def test_logme_is_the_maximised_evidence(n, D):
    """LogME = the mean over the two one-hot columns of max_{alpha, beta} of the evidence:
    compared with scipy's optimiser on the float64 brute-force evidence.  The fixed point
    stops at 1e-4 relative change of alpha/beta, so the maximum is met to second order
    (~1e-8); float32 evaluation of the evidence ~1e-6: we ask 1e-4."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(2)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    F = rng.normal(size=(n, D)) + np.outer(y, rng.normal(size=D)) * 0.7 + 1.0
    ref = []
    for col in ((y > 0).astype(float), (y < 0).astype(float)):
        res = minimize(lambda t: -_log_normal(col, np.eye(n) * np.exp(-t[1]) + F @ F.T * np.exp(-t[0])) / n,
                       x0=[0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000})
        ref.append(-res.fun)
    got = float(logme(f32(F), f32(y)))
    assert abs(got - np.mean(ref)) < 1e-4, (got, ref)


def _two_class_features(rng, n_c, D, delta, Sw):
    """Features with *exact* sample moments: each class has n_c samples, class means +-delta/2,
    within-class covariance (1/n_c normalised) exactly Sw."""
    L = np.linalg.cholesky(Sw)
    out = []
    for sign in (1.0, -1.0):
        Z = rng.normal(size=(n_c, D))
        Z -= Z.mean(0)
        Z = Z @ np.linalg.inv(np.linalg.cholesky(Z.T @ Z / n_c)).T  # exactly white
        out.append(Z @ L.T + sign * delta / 2)
    return np.concatenate(out), np.r_[np.ones(n_c), -np.ones(n_c)]


def test_hscore_closed_form():
    """Balanced classes with means +-delta/2 and within-class covariance Sw: cov(f) =
    Sw + delta delta^T / 4, cov(E[f|y]) = delta delta^T / 4, so without a ridge
    H = q / (1 + q) with q = delta^T Sw^{-1} delta / 4 (Sherman-Morrison); with a ridge the
    float64 formula.  Well-conditioned (n = 60 > D = 5): 1e-4 relative."""
    rng = np.random.default_rng(3)
    D = 5
    A = rng.normal(size=(D, D))
    Sw = A @ A.T / D + 0.5 * np.eye(D)
    delta = rng.normal(size=D)
    F, y = _two_class_features(rng, 30, D, delta, Sw)
    q = delta @ np.linalg.solve(Sw, delta) / 4
    np.testing.assert_allclose(float(hscore(f32(F), f32(y), ridge=0.0)), q / (1 + q), rtol=1e-4)
    S = Sw + np.outer(delta, delta) / 4
    eps = 0.1 * np.trace(S) / D
    np.testing.assert_allclose(float(hscore(f32(F), f32(y), ridge=0.1)),
                               delta @ np.linalg.solve(S + eps * np.eye(D), delta) / 4, rtol=1e-4)  # fmt: skip


def test_gaussian_w2_closed_forms():
    """Commuting covariances: W2^2 = ||m1 - m2||^2 + sum (sqrt a_i - sqrt b_i)^2; general and
    singular covariances against scipy's sqrtm (float64); W2(N, N) = 0.  The trace term
    cancels against tr S1 + tr S2 (~10 here): float32 rounding of ~1e-6 relative leaves
    ~sqrt(1e-5) ~ 3e-3 absolute on W2 near 0; elsewhere 1e-4 relative."""
    rng = np.random.default_rng(4)
    D = 6
    a, b = rng.uniform(0.2, 3, D), rng.uniform(0.2, 3, D)
    m1, m2 = rng.normal(size=D), rng.normal(size=D)
    R = np.linalg.qr(rng.normal(size=(D, D)))[0]  # a common eigenbasis
    S1, S2 = R @ np.diag(a) @ R.T, R @ np.diag(b) @ R.T
    ref = math.sqrt(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    np.testing.assert_allclose(float(gaussian_w2(f32(m1), f32(S1), f32(m2), f32(S2))), ref, rtol=1e-4)
    X, Y = rng.normal(size=(D, D)), rng.normal(size=(D, 3))
    for S1, S2 in ((X @ X.T, Y @ Y.T), (Y @ Y.T, X @ X.T), (X @ X.T, X @ X.T + np.eye(D))):  # rank 3 on either side
        r2 = scipy_linalg.sqrtm(S2)
        cross = np.real(np.trace(scipy_linalg.sqrtm(r2 @ S1 @ r2)))
        ref = math.sqrt(max(np.sum((m1 - m2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * cross, 0))
        np.testing.assert_allclose(float(gaussian_w2(f32(m1), f32(S1), f32(m2), f32(S2))), ref, rtol=1e-4)
    assert float(gaussian_w2(f32(m1), f32(X @ X.T), f32(m1), f32(X @ X.T))) < 3e-3


@pytest.mark.parametrize("D", [4, 12])  # n = 8 > D: X^T X side; n < D: Gram side
def test_spectral_score_one_informative_component(D):
    """Centred features with orthogonal components: z_0 = 2 y separates the labels (NCC
    accuracy 1), the others take the same values in both classes (a Hadamard row repeated),
    so any threshold on them is right exactly half the time: S = (sigma_0 + sum_{i>0}
    sigma_i / 2) / sum sigma_i, with sigma_i the component norms.  Rotated into D
    dimensions and shifted by a constant (centring removes it)."""
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(4), -np.ones(4)]
    H = np.array([[1, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]], float)
    Z = np.stack([2 * y] + [c * np.r_[h, h] for c, h in zip((1.5, 1.0, 0.5), H)], axis=1)  # (8, 4)
    sig = np.linalg.norm(Z, axis=0)
    R = np.linalg.qr(rng.normal(size=(D, 4)))[0]  # (D, 4) orthonormal columns
    F = Z @ R.T + rng.normal(size=D)
    ref = (sig[0] + sig[1:].sum() / 2) / sig.sum()
    np.testing.assert_allclose(float(spectral_score(f32(F), f32(y))), ref, rtol=1e-5)


def test_relatedness_parts():
    """R = -(||p_S - p_T||_1 + H(Y_T | Y_hat) + sum_c p_T(c) W2_c / s) against a float64
    reference (scipy sqrtm), on D = 2 features (m_up = 1, so Y_hat = sign(phi_+ - phi_-)),
    with unbalanced priors and a chosen disagreement pattern; and the identical task
    (same features and labels, Y_hat = y) scores 0."""
    rng = np.random.default_rng(6)
    n_S, n_T = 40, 16
    y_S = np.where(np.arange(n_S) < 24, 1.0, -1.0)
    y_T = np.where(np.arange(n_T) < 8, 1.0, -1.0)
    y_hat = np.where(np.arange(n_T) % 4 == 0, -y_T, y_T)  # wrong on 1 in 4

    def feats(y_hat):  # phi_+ - phi_- has the sign of y_hat
        F = np.abs(rng.normal(size=(y_hat.size, 2))) * 0.5 + 0.1
        return F + np.stack([y_hat > 0, y_hat < 0], axis=1)

    F_S, F_T = feats(y_S), feats(y_hat)
    prior = abs(24 / 40 - 8 / 16) * 2
    H = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # each Y_hat class: 3/4 agree
    w2 = 0.0
    for c in (1.0, -1.0):
        A, B = F_S[y_S == c], F_T[y_T == c]
        S1, S2 = np.cov(A.T, bias=True), np.cov(B.T, bias=True)
        r2 = scipy_linalg.sqrtm(S2)
        cross = np.real(np.trace(scipy_linalg.sqrtm(r2 @ S1 @ r2)))
        w2 += np.mean(y_T == c) * math.sqrt(np.sum((A.mean(0) - B.mean(0)) ** 2) + np.trace(S1 + S2) - 2 * cross)
    s = math.sqrt(np.var(np.concatenate([F_S, F_T]), axis=0).sum())
    got = float(relatedness(f32(F_S), f32(y_S), f32(F_T), f32(y_T)))
    np.testing.assert_allclose(got, -(prior + H + w2 / s), rtol=1e-4)
    same = float(relatedness(f32(F_S), f32(y_S), f32(F_S), f32(y_S)))
    assert abs(same) < 3e-3  # W2 of a distribution with itself: sqrt of float32 cancellation


def test_transfer_scores_equal_standalone():
    """The trial's batched computation equals the stand-alone estimators, at the default
    trial's shapes (n_T = D = 20: the n_T x n_T Grams and the target data factor for W2; the
    D x D side runs in the tiny trials below, n_T = 10 > D = 8)."""
    n_T, D = 20, 20
    rng = np.random.default_rng(7)
    y_T, y_S = np.sign(rng.normal(size=n_T)), np.sign(rng.normal(size=50))
    F_T = np.abs(rng.normal(size=(n_T, D)) + 0.3 * y_T[:, None])
    F_S = np.abs(rng.normal(size=(50, D)) + 0.5 * y_S[:, None])
    got = jax.jit(transfer_scores)(f32(F_T), f32(y_T), f32(F_S), f32(y_S))
    assert set(got) == set(SCORES)
    ref = {"score_logme": logme(f32(F_T), f32(y_T)), "score_spectral": spectral_score(f32(F_T), f32(y_T)),
           "score_relatedness": relatedness(f32(F_S), f32(y_S), f32(F_T), f32(y_T)),
           "score_hscore": hscore(f32(F_T), f32(y_T))}  # fmt: skip
    for k in SCORES:
        np.testing.assert_allclose(float(got[k]), float(ref[k]), rtol=1e-4, err_msg=k)


# -- 2. inside the trial --------------------------------------------------------------------


def test_features_dense_and_gram_agree():
    """phi from dense filters and inputs equals phi from basis coefficients and the Gram
    (W = C B): the pre-activations are the same inner products.  And the upstream output
    is the fixed read-out (sum_r phi_{+1,r} - phi_{-1,r}) / m of the features."""
    rng = np.random.default_rng(8)
    d, m, n, P, K = 50, 3, 7, 3, 20
    B = rng.normal(size=(K, d))
    C = rng.normal(size=(2, m, K)) * 0.3
    xi_idx = rng.choice(K, size=n * (P - 1), replace=False)
    mu_c = rng.normal(size=K) * 0.5
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    act = activation("leaky_relu", 0.1, 3.0)
    W, xi, mu = f32(np.einsum("jrk,kd->jrd", C, B)), f32(B[xi_idx].reshape(n, P - 1, d)), f32(mu_c @ B)
    G = B @ B.T

    @jax.jit
    def both(W, xi, y, mu, C, G_noise, Gmu):
        return (features(W, xi, y, mu, act), features_gram(C, G_noise, Gmu, y, act),
                cnn_structured(W, xi, y, mu, act))  # fmt: skip

    phi_d, phi_g, f_ref = both(W, xi, f32(y), mu, f32(C), f32(G[:, xi_idx]), f32(G @ mu_c))
    np.testing.assert_allclose(phi_g, phi_d, rtol=1e-4, atol=1e-4 * float(jnp.abs(phi_d).max()))
    f = (phi_d[:, :m].sum(1) - phi_d[:, m:].sum(1)) / m
    np.testing.assert_allclose(f, f_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["dense", "gram"])
def test_trial_scores_finite_and_saved(tiny, backend, tmp_path):
    """End to end (d = 200): every seed has finite scores, in Result and after save/load.
    (seeds = 6 / batch = 8: the compilations of test_core and test_gram.)"""
    kw = {"seeds": 6, "key": 3} if backend == "dense" else {"seeds": 8, "key": 11, "batch": 8}
    res = run(tiny.set(backend=backend), **kw)
    for k in SCORES:
        v = res.arrays[k]
        assert v.shape == (kw["seeds"],) and np.all(np.isfinite(v)), (k, v)
    assert np.all((res.score_spectral >= 0) & (res.score_spectral <= 1))
    assert np.all((res.score_hscore >= 0) & (res.score_hscore <= 1 + 1e-5))  # in [0, K - 1]
    assert np.all(res.score_relatedness <= 1e-5)
    res.save(tmp_path / "r")
    back = Result.load(tmp_path / "r")
    for k in SCORES:
        np.testing.assert_array_equal(back.arrays[k], res.arrays[k])


# -- 3. the testbed -------------------------------------------------------------------------


def test_rank_correlations_equal_scipy():
    rng = np.random.default_rng(9)
    for n in (3, 10, 33):
        x, y = rng.normal(size=n), rng.normal(size=n)
        x[: n // 3] = x[0]  # ties
        y = y + x
        np.testing.assert_allclose(spearman(x, y), scipy_stats.spearmanr(x, y)[0], rtol=1e-12)
        np.testing.assert_allclose(kendall(x, y), scipy_stats.kendalltau(x, y)[0], rtol=1e-12)  # tau-b
    X, Y = rng.normal(size=(4, 12)), rng.normal(size=(4, 12))
    X[1, 5] = np.nan  # dropped pairwise
    ok = np.isfinite(X[1])
    np.testing.assert_allclose(kendall(X, Y)[1], scipy_stats.kendalltau(X[1, ok], Y[1, ok])[0])
    np.testing.assert_allclose(spearman(X, Y)[1], scipy_stats.spearmanr(X[1, ok], Y[1, ok])[0])
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))  # a constant side


def test_fit_threshold():
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert 0.3 < fit_threshold(s, s > 0.35) < 0.4
    assert fit_threshold(s, np.zeros(6, bool)) == np.inf and fit_threshold(s, np.ones(6, bool)) == -np.inf
    assert fit_threshold(s, s < 0.35) in (-np.inf, np.inf)  # anti-monotone: no threshold beats 1/2


def _synthetic(rng, P=60, S=16, noise=False):
    """A sweep-shaped dataset: point means of the gain spread over +-[0.05, 0.3], per-seed
    deviations < 0.01 (so no trial crosses 0 and every point keeps its sign), the scores an
    increasing affine map of the gain (or independent noise)."""
    mu = np.sign(rng.normal(size=P)) * rng.uniform(0.05, 0.3, P)
    gain = mu[:, None] + rng.uniform(-0.01, 0.01, (P, S))
    sc = rng.normal(size=(P, S)) if noise else 3 * gain + 1
    dims = ("task.a", "seed")
    return xr.Dataset({"gain": (dims, gain), "score_logme": (dims, sc), "err_zeroshot": (dims, -sc),
                       "diverged_upstream": (dims, np.zeros((P, S), bool))},
                      coords={"task.a": np.arange(P), "seed": np.arange(S)})  # fmt: skip


def test_evaluate_estimators_monotone_and_noise():
    """A score that is an increasing function of the gain ranks it perfectly (rho = tau = 1
    across and within points, with degenerate bootstrap intervals) and its cross-fitted
    threshold calls every sign right (the fitted cut lies in the gap |gain| < 0.04).
    Independent noise: across 60 points rho has s.d. 1/sqrt(59) = 0.13, the mean of 60
    within-point rhos (16 seeds each, s.d. 0.26) 0.034, the balanced accuracy on 960
    trials ~0.016: we ask < 0.4, 0.14 and 0.1 from 0 / 1/2 (> 3 s.d.; fixed seed)."""
    rng = np.random.default_rng(10)
    df = evaluate_estimators(_synthetic(rng), n_boot=200).set_index(["estimator", "metric"])
    for est in ("logme", "zeroshot"):
        for metric in ("spearman_points", "kendall_points", "spearman_seeds", "kendall_seeds", "sign_acc",
                       "sign_bal_acc"):  # fmt: skip
            r = df.loc[(est, metric)]
            assert r.value == pytest.approx(1.0) and r.lo == pytest.approx(1.0), (est, metric, r)
    dn = evaluate_estimators(_synthetic(rng, noise=True), ["logme"], n_boot=200).set_index("metric")
    assert abs(dn.loc["spearman_points", "value"]) < 0.4
    assert abs(dn.loc["spearman_seeds", "value"]) < 0.14
    assert dn.loc["spearman_seeds", "lo"] < dn.loc["spearman_seeds", "value"] < dn.loc["spearman_seeds", "hi"]
    assert abs(dn.loc["sign_bal_acc", "value"] - 0.5) < 0.1
    assert dn.loc["base_rate", "n"] == 60 * 16


def test_fooled_counts_false_positives():
    rng = np.random.default_rng(11)
    train = _synthetic(rng)
    test = train.copy()
    test["gain"] = -abs(test["gain"])  # no positive transfer anywhere; scores unchanged
    fo = fooled(train, test, ["logme"], n_boot=50).set_index("estimator")
    frac_pos = float((train["gain"] > 0).mean())  # the trials the score still calls positive
    assert fo.loc["logme", "fooled"] == pytest.approx(frac_pos)
    assert fo.loc["logme", "n_pos"] == 0 and fo.loc["logme", "pred_pos"] == pytest.approx(frac_pos)


# -- 4. the figure ----------------------------------------------------------------------------


def test_figure_quick(tmp_path):
    """The quick figure (the other quick figures' compilation) writes png, pdf and a dataset
    holding the scores, the evaluation tables and a JSON-able summary."""
    import json

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from figures import FIGURES
    from figures import estimators as fig

    assert "estimators" in FIGURES
    paths = fig.main(out_dir=str(tmp_path), quick=True)
    assert {p.name for p in paths} == {"estimators.png", "estimators.pdf"}
    ds = xr.load_dataset(tmp_path / "data" / "estimators.nc")
    for k in SCORES:
        assert np.all(np.isfinite(ds[f"main__{k}"].values)), k
    summ = fig.summary(ds)
    assert json.dumps(summ, default=float)
    assert set(summ["fooled"]) == {"logme", "spectral", "relatedness", "hscore", "zeroshot"}


def test_scores_switch_leaves_the_rest_unchanged(tiny):
    """``eval.scores = false`` drops the estimators from the compiled trial: the scores are
    NaN and every other output is bit-for-bit what the trial with scores gives (the
    estimators read the upstream model and consume no random numbers)."""
    for backend in ("dense", "gram"):
        exp = tiny.set(backend=backend)
        with_s, without = run(exp, seeds=2, key=4), run(exp.set(**{"eval.scores": False}), seeds=2, key=4)
        for k in SCORES:
            assert np.all(np.isfinite(with_s.arrays[k])) and np.all(np.isnan(without.arrays[k])), k
        for k, v in with_s.arrays.items():
            if k not in SCORES:
                np.testing.assert_array_equal(without.arrays[k], v, err_msg=f"{backend} {k}")


def test_scores_compiled_ahead_equal_and_fall_back(tiny, monkeypatch):
    # run() compiles the scores' program in a background thread beside the trial's
    # (protocol.scores.precompile_scores); the scores must be those of the usual path, and a
    # failed background compilation must fall back to it
    from concurrent.futures import Future

    import simtransfer.runs.run as run_mod
    from simtransfer import run
    from simtransfer.nn.estimators import SCORES
    from simtransfer.protocol import scores as sc

    exp = tiny.set(**{"transfer.alpha": 0.35})
    monkeypatch.setattr(sc, "_AHEAD", {})
    ahead = run(exp, seeds=3, key=11).arrays
    assert len(sc._AHEAD) == 1 and next(iter(sc._AHEAD.values())).done()
    monkeypatch.setattr(run_mod, "precompile_scores", lambda *a: None)
    monkeypatch.setattr(sc, "_AHEAD", {})
    plain = run(exp, seeds=3, key=11).arrays
    failed = Future()
    failed.set_exception(RuntimeError("compilation failed"))
    sc.precompile_scores(exp, 3)
    sc._AHEAD[next(iter(sc._AHEAD))] = failed  # these shapes' background compilation failed
    fallback = run(exp, seeds=3, key=11).arrays
    for k in SCORES:
        # the same program on the same features: equal (ahead-of-time compilation changes no op)
        np.testing.assert_array_equal(ahead[k], plain[k], err_msg=k)
        np.testing.assert_array_equal(fallback[k], plain[k], err_msg=k)
