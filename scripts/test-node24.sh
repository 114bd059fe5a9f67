#!/usr/bin/env bash
# The server on Node.js 24 (the next LTS): installs npm's `node@24` package into a
# directory of its own (never over the system node), then
# - runs the unit tests under Node 24;
# - runs a representative subset of the e2e tests with the server under Node 24
#   (WEEVER_SERVER_NODE, read by test/e2e/harness.ts; the test runner, Chromium and the
#   load clients stay on the system node).
# Not part of scripts/test.sh (CI): see README "Supported Node.js versions".
#
#   scripts/test-node24.sh                      # the subset below
#   scripts/test-node24.sh dist/test/e2e/*.test.js   # other test files
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${NODE24_DIR:-/tmp/weever-node24}
node24="$dir/node_modules/node/bin/node"
if [ ! -x "$node24" ] || ! "$node24" --version | grep -q '^v24\.'; then
  mkdir -p "$dir"
  npm i --no-audit --no-fund --prefix "$dir" node@24 >&2
fi
echo "server node: $("$node24" --version) ($node24); test runner: $(node --version)" >&2

[ -f dist/src/cli.js ] || { [ -d node_modules ] || npm ci --no-audit --no-fund; npm run -s build; }

"$node24" --test --test-concurrency=1 dist/test/unit/*.test.js

if [ $# -gt 0 ]; then
  files=("$@")
else
  # signalling, media through the engine, limits, timeouts, the SDK in Chromium, WHEP,
  # a cluster on redis + nats, and the wedge (engine probe, --supervise) on a cluster
  files=()
  for t in room media limits bad-input timeouts auth sdk whep stable-track-ids operations cluster cluster-wedge; do
    files+=("dist/test/e2e/$t.test.js")
  done
fi
WEEVER_SERVER_NODE="$node24" node --test --test-concurrency=1 "${files[@]}"
