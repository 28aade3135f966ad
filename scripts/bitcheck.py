"""Bit-identity check of the simulator across a refactor.

    python scripts/bitcheck.py record  REF.npz   # on the code before the change
    python scripts/bitcheck.py compare REF.npz   # on the code after it: exit 1 on any difference

Runs ``run()`` with fixed keys over a representative set of experiments (dense, gram and
digits backends; inherit, distill and inherit+distill with partitions; the three policies;
frozen filters; label flips; leaky_relu / relu_q; adam / momentum / nesterov; P = 3;
m_up != m; a random frame; a fixed signal position; source test sets), the trial state of
the dense, gram and digits backends, and one small ``sweep``, and stores every output
array.  ``compare`` asserts that every array is bit-for-bit equal (``np.array_equal``
with NaNs equal, same dtype and shape) and that no name was added or lost.

The device split is fixed here (two XLA CPU devices) so that the check does not depend
on how the package splits the CPU.  Small sizes: the whole check runs in about a minute.
"""

from __future__ import annotations

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ.setdefault("SIMTRANSFER_CPU_DEVICES", "2")

import numpy as np  # noqa: E402

SMALL = {
    "task.d": 60,
    "n_source": 12,
    "n_target": 6,
    "model.m": 3,
    "upstream.steps": 12,
    "downstream.steps": 12,
    "upstream.log_every": 5,
    "downstream.log_every": 5,
    "eval.n_test": 150,
    "eval.mc_draws": 64,
    "eval.curve_draws": 32,
    "eval.test_chunk": 64,
}

DENSE = {
    "dense_default": {},
    "dense_mix1": {"transfer.policy": "random", "transfer.freeze_inherited": True, "task.label_flip": 0.1,
                   "model.activation": "leaky_relu", "task.P": 3, "model.m_up": 5, "eval.n_test_source": 100,
                   "task.frame": "random"},
    "dense_mix2": {"transfer.policy": "top_signal", "upstream.optimizer": "adam", "downstream.optimizer": "adam",
                   "model.activation": "relu_q", "task.signal_position": "fixed", "transfer.mode": "inherit+distill",
                   "transfer.partition": "agree"},
    "dense_distill": {"transfer.mode": "distill", "transfer.partition": "confident", "transfer.confidence": 0.6,
                      "downstream.optimizer": "momentum"},
}
GRAM = {
    "gram_top": {"backend": "gram", "transfer.policy": "top_signal", "downstream.optimizer": "momentum",
                 "task.d": 5000},
    "gram_mix": {"backend": "gram", "transfer.policy": "random", "task.P": 3, "model.m_up": 5, "task.label_flip": 0.1,
                 "model.activation": "leaky_relu", "upstream.optimizer": "nesterov", "transfer.freeze_inherited": True,
                 "eval.n_test_source": 100},
}
DIGITS = {
    "digits_default": {},
    "digits_mix": {"transfer.mode": "inherit+distill", "transfer.partition": "confident", "transfer.policy": "random",
                   "model.m_up": 4, "transfer.freeze_inherited": True},
}
SEEDS, KEY = 4, 3


def _experiments():
    from simtransfer import Experiment

    if _refactored():
        from simtransfer.config.digits import experiment as digits_experiment
    else:
        from simtransfer.digits import experiment as digits_experiment

    base = Experiment().set(**SMALL)
    out = {name: base.set(**kw) for name, kw in {**DENSE, **GRAM}.items()}
    dig = digits_experiment(**{"n_source": 20, "n_target": 6, "model.m": 3, "upstream.steps": 12,
                               "downstream.steps": 12, "upstream.log_every": 5, "downstream.log_every": 5})
    out.update({name: dig.set(**kw) for name, kw in DIGITS.items()})
    return out


def _refactored() -> bool:
    """Whether the loaded package has the protocol/backends layout (imports differ before it)."""
    import simtransfer

    return os.path.isdir(os.path.join(os.path.dirname(simtransfer.__file__), "protocol"))


def _state_fn(exp):
    if _refactored():
        from simtransfer.protocol import make_trial_state
    else:  # before the protocol refactor: the gram state had its own function
        from simtransfer.trial import make_trial_state

        if exp.backend == "gram":
            from simtransfer.gram import make_trial_state_gram as make_trial_state
    return make_trial_state


def _sweep_fn():
    if _refactored():
        from simtransfer.runs.sweep import sweep
    else:
        from simtransfer.sweep import sweep
    return sweep


def _flatten(prefix: str, tree, out: dict[str, np.ndarray]) -> None:
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    for path, leaf in leaves:
        out[prefix + jax.tree_util.keystr(path)] = np.asarray(leaf)


def collect() -> dict[str, np.ndarray]:
    import jax
    import jax.numpy as jnp

    from simtransfer import run

    # the persistent compilation cache of the tests: an unchanged program is not recompiled
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/simtransfer/jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    if jax.local_device_count() != 2:
        raise SystemExit(f"bitcheck: expected 2 CPU devices, got {jax.local_device_count()}")
    out: dict[str, np.ndarray] = {}
    exps = _experiments()
    for name, exp in exps.items():
        res = run(exp, seeds=SEEDS, key=KEY)
        for k, v in res.arrays.items():
            out[f"run/{name}/{k}"] = np.asarray(v)
    for name in ("dense_mix1", "gram_mix", "digits_mix"):
        exp = exps[name]
        make_state = _state_fn(exp)
        from simtransfer.config import traced_values

        theta = {k: jnp.asarray(v, jnp.float32) for k, v in traced_values(exp).items()}
        key_data = jax.random.key_data(jax.random.key(11))
        st = jax.jit(make_state(exp))(key_data, theta)
        _flatten(f"state/{name}/", st, out)
    ds = _sweep_fn()(exps["dense_default"], {"task.a": [0.5, 1.5], "transfer.alpha": [0.0, 0.6]}, seeds=2, key=5,
                     quiet=True)
    for k in sorted(ds.data_vars):
        out[f"sweep/{k}"] = np.asarray(ds[k].values)
    return out


def compare(ref: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> list[str]:
    bad = []
    for k in sorted(set(ref) | set(new)):
        if k not in new:
            bad.append(f"missing now: {k}")
        elif k not in ref:
            bad.append(f"new name: {k}")
        else:
            a, b = ref[k], new[k]
            if a.dtype != b.dtype or a.shape != b.shape:
                bad.append(f"{k}: dtype/shape {a.dtype}{a.shape} -> {b.dtype}{b.shape}")
            elif not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
                diff = np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))) if a.dtype.kind in "fc" else "?"
                bad.append(f"{k}: differs (max abs diff {diff})")
    return bad


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        print(__doc__)
        return 2
    mode, path = argv
    new = collect()
    if mode == "record":
        np.savez(path, **new)
        print(f"bitcheck: recorded {len(new)} arrays to {path}")
        return 0
    with np.load(path) as f:
        ref = {k: f[k] for k in f.files}
    bad = compare(ref, new)
    for line in bad:
        print("bitcheck:", line)
    print(f"bitcheck: {len(ref)} reference arrays, {len(new)} now, {len(bad)} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
