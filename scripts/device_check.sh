#!/usr/bin/env bash
# The accelerator check (README "Devices and performance"): one short call on a bare
# machine with one NVIDIA GPU where JAX with CUDA, optax, chex, xarray, tqdm and
# matplotlib are installed and nothing can be downloaded.  No pip: the repository is
# used from the checkout (PYTHONPATH=.).  Prints one JSON object on stdout (progress on
# stderr) and writes it to ${OUT:-.}/device_check.json.  Budget: under 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# The compile-time figures must be cold: no persistent cache for this run.
export SIMTRANSFER_CACHE_DIR=none
exec timeout "${DEVICE_CHECK_TIMEOUT:-470}" "${PYTHON:-python}" -m simtransfer.experiments.device_check --out "${OUT:-.}/device_check.json" "$@"
