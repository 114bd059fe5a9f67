#!/usr/bin/env bash
# The whole test suite. Installs what it needs when missing: Debian's Chromium (browser
# tests), redis-server and nats-server (cluster tests), openssl (TLS tests), firefox-esr, procps, nftables (loss and outage tests), GStreamer
# with python3-gst (WHIP client tests), janus (the load tool's Janus target test), mmdebstrap,
# umoci, runc, skopeo and binutils (the container image test), and the npm dependencies; then
# builds, lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The suite runs on Node.js 24 (LTS). Where the machine's node is older, npm's `node`
# package of this exact version is installed into .cache/ (never over the system node)
# and put first on PATH, so npm, the build, the test runner and every server it starts use it.
NODE_VERSION=24.21.0
if [ "$(node -p 'Number(process.versions.node.split(".")[0])')" -lt 24 ]; then
  node_dir=".cache/node-$NODE_VERSION"
  if [ "$("$node_dir/node_modules/.bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
    echo "installing Node.js $NODE_VERSION from npm into $node_dir" >&2
    mkdir -p "$node_dir"
    npm i --no-audit --no-fund --no-save --prefix "$node_dir" "node@$NODE_VERSION" >&2
  fi
  export PATH="$PWD/$node_dir/node_modules/.bin:$PATH"
fi
echo "node $(node --version) ($(command -v node))" >&2

apt_need=()
[ -x /usr/bin/chromium ] || apt_need+=(chromium)
command -v redis-server >/dev/null || apt_need+=(redis-server)
command -v nats-server >/dev/null || apt_need+=(nats-server)
command -v openssl >/dev/null || apt_need+=(openssl)
# The loss tests drop a share of the media datagrams on lo with nftables (test/e2e/lossy.ts; run as root).
[ -x /usr/sbin/nft ] || command -v nft >/dev/null || apt_need+=(nftables)
[ -x /usr/bin/firefox-esr ] || apt_need+=(firefox-esr) # Firefox ESR tests (test/e2e/firefox.test.ts)
command -v ps >/dev/null || apt_need+=(procps) # the cluster-script test lists its process group
# The WHIP tests publish with GStreamer's webrtcbin from Debian's python3 (test/clients/whip_client.py).
[ -e /usr/lib/python3/dist-packages/gi/overrides/Gst.py ] || apt_need+=(python3-gst-1.0)
for pkg in gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
  gstreamer1.0-plugins-ugly gstreamer1.0-nice; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || apt_need+=("$pkg")
done
[ -x /usr/bin/turnserver ] || apt_need+=(coturn) # the TURN tests run a real coturn (test/e2e/turn.test.ts)
command -v janus >/dev/null || apt_need+=(janus) # the Janus target test runs a real Janus
# The image test builds the OCI image with no daemon and runs it (test/e2e/image.test.ts; run as root).
for tool in mmdebstrap umoci runc skopeo; do command -v "$tool" >/dev/null || apt_need+=("$tool"); done
command -v strip >/dev/null || apt_need+=(binutils)
if [ ${#apt_need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing Debian packages: ${apt_need[*]}" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${apt_need[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm run -s build
npm run -s lint
# the server's tests, then the load package's (packages/load: the load tool, the benchmarks' code, the Janus target)
node --test --test-concurrency=1 dist/test/unit/*.test.js dist/test/e2e/*.test.js \
  packages/load/dist/test/unit/*.test.js packages/load/dist/test/e2e/*.test.js
