"""The network and its training (docs/design.md sections 2, 3 and 5): the two-layer CNN
(``model``), full-batch GD (``train``), test errors (``evaluate``), signal/noise
coefficients (``coefficients``), and the transferability estimators (``estimators``)."""
