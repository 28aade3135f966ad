"""One process of the multi-process sweep test (``tests/test_distributed.py``).

``python tests/mp_worker.py NPROC PID PORT OUT [--die-after K] [--timeout S]``: joins the
others under ``jax.distributed`` on 127.0.0.1:PORT, runs the shared sweep with
``out=OUT``, and writes its assembled dataset's arrays to ``OUT/process-PID.npz``.
``--die-after K`` kills this process with SIGKILL right after it has written K chunks
(a crash mid-run, injected here in the test, not in the library).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mp_setup import CHUNK_TRIALS, EXP_FIELDS, GRID, KEY, SEEDS, dataset_arrays  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("nproc", type=int)
    p.add_argument("pid", type=int)
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.add_argument("--die-after", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()

    import simtransfer

    simtransfer.use_cpu_devices(2)  # each process sees its own 2 CPU devices
    from simtransfer import Experiment, initialize_distributed, sweep

    try:
        initialize_distributed(f"127.0.0.1:{args.port}", args.nproc, args.pid, timeout_s=args.timeout)
    except simtransfer.DistributedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.die_after:  # every finished chunk ends with the rename of its temporary file
        written = [0]
        real = os.replace

        def dying_replace(src, dst, *a, **kw):
            real(src, dst, *a, **kw)
            if os.path.basename(os.fspath(dst)).startswith("chunk-"):
                written[0] += 1
                if written[0] >= args.die_after:
                    os.kill(os.getpid(), signal.SIGKILL)

        os.replace = dying_replace
    ds = sweep(Experiment().set(**EXP_FIELDS), GRID, seeds=SEEDS, key=KEY, out=args.out, quiet=True,
               chunk_trials=CHUNK_TRIALS)  # fmt: skip
    np.savez(os.path.join(args.out, f"process-{args.pid}.npz"), **dataset_arrays(ds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
