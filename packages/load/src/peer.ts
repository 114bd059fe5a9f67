/**
 * node-datachannel client pieces both targets share: sending tracks, keyframe requests
 * read from their RTCP, RTP handed from received tracks to the subscriber's listener, and
 * waiting for complete ICE gathering (neither target trickles).
 */
import nodeDataChannel from 'node-datachannel';
import { hasKeyframeRequest, isRtcp, randomSsrc } from 'weever-rtp';
import type { Kind, MediaSender } from './target.js';

type PC = nodeDataChannel.PeerConnection;

/** Payload types we offer (both servers answer with them; Janus' answer is read back anyway). */
export const VP8_PAYLOAD_TYPE = 96;
export const OPUS_PAYLOAD_TYPE = 111;

/** A send-only VP8 (mid 0) or Opus (mid 1) track on `pc`, with a new SSRC. */
export function addSendTrack(pc: PC, kind: Kind, names: { cname: string; msid: string; trackId: string }): MediaSender {
  return addSendTrackWithSsrcs(pc, kind, names, 1)[0]!;
}

/**
 * A send-only VP8 track (mid 0) with `layers` SSRCs (simulcast: one per layer, smallest
 * first, each with its `a=ssrc` cname/msid lines, as Chromium lists them): one MediaSender
 * per SSRC, all on the same engine track. The SIM group itself goes into the offer text
 * (`simulcastOffer`): the engine has no call for it, and only the server reads it.
 */
export function addSimulcastVideoTrack(pc: PC, names: { cname: string; msid: string; trackId: string }, layers: number): MediaSender[] {
  return addSendTrackWithSsrcs(pc, 'video', names, layers);
}

function addSendTrackWithSsrcs(pc: PC, kind: Kind, names: { cname: string; msid: string; trackId: string }, count: number): MediaSender[] {
  const ssrcs: number[] = [];
  while (ssrcs.length < count) {
    const s = randomSsrc();
    if (!ssrcs.includes(s)) ssrcs.push(s);
  }
  let payloadType: number;
  let m: nodeDataChannel.Video | nodeDataChannel.Audio;
  if (kind === 'video') {
    payloadType = VP8_PAYLOAD_TYPE;
    m = new nodeDataChannel.Video('0', 'SendOnly');
    m.addVP8Codec(payloadType);
  } else {
    payloadType = OPUS_PAYLOAD_TYPE;
    m = new nodeDataChannel.Audio('1', 'SendOnly');
    m.addOpusCodec(payloadType);
  }
  for (const ssrc of ssrcs) m.addSSRC(ssrc, names.cname, names.msid, names.trackId);
  const track = pc.addTrack(m);
  return ssrcs.map((ssrc) => ({ track, ssrc, payloadType }));
}

/**
 * The offer with `a=ssrc-group:SIM <ssrcs>` (smallest layer first) in the video m-section,
 * before its first `a=ssrc:` line (RFC 5576 groups; what Chromium writes for SSRC simulcast).
 */
export function simulcastOffer(sdp: string, ssrcs: readonly number[]): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const sections = sdp.split(/(?=^m=)/m);
  let done = false;
  const out = sections.map((sec) => {
    if (done || !sec.startsWith('m=video')) return sec;
    const lines = sec.split(eol);
    const at = lines.findIndex((l) => l.startsWith('a=ssrc:'));
    if (at < 0) return sec;
    lines.splice(at, 0, `a=ssrc-group:SIM ${ssrcs.join(' ')}`);
    done = true;
    return lines.join(eol);
  });
  if (!done) throw new Error('simulcastOffer: no video m-section with a=ssrc lines');
  return out.join('');
}

/**
 * Calls `cb` when RTCP arriving on the send track asks for a keyframe (PLI or FIR for
 * its SSRC). Registered once per video track: without a media handler the track's
 * onMessage gets the RTCP the server sends.
 */
export function watchKeyframeRequests(sender: MediaSender, cb: () => void): void {
  watchLayerKeyframeRequests([sender], () => cb());
}

/**
 * The same for a simulcast track: `cb(ssrc)` for each of `senders`' SSRCs (all on one
 * track) that a PLI or FIR names; a compound packet naming two layers calls it twice.
 */
export function watchLayerKeyframeRequests(senders: readonly MediaSender[], cb: (ssrc: number) => void): void {
  const track = senders[0]!.track;
  track.onMessage((b: Buffer) => {
    try {
      if (!isRtcp(b)) return;
      for (const s of senders) if (hasKeyframeRequest(b, s.ssrc)) cb(s.ssrc);
    } catch {
      // a throw inside a native callback would abort the process
    }
  });
}

/** Resolves when `ready()` holds (a throw counts as not yet), polled every 5 ms; rejects after `timeoutMs` with the connection's states. */
export function waitForPc(what: string, pc: PC, ready: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      let ok = false;
      try {
        ok = ready();
      } catch {
        ok = false;
      }
      if (ok) return resolve();
      if (Date.now() - started > timeoutMs) {
        return reject(new Error(`${what} timed out after ${timeoutMs} ms (pc ${pc.state()}/${pc.iceState()}/${pc.gatheringState()})`));
      }
      setTimeout(check, 5);
    };
    check();
  });
}

/** Complete offers and answers (no trickle): resolves when the candidates are in the description. */
export function gathered(pc: PC, timeoutMs: number): Promise<void> {
  return waitForPc('ICE gathering', pc, () => pc.gatheringState() === 'complete', timeoutMs);
}

/** A subscriber's current RTP listener (set by onRtp, possibly after its tracks arrived). */
export interface RtpListener {
  rtp: ((kind: Kind, packet: Buffer) => void) | undefined;
  /** RTCP the server sends on the track (sender reports), when someone listens */
  rtcp?: ((kind: Kind, packet: Buffer) => void) | undefined;
}

/** Hands each RTP packet of a received track to `to.rtp`, and RTCP (sender reports, under rtcp-mux) to `to.rtcp`. */
export function forwardRtp(track: nodeDataChannel.Track, kind: Kind, to: RtpListener): void {
  track.onMessage((b: Buffer) => {
    if (b.length < 8) return;
    try {
      if (isRtcp(b)) to.rtcp?.(kind, b);
      else if (b.length >= 12) to.rtp?.(kind, b);
    } catch {
      // a throw inside a native callback would abort the process
    }
  });
}
