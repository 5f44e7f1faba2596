#!/usr/bin/env bash
# Sets up the Python side of the interoperability tests:
#   <repo>/.venv with the pinned packages of tests/python/requirements.txt,
#   and Debian's chromium + chromedriver for the trace explorer's browser test
#   (crates/intake/tests/browser.rs), installed with apt-get when missing.
# Idempotent: when the venv already holds exactly these requirements (a stamp
# file with the hash of requirements.txt and the python version), it does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/tests/python/requirements.txt"
STAMP="$VENV/.kakehashi-requirements.sha256"
PYTHON="${PYTHON:-python3}"

# Headless Chromium and its WebDriver for tests/python/browser_explorer.py.
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    SUDO=""
    if [[ "$(id -u)" != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "test-setup: chromium/chromedriver are missing and we are not root: run" >&2
            echo "            apt-get install -y chromium chromium-driver" >&2
            exit 1
        fi
    fi
    echo "test-setup: installing chromium and chromium-driver (apt-get)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
        || { $SUDO apt-get update -qq >/dev/null \
             && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
fi

want="$( { cat "$REQ"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "test-setup: $VENV is up to date"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "test-setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

echo "test-setup: installing $REQ"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"

# Check the harness imports before writing the stamp.
"$VENV/bin/python" - <<'PY'
import grpc, google.protobuf
import opentelemetry.sdk
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: F401
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as H  # noqa: F401
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: F401
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc  # noqa: F401
from selenium import webdriver  # noqa: F401
PY

echo "$want" > "$STAMP"
echo "test-setup: done"
