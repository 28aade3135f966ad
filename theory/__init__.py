"""theory: analytical predictions for simtransfer, importable without running any training (docs/theory.md).

Never imports simtransfer (the simulator may call theory, not the reverse): every function
takes plain floats, arrays, or a duck-typed configuration (``task.a``, ``model.m`` ...).

* ``theory.scratch``, ``theory.calibration``: the scratch law of Kou et al. and its constants,
  calibrated on scratch runs only (docs/theory.md section 1; ``load_calibration()``).
* ``theory.exact``, ``theory.decompose``: exact test error given the weights and the exact
  (gamma, rho) decomposition (section 2).
* ``theory.setting``, ``theory.hypotheses``, ``theory.h4_model``, ``theory.h5_model``, ``theory.measure``:
  hypotheses H1-H5 and trivial predictors (sections 3, 6-8), from the configuration or with
  measured inputs; ``theory.predict`` (``theory.registry``) returns them all.
* ``theory.domain``, ``theory.prediction``: every prediction's validity domain
  (``in_domain``, ``outside``; section 5, data in ``theory/domains.json``).
* ``theory.idealised``: the proofs' recursion on (gamma, rho) beside the real GD (section 4).
"""

from theory.exact import ExactError as ExactError
from theory.exact import exact_error as exact_error
from theory.exact import psd_cholesky as psd_cholesky
from theory.exact import activation_fn as activation_fn
from theory.exact import noise_cov as noise_cov
from theory.exact import test_error_given_weights as test_error_given_weights
from theory.scratch import LAWS as LAWS
from theory.scratch import Fit as Fit
from theory.scratch import calibrate as calibrate
from theory.scratch import err_exp as err_exp
from theory.scratch import err_gauss as err_gauss
from theory.scratch import regime as regime
from theory.scratch import snr2 as snr2
from theory.calibration import Calibration as Calibration
from theory.calibration import load_calibration as load_calibration
from theory.decompose import Decomposition as Decomposition
from theory.decompose import decompose as decompose
from theory.setting import Setting as Setting
from theory.setting import setting_of as setting_of
from theory.setting import r_inh as r_inh
from theory.setting import r_target as r_target
from theory.setting import rho_bar as rho_bar
from theory.setting import lambda_default as lambda_default
from theory.setting import lambda_log as lambda_log
from theory.measure import noise_output_sd as noise_output_sd
from theory.measure import lambda_measured as lambda_measured
from theory.measure import r_inh_measured as r_inh_measured
from theory.measure import output_stats as output_stats
from theory.domain import Domain as Domain
from theory.domain import load_domains as load_domains
from theory.prediction import Prediction as Prediction
from theory.prediction import snr_of_error as snr_of_error
from theory.hypotheses import h1 as h1
from theory.hypotheses import h1_plugin as h1_plugin
from theory.hypotheses import h1_corrected as h1_corrected
from theory.hypotheses import h2 as h2
from theory.hypotheses import h2_plugin as h2_plugin
from theory.hypotheses import h3 as h3
from theory.hypotheses import h3_plugin as h3_plugin
from theory.hypotheses import h3_ratio as h3_ratio
from theory.hypotheses import sign_of_s as sign_of_s
from theory.hypotheses import always_helps as always_helps
from theory.h4_model import relu_cov as relu_cov
from theory.h4_model import coherence as coherence
from theory.h4_model import margin_of_budget as margin_of_budget
from theory.h4_model import rho_memorised as rho_memorised
from theory.h4_model import lambda_h4 as lambda_h4
from theory.h4_model import inh_factor_h4 as inh_factor_h4
from theory.h4_model import kappa_h4 as kappa_h4
from theory.h4_model import h4 as h4
from theory.h4_model import h4_plugin as h4_plugin
from theory.h4_model import load_h4 as load_h4
from theory.h4_model import fit_kappa as fit_kappa
from theory.h4_model import H4_PATH as H4_PATH
from theory.h5_model import h5 as h5
from theory.h5_model import h5_plugin as h5_plugin
from theory.h5_model import load_h5 as load_h5
from theory.h5_model import parts as h5_parts
from theory.h5_model import H5_PATH as H5_PATH
from theory.registry import predict as predict
from theory.registry import HYPOTHESES as HYPOTHESES
from theory.idealised import Coefficients as Coefficients
from theory.idealised import initial_preacts as initial_preacts
from theory.idealised import patch_gram as patch_gram
from theory.idealised import ideal_gram as ideal_gram
from theory.idealised import coefficient_dynamics as coefficient_dynamics
from theory.idealised import divergence_vs_d_over_n as divergence_vs_d_over_n

__all__ = [
    "activation_fn",
    "always_helps",
    "calibrate",
    "Calibration",
    "coefficient_dynamics",
    "Coefficients",
    "coherence",
    "decompose",
    "Decomposition",
    "divergence_vs_d_over_n",
    "err_exp",
    "err_gauss",
    "exact_error",
    "ExactError",
    "Fit",
    "fit_kappa",
    "h1",
    "h1_corrected",
    "h1_plugin",
    "h2",
    "h2_plugin",
    "h3",
    "h3_plugin",
    "h3_ratio",
    "h4",
    "H4_PATH",
    "h5",
    "h5_parts",
    "h5_plugin",
    "H5_PATH",
    "load_h5",
    "HYPOTHESES",
    "Domain",
    "load_domains",
    "h4_plugin",
    "ideal_gram",
    "inh_factor_h4",
    "initial_preacts",
    "kappa_h4",
    "lambda_default",
    "lambda_h4",
    "lambda_log",
    "lambda_measured",
    "LAWS",
    "load_calibration",
    "load_h4",
    "margin_of_budget",
    "noise_cov",
    "noise_output_sd",
    "output_stats",
    "patch_gram",
    "predict",
    "Prediction",
    "psd_cholesky",
    "r_inh",
    "r_inh_measured",
    "r_target",
    "regime",
    "relu_cov",
    "rho_bar",
    "rho_memorised",
    "Setting",
    "setting_of",
    "sign_of_s",
    "snr2",
    "snr_of_error",
    "test_error_given_weights",
]
