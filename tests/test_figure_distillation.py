"""The distillation figure (issue 7) runs in quick mode and writes png, pdf and its dataset."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_distillation_figure_quick(tmp_path):
    from figures.distillation import main

    ds = main(out_dir=str(tmp_path), quick=True)
    for f in ("distillation.png", "distillation.pdf", os.path.join("data", "distillation.nc")):
        assert (tmp_path / f).stat().st_size > 1000, f
    assert ds.sizes["variant"] == 3
    # the scratch baseline is paired: identical in every variant
    sc = ds.err_scratch.values
    np.testing.assert_array_equal(sc[0], sc[1])
    np.testing.assert_array_equal(sc[0], sc[2])
