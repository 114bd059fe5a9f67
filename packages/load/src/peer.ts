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
  const ssrc = randomSsrc();
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
  m.addSSRC(ssrc, names.cname, names.msid, names.trackId);
  return { track: pc.addTrack(m), ssrc, payloadType };
}

/**
 * Calls `cb` when RTCP arriving on the send track asks for a keyframe (PLI or FIR for
 * its SSRC). Registered once per video track: without a media handler the track's
 * onMessage gets the RTCP the server sends.
 */
export function watchKeyframeRequests(sender: MediaSender, cb: () => void): void {
  sender.track.onMessage((b: Buffer) => {
    try {
      if (isRtcp(b) && hasKeyframeRequest(b, sender.ssrc)) cb();
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
