/**
 * NATS subjects (docs/protocol.md, "Several instances: Redis and NATS"). Names are validated (no `.`, `*`, `>`), so each
 * part is exactly one subject token.
 */
import type { Kind } from './tracks.js';

export const subjects = {
  /** one RTP packet per message */
  track: (room: string, pubFullId: string, kind: Kind, trackId: string): string => `rtc.${room}.${pubFullId}.${kind}.${trackId}`,
  /** room events */
  room: (room: string): string => `cmd.${room}`,
  /** data messages of the room's participants */
  data: (room: string): string => `data.${room}`,
  /** keyframe requests for one track, to the publisher's instance */
  keyframe: (room: string, pubFullId: string, kind: Kind, trackId: string): string => `kf.${room}.${pubFullId}.${kind}.${trackId}`,
};

/**
 * The subject of simulcast layer `n` of a track: layer 0 is the track's own subject (so a
 * consumer that knows nothing of layers gets the smallest), layer n > 0 `<track subject>.l<n>`.
 */
export function layerSubject(trackSubject: string, n: number): string {
  return n === 0 ? trackSubject : `${trackSubject}.l${n}`;
}

/** `rtc.<room>.<pub>.<kind>.<trackId>` → `lw.<room>.<pub>.<kind>.<trackId>`: dynacast reports to the publisher's instance */
export function layerWantsSubjectOf(trackSubject: string): string {
  return `lw.${trackSubject.slice(trackSubject.indexOf('.') + 1)}`;
}

/**
 * A dynacast report on `lw.…`: `<instance> <max layer>`, the highest layer that instance's
 * subscribers want (−1: none). Undefined when malformed.
 */
export function parseLayerWants(text: string): { from: string; max: number } | undefined {
  const m = /^([A-Za-z0-9_-]{1,64}) (-1|[0-9])$/.exec(text);
  return m ? { from: m[1]!, max: Number(m[2]) } : undefined;
}

/** `rtc.<room>.<pub>.<kind>.<trackId>` → `kf.<room>.<pub>.<kind>.<trackId>` */
export function keyframeSubjectOf(trackSubject: string): string {
  return `kf.${trackSubject.slice(trackSubject.indexOf('.') + 1)}`;
}
