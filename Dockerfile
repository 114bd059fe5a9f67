# Weever Streaming: one SFU instance per container.
# Not built on the development machines (no Docker there); kept correct by review.
#
#   docker build -t weever-streaming .
#   docker run --rm -p 8443:8443 -p 9443:9443 -p 3478:3478/udp \
#     -e WEEVER_PUBLIC_IP=<address browsers reach> -e WEEVER_RTC_UDP_PORT=3478 weever-streaming --debug
ARG NODE_VERSION=24

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
# builds the protocol, the server, its tests and the load package (not shipped)
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# glibc (bookworm), not alpine: node-datachannel ships prebuilt binaries for glibc.
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    WEEVER_HOST=0.0.0.0 \
    WEEVER_PORT=8443 \
    WEEVER_PRIVATE_PORT=9443
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist/src dist/src
COPY --from=build /app/dist/client dist/client
# node_modules/weever-protocol and weever-rtp link here
COPY --from=build /app/packages/protocol/package.json packages/protocol/
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/rtp/package.json packages/rtp/
COPY --from=build /app/packages/rtp/dist packages/rtp/dist
COPY --from=build /app/dist/sdk dist/sdk
COPY public public
USER node
# public API (HTTP or HTTPS), private API (probes, lists, tokens), ICE over UDP:
# publish the port of --rtc-udp-port, or the range of --rtc-port-range.
EXPOSE 8443 9443 3478/udp
HEALTHCHECK --interval=10s --timeout=3s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PRIVATE_PORT||9443)+'/liveness').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli.js"]
