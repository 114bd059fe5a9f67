/**
 * weever-load as a library: the load run and its clients, for the benchmarks and for the
 * server's cluster tests that need real media clients. The CLI is `weever-load` (cli.ts).
 */
export { type ClientsConfig, LoadClients, type ShardSnapshot } from './clients.js';
export { type KindReport, type LoadOptions, type LoadReport, LoadRun, runLoad, type Totals } from './run.js';
export { percentile } from './stats.js';
export type { Kind, MediaSender, PublisherConnection, SubscriberConnection, Target } from './target.js';
export { createTarget, TARGETS, type TargetName } from './targets.js';
export { RETRY_SUFFIX, WeeverTarget } from './weever-target.js';
