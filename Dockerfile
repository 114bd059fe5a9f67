# Weever Streaming: one SFU instance per container.
# No Docker on the development machines: this file is kept correct by review, and its steps
# mirror scripts/build-image.sh (`sudo npm run image`), which builds the same image with no
# daemon and is tested (test/e2e/image.test.ts). See docs/deploy.md.
#
#   docker build -t weever-streaming .
#   docker run --rm -p 8443:8443 -p 127.0.0.1:9443:9443 -p 3478:3478/udp \
#     weever-streaming --public-ip <address browsers reach> --rtc-udp-port 3478
#
# The private API (tokens, drain, metrics) is published on the host's loopback only.
ARG NODE_VERSION=24.21.0

# glibc (bookworm), not alpine: node-datachannel ships prebuilt binaries for glibc.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# the workspaces' manifests, so npm ci installs and links them
COPY packages/protocol/package.json packages/protocol/
COPY packages/rtp/package.json packages/rtp/
COPY packages/load/package.json packages/load/
# postinstall patches the engine for relayed TURN/TCP participants (issue 17)
COPY scripts/patch-engine.mjs scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY packages packages
COPY client client
COPY src src
COPY test test
# builds the protocol, the server, its tests and the load package (none of the last two shipped),
# then keeps the production dependencies only
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -rf node_modules/weever-load

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
# the same non-root user as the daemonless image (uid 10001); the files stay root's, read-only to it
RUN useradd --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin weever
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist/src dist/src
COPY --from=build /app/dist/client dist/client
COPY --from=build /app/dist/sdk dist/sdk
# node_modules/weever-protocol and weever-rtp link here
COPY --from=build /app/packages/protocol/package.json packages/protocol/
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/rtp/package.json packages/rtp/
COPY --from=build /app/packages/rtp/dist packages/rtp/dist
COPY scripts/patch-engine.mjs scripts/healthcheck.mjs scripts/
COPY public public
# fails the build when the engine is not the patched one
RUN node scripts/patch-engine.mjs --check
USER 10001:10001
# public API (HTTP or HTTPS), private API (probes, lists, tokens), ICE over UDP:
# publish the port of --rtc-udp-port, or the range of --rtc-port-range.
EXPOSE 8443 9443 3478/udp
# SIGTERM drains (no new peers; exit once the last left or after --drain-timeout, default 30 s):
# give `docker stop --time` more than that.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s \
  CMD ["node", "scripts/healthcheck.mjs", "9443"]
# The flags are in ENTRYPOINT so that arguments to `docker run weever-streaming …` add to
# them (the last of a flag wins). Both APIs listen on every address of the container: the
# private one must answer the kubelet's probes, which come to the pod address. Keep it off
# public networks: publish it on loopback (above) or a management network only.
ENTRYPOINT ["node", "dist/src/cli.js", "--host", "0.0.0.0", "--private-host", "0.0.0.0"]
