/** The servers the load tool can target, by name (`--target`). */
import type { Target } from './target.js';
import { WeeverTarget } from './weever-target.js';

export const TARGETS = ['weever', 'janus'] as const;
export type TargetName = (typeof TARGETS)[number];

export async function createTarget(name: TargetName, url: string): Promise<Target> {
  if (name === 'weever') return new WeeverTarget({ url });
  // The Janus videoroom adapter (janus-target.ts) is loaded only when asked for.
  const { JanusTarget } = await import('./janus-target.js');
  return new JanusTarget({ url });
}
