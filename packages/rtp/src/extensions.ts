/**
 * RTP header extension elements (RFC 8285): the one-byte form (profile 0xBEDE, ids 1–14,
 * 1–16 data bytes) and the two-byte form (profile 0x100X, ids 1–255, 0–255 data bytes),
 * both with zero bytes as padding between elements. Read ONCE per packet, beside the
 * other header fields (`RtpHeader.ext`), so every subscriber's rewrite starts from the
 * original ids; the element bytes are kept aside only when a subscriber first changes them.
 */

export const ONE_BYTE_PROFILE = 0xbede;
/** two-byte form: 0x100 followed by 4 application bits */
export const TWO_BYTE_PROFILE = 0x1000;
/** Elements read per packet; more than this (never seen: one-byte blocks hold at most 14 ids) is treated as unreadable. */
export const MAX_EXTENSIONS = 16;
/** Element bytes kept aside; a larger block is treated as unreadable. */
export const MAX_EXTENSION_BYTES = 1024;

export enum ExtensionForm {
  /** no header extension (X bit clear) */
  None = 0,
  OneByte = 1,
  TwoByte = 2,
  /** another profile, or elements that do not parse: left as they are by readers, hidden by writers */
  Unreadable = 3,
}

/** The extension elements of one packet: positions and original ids. One instance per stream, reused. */
export class RtpExtensions {
  form = ExtensionForm.None;
  /** offset of the 16-bit profile field */
  profileAt = 0;
  /** offset of the first element byte (after the profile and length fields) */
  start = 0;
  /** element bytes, padding included: the length field × 4 */
  length = 0;
  /** elements read (padding is not an element) */
  count = 0;
  /** original id of each element */
  readonly ids = new Uint8Array(MAX_EXTENSIONS);
  /** offset of each element's data in the packet */
  readonly offsets = new Uint16Array(MAX_EXTENSIONS);
  /** data bytes of each element */
  readonly lengths = new Uint8Array(MAX_EXTENSIONS);
  /** true once the element bytes were copied to `original` for this packet */
  saved = false;
  /** the packet's element bytes differ from what arrived (a writer changed them) */
  dirty = false;
  /** the element bytes as they arrived, valid while `saved` */
  readonly original = Buffer.alloc(MAX_EXTENSION_BYTES);

  /** Reads the elements of `p`, whose fixed header (12 bytes + CSRCs) is known to fit. */
  read(p: Buffer): void {
    this.count = 0;
    this.saved = false;
    this.dirty = false;
    const b0 = p[0]!;
    if ((b0 & 0x10) === 0) {
      this.form = ExtensionForm.None;
      return;
    }
    const at = 12 + 4 * (b0 & 0x0f);
    this.profileAt = at;
    if (p.length < at + 4) {
      this.form = ExtensionForm.Unreadable;
      this.length = 0;
      return;
    }
    const profile = p.readUInt16BE(at);
    const start = at + 4;
    const length = 4 * p.readUInt16BE(at + 2);
    this.start = start;
    this.length = length;
    const end = start + length;
    if (end > p.length || length > MAX_EXTENSION_BYTES) {
      this.form = ExtensionForm.Unreadable;
      return;
    }
    if (profile === ONE_BYTE_PROFILE) this.form = this.readOneByte(p, start, end) ? ExtensionForm.OneByte : ExtensionForm.Unreadable;
    else if ((profile & 0xfff0) === TWO_BYTE_PROFILE)
      this.form = this.readTwoByte(p, start, end) ? ExtensionForm.TwoByte : ExtensionForm.Unreadable;
    else this.form = ExtensionForm.Unreadable;
  }

  private readOneByte(p: Buffer, start: number, end: number): boolean {
    let i = start;
    while (i < end) {
      const b = p[i]!;
      if (b === 0) {
        i++; // padding
        continue;
      }
      const id = b >> 4;
      // id 15 is reserved: processing stops there (RFC 8285 §4.2); the rest counts as padding.
      if (id === 15) break;
      const len = (b & 0x0f) + 1;
      if (i + 1 + len > end || this.count === MAX_EXTENSIONS) return false;
      this.push(id, i + 1, len);
      i += 1 + len;
    }
    return true;
  }

  private readTwoByte(p: Buffer, start: number, end: number): boolean {
    let i = start;
    while (i < end) {
      const id = p[i]!;
      if (id === 0) {
        i++; // padding
        continue;
      }
      if (i + 2 > end) return false;
      const len = p[i + 1]!;
      if (i + 2 + len > end || this.count === MAX_EXTENSIONS) return false;
      this.push(id, i + 2, len);
      i += 2 + len;
    }
    return true;
  }

  private push(id: number, offset: number, len: number): void {
    const n = this.count++;
    this.ids[n] = id;
    this.offsets[n] = offset;
    this.lengths[n] = len;
  }

  /** Index of the element with original id `id`, -1 when absent. */
  indexOf(id: number): number {
    for (let k = 0; k < this.count; k++) if (this.ids[k] === id) return k;
    return -1;
  }

  /** Keeps the element bytes of `p` aside (once per packet) before a writer changes them. */
  save(p: Buffer): void {
    if (this.saved) return;
    p.copy(this.original, 0, this.start, this.start + this.length);
    this.saved = true;
  }

  /** Puts the element bytes back as they arrived. */
  restore(p: Buffer): void {
    if (!this.dirty) return;
    this.original.copy(p, this.start, 0, this.length);
    this.dirty = false;
  }
}

/** One element to write: for tests and clients, not the packet path. */
export interface ExtensionElement {
  id: number;
  data: Buffer;
}

/**
 * A new RTP packet: the 12-byte header of `header` (its X bit set), a header extension in
 * the given form holding `elements` (zero-padded to 32 bits), then `payload`.
 */
export function withExtensions(header: Buffer, elements: readonly ExtensionElement[], payload: Buffer, twoByte = false): Buffer {
  let bytes = 0;
  for (const e of elements) bytes += (twoByte ? 2 : 1) + e.data.length;
  const padded = (bytes + 3) & ~3;
  const out = Buffer.alloc(12 + 4 + padded + payload.length);
  header.copy(out, 0, 0, 12);
  out[0] = (out[0]! & 0xe0) | 0x10; // no CSRCs, X set
  out.writeUInt16BE(twoByte ? TWO_BYTE_PROFILE : ONE_BYTE_PROFILE, 12);
  out.writeUInt16BE(padded / 4, 14);
  let i = 16;
  for (const e of elements) {
    if (twoByte) {
      out[i++] = e.id;
      out[i++] = e.data.length;
    } else out[i++] = (e.id << 4) | (e.data.length - 1);
    e.data.copy(out, i);
    i += e.data.length;
  }
  payload.copy(out, 16 + padded);
  return out;
}

/** The elements of an RTP packet, by id (a client's check of what it received; allocates). */
export function readExtensions(p: Buffer): Map<number, Buffer> {
  const x = new RtpExtensions();
  const out = new Map<number, Buffer>();
  if (p.length < 12) return out;
  x.read(p);
  for (let k = 0; k < x.count; k++) out.set(x.ids[k]!, p.subarray(x.offsets[k]!, x.offsets[k]! + x.lengths[k]!));
  return out;
}
