"""Drawing and writing the figures (issue 4): style, axis labels and colours, log-log heat
maps, saving ``<name>.png`` and ``.pdf``, and the ``main`` and command line of a figure script.

The data side (base configurations, sweeps, mean +- s.e., datasets) is ``figures/common.py``;
a figure script imports both (``from figures import common as C``, ``plotting as P``), this
module after ``common`` (which splits the CPU into XLA devices before JAX starts) and before
``matplotlib.pyplot`` (it selects the Agg backend).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from figures.common import log, save_data

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from simtransfer.runs.cache import enable_compilation_cache  # noqa: E402

__all__ = [
    "SYMBOLS", "LABEL_ERR", "LABEL_GAIN", "SEQ_CMAP", "DIV_CMAP", "MARKERS", "style", "setup", "line_colors",
    "edges", "log_heatmap", "save_figure", "figure_main", "cli",
]  # fmt: skip


#: Axis labels with the symbols of docs/design.md.
SYMBOLS = {
    "n_source": r"$n_S$",
    "n_target": r"$n_T$",
    "task.d": r"$d$",
    "task.a": r"$a$",
    "task.s": r"$s$",
    "norm_mu_T": r"$\|\mu_T\|$",
    "transfer.alpha": r"$\alpha$",
    "corr": r"corr $= s a^2 / (\|\mu_S\|\,\|\mu_T\|)$",
    "upstream.steps": r"$T_{up}$",
    "snr2": r"SNR2 $= n \|\mu\|^4 / (\sigma_p^4 d)$",
}
LABEL_ERR = "test error"
LABEL_GAIN = r"transfer gain $\mathrm{err}_{scratch} - \mathrm{err}_{transfer}$"
#: Sequential map for errors (monotone lightness: survives greyscale).
SEQ_CMAP = "cividis"
#: Diverging map for signed gains, always centred at 0 (negative cells are also hatched).
DIV_CMAP = "RdBu"


def style() -> None:
    """Readable fonts (>= 9 pt), thin grids, tight layout."""
    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 10,
            "axes.labelsize": 10,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "legend.framealpha": 0.85,
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.grid": False,
            "lines.linewidth": 1.6,
            "lines.markersize": 5,
            "errorbar.capsize": 2.5,
            "pdf.fonttype": 42,
        }
    )


def setup() -> None:
    """Style, and JAX's persistent compilation cache (``simtransfer.runs.cache``: under
    ``SIMTRANSFER_CACHE_DIR`` or the user cache directory; ``none`` disables it), so that
    rerunning a figure skips XLA compilation."""
    style()
    enable_compilation_cache()


def line_colors(k: int, cmap: str = "viridis") -> list:
    """k colours from a sequential map, avoiding its lightest end (readable on white)."""
    cm = plt.get_cmap(cmap)
    return [cm(x) for x in (np.linspace(0.0, 0.8, k) if k > 1 else [0.35])]


MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def edges(vals) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints (a single value gets a factor 1.5)."""
    v = np.asarray(vals, float)
    if v.size == 1:
        return np.array([v[0] / 1.5, v[0] * 1.5])
    mid = np.sqrt(v[1:] * v[:-1])
    return np.concatenate([[v[0] ** 2 / mid[0]], mid, [v[-1] ** 2 / mid[-1]]])


def log_heatmap(ax, x, y, z, labels, cmap, vmin, vmax):
    """``z`` (len(y), len(x)) as cells centred on the values ``x``, ``y`` of log-log axes,
    each cell labelled ``labels[i][j]`` (dark text with a white halo, readable on any
    colour); returns (image, x_edges, y_edges)."""
    import matplotlib.patheffects as pe

    xe, ye = edges(x), edges(y)
    im = ax.pcolormesh(xe, ye, z, cmap=cmap, vmin=vmin, vmax=vmax, shading="flat")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for i in range(len(y)):
        for j in range(len(x)):
            ax.text(np.sqrt(xe[j] * xe[j + 1]), np.sqrt(ye[i] * ye[i + 1]), labels[i][j], ha="center", va="center",
                    fontsize=9, color="black", path_effects=[pe.withStroke(linewidth=2.8, foreground="white")])  # fmt: skip
    return im, xe, ye


def save_figure(fig, out_dir: str | os.PathLike, name: str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    plt.close(fig)
    log(f"wrote {paths[0]} and .pdf")
    return paths


def figure_main(name: str, compute: Callable, plot: Callable) -> Callable:
    """The ``main(config=None, out_dir="figures", quick=False)`` of a figure script:
    ``compute(config, quick)`` its dataset, save it to ``out_dir/data/<name>.nc``, draw it
    with ``plot(ds, out_dir)`` and save ``<name>.png`` and ``.pdf``; returns their paths."""

    def main(config=None, out_dir: str = "figures", quick: bool = False) -> list[Path]:
        setup()
        ds = compute(config, quick)
        save_data(ds, out_dir, name, quick)
        return save_figure(plot(ds, out_dir), out_dir, name)

    main.__doc__ = f"Make figures/{name}.png and .pdf (and data/{name}.nc)."
    return main


def cli(main, argv: Sequence[str] | None = None) -> None:
    """``python figures/<name>.py [--quick] [--out-dir DIR]`` for a figure's ``main``."""
    import argparse

    ap = argparse.ArgumentParser(description=(main.__module__ or "figure"))
    ap.add_argument("--quick", action="store_true", help="tiny version (few seeds, small d), as in the tests")
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent), help="default: the figures/ directory")
    args = ap.parse_args(argv)
    main(out_dir=args.out_dir, quick=args.quick)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("figures/plotting.py is a library; run a figure script or `python -m figures`")
