/** The servers the load tool can target, by name (`--target`). */
import type { Target } from './target.js';
import { WeeverTarget } from './weever-target.js';

export const TARGETS = ['weever', 'janus'] as const;
export type TargetName = (typeof TARGETS)[number];

export async function createTarget(name: TargetName, url: string): Promise<Target> {
  if (name === 'weever') return new WeeverTarget({ url });
  // Janus videoroom adapter (src/load/janus-target.ts, branch issuej). Imported by a
  // computed specifier so this builds without it; loaded only when asked for.
  const specifier = './janus-target.js';
  let mod: { JanusTarget: new (o: { url: string }) => Target };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch (err) {
    throw new Error(`--target janus: the Janus adapter (src/load/janus-target.ts) is not available: ${(err as Error).message}`);
  }
  return new mod.JanusTarget({ url });
}
