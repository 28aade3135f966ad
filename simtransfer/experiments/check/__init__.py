"""``simtransfer check``: how well does each transfer hypothesis predict the sign of the gain?

docs/theory.md section 3 asks for a grid the theory was not tuned on, built around the
transfer-beats-scratch boundary, on which every hypothesis of ``theory.predict`` (from
the configuration alone), the plug-in versions (fed with quantities measured *before
fine-tuning*), H4 and the trivial predictors are scored side by side:

* balanced accuracy of the predicted sign of ``gain = err_scratch - err_transfer`` on the
  *significant* cells (``|mean gain| > 2 s.e.``, paired over seeds), overall and for s > 0;
* R^2 and RMSE of the predicted transfer error against the measured one (every cell);
* the worst cells (wrong sign, largest |t|).

Rows: the configuration-only hypotheses (every entry of ``theory.predict``, and H4,
:func:`theory.h4`), their plug-in versions and the trivial predictors ("sign of s",
"transfer always helps").  The plug-ins use only what is available *before fine-tuning*:
lambda = the inherited filters' noise output s.d. (at initialisation of the transfer model)
over the scratch model's (:func:`theory.lambda_measured`, median over the first
:data:`MEASURE_SEEDS` seeds), the zero-shot model's SNR read off its error in calibrated
units (:func:`theory.snr_of_error`), and H3's G from the upstream and scratch models'
signal learning.  The fine-tuned transfer model itself is never an input.

The check grid (:data:`CHECK_BLOCKS`, 68 cells, root seed :data:`CHECK_KEY`) varies a, b_T,
alpha, n_S (40, 160, 640), sigma_p, d (1000, 2000) and the budgets eta_up T_up, eta_down T_down
(through the traced learning rates, T = 300), mostly with s = +1 near the crossover, plus
anti-aligned (s = -1, -0.5) and uncorrelated (s = 0; a = 0) cells.  H4's constants are
fitted on :data:`CALIBRATION_BLOCKS` (other points, root seed :data:`CALIBRATION_KEY`).

Errors are the exact conditional errors (``eval.n_test = 0``).  Every block of the grid is
run by :func:`simtransfer.runs.sweep.sweep` (traced fields batched, one compilation per shape,
one point per chunk) and measured by :func:`simtransfer.experiments.measure.measure`; both are cached
under ``cache_dir`` (default ``~/.cache/simtransfer/check``), so a rerun only assembles.

Command line::

    python -m simtransfer.experiments.check [--seeds 32] [--key 20250] [--quick] [--out table.json]
    python -m simtransfer.experiments.check --calibrate-h4 [--out theory/h4.json]   # H4's constants
"""

from .grid import BASE, CALIBRATION_BLOCKS, CALIBRATION_KEY, CHECK_BLOCKS, CHECK_KEY, QUICK_BLOCKS, Block, run_blocks
from .main import calibrate_h4, check, main
from .score import balanced_accuracy, format_table, hypotheses, score

__all__ = [
    "Block",
    "CHECK_BLOCKS",
    "CALIBRATION_BLOCKS",
    "QUICK_BLOCKS",
    "BASE",
    "balanced_accuracy",
    "score",
    "hypotheses",
    "run_blocks",
    "check",
    "calibrate_h4",
    "format_table",
    "CHECK_KEY",
    "CALIBRATION_KEY",
    "main",
]
