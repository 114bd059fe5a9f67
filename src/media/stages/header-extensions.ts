/**
 * Puts a publisher's RTP header extensions (RFC 8285) under the ids ONE subscriber
 * negotiated, and hides the ones it did not (the publisher's mid, rid, anything we do not
 * forward). Built once per binding: a 256-entry table from the publisher's id to the
 * subscriber's (0: drop).
 *
 * The buffer is shared by every subscriber of the track and rewritten in place by each in
 * turn, so the rewrite starts from the original elements read once per packet
 * (`RtpHeader.ext`): a subscriber whose ids are the publisher's (the usual case: our
 * offers use Chromium's ids) only puts back what an earlier subscriber changed; one that
 * needs a change keeps the element bytes aside (once per packet, for all) and writes its
 * elements from them. Dropped elements are removed by moving the kept ones forward and
 * filling the rest of the block with zero padding bytes: the block keeps its size and
 * form, the payload does not move. Per packet and subscriber: a loop over the elements
 * (a handful), plus a copy of the element bytes (tens of bytes) only when something changes.
 * No allocation.
 */
import { ExtensionForm, type RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';
import type { HeaderExtension } from '../sdp.js';

export class HeaderExtensionMapper implements RtpStage {
  /** publisher id → subscriber id; 0 drops the element */
  private readonly map = new Uint8Array(256);

  constructor(publisher: Readonly<Record<string, number>> | undefined, subscriber: readonly HeaderExtension[]) {
    this.configure(publisher, subscriber);
  }

  /**
   * Sets the table: an element of the publisher's extension `uri` (its id in `publisher`)
   * goes out under the id `subscriber` has for that URI; any other element is dropped.
   * Called between packets (at bind, and when the subscriber's answer is known).
   */
  configure(publisher: Readonly<Record<string, number>> | undefined, subscriber: readonly HeaderExtension[]): void {
    this.map.fill(0);
    for (const e of subscriber) {
      const from = publisher?.[e.uri];
      if (from !== undefined && from >= 1 && from <= 255 && e.id >= 1 && e.id <= 255) this.map[from] = e.id;
    }
  }

  /** The subscriber's id for the publisher's `id` (0: dropped). */
  idFor(id: number): number {
    return this.map[id] ?? 0;
  }

  onRtp(p: Buffer, h: RtpHeader): boolean {
    const x = h.ext;
    const form = x.form;
    if (form === ExtensionForm.None) return true;
    if (form === ExtensionForm.Unreadable) {
      // Nothing we can map: the profile 0 makes receivers skip the block (RFC 3550 §5.3.1); the same for every subscriber.
      if (p.length >= x.profileAt + 2) p.writeUInt16BE(0, x.profileAt);
      return true;
    }
    const map = this.map;
    const count = x.count;
    const ids = x.ids;
    // Unchanged for this subscriber when every element keeps its id.
    let unchanged = true;
    for (let k = 0; k < count; k++) {
      if (map[ids[k]!] !== ids[k]) {
        unchanged = false;
        break;
      }
    }
    if (unchanged) {
      x.restore(p);
      return true;
    }
    x.save(p);
    const src = x.original;
    const start = x.start;
    const end = start + x.length;
    const offsets = x.offsets;
    const lengths = x.lengths;
    const oneByte = form === ExtensionForm.OneByte;
    let w = start;
    for (let k = 0; k < count; k++) {
      const id = map[ids[k]!]!;
      const len = lengths[k]!;
      if (id === 0 || (oneByte && id > 14)) continue;
      if (oneByte) p[w++] = (id << 4) | (len - 1);
      else {
        p[w++] = id;
        p[w++] = len;
      }
      const from = offsets[k]! - start;
      for (let i = 0; i < len; i++) p[w++] = src[from + i]!;
    }
    p.fill(0, w, end);
    x.dirty = true;
    return true;
  }
}
