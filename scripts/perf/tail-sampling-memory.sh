#!/usr/bin/env bash
# CPU and peak RSS of the seed pipeline with and without tail_sampling at a fixed 20k spans/s
# (docs/performance.md, "tail_sampling in the seed pipeline"). Needs the release binaries:
#   cargo build --release -p kakehashi-collector -p kakehashi-loadgen
# Usage: scripts/perf/tail-sampling-memory.sh [seed|tail] [RATE] [SECONDS]
#   KAKEHASHI=/path/to/kakehashi to measure another build (e.g. main's, for a before/after).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
MODE="${1:-tail}" RATE="${2:-20000}" SECS="${3:-10}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GRPC=$(free_port) SINK=$(free_port)
WORK="$(mktemp -d)"
COLLECTOR="" INTAKE=""
trap 'kill $COLLECTOR $INTAKE 2>/dev/null || true; rm -rf "$WORK"' EXIT
KK="${KAKEHASHI:-$BIN/kakehashi}"
"$KK" intake --count-only --listen "127.0.0.1:$SINK" >"$WORK/intake.log" 2>&1 &
INTAKE=$!
CONFIGS=(--config "$ROOT/config/examples/seed-datadog.yaml")
[[ "$MODE" == tail ]] && CONFIGS+=(--config "$ROOT/scripts/perf/tail-sampling-overlay.yaml")
DD=exporters.datadog
DD_API_KEY=0123456789abcdef0123456789abcdef "$KK" "${CONFIGS[@]}" \
    --set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$GRPC" \
    --set "$DD.hostname=bench-collector" \
    --set "$DD.traces.endpoint=http://127.0.0.1:$SINK" \
    --set "$DD.metrics.endpoint=http://127.0.0.1:$SINK" \
    --set "$DD.host_metadata.enabled=false" \
    --set service.telemetry.logs.level=warn \
    --set service.telemetry.metrics.level=none >"$WORK/collector.log" 2>&1 &
COLLECTOR=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$GRPC") 2>/dev/null && break; sleep 0.1; done
"$BIN/loadgen" send --endpoint "127.0.0.1:$GRPC" --protocol grpc --rate "$RATE" \
    --duration "${SECS}s" | grep -E "accepted|refused" || true
sleep 7  # the last decisions (decision_wait 5 s + a tick) and the batch's flush
read -r UT ST < <(awk '{print $14, $15}' "/proc/$COLLECTOR/stat")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$COLLECTOR/status")
echo "mode=$MODE cpu_s=$(awk -v t=$((UT + ST)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}') peak_rss_mb=$(( HWM / 1024 ))"
echo "delivered: $(curl -s "http://127.0.0.1:$SINK/counts" | grep -o "\"unique_spans\":[0-9]*")"
grep -E "WARN|ERROR" "$WORK/collector.log" | cut -c1-300 | sort | uniq -c | head -5 || true
