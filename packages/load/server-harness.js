// The server repository's e2e harness, as the root build compiles it (dist/test/e2e/):
// starts the server under test from the root's dist, plus Redis, NATS and free ports.
// Plain JS, not compiled: its relative path holds from the package root. Imported as
// `#server-harness` (package.json "imports") by the benchmarks and the tests only.
export * from '../../dist/test/e2e/harness.js';
export * from '../../dist/test/e2e/services.js';
export * from '../../dist/test/e2e/lossy.js';
