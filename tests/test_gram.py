"""The exact, dimension-free gram backend (simtransfer.backends.gram, docs/design.md section 5, issue 5).

1. The sampled Gram has the law of the Gram of the explicit vectors (moments, exact zeros,
   singular case) and nothing of size d is ever formed (d = 10**7).
2. Exactness: on the Gram of explicit vectors, the coefficient dynamics reproduce the
   dense ``train`` (and the whole trial pipeline) to float32 rounding.
3. Statistical equivalence with the dense backend on a grid (2 configurations here, the
   full grid under ``-m slow``).
4. alpha = 0 gives transfer == scratch bit-for-bit.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simtransfer import ConfigError, Experiment, run
from simtransfer.backends.dense import DenseBackend, DenseData, mc_slices
from simtransfer.backends.gram import GramBackend, GramBasis, basis_layout, chi2, normal, sample_gram
from simtransfer.config.data import Batch, make_signals
from simtransfer.nn.coefficients import COEF_CURVES, stage_projector
from simtransfer.protocol import CURVES, PRIVATE, SCALARS, make_trial, make_trial_state, theta_of, transfer_trial

# -- 1. sampling ------------------------------------------------------------------------

#: Basis of the moment test: 3 frame directions, 4 init filters (sigma_0), 6 noise patches (sigma_p).
_N_INIT, _N_NOISE, _S0, _SP = 4, 6, 0.7, 1.3
_R = 4000  # draws (one batch shape, so one compilation serves every test)


@jax.jit
def _gram_draws(keys, d):
    """(R, K, K) sampled Grams of the moment-test basis; ``d`` traced (one compilation)."""
    scale = jnp.concatenate([jnp.full((_N_INIT,), _S0), jnp.full((_N_NOISE,), _SP)])

    def one(key):
        k_f, k_n, k_c = jax.random.split(key, 3)
        fc = jnp.concatenate([_S0 * jax.random.normal(k_f, (_N_INIT, 3)), jnp.zeros((_N_NOISE, 3))])
        return sample_gram(k_n, k_c, d, scale, fc)

    return jax.vmap(one)(keys)


def _gram_moments(d: int):
    """Exact mean and s.d. of every entry of the moment-test basis Gram in dimension d.

    Init filters g ~ N(0, s0^2 I_d), noise xi ~ N(0, sp^2 (I - Pi)) (d - 3 free dims):
    E||g||^2 = s0^2 d (var 2 s0^4 d), E||xi||^2 = sp^2 (d-3) (var 2 sp^4 (d-3)); distinct
    vectors have mean-0 products of variance (product of scales)^2 x (shared dims);
    <e_z, g> ~ N(0, s0^2) and <e_z, xi> = 0, <e_z, e_z'> = delta.
    """
    n = d - 3
    init = np.r_[np.zeros(3, bool), np.ones(_N_INIT, bool), np.zeros(_N_NOISE, bool)]
    noise = np.r_[np.zeros(3 + _N_INIT, bool), np.ones(_N_NOISE, bool)]
    frame = ~(init | noise)
    scale = np.where(init, _S0, np.where(noise, _SP, 0.0))
    # shared free dimensions of two Gaussian vectors: d if both are init filters, else d - 3
    dims = np.where(init[:, None] & init[None, :], d, n)
    mean = np.where(np.eye(init.size, dtype=bool), scale[:, None] ** 2 * dims, 0.0) + np.diag(frame.astype(float))
    var = np.where(np.eye(init.size, dtype=bool), 2.0, 1.0) * (scale[:, None] * scale[None, :]) ** 2 * dims
    fz = frame[:, None] & init[None, :] | init[:, None] & frame[None, :]
    var = np.where(frame[:, None] | frame[None, :], np.where(fz, _S0**2, 0.0), var)
    return mean, np.sqrt(var)


@pytest.mark.parametrize("d", [200, 8])
def test_gram_moments(d):
    """Every entry of the sampled Gram has the exact mean and variance of the Gram of the
    explicit vectors.  d = 8 leaves 5 free dimensions for 10 Gaussian vectors: the
    singular Wishart, whose complement Gram must have rank exactly 5.

    Tolerances: over R = 4000 draws an entry's sample mean has s.e. sd/sqrt(R); we ask
    |mean - E| < 5 s.e. for each of the ~70 distinct random entries (false-failure rate
    < 70 x 6e-7 = 4e-5 under normality; the diagonal's chi-square is near-normal here).
    The sample s.d. has relative s.e. sqrt((kurtosis - 1) / (4 R)): 1.1% for a
    near-Gaussian entry, 1.7% for the d = 8 diagonal (chi-square, 5 df): we ask 10%.
    """
    R = _R
    G, Lp = _gram_draws(jax.random.split(jax.random.key(1), R), d)
    G, Lp = np.asarray(G, np.float64), np.asarray(Lp, np.float64)
    mean, sd = _gram_moments(d)
    # deterministic structure: orthonormal frame, noise orthogonal to it, symmetric
    np.testing.assert_array_equal(G[:, :3, :3], np.broadcast_to(np.eye(3), (R, 3, 3)))
    np.testing.assert_array_equal(G[:, :3, 3 + _N_INIT :], 0.0)
    np.testing.assert_allclose(G, np.swapaxes(G, 1, 2), rtol=1e-6, atol=1e-6 * d)
    rnd = sd > 0
    se = sd / math.sqrt(R)
    z = np.abs(G.mean(0) - mean)[rnd] / se[rnd]
    assert z.max() < 5, f"entry mean off by {z.max():.1f} s.e."
    ratio = G.std(0)[rnd] / sd[rnd]
    assert np.all(np.abs(ratio - 1) < 0.1), ratio
    # rank of the complement Gram G_perp = Lp Lp^T: min(d - 3, number of Gaussian vectors)
    sv = np.linalg.svd(Lp[0], compute_uv=False)
    assert int((sv > 1e-4 * sv[0]).sum()) == min(d - 3, _N_INIT + _N_NOISE)


def test_chi2_law():
    """``chi2`` (Marsaglia-Tsang with a float32-stable acceptance test) follows the
    chi-square law from df = 1 to 1e7 (the Bartlett diagonal at d = 1e7): a
    Kolmogorov-Smirnov test against scipy's chi2 on N = 100000 draws each, p > 1e-4
    (false-failure rate 5e-4 over the five df; a 1% error of the variance at df = 1e7, or
    jax's cancelling float32 acceptance test, shifts the CDF by more than the KS
    critical value 1.95/sqrt(N) = 0.006).  The float32 rounding of x (granularity 1 at
    1e7, vs a s.d. of 4472) moves the CDF by < 1e-4."""
    from scipy import stats

    N = 100_000
    draw = jax.jit(chi2)  # one compilation for every df
    for df in (1.0, 2.0, 7.0, 1e3, 1e7):
        x = np.asarray(draw(jax.random.key(int(df)), jnp.full((N,), df, jnp.float32)), np.float64)
        p = stats.kstest(x, stats.chi2(df).cdf).pvalue
        assert p > 1e-4, (df, p, x.mean() / df, x.var() / (2 * df))


def test_blocked_normal():
    """``normal`` (every draw of the gram trial, in blocks of 4096 for compile time) is
    standard normal across block boundaries: KS p > 1e-4 on 3 blocks + 7 (false-failure
    rate 1e-4), and consecutive blocks uncorrelated (|r| < 5/sqrt(4096), 5 s.e.)."""
    from scipy import stats

    z = np.asarray(jax.jit(normal, static_argnums=1)(jax.random.key(4), (3 * 4096 + 7,)), np.float64)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    b = z[: 3 * 4096].reshape(3, 4096)
    r = np.corrcoef(b)
    assert np.all(np.abs(r[np.triu_indices(3, 1)]) < 5 / 64), r


def _all_avals(jaxpr):
    """Every intermediate abstract value of a jaxpr, sub-jaxprs (loops, maps) included."""
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            yield v.aval
        for p in eqn.params.values():
            for sub in p if isinstance(p, (tuple, list)) else (p,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _all_avals(inner)


def test_dimension_free_at_d_1e7(tiny):
    """At d = 10**7 the gram trial has the outputs of ``make_trial`` (every key of SCALARS
    and CURVES, scalars per seed, curves per logged step) and no intermediate array
    anywhere in its program holds even 10**6 elements (the dense trial's test set alone
    would hold n_test x d = 4e9).  Its Gram is finite with noise norms sigma_p^2 (d - 3)
    to chi-square accuracy (s.d. sqrt(2 (d - 3)) = 4.5e3: we ask 3e4, 6.7 s.d.)."""
    big = tiny.set(backend="gram", **{"task.d": 10**7})
    key, th = jax.random.key_data(jax.random.key(0)), theta_of(big)
    jaxpr, out = jax.make_jaxpr(make_trial(big), return_shape=True)(key, th)
    # PRIVATE: the upstream features, scored after the trial (protocol.scores)
    assert set(out) == set(SCALARS) | set(CURVES) | set(PRIVATE)
    for k, v in out.items():
        if k in PRIVATE:
            continue
        stage = "upstream" if "upstream" in k else "downstream"
        want = (len(getattr(big, stage).log_steps),) if k in CURVES else ()
        assert v.shape == want, (k, v.shape)
    sizes = [math.prod(a.shape) for a in _all_avals(jaxpr.jaxpr) if hasattr(a, "shape")]
    assert max(sizes) < 10**6, max(sizes)
    st = jax.eval_shape(make_trial_state(big), key, th)  # the state: coefficients and coordinates
    K, m, lay = basis_layout(big)["all"].stop, big.model.m, basis_layout(big)
    assert st["basis"].G.shape == (K, K) and st["C_transfer"].shape == (2, m, K)
    n_src = lay["source_noise"].stop - lay["source_noise"].start
    assert st["coords"]["upstream"]["rho"].shape == (2, big.model.m_upstream, n_src)
    assert st["coords"]["scratch"]["gamma"].shape == (2, m, 3)
    G, _ = _gram_draws(jax.random.split(jax.random.key(2), _R), 10**7)  # the moment test's compilation
    G = np.asarray(G[:50], np.float64)
    assert np.all(np.isfinite(G))
    diag_noise = np.diagonal(G, axis1=1, axis2=2)[:, 3 + _N_INIT :]
    assert np.all(np.abs(diag_noise - _SP**2 * (10**7 - 3)) < 3e4 * _SP**2), diag_noise


def test_nonlinear_optimizer_refused(tiny):
    """adam & co. act coordinate-wise, so coefficient space is not equivalent: refused,
    naming the field."""
    with pytest.raises(ConfigError, match="downstream.optimizer"):
        make_trial(tiny.set(backend="gram", **{"downstream.optimizer": "adam"}))
    with pytest.raises(ConfigError, match="upstream.optimizer"):
        make_trial(tiny.set(backend="gram", **{"upstream.optimizer": "rmsprop"}))
    make_trial(tiny.set(backend="gram", **{"upstream.optimizer": "nesterov", "downstream.optimizer": "momentum"}))


# -- 2. exactness on explicit vectors ---------------------------------------------------


def _explicit_basis(exp: Experiment, seed: int):
    """Explicit basis vectors B (K, d) in the layout of ``basis_layout`` (canonical frame),
    drawn as the dense backend draws them, and the labels."""
    rng = np.random.default_rng(seed)
    t, lay = exp.task, basis_layout(exp)
    B = np.zeros((lay["all"].stop, t.d))
    B[:3, :3] = np.eye(3)
    for name, s in (("up_init", exp.model.sigma_0), ("fresh_init", exp.model.sigma_0)):
        B[lay[name]] = s * rng.standard_normal((lay[name].stop - lay[name].start, t.d))
    for name in ("source_noise", "target_noise"):
        B[lay[name], 3:] = t.sigma_p * rng.standard_normal((lay[name].stop - lay[name].start, t.d - 3))
    ys = [rng.choice([-1.0, 1.0], n) for n in (exp.n_source, exp.n_target)]
    ys_obs = [np.where(rng.random(y.size) < t.label_flip, -y, y) for y in ys]
    return B, ys, ys_obs


def _gram_of(B):
    """(G, Lp) of explicit vectors: G = B B^T (in float64, then rounded) and the complement
    parts themselves as the factor of G_perp (any factor is allowed)."""
    Bp = B.copy()
    Bp[:, :3] = 0.0
    return jnp.asarray(B @ B.T, jnp.float32), jnp.asarray(Bp, jnp.float32)


class _ExplicitInit(DenseBackend):
    """The dense backend starting from given initial filters (explicit basis vectors)."""

    def __init__(self, exp, W_up0, W_fresh):
        super().__init__(exp)
        self._init = (W_up0, W_fresh)

    def init_filters(self, data, th):
        return self._init


def _dense_pipeline(exp, B, ys, y_obs, keys, th):
    """The real protocol (``protocol.transfer_trial``) with the dense backend on explicit
    vectors: the reference for the gram backend on their Gram.  The data are the vectors
    (frame, noise patches, initial filters) and the gram trial's Monte-Carlo draws (its
    blocked ``normal``), so that both integrate alike.  Returns outputs and state in one
    dict; only the exact errors are compared (the empirical test sets cannot share draws)."""
    lay, t, ev = basis_layout(exp), exp.task, exp.eval
    P, m, m_up, d = t.P, exp.model.m, exp.model.m_upstream, t.d
    Bj = jnp.asarray(B, jnp.float32)
    frame = Bj[:3]
    sig = make_signals(frame, th["task.a"], th["task.b_S"], th["task.b_T"], th["task.s"])

    def batch(name, yy, yo):
        xi = Bj[lay[name]].reshape(-1, P - 1, d)
        return Batch(xi, jnp.asarray(yy, jnp.float32), jnp.asarray(yo, jnp.float32), jnp.zeros(xi.shape[0], jnp.int32))

    src, tgt = batch("source_noise", ys[0], y_obs[0]), batch("target_noise", ys[1], y_obs[1])
    mc = normal(keys["mc"], (max(ev.mc_draws, ev.curve_draws), P - 1, 2 * max(m, m_up)))
    norms = jnp.stack([th["task.a"], th["task.b_S"], th["task.b_T"]])
    project = {"upstream": stage_projector(frame, norms, src.xi, src.y),
               "downstream": stage_projector(frame, norms, tgt.xi, tgt.y)}  # fmt: skip
    data = DenseData(keys, frame, sig, src, tgt, mc_slices(mc, exp), project)
    bk = _ExplicitInit(exp, Bj[lay["up_init"]].reshape(2, m_up, d), Bj[lay["fresh_init"]].reshape(2, m, d))
    out, state = transfer_trial(bk, data, th)
    return {**out, **state}


def test_pipeline_equals_dense_on_explicit_vectors():
    """Exactness: the protocol with the gram backend on the Gram of explicit vectors
    equals the protocol with the dense backend on the vectors themselves: trained filters (W = C B), pre-activations on
    the training patches, training loss and accuracy at every logged step, exact
    conditional errors of the four models and their curves (common Monte-Carlo draws from
    one key).  P = 3, leaky ReLU, label noise, top_signal inheritance with rescale, frozen
    inherited filters and Nesterov momentum downstream exercise the (i, p) patch order,
    the activation's negative branch, the masks and a stateful linear optimizer.  And
    the docs/design.md section 5 coordinates rebuild the update:
    W - W0 = sum_z gamma_z z/||z||^2 + sum_i rho_i xi_i/||xi_i||^2.

    Tolerances.  Both sides run the same real recursion in float32 and differ by rounding
    only (a pre-activation sums d = 300 products densely, K = 71 via the Gram: relative
    rounding ~ sqrt(d) 6e-8 = 1e-6 a step), which 100 steps of GD amplify little; a ReLU
    kink (or an accuracy count) is met only by a value within ~1e-6 of 0.  We ask 1e-4
    relative (seen: ~1e-6); a wrong coefficient update (a missing patch, a sign, a
    transposed (i, p) order, a leaking frozen mask) gives O(1) errors.  An exact error is
    a mean of 0/half/1 indicators over M draws: only draws within ~1e-5 of the decision
    boundary can flip, each moving it by <= 1/M; we allow 4/M.  The dense gamma/rho curves
    solve a (3 + 32)-dimensional system of unit patches (condition number ~4 at d = 300),
    float32 error ~1e-6 relative (seen); we allow 1e-3.
    """
    exp = Experiment().set(**{"task.d": 300, "task.P": 3, "n_source": 16, "n_target": 8, "model.m": 4,
                              "model.m_up": 6, "model.activation": "leaky_relu", "model.sigma_0": 0.05,
                              "task.label_flip": 0.1, "task.a": 2.5, "task.b_T": 0.7,
                              "upstream.steps": 60, "upstream.log_every": 10, "downstream.steps": 40,
                              "downstream.log_every": 10, "downstream.optimizer": "nesterov", "downstream.eta": 0.3,
                              "transfer.policy": "top_signal", "transfer.alpha": 0.75, "transfer.rescale": 1.5,
                              "transfer.freeze_inherited": True, "eval.n_test": 0, "eval.mc_draws": 2048,
                              "eval.curve_draws": 256})  # fmt: skip
    B, ys, y_obs = _explicit_basis(exp, seed=5)
    G, Lp = _gram_of(B)
    th = theta_of(exp)
    keys = dict(zip(("pol", "src_test", "tgt_test", "mc"), jax.random.split(jax.random.key(7), 4)))
    basis = GramBasis(G, Lp, *(jnp.asarray(v, jnp.float32) for v in (ys[0], y_obs[0], ys[1], y_obs[1])))
    gram = GramBackend(exp)
    out, st = jax.jit(lambda b, k: transfer_trial(gram, gram.from_basis(b, k, th), th))(basis, keys)
    ref = jax.jit(lambda k: _dense_pipeline(exp, B, ys, y_obs, k, th))(keys)
    lay, t = basis_layout(exp), exp.task
    Bj = jnp.asarray(B, jnp.float32)
    for c, w in (("C_up", "W_up"), ("C_transfer0", "W_transfer0"), ("C_transfer", "W_transfer"),
                 ("C_scratch", "W_scratch")):  # fmt: skip
        scale = float(jnp.abs(ref[w]).max())
        np.testing.assert_allclose(st[c] @ Bj, ref[w], rtol=0, atol=1e-4 * scale, err_msg=c)
    for c, w, noise in (("C_up", "W_up", "source_noise"), ("C_transfer", "W_transfer", "target_noise")):
        pre_d = np.asarray(ref[w]).reshape(-1, t.d) @ B[lay[noise]].T  # <w_{j,r}, xi_{i,p}>, dense
        pre_g = np.asarray(st[c]).reshape(pre_d.shape[0], -1) @ np.asarray(G[:, lay[noise]])  # via the Gram
        np.testing.assert_allclose(pre_g, pre_d, rtol=0, atol=1e-4 * np.abs(pre_d).max(), err_msg=c)
    assert int(out["k"]) == int(ref["k"]) == 3
    np.testing.assert_array_equal(st["frozen"], ref["frozen"])
    fz = np.asarray(ref["frozen"])
    np.testing.assert_array_equal(np.asarray(st["C_transfer"])[fz], np.asarray(st["C_transfer0"])[fz])
    tol = 4 / exp.eval.mc_draws
    for k in ("err_upstream", "err_zeroshot", "err_transfer", "err_scratch"):
        assert abs(float(out[k]) - float(ref[k])) <= tol, (k, float(out[k]), float(ref[k]))
    assert 0.1 < float(out["err_scratch"]) < 0.45  # a non-trivial case: above the Bayes error, below chance
    for stage in ("upstream", "transfer", "scratch"):
        np.testing.assert_allclose(out[f"curve_{stage}_loss"], ref[f"curve_{stage}_loss"], rtol=1e-4)
        np.testing.assert_array_equal(out[f"curve_{stage}_acc"], ref[f"curve_{stage}_acc"])
        np.testing.assert_allclose(out[f"curve_{stage}_err"], ref[f"curve_{stage}_err"], atol=4 / exp.eval.curve_draws)
        for q in COEF_CURVES:  # read off the coefficients vs solved for from W (coefficients.py)
            g, r = np.asarray(out[f"curve_{stage}_{q}"]), np.asarray(ref[f"curve_{stage}_{q}"])
            np.testing.assert_allclose(g, r, rtol=0, atol=1e-3 * max(np.abs(r).max(), 1e-3), err_msg=(stage, q))
    assert float(out["curve_upstream_loss"][-1]) < 0.5 * float(out["curve_upstream_loss"][0])  # it did train
    assert float(out["curve_upstream_gamma_u"][-1]) > 0.1  # and learned signal
    # docs/design.md section 5: rebuild the upstream update from gamma and rho
    co = st["coords"]["upstream"]
    z = np.stack([t.a * B[0], t.b_S * B[1], t.b_T * B[2]])  # u, v_S, v_T
    zz = np.where((z**2).sum(1) > 0, (z**2).sum(1), 1.0)
    xi = B[lay["source_noise"]]
    rebuilt = np.einsum("jrz,zd->jrd", co["gamma"], z / zz[:, None]) + np.einsum(
        "jri,id->jrd", co["rho"], xi / (xi**2).sum(1)[:, None]
    )
    dW = np.asarray(ref["W_up"] - ref["W_up0"])
    np.testing.assert_allclose(rebuilt, dW, rtol=0, atol=1e-4 * np.abs(dW).max())


# -- 3. statistical equivalence with the dense backend ----------------------------------

#: Per-configuration overrides of the conftest ``tiny`` experiment (d = 200, n_S = 20,
#: n_T = 10, m = 4, 60 + 60 steps).  The first two differ only in traced fields (one
#: compilation per backend) and run in the fast suite; the rest vary static fields too.
GRID = [
    {},
    {"task.s": -1.0, "transfer.alpha": 1.0, "task.label_flip": 0.1, "task.a": 1.5, "task.sigma_p": 1.3},
    {"task.d": 500, "n_source": 40, "n_target": 20, "model.m": 5, "model.m_up": 6, "task.P": 3,
     "transfer.policy": "top_signal", "transfer.alpha": 0.6},
    {"task.d": 1000, "task.a": 0.7, "task.b_T": 2.0, "task.sigma_p": 1.5, "downstream.optimizer": "momentum",
     "downstream.eta": 0.1, "transfer.freeze_inherited": True, "transfer.rescale": 0.5},
    {"model.activation": "leaky_relu", "transfer.policy": "random", "transfer.alpha": 0.25, "task.b_S": 0.0},
    # d - 3 = 37 < 56 Gaussian basis vectors: a rank-deficient (singular Wishart) Gram
    {"task.d": 40, "n_source": 30, "n_target": 10, "task.a": 0.5, "task.b_T": 0.5},
    {"model.activation": "relu_q", "model.q": 2.0, "model.sigma_0": 0.05, "task.a": 2.0, "upstream.eta": 0.2,
     "downstream.eta": 0.2},
]  # fmt: skip
_COMPARED = ("err_upstream", "err_transfer", "err_scratch")
_SEEDS_FAST = 256
_BATCH = 8


def _compare(tiny, overrides, seeds):
    """Per-configuration mean of each compared error, gram vs dense, in combined s.e."""
    exp = tiny.set(**overrides)
    # batch = _BATCH: one compiled shape per backend (the dense one also serves test_core)
    runs = {be: run(exp.set(backend=be), seeds=seeds, key=11 if be == "gram" else 12, batch=_BATCH)
            for be in ("dense", "gram")}  # fmt: skip
    # the same outputs: keys, shapes, dtypes (so Result and its summary work unchanged)
    spec = {be: {k: (v.shape, v.dtype) for k, v in r.arrays.items()} for be, r in runs.items()}
    assert spec["gram"] == spec["dense"]
    res = {be: r.summary() for be, r in runs.items()}
    zs = {}
    for k in _COMPARED:
        g, d = res["gram"][k], res["dense"][k]
        assert g.n == d.n == seeds, (k, g.n, d.n)  # nothing diverged
        zs[k] = (g.mean - d.mean) / math.hypot(g.se, d.se)
    return zs


def _check_grid(tiny, grid, seeds):
    """Each of the len(grid) x 3 comparisons within 3 combined standard errors.  Under
    normality each fails with probability 0.0027, so 6 comparisons (the fast version)
    fail together with probability ~1.6%, 21 (the full grid) ~5.5%.  The seed sets of
    the two backends are independent (different keys), hence the combined s.e."""
    bad = {}
    for ov in grid:
        zs = _compare(tiny, ov, seeds)
        bad.update({(str(ov), k): round(z, 2) for k, z in zs.items() if abs(z) > 3})
    assert not bad, bad


def test_statistically_equivalent_to_dense(tiny):
    """Fast version: two configurations (one compilation per backend), 256 seeds each: the
    s.e. of a mean error is ~0.005, so a systematic difference of ~0.02 is caught."""
    _check_grid(tiny, GRID[:2], seeds=_SEEDS_FAST)


@pytest.mark.slow
def test_statistically_equivalent_to_dense_full_grid(tiny):
    """All seven configurations (static fields included: d from 40 to 1000, P = 3,
    m_up != m, top_signal/random policies, frozen inherited filters, momentum, leaky and
    polynomial ReLU, label noise, s = -1, a singular Gram), 512 seeds each."""
    _check_grid(tiny, GRID, seeds=512)


# -- 4. pairing ------------------------------------------------------------------------


def test_alpha_zero_transfer_is_scratch_bitwise(tiny):
    """alpha = 0: the transfer model is the scratch model, bit for bit, in every output."""
    res = run(tiny.set(backend="gram", **{"transfer.alpha": 0.0}), seeds=32, key=3, batch=_BATCH)  # compiled above
    assert np.all(res.k == 0)
    for q in ("err", "se", "emp_err", "loss", "acc", "diverged"):
        np.testing.assert_array_equal(res.arrays[f"{q}_transfer"], res.arrays[f"{q}_scratch"], err_msg=q)
    for q in ("loss", "acc", "err"):
        np.testing.assert_array_equal(res.arrays[f"curve_transfer_{q}"], res.arrays[f"curve_scratch_{q}"])
    assert np.all(res.gain == 0) and np.all(res.emp_gain == 0)
    assert np.all(np.isfinite(res.emp_err_scratch)) and np.all(np.isnan(res.emp_err_upstream))  # n_test_source = 0
