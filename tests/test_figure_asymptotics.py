"""The asymptotics figure (issue 13, part 5): boundary finding and slope fitting recover known
exponents from synthetic laws, and the quick figure runs and writes its files."""

import json
import os
import sys

import numpy as np
import xarray as xr
from scipy.stats import norm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from figures import asymptotics as A  # noqa: E402
from figures import boundary as BD  # noqa: E402


def _synthetic(law, quick=False, seeds=4, noise=0.0):
    """A dataset with the figure's layout whose mean errors/gains follow ``law`` exactly
    (plus iid seed noise of s.d. ``noise``), on the full figure's cells and grids."""
    p = A.plan(quick)
    rng = np.random.default_rng(1)
    scr, tr = np.array(p["scr"]), np.array(p["tr"])
    mu = np.array([(A.C_GUESS * d / n) ** 0.25 * p["mu"] for n, d in p["scr"]])
    err = law(scr[:, :1], mu, scr[:, 1:])[..., None] + noise * rng.standard_normal(mu.shape + (seeds,))
    bT = (A.SNR2_T * tr[:, 2] / tr[:, 1]) ** 0.25
    a = bT[:, None] * p["a"]
    astar = bT * 0.3 * (tr[:, 0] / tr[:, 1]) ** 0.6  # a* grows like n_S^0.6: d log a* / d log n_S = 0.6
    gain = np.tanh(np.log(a / astar[:, None])) * np.exp(-a / (3 * bT[:, None]))  # < 0 below a*, peaked, -> 0
    return xr.Dataset(
        {"scr_err": (("scell", "mu_i", "seed"), err), "scr_mu": (("scell", "mu_i"), mu),
         "scr_n": ("scell", scr[:, 0]), "scr_d": ("scell", scr[:, 1]),
         "tr_gain": (("tcell", "a_i", "seed"), np.repeat(gain[..., None], seeds, -1)), "tr_a": (("tcell", "a_i"), a),
         "tr_nS": ("tcell", tr[:, 0]), "tr_nT": ("tcell", tr[:, 1]), "tr_d": ("tcell", tr[:, 2]),
         "tr_bT": ("tcell", bT),
         "tr_astar_theory": (("tcell", "hyp"), np.stack([astar * (k + 1) for k in range(len(A.HYPS))], -1))},
        coords={"hyp": list(A.HYPS)}, attrs={"sigma_p": 1.0},
    )  # fmt: skip


def test_slopes_recover_a_law_with_other_exponents():
    """err = Phi(-1.4 n^0.44 mu^1.65 d^-0.40): its 0.25 contour has n-slope -1.65/0.44 and
    d-slope 1.65/0.40 exactly; the grids are centred on n mu^4 / d = const, so the crossing
    sits at a different place of each cell's grid and the interpolation error is exercised.
    Tolerance 2%: probit(err) is linear in log mu for this law, so the interpolation is exact
    and only float error remains (measured < 1e-9); 2% leaves room for grid changes."""
    law = lambda n, mu, d: norm.cdf(-1.4 * n**0.44 * mu**1.65 * d**-0.40)  # noqa: E731
    a = BD.analyse(_synthetic(law), B=20)
    for r in a["scratch_n_slope"]:
        np.testing.assert_allclose(r["slope"], -1.65 / 0.44, rtol=0.02)
    assert len(a["scratch_d_slope"]) >= 3
    for r in a["scratch_d_slope"]:
        np.testing.assert_allclose(r["slope"], 1.65 / 0.40, rtol=0.02)
    # the transfer boundary (a* = 0.3 b_T (n_S/n_T)^0.6, on the log grid): slope 0.6; tolerance
    # 3%: the gain is interpolated linearly between grid points 30% apart (measured error < 1%)
    for r in a["transfer_a_slope"]:
        np.testing.assert_allclose(r["slope"], 0.6, rtol=0.03)
        np.testing.assert_allclose(r["theory_H1"], 0.6, rtol=1e-9)  # exact a* given
        np.testing.assert_allclose([q["value"] for q in r["a_star_over_bT"]],
                                   0.3 * (np.array(r["n_S"]) / r["n_T"]) ** 0.6, rtol=0.03)


def test_published_law_gives_minus_and_plus_four_and_cis_cover_with_noise():
    """Under Kou et al.'s law the slopes are -4 and +4; with seed noise (s.d. 0.05 per seed,
    16 seeds: s.e. 0.0125 of each mean) the 95% bootstrap interval of each slope should
    contain the truth; each of the ~10 intervals misses with probability ~5%, so we require
    at least 70% of them to cover (binomial false-failure rate < 1e-3)."""
    law = lambda n, mu, d: norm.cdf(-1.2 * np.sqrt(n * mu**4 / d))  # noqa: E731
    a = BD.analyse(_synthetic(law, seeds=16, noise=0.05), B=400)
    rows = [(r, -4.0) for r in a["scratch_n_slope"]] + [(r, 4.0) for r in a["scratch_d_slope"]]
    cover = [r["ci95"][0] <= t <= r["ci95"][1] for r, t in rows]
    assert np.mean(cover) >= 0.7, rows
    assert all(r["ci95"][0] <= r["ci95"][1] for r, _ in rows)


def test_boundaries_are_nan_without_a_crossing():
    lx = np.log(np.geomspace(1, 4, 5))
    assert np.isnan(BD.scratch_boundary(lx, np.full(5, 0.4)))  # never below the level
    assert np.isnan(BD.scratch_boundary(lx, np.full(5, 0.1)))  # below already at the first point
    assert np.isnan(BD.transfer_boundary(lx, np.array([0.01, 0.02, 0.03, 0.02, 0.01])))  # no negative transfer
    assert np.isclose(BD.transfer_boundary(lx, np.array([-0.2, -0.1, 0.1, 0.3, 0.1])), np.mean(lx[1:3]))


def test_quick_figure(tmp_path):
    paths = A.main(out_dir=str(tmp_path), quick=True)
    assert {q.name for q in paths} == {"asymptotics.png", "asymptotics.pdf"}
    for f in ("asymptotics.png", "asymptotics.pdf", "data/asymptotics.nc", "data/asymptotics_slopes.json"):
        assert (tmp_path / f).stat().st_size > 500, f
    ds = xr.load_dataset(tmp_path / "data" / "asymptotics.nc")
    assert ds.attrs["quick"] == 1 and ds.sizes["scell"] == 2 and ds.sizes["tcell"] == 2
    assert np.isfinite(ds.scr_err.values).all() and np.isfinite(ds.tr_gain.values).all()
    s = json.loads((tmp_path / "data" / "asymptotics_slopes.json").read_text())
    assert s["published"]["n_slope"] == -4.0 and s["published"]["d_slope"] == 4.0 and len(s["scratch_n_slope"]) == 1
