"""Strict numerics for every test (as in equinox's and flax's conftest), shared small configs."""

import os

import jax
import pytest

import simtransfer

simtransfer.use_cpu_devices()  # before any JAX computation: one XLA CPU device per core

jax.config.update("jax_numpy_rank_promotion", "raise")
# A persistent compilation cache outside the checkout: a cold run compiles everything
# (CI on a new machine), a warm one (the same machine again) skips XLA compilation.
jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/simtransfer/jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)


@pytest.fixture(scope="session")
def tiny():
    """A small experiment (d = 200) whose trials take milliseconds; tests vary only its
    traced fields (a, sigma_p, alpha, eta, ...), so they share one compilation."""
    from simtransfer import Experiment

    return Experiment().set(
        **{
            "task.d": 200,
            "n_source": 20,
            "n_target": 10,
            "model.m": 4,
            "upstream.steps": 60,
            "downstream.steps": 60,
            "upstream.log_every": 20,
            "downstream.log_every": 20,
            "eval.n_test": 400,
            "eval.mc_draws": 2048,
            "eval.curve_draws": 256,
        }
    )
