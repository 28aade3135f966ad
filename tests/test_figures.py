"""Every figure of issue 4 runs in its quick version and writes png, pdf and its dataset.

The quick versions of figures 1-4 vary only traced fields of one tiny configuration
(``figures.common.quick_base``), so they share one compilation; the figures write into one
directory so that theory_vs_sim reads the datasets of figures 1-4.
"""

import json
import pathlib
import sys

import numpy as np
import pytest
import xarray as xr

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root: `figures`

from figures import FIGURES  # noqa: E402
from figures import common as C  # noqa: E402

#: Issue 4's figures (distillation, issue 7, has its own test).
ISSUE4 = ("scratch_phase", "transfer_phase", "fraction_inherited", "task_correlation", "dynamics", "theory_vs_sim")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("figures")


def test_every_issue4_figure_is_listed():
    assert set(ISSUE4) <= set(FIGURES) and FIGURES[-1] == "theory_vs_sim"


@pytest.mark.parametrize("name", ISSUE4)
def test_figure_quick(name, out_dir):
    import importlib

    mod = importlib.import_module(f"figures.{name}")
    paths = mod.main(out_dir=str(out_dir), quick=True)
    for f in (f"{name}.png", f"{name}.pdf", f"data/{name}.nc"):
        assert (out_dir / f).stat().st_size > 1000, f
    assert {p.name for p in paths} == {f"{name}.png", f"{name}.pdf"}
    ds = xr.load_dataset(out_dir / "data" / f"{name}.nc")
    assert ds.attrs["quick"] == 1 and ds.attrs["figure"] == name
    assert json.dumps(mod.summary(ds), default=float)  # the README numbers can be computed
    if name == "dynamics":  # the segmented GD reproduces the trial's, the decomposition is exact
        for st in ("upstream", "transfer", "scratch"):
            assert ds.attrs[f"chain_vs_trial_rel_{st}"] < 1e-4
            assert ds.attrs[f"decomposition_residual_{st}"] < 1e-4
    if name == "theory_vs_sim":
        st = json.loads(ds.attrs["stats"])
        assert st["n_points"] == ds.sizes["point"] > 0
        assert -np.inf < st["scratch"]["r2"] <= 1


def test_same_key_same_dataset(out_dir):
    """A figure's dataset is a pure function of its configuration and key."""
    from figures import transfer_phase

    a = transfer_phase.compute(quick=True)
    b = xr.load_dataset(out_dir / "data" / "transfer_phase.nc") if (out_dir / "data" / "transfer_phase.nc").exists() \
        else transfer_phase.compute(quick=True)  # fmt: skip
    for v in ("main__gain", "main__err_transfer", "tup__err_scratch"):
        np.testing.assert_array_equal(a[v].values, b[v].values)


def test_combine_panel_roundtrip():
    x = xr.Dataset({"gain": (("task.a", "seed"), np.arange(6.0).reshape(2, 3))},
                   coords={"task.a": [0.5, 1.0], "seed": np.arange(3)}, attrs={"config": "c"})  # fmt: skip
    y = xr.Dataset({"gain": (("n_source", "seed"), -np.arange(3.0)[None])},
                   coords={"n_source": [10], "seed": np.arange(3)}, attrs={"config": "d"})  # fmt: skip
    both = C.combine({"p": x, "q": y}, extra=[1, 2])
    assert json.loads(both.attrs["extra"]) == [1, 2]
    xr.testing.assert_identical(C.panel(both, "p"), x)
    xr.testing.assert_identical(C.panel(both, "q"), y)
    m, se = C.mean_se(x["gain"])
    np.testing.assert_allclose(m, [1.0, 4.0])
    np.testing.assert_allclose(se, [1 / np.sqrt(3)] * 2)
