"""Backends of the transfer protocol (``simtransfer.backends.base.Backend``, the
interface the protocol calls down into), one module each:

* ``dense``: synthetic signal-plus-noise data, filters as (2, m, d) arrays;
* ``gram``: the same data, exactly, in the basis of the trial's vectors (cost independent of d);
* ``digits``: scikit-learn's handwritten digits, dense filters.

``config.registry`` imports every module here on first use (a new backend is one new module) and
``protocol.registry`` picks one by (``task.data``, ``backend``).
"""
