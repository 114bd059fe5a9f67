// Types of server-harness.js: the declarations the root build emits next to the harness.
export * from '../../dist/test/e2e/harness.js';
export * from '../../dist/test/e2e/services.js';
export * from '../../dist/test/e2e/lossy.js';
