"""A new backend, or a new data source, is one module (issue 14): a module dropped into the
backends' package registers itself with ``@register(data, backend)``; the configuration
then accepts its names (``backend``, ``task.data``) and ``make_trial`` runs it, with no
list to edit anywhere else."""

from __future__ import annotations

import sys
import textwrap

import jax
import numpy as np
import pytest

import simtransfer.backends
from simtransfer import ConfigError
from simtransfer.config import registry
from simtransfer.protocol import make_trial, theta_of
from simtransfer.runs.run import seed_keys

NAME = "tiny_copy"  # the module, and the backend name it registers
MODULE = f'''
    """A backend for a test: the dense backend, registered under new names."""

    from simtransfer.backends.dense import DenseBackend
    from simtransfer.backends.base import register


    @register("synthetic_copy", "{NAME}")
    class TinyCopyBackend(DenseBackend):
        """Synthetic data and dense filters under the data name ``synthetic_copy``."""
'''


@pytest.fixture
def new_module(tmp_path, monkeypatch):
    """Writes the module into a folder of the backends' package path when called; the
    registry and the package are restored afterwards."""
    monkeypatch.setattr(registry, "_TABLE", dict(registry._TABLE))
    monkeypatch.setattr(simtransfer.backends, "__path__", [*simtransfer.backends.__path__, str(tmp_path)])

    def write():
        (tmp_path / f"{NAME}.py").write_text(textwrap.dedent(MODULE))

    yield write
    sys.modules.pop(f"simtransfer.backends.{NAME}", None)


def test_unknown_names_are_refused_with_the_known_ones(tiny):
    for field, kw in (("backend", {"backend": NAME}), ("task.data", {"task.data": "synthetic_copy"})):
        with pytest.raises(ConfigError) as e:
            tiny.set(**kw)
        msg = str(e.value)
        assert msg.startswith(f"{field}: ") and "\n" not in msg, msg
        assert ("dense" in msg and "gram" in msg) if field == "backend" else ("synthetic" in msg and "digits" in msg)


def test_a_new_module_is_a_new_backend(tiny, new_module):
    with pytest.raises(ConfigError, match="^backend: "):
        tiny.set(backend=NAME)
    new_module()  # one new file; nothing else is edited
    exp = tiny.set(backend=NAME, **{"task.data": "synthetic_copy"})  # both names accepted now
    assert ("synthetic_copy", NAME) in registry.pairs()
    key = seed_keys(3, 1)[0]
    out = jax.jit(make_trial(exp))(key, theta_of(exp))
    ref = jax.jit(make_trial(tiny))(key, theta_of(tiny))
    # It delegates to the dense backend: the same trial, bit for bit.
    assert out.keys() == ref.keys()
    for k in ref:
        np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(ref[k]), err_msg=k)
    assert np.isfinite(np.asarray(out["err_transfer"]))
