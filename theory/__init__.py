"""theory: analytical predictions for simtransfer, importable without running any training.

Never imports simtransfer's training code (the simulator may call theory, not the reverse).
"""

from theory.exact import ExactError as ExactError
from theory.exact import exact_error as exact_error
from theory.exact import psd_cholesky as psd_cholesky

__all__ = ["ExactError", "exact_error", "psd_cholesky"]
