#!/usr/bin/env bash
# Builds the static binaries and the two images (kakehashi, sample-app) without a daemon:
#   cargo (musl target, or glibc with crt-static when the musl target cannot be added)
#   -> stripped binaries (kakehashi keeps its symbol table, for pprof) + the host's CA bundle
#      in a staging directory
#   -> `buildah bud` FROM scratch.
#
# Usage: deploy/docker/build-images.sh [--tag TAG] [--archive-dir DIR]
# Environment:
#   IMAGE_STORAGE_ROOT, IMAGE_STORAGE_RUNROOT  containers-storage location (default: buildah's)
#   IMAGE_STORAGE_DRIVER                        default vfs (works without overlay/fuse support)
#   IMAGE_REPO                                  default localhost (images: $IMAGE_REPO/kakehashi:TAG)
#   STATIC_TARGET                               force x86_64-unknown-linux-musl or x86_64-unknown-linux-gnu
#   CARGO_PROFILE                               default release
#   CARGO_TARGET_DIR                            as for cargo; the build context is $CARGO_TARGET_DIR/deploy-images
# --archive-dir writes docker-archive tarballs (kakehashi.tar, sample-app.tar) for `podman load`,
# `docker load` or `kind load image-archive`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

TAG="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
ARCHIVE_DIR=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --tag) TAG="$2"; shift 2 ;;
        --archive-dir) ARCHIVE_DIR="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
        *) echo "build-images: unknown argument $1" >&2; exit 2 ;;
    esac
done
REPO="${IMAGE_REPO:-localhost}"
PROFILE="${CARGO_PROFILE:-release}"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

for tool in cargo buildah readelf strip; do
    command -v "$tool" >/dev/null || { echo "build-images: $tool is missing" >&2; exit 1; }
done
[[ -s "$CA_BUNDLE" ]] || { echo "build-images: $CA_BUNDLE is missing (apt-get install ca-certificates)" >&2; exit 1; }

# --- static binaries -------------------------------------------------------------------------------
TARGET="${STATIC_TARGET:-}"
if [[ -z "$TARGET" ]]; then
    if command -v musl-gcc >/dev/null \
        && { grep -qx x86_64-unknown-linux-musl <<<"$(rustup target list --installed 2>/dev/null)" \
             || rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1; }; then
        TARGET=x86_64-unknown-linux-musl
    else
        echo "build-images: musl target or musl-gcc unavailable; building glibc with crt-static" >&2
        TARGET=x86_64-unknown-linux-gnu
    fi
fi
if [[ "$TARGET" == *-gnu ]]; then
    # With an explicit --target, RUSTFLAGS apply to the target only, not to build scripts.
    export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
fi
echo "build-images: cargo build --profile $PROFILE --target $TARGET"
cargo build --locked --profile "$PROFILE" --target "$TARGET" \
    -p kakehashi-collector -p kakehashi-sample-app --bin kakehashi --bin sample-app

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET_DIR/$TARGET/$PROFILE"
[[ "$PROFILE" == dev ]] && OUT="$TARGET_DIR/$TARGET/debug"
# The build context: the stripped binaries and the CA bundle (nothing else of the tree).
STAGE="$TARGET_DIR/deploy-images"
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp "$CA_BUNDLE" "$STAGE/ca-certificates.crt"
mkdir -m 0755 "$STAGE/tmp"
for bin in kakehashi sample-app; do
    # kakehashi keeps its symbol table (debug info goes): the pprof extension's CPU profiles
    # name functions only from it (about 7 MB more binary).
    if [[ "$bin" == kakehashi ]]; then
        strip --strip-debug -o "$STAGE/$bin" "$OUT/$bin"
    else
        strip -o "$STAGE/$bin" "$OUT/$bin"
    fi
    # A binary for FROM scratch must not need a dynamic loader or shared libraries.
    # (Whole output first: with pipefail, `readelf | grep -q` can fail on SIGPIPE after a match.)
    if grep -q 'INTERP' <<<"$(readelf -l "$STAGE/$bin")" \
        || grep -q '(NEEDED)' <<<"$(readelf -d "$STAGE/$bin")"; then
        echo "build-images: $bin is not statically linked:" >&2
        readelf -d "$STAGE/$bin" | grep NEEDED >&2 || true
        exit 1
    fi
    "$STAGE/$bin" --version
done

# --- images ----------------------------------------------------------------------------------------
STORE=(--storage-driver "${IMAGE_STORAGE_DRIVER:-vfs}")
[[ -n "${IMAGE_STORAGE_ROOT:-}" ]] && STORE+=(--root "$IMAGE_STORAGE_ROOT")
[[ -n "${IMAGE_STORAGE_RUNROOT:-}" ]] && STORE+=(--runroot "$IMAGE_STORAGE_RUNROOT")

for img in kakehashi sample-app; do
    buildah "${STORE[@]}" bud --quiet --format oci \
        --label "org.opencontainers.image.title=$img" \
        --label "org.opencontainers.image.version=$TAG" \
        -f "deploy/docker/Containerfile.$img" -t "$REPO/$img:$TAG" "$STAGE" >/dev/null
    echo "build-images: built $REPO/$img:$TAG"
    if [[ -n "$ARCHIVE_DIR" ]]; then
        mkdir -p "$ARCHIVE_DIR"
        rm -f "$ARCHIVE_DIR/$img.tar"
        buildah "${STORE[@]}" push --quiet "$REPO/$img:$TAG" \
            "docker-archive:$ARCHIVE_DIR/$img.tar:$REPO/$img:$TAG" >/dev/null
    fi
done
buildah "${STORE[@]}" images --filter "reference=$REPO/*:$TAG"
for bin in kakehashi sample-app; do
    printf 'build-images: %-10s binary %s bytes (stripped, %s)\n' "$bin" "$(stat -c %s "$STAGE/$bin")" "$TARGET"
done
if [[ -n "$ARCHIVE_DIR" ]]; then
    for img in kakehashi sample-app; do
        printf 'build-images: %-10s archive %s bytes, gzip %s bytes\n' "$img" \
            "$(stat -c %s "$ARCHIVE_DIR/$img.tar")" "$(gzip -1 -c "$ARCHIVE_DIR/$img.tar" | wc -c)"
    done
fi
