#!/usr/bin/env bash
# Runs the whole Strata test suite on a fresh Debian machine: installs the real
# peers the tests talk to (Prometheus and promtool for the differential tests,
# node_exporter as a real scrape target, VictoriaMetrics as a remote-write
# receiver) when they are missing, then formats-checks, lints and tests the
# workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} with apt-get" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# Peers must be present: a missing peer is a failure, never a silent skip.
export STRATA_REQUIRE_PEERS=1

# Keep build artefacts outside the clone so CI reuses them between runs.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

# The web UI: the committed bundle must equal a rebuild of its source, and
# the browser tests (headless Chromium, Playwright) drive a real server.
cargo build -p strata --locked
STRATA_BIN="$CARGO_TARGET_DIR/debug/strata" web/ui/check.sh
