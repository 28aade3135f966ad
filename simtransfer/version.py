"""The package version (one place: the run and sweep metadata record it)."""

__version__ = "0.1.0"
