#!/usr/bin/env bash
# Checks the web UI: the committed bundle (web/ui/dist) is exactly what the
# source builds to, and the UI works in a real browser against a real
# server.
#
#   STRATA_BIN=/path/to/strata web/ui/check.sh
#
# 1. `npm ci` and `npm run build`, then fails if web/ui/dist differs from
#    the committed copy (changed, deleted or new files): the binary embeds
#    dist/, so a source change without a rebuild would ship the old UI.
# 2. Installs Debian's chromium (and nodejs/npm) with apt-get when missing:
#    Playwright drives the system browser, it never downloads one.
# 3. Runs tests/verdicts.test.mjs and tests/matrix.test.mjs (node's test
#    runner: the triage views' decisions against fixed inputs, the graph's
#    column reader against JSON.parse), then tests/e2e.mjs against $STRATA_BIN. Screenshots land in
#    web/ui/test-artefacts/ (git-ignored); look at them.
#
# A missing tool is installed, never a silent skip: any failure exits
# non-zero.
set -euo pipefail
cd "$(dirname "$0")"
ui_dir=$(pwd)
repo_root=$(git rev-parse --show-toplevel)

: "${STRATA_BIN:?STRATA_BIN must name a built strata binary (e.g. target/debug/strata)}"
STRATA_BIN=$(cd "$(dirname "$STRATA_BIN")" && pwd)/$(basename "$STRATA_BIN")
if [ ! -x "$STRATA_BIN" ]; then
  echo "check.sh: $STRATA_BIN is not an executable" >&2
  exit 1
fi
export STRATA_BIN

need=()
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "check.sh: installing ${need[*]} with apt-get" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}"
fi

echo "check.sh: npm ci" >&2
npm ci --no-audit --no-fund --loglevel=error

echo "check.sh: npm run build (the committed dist/ must not change)" >&2
npm run --silent build
rel=$(realpath --relative-to="$repo_root" "$ui_dir/dist")
changed=$(git -C "$repo_root" status --porcelain --untracked-files=all -- "$rel")
if [ -n "$changed" ]; then
  echo "check.sh: web/ui/dist differs from a fresh build of web/ui/src:" >&2
  echo "$changed" >&2
  echo "check.sh: run 'npm run build' in web/ui and commit dist/" >&2
  exit 1
fi

echo "check.sh: unit tests of the triage views' verdicts and the graph's column reader" >&2
node --test tests/verdicts.test.mjs tests/matrix.test.mjs

echo "check.sh: browser test against $STRATA_BIN" >&2
node tests/e2e.mjs
