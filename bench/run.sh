#!/usr/bin/env bash
# Benchmarks cwerm against a PyTorch implementation of the same work, on this machine.
#
# 1. Creates the virtual environment bench/.venv with torch, numpy and safetensors from
#    PyPI (bench/requirements.txt) when it is missing or incomplete.
# 2. Builds the cwerm side, bench/cwerm-side (binary cwerm-torchbench), in release mode
#    into the workspace's target/ folder.
# 3. Runs bench/driver.py: parity checks, then both sides alternately with the same
#    thread count, and prints Markdown tables of medians, ratios and peak memory.
#
# Needs data/fashion-mnist and data/weights/efficientnet-lite0.safetensors from
# `bash scripts/fetch-assets.sh`. Arguments go to bench/driver.py (see --help there),
# for example `bash bench/run.sh --rounds 5 --markdown target/torchbench/tables.md`.
# BENCH_THREADS sets the threads per side (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=bench/.venv
threads="${BENCH_THREADS:-2}"

if ! "$venv/bin/python" -c "import torch, numpy, safetensors" 2>/dev/null; then
    echo "run.sh: installing bench/requirements.txt into $venv (torch pulls about 5 GB)" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r bench/requirements.txt
fi

for asset in data/fashion-mnist/train-images-idx3-ubyte.gz data/weights/efficientnet-lite0.safetensors; do
    if [[ ! -f "$asset" ]]; then
        echo "run.sh: $asset not found; run \`bash scripts/fetch-assets.sh\` first" >&2
        exit 1
    fi
done

# The package has its own workspace; its lock file starts as a copy of the main one,
# so both builds resolve the same dependency versions.
if [[ ! -f bench/cwerm-side/Cargo.lock ]]; then
    cp Cargo.lock bench/cwerm-side/Cargo.lock
fi
CARGO_TARGET_DIR="$PWD/target" cargo build --release --quiet --manifest-path bench/cwerm-side/Cargo.toml

# OpenMP workers that spin while waiting lose their core to other processes on a busy
# machine, and torch's small-op steps then run 10x slower. On a 2-core shared VM at load 7,
# a linear training step took 18 ms with spinning workers and 1.7 ms with passive ones.
# Set OMP_WAIT_POLICY=ACTIVE to measure torch's default on a quiet machine.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
exec "$venv/bin/python" bench/driver.py --cwerm target/release/cwerm-torchbench --threads "$threads" "$@"
