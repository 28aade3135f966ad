"""``simtransfer check``: how well does each transfer hypothesis predict the sign of the gain?

docs/theory.md section 10: a grid the theory was not tuned on, built around the
transfer-beats-scratch boundary, on which every hypothesis of ``theory.predict`` (from
the configuration alone), the plug-in versions (fed with quantities measured *before
fine-tuning*), H4 and the trivial predictors are scored side by side:

* balanced accuracy of the predicted sign of ``gain = err_scratch - err_transfer`` on the
  *significant* cells (``|mean gain| > 2 s.e.``, paired over seeds), overall and for s > 0,
  with a 95% bootstrap interval;
* R^2 and RMSE of the predicted transfer error against the measured one (every cell);
* the worst cells (wrong sign, largest |t|).

Rows: the configuration-only hypotheses (every entry of ``theory.predict``: H1-H5), their
plug-in versions, the baseline "err_transfer = predicted scratch error" and the trivial predictors ("sign of s",
"transfer always helps").  The plug-ins use only what is available *before fine-tuning*:
lambda = the inherited filters' noise output s.d. (at initialisation of the transfer model)
over the scratch model's (:func:`theory.lambda_measured`, median over the first
:data:`MEASURE_SEEDS` seeds), the zero-shot model's SNR read off its error in calibrated
units (:func:`theory.snr_of_error`), and H3's G from the upstream and scratch models'
signal learning.  The fine-tuned transfer model itself is never an input.

The check grid (:data:`CHECK_BLOCKS`, 149 cells, root seed :data:`CHECK_KEY`), one block per
*family*: the four of issue 3 (n_S = 40, 160, 640, d = 2000: a, b_T, alpha, sigma_p and the
budgets, mostly with s = +1 near the crossover, plus anti-aligned and uncorrelated cells) and
eleven added by issue 13 around the boundary (P = 3, label noise, m = 20, m_up = 15, frozen,
top_signal, random, rescale, d = 4000, sigma_0, T_down = 600 with small eta), plus two families
no theory models (momentum GD, leaky ReLU), which must come out flagged.  Every score is
given over the in-domain and the out-of-domain cells separately (each prediction's
``in_domain``, docs/theory.md section 5), and per family (``score.family_table``) beside the
baseline.  H4's constants are fitted on :data:`CALIBRATION_BLOCKS` (other points, root seed
:data:`CALIBRATION_KEY`), H5's on the grid of ``scripts/calibrate_families.py`` (root seed
31337); neither shares a cell with the check.

The held-out grid (:data:`HELDOUT_BLOCKS`, ``--grid heldout``, 78 cells, root seed
:data:`HELDOUT_KEY`) was laid out after H5 was frozen and after the check grid was scored:
ten groups outside the base family in combinations neither the check nor the calibration
has (P = 3 with n_S = 640 or m = 20, d = 8000, m = 20 with n_S = 640, label noise 0.1,
T_down = 1000 with eta = 0.06, n_T = 40), scored with the same table.

Errors are the exact conditional errors (``eval.n_test = 0``).  Every block of the grid is
run by :func:`simtransfer.runs.sweep.sweep` (traced fields batched, one compilation per shape,
one point per chunk), whose trials also measure their models for the plug-ins
(``eval.measure_draws``, ``protocol.measures``); the sweeps are cached
under ``cache_dir`` (default: ``check/`` under the cache root of ``runs.cache``, keyed on the code
version too), so a rerun only assembles.

Command line::

    python -m simtransfer.experiments.check [--seeds 32] [--key 20250] [--quick] [--out table.json]
    python -m simtransfer.experiments.check --calibrate-h4 [--out theory/h4.json]   # H4's constants
"""

from .cells import BASELINE, FAMILY_ROWS, hypotheses
from .grid import (
    BASE,
    CALIBRATION_BLOCKS,
    CALIBRATION_KEY,
    CHECK_BLOCKS,
    CHECK_KEY,
    HELDOUT_BLOCKS,
    HELDOUT_KEY,
    QUICK_BLOCKS,
    Block,
    run_blocks,
)
from .main import calibrate_h4, check, main
from .score import balanced_accuracy, bootstrap_interval, family_table, format_table, score

__all__ = [
    "Block",
    "CHECK_BLOCKS",
    "CALIBRATION_BLOCKS",
    "QUICK_BLOCKS",
    "BASE",
    "balanced_accuracy",
    "bootstrap_interval",
    "family_table",
    "BASELINE",
    "FAMILY_ROWS",
    "score",
    "hypotheses",
    "run_blocks",
    "check",
    "calibrate_h4",
    "format_table",
    "CHECK_KEY",
    "CALIBRATION_KEY",
    "HELDOUT_BLOCKS",
    "HELDOUT_KEY",
    "main",
]
