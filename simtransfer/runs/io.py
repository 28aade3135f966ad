"""Atomic writes: a finished file is either complete on disk or absent, never half-written
(a run or sweep interrupted while saving loses nothing already saved)."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

__all__ = ["atomic_write", "save_dataset"]


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[Any], None], *, by_path: bool = False) -> None:
    """Write ``path`` through a temporary file beside it, then rename (atomic on POSIX).

    ``data``: the bytes, or a function called with the open binary file (``data(fh)``),
    or with ``by_path=True`` with the temporary file's path (``data(tmp_path)``: writers
    that open the file themselves, e.g. netCDF).  The temporary file is removed on error.
    """
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-",
                               suffix=os.path.basename(path))  # fmt: skip
    try:
        if by_path:
            os.close(fd)
            data(tmp)  # type: ignore[operator]
        else:
            with os.fdopen(fd, "wb") as fh:
                if callable(data):
                    data(fh)
                else:
                    fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_dataset(ds, path: str | os.PathLike) -> None:
    """Write a sweep dataset (``xarray.Dataset``) to netCDF atomically."""
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4"), by_path=True)
