#!/usr/bin/env bash
# Side-by-side benchmark: the same remote-write workload against Strata,
# Prometheus and VictoriaMetrics (Debian packages), in one run. Figures go to
# stdout as markdown tables and to bench-out/*.json.
#
#   ./scripts/bench.sh                      # ingest + queries, 100k series × 2h (the documented run)
#   ./scripts/bench.sh --series 10000 --steps 40   # a quick smoke run
#   ./scripts/bench.sh --block-range 30m    # queries over 30m blocks and the head
#   ./scripts/bench.sh lifecycle            # head cuts / compaction / restart, 100k series × 1h
#   ./scripts/bench.sh lifecycle --series 10000 --duration 30m --cut-block-range 2m   # smoke (~1-2 min)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
cargo build --release -p strata -p strata-bench
mkdir -p bench-out
bench="$CARGO_TARGET_DIR/release/strata-bench"
strata="$CARGO_TARGET_DIR/release/strata"
if [ "${1:-}" = lifecycle ]; then
  shift
  "$bench" lifecycle --strata "$strata" --json bench-out/lifecycle.json "$@"
else
  "$bench" --strata "$strata" --json bench-out/results.json "$@"
fi
