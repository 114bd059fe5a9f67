#!/usr/bin/env node
/**
 * Container health check (the Dockerfile's HEALTHCHECK; OCI images have no such field, so
 * runtimes other than Docker run this command themselves): exit 0 when the private API's
 * /liveness answers 2xx within 3 s, 1 otherwise. Usage: node scripts/healthcheck.mjs [private port]
 * (default 9443), run inside the container, where the private API listens on every address.
 */
const port = Number(process.argv[2] ?? 9443);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`healthcheck: the private port must be 1-65535 (got ${JSON.stringify(process.argv[2])})`);
  process.exit(2);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}/liveness`, { signal: AbortSignal.timeout(3000) });
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
