"""Experiments built on runs and sweeps: the theory check (``check``), the scratch-law
calibration (``calibrate``), per-seed output statistics (``measure``), the estimator
testbed (``testbed``) and the benchmarks (``bench``)."""
