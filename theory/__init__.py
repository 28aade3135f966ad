"""theory: analytical predictions for simtransfer, importable without running any training.

Never imports simtransfer (the simulator may call theory, not the reverse): every function
takes plain floats, arrays, or a duck-typed configuration (``task.a``, ``model.m`` ...).

* ``theory.scratch``, ``theory.calibration``: the scratch law of Kou et al. and its constants,
  calibrated on scratch runs only (THEORY.md section 1; ``load_calibration()``).
* ``theory.exact``, ``theory.decompose``: exact test error given the weights and the exact
  (gamma, rho) decomposition (section 2).
* ``theory.setting``, ``theory.transfer``, ``theory.measure``: hypotheses H1-H3 and trivial
  predictors (section 3), from the configuration or with measured inputs.
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
from theory.transfer import Prediction as Prediction
from theory.transfer import h1 as h1
from theory.transfer import h1_plugin as h1_plugin
from theory.transfer import h1_corrected as h1_corrected
from theory.transfer import h2 as h2
from theory.transfer import h3 as h3
from theory.transfer import h3_ratio as h3_ratio
from theory.transfer import sign_of_s as sign_of_s
from theory.transfer import always_helps as always_helps
from theory.transfer import predict as predict
from theory.idealised import Coefficients as Coefficients
from theory.idealised import initial_preacts as initial_preacts
from theory.idealised import patch_gram as patch_gram
from theory.idealised import ideal_gram as ideal_gram
from theory.idealised import coefficient_dynamics as coefficient_dynamics
from theory.idealised import divergence_vs_d_over_n as divergence_vs_d_over_n

__all__ = [
    "Calibration",
    "Coefficients",
    "Decomposition",
    "ExactError",
    "Fit",
    "LAWS",
    "Prediction",
    "Setting",
    "activation_fn",
    "always_helps",
    "calibrate",
    "coefficient_dynamics",
    "decompose",
    "divergence_vs_d_over_n",
    "err_exp",
    "err_gauss",
    "exact_error",
    "h1",
    "h1_corrected",
    "h1_plugin",
    "h2",
    "h3",
    "h3_ratio",
    "ideal_gram",
    "initial_preacts",
    "lambda_default",
    "lambda_log",
    "lambda_measured",
    "load_calibration",
    "noise_cov",
    "noise_output_sd",
    "patch_gram",
    "predict",
    "psd_cholesky",
    "r_inh",
    "r_inh_measured",
    "r_target",
    "regime",
    "rho_bar",
    "setting_of",
    "sign_of_s",
    "snr2",
    "test_error_given_weights",
]
