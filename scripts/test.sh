#!/usr/bin/env bash
# Runs every test. Prepares what the tests need first (the Python venv with the OpenTelemetry
# SDK used as a real, independent client and as a downstream OTLP server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-setup.sh
cargo test --workspace "$@"
