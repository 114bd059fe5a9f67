/**
 * Reads the client-to-mixer audio level of an audio packet (RFC 6464,
 * `urn:ietf:params:rtp-hdrext:ssrc-audio-level`): one data byte, `V` (voice activity, the
 * top bit) and the level, 0–127 = 0 … -127 dBov (0 loudest, 127 silence). The element is
 * found among the ones read once per packet (`RtpHeader.ext`) under the publisher's id; in
 * the one- or the two-byte form alike.
 *
 * The buffer may have been rewritten in place by a subscriber's header-extension mapping
 * before this stage sees it (a fan-out runs the sinks in turn): its element bytes are then
 * read from the copy kept aside (`ext.original`), never from where another id was moved.
 * Per packet: a loop over a handful of ids; no allocation.
 */
import { ExtensionForm, type RtpHeader } from 'weever-rtp';
import type { RtpStage } from '../chain.js';

/** RFC 6464's level of digital silence. */
export const SILENCE = 127;

export class AudioLevelReader implements RtpStage {
  /** the last packet's level, 0 (0 dBov, loudest) … 127 (silence); SILENCE when it had none */
  level = SILENCE;
  /** the last packet's V bit (the sender's voice activity detection; Chromium sets it when its VAD hears voice) */
  voice = false;
  /** the last packet carried the element */
  present = false;

  /** `id`: the publisher's id of the audio-level extension; 0 when it did not negotiate one. */
  constructor(readonly id: number) {}

  onRtp(p: Buffer, h: RtpHeader): boolean {
    this.present = false;
    this.level = SILENCE;
    this.voice = false;
    const x = h.ext;
    const id = this.id;
    if (id === 0 || (x.form !== ExtensionForm.OneByte && x.form !== ExtensionForm.TwoByte)) return true;
    const ids = x.ids;
    for (let k = 0; k < x.count; k++) {
      if (ids[k] !== id) continue;
      if (x.lengths[k]! < 1) return true; // a two-byte element may be empty: no level
      const at = x.offsets[k]!;
      const b = x.dirty ? x.original[at - x.start]! : p[at]!;
      this.present = true;
      this.voice = (b & 0x80) !== 0;
      this.level = b & 0x7f;
      return true;
    }
    return true;
  }
}
