"""Running experiments: ``run`` (many seeds of one experiment), ``sweep`` (a grid of
experiments, resumable), their results (``result``: ``Result``; sweeps as xarray
datasets), atomic file writes (``io``) and the placement of trials on devices (``devices``)."""
