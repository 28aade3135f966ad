"""The exact, dimension-free ``gram`` backend (docs/design.md section 5; issue 5).

Gradient descent only ever adds multiples of training patches to a filter, so every
filter of a trial lies in the span of a fixed, finite basis.  In the order used here

    b = [e_u, e_S, e_T | upstream init filters (2 m_up) | source noise patches (n_S (P-1))
         | fresh downstream init filters (2 m) | target noise patches (n_T (P-1))],

K = 3 + 2 m_up + n_S (P-1) + 2 m + n_T (P-1) vectors, and every filter is
``w_{j,r} = sum_k C[j, r, k] b_k`` (the init filter is one of the b_k, so C carries
``w^(0)`` too).  In docs/design.md section 5's convention the coefficients *are* the theory's
signal/noise coordinates: ``gamma_{j,r,z} = ||z|| * (C[j,r,z] - C^(0)[j,r,z])`` for
z in {u, v_S, v_T} and ``rho_{j,r,i} = ||xi_i||^2 (C[j,r,i] - C^(0)[j,r,i])``.

Everything the trial needs is an inner product of basis vectors, i.e. the Gram matrix
``G = B B^T`` (K, K), which is sampled directly in its exact joint distribution:

* frame directions are orthonormal; the noise patches ``xi ~ N(0, sigma_p^2 (I - Pi))``
  have no frame component; an init filter ``w^(0) ~ N(0, sigma_0^2 I_d)`` has three
  explicit N(0, sigma_0^2) frame components (it is *not* orthogonal to the signals);
* the (d-3)-dimensional complement parts of the K - 3 Gaussian vectors are
  ``D Z`` with ``Z`` (K-3, d-3) standard normal and ``D`` the scales (sigma_0 or sigma_p);
  their Gram ``D Z Z^T D`` is ``D L L^T D`` with ``L`` the Bartlett factor of
  ``Wishart_{K-3}(d-3, I)``: lower triangular, ``L_ii = sqrt(chi^2_{d-3-i})``
  (0-indexed), ``L_ij ~ N(0, 1)`` below the diagonal (and, when d-3 < K-3, only in the
  first d-3 columns: the singular Wishart).  This is equality in distribution, and
  the cost is O(K^3), independent of d.

Training (full-batch GD on the logistic loss, docs/design.md section 3) works on C: the
pre-activations ``<w_{j,r}, x_i^(p)>`` are ``C G[:, patch]``, and the gradient
``grad_W L = sum_{i,p} dL/dpre_{i,p} xi_{i,p} + (sum_i y_i dL/dpre_i) mu`` has the basis
coefficients ``dL/dpre`` on the noise patches and ``mu``'s frame coordinates, so the
update ``C <- C - eta g`` maps to exactly the dense ``W <- W - eta grad_W L``; per step
O(m n K) flops.  The same holds for any optimizer *linear* in the gradient history
(``sgd``, ``momentum``, ``nesterov``); coordinate-wise ones (adam, ...) would act on
other coordinates than the dense backend, so the backend refuses them.

Evaluation is exact as well: ``<w, mu> = C G[:, :3] mu_frame`` and the noise covariance
``sigma_p^2 W (I - Pi) W^T = sigma_p^2 C G_perp C^T`` with ``G_perp = L_p L_p^T`` the Gram
of the complement parts (docs/theory.md section 2).  A fresh test noise patch enters only
through ``h_k = <b_k, xi>``, jointly ``N(0, sigma_p^2 G_perp)`` given the basis, so
``h = sigma_p L_p eps`` with ``eps`` standard normal is the test patch *exactly in
distribution* (jointly with everything else of the seed): the empirical test error is
an exact sample of the dense backend's, without a d-dimensional vector.
"""

from .backend import GramBackend, GramData
from .basis import LINEAR_OPTIMIZERS, GramBasis, basis_layout, chi2, normal, sample_basis, sample_gram, wishart_factor
from .evaluate import empirical_error_gram, features_gram
from .train import train_gram

__all__ = [
    "GramBackend", "GramData", "LINEAR_OPTIMIZERS", "GramBasis", "basis_layout", "chi2", "normal", "sample_basis",
    "sample_gram", "wishart_factor", "empirical_error_gram", "features_gram", "train_gram",
]  # fmt: skip
