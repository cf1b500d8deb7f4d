#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with only the Rust toolchain:
#   bash tests/run.sh
# Installs what the tests need when it is missing (the wasm32 target, Debian's swaks with Net::SSLeay, curl, fetchmail, isync,
# python3, nginx, chromium and chromium-driver), builds once, runs every test of the workspace, then every fuzz
# target for a fixed number of executions (fuzz/ci.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32 target"
    rustup target add wasm32-unknown-unknown
fi

need_pkgs=()
for pair in swaks:swaks curl:curl fetchmail:fetchmail mbsync:isync python3:python3 nginx:nginx chromium:chromium chromedriver:chromium-driver; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# swaks speaks TLS through Net::SSLeay, which Debian only recommends (and recommends are not installed here):
# without it swaks exits with "TLS not available".
perl -MNet::SSLeay -e 1 >/dev/null 2>&1 || need_pkgs+=(libnet-ssleay-perl)
if ((${#need_pkgs[@]})); then
    log "installing ${need_pkgs[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi

log "building"
cargo build --workspace --tests --locked

log "testing"
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"

# Every fuzz target (fuzz/, a workspace of its own), built on stable with libFuzzer's instrumentation and run for a
# fixed number of executions from its seed corpus; prints each target's execution count, fails on a crash.
log "fuzzing (${FUZZ_RUNS:-20000} executions per target)"
bash fuzz/ci.sh
