/**
 * SDP work on the client's offer, done before the engine sees it. libdatachannel
 * answers with every codec it is offered, so we cut each m-line down to the one
 * codec we forward; and we drop transport-cc so Chromium relies on the REMB we send
 * (libdatachannel generates REMB, not TWCC feedback).
 */
import sdpTransform from 'sdp-transform';

export type Kind = 'audio' | 'video';

export interface Codec {
  /** encoding name as in a=rtpmap, compared case-insensitively */
  name: string;
  kind: Kind;
  clockRate: number;
  channels?: number;
  /** payload type we use towards subscribers */
  payloadType: number;
  fmtp?: string;
}

/** What we forward, in order of preference. Subscribers are offered exactly these. */
export const CODECS: Readonly<Record<Kind, Codec>> = {
  audio: { name: 'opus', kind: 'audio', clockRate: 48000, channels: 2, payloadType: 111, fmtp: 'minptime=10;useinbandfec=1' },
  video: { name: 'VP8', kind: 'video', clockRate: 90000, payloadType: 96 },
};

export interface OfferedMedia {
  mid: string;
  kind: Kind;
  direction: 'sendonly' | 'recvonly' | 'sendrecv' | 'inactive';
  payloadType: number;
}

export interface PreparedOffer {
  sdp: string;
  hasDataChannel: boolean;
  media: OfferedMedia[];
  /** every mid of the offer, data channel included */
  mids: Set<string>;
}

/** A client offer we cannot use; its message is the one-line reason for the 400. */
export class SdpError extends Error {
  override name = 'SdpError';
}

const DROPPED_FEEDBACK = new Set(['transport-cc']);

export function prepareOffer(raw: string): PreparedOffer {
  if (!/^v=0\r?\n/.test(raw)) throw new SdpError('body is not an SDP offer (must start with v=0)');
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(raw);
  } catch {
    throw new SdpError('SDP could not be parsed');
  }
  const media = session.media ?? [];
  if (media.length === 0) throw new SdpError('SDP has no m= line');
  if (!session.fingerprint && !media.every((m) => m.fingerprint)) throw new SdpError('SDP has no a=fingerprint');
  const out: OfferedMedia[] = [];
  const mids = new Set<string>();
  let hasDataChannel = false;
  for (const m of media) {
    if (!(m.iceUfrag ?? session.iceUfrag) || !(m.icePwd ?? session.icePwd)) {
      throw new SdpError('SDP has no a=ice-ufrag / a=ice-pwd');
    }
    if (m.mid === undefined) throw new SdpError('every m= line needs a=mid');
    mids.add(String(m.mid));
    if (m.type === 'application') {
      if (!String(m.protocol).includes('SCTP')) throw new SdpError('application m= line is not an SCTP data channel');
      hasDataChannel = true;
      continue;
    }
    if (m.type !== 'audio' && m.type !== 'video') throw new SdpError(`unsupported m= line type ${m.type}`);
    if (m.port === 0) continue; // rejected/stopped m-line: leave it as it is
    const want = CODECS[m.type];
    const chosen = m.rtp.find((r) => r.codec.toLowerCase() === want.name.toLowerCase() && r.rate === want.clockRate);
    if (!chosen) throw new SdpError(`no supported ${m.type} codec offered (need ${want.name})`);
    const pt = chosen.payload;
    m.rtp = [chosen];
    m.fmtp = (m.fmtp ?? []).filter((f) => f.payload === pt);
    m.rtcpFb = (m.rtcpFb ?? []).filter((f) => Number(f.payload) === pt && !DROPPED_FEEDBACK.has(f.type));
    m.payloads = String(pt);
    m.ext = (m.ext ?? []).filter((e) => !e.uri.includes('transport-wide-cc'));
    // RTX/FEC ssrcs go with their codecs; keep only the primary ssrc of each group.
    const secondary = new Set<number>();
    for (const g of m.ssrcGroups ?? []) {
      const ids = g.ssrcs.split(' ').map(Number);
      for (const id of ids.slice(1)) secondary.add(id);
    }
    if (m.ssrcs) m.ssrcs = m.ssrcs.filter((s) => !secondary.has(Number(s.id)));
    delete m.ssrcGroups;
    const direction = (m.direction ?? 'sendrecv') as OfferedMedia['direction'];
    out.push({ mid: String(m.mid), kind: m.type, direction, payloadType: pt });
  }
  return { sdp: sdpTransform.write(session), hasDataChannel, media: out, mids };
}
