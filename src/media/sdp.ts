/**
 * SDP work on the client's offer, done before the engine sees it. libdatachannel
 * answers with every codec it is offered, so on a sending m-line (a publisher's) we
 * cut the m-line down to the one codec we forward; and we drop transport-cc so Chromium
 * relies on the REMB we send (libdatachannel generates REMB, not TWCC feedback).
 * A receiving m-line (a WHEP player's) keeps its codec list: which codec it gets is
 * decided per track when the subscriber fills it.
 */
import sdpTransform from 'sdp-transform';
import { type CodecName, type Kind, MAX_LAYERS } from 'weever-protocol';
import { BadOfferError } from './errors.js';

export interface Codec {
  name: CodecName;
  kind: Kind;
  clockRate: number;
  channels?: number;
  /** payload type we use towards subscribers in our own offers */
  payloadType: number;
  fmtp?: string;
}

/** The default codec of each kind: what a track without a named codec carries. */
export const CODECS: Readonly<Record<Kind, Codec>> = {
  audio: { name: 'opus', kind: 'audio', clockRate: 48000, channels: 2, payloadType: 111, fmtp: 'minptime=10;useinbandfec=1' },
  video: { name: 'VP8', kind: 'video', clockRate: 90000, payloadType: 96 },
};

/**
 * H264 as WHIP clients send it (OBS, GStreamer, browsers): only packetization-mode=1
 * (FU-A/STAP-A; mode 0 is single-NAL only, which encoders do not keep to) is accepted.
 */
export const H264: Readonly<Codec> = {
  name: 'H264',
  kind: 'video',
  clockRate: 90000,
  payloadType: 102,
  fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
};

/** Video codecs a publisher may send, in order of preference. */
export const VIDEO_CODECS: readonly Codec[] = [CODECS.video, H264];

export function codecByName(kind: Kind, name: string | undefined): Codec {
  if (kind === 'audio') return CODECS.audio;
  return VIDEO_CODECS.find((c) => c.name === name) ?? CODECS.video;
}

/** One usable codec of an offered m-line: its payload type and format parameters there. */
export interface OfferedCodec {
  name: CodecName;
  payloadType: number;
  fmtp?: string;
}

export interface OfferedMedia {
  mid: string;
  kind: Kind;
  direction: 'sendonly' | 'recvonly' | 'sendrecv' | 'inactive';
  /** payload type of the chosen codec (sending m-lines); of the first usable one otherwise */
  payloadType: number;
  /** the codec a sending m-line was cut to */
  codec: CodecName;
  /** every usable codec of the m-line, in the client's order (receiving m-lines choose from these) */
  codecs: OfferedCodec[];
  /** sending video m-lines: payload type of the RTX (RFC 4588) of the chosen codec, when offered */
  rtxPayloadType?: number;
  /** the m-line's RTP header extensions (a=extmap), as the answer keeps them */
  extensions: HeaderExtension[];
  /**
   * VP8 simulcast by SSRC (`a=ssrc-group:SIM`, smallest layer first): each layer's media
   * SSRC and, when the m-line has RTX, its repair SSRC (from the FID groups).
   */
  simulcast?: { ssrcs: number[]; rtx: (number | undefined)[] };
  /** the stream id of a sending m-line (`a=msid:<stream> <track>`, else its SSRCs' msid), when given */
  stream?: string;
}

export interface PreparedOffer {
  sdp: string;
  hasDataChannel: boolean;
  media: OfferedMedia[];
  /** every mid of the offer, data channel included */
  mids: Set<string>;
}

/** A client offer we cannot use; its message is the one-line reason. */
export class SdpError extends BadOfferError {
  override name = 'SdpError';
}

const DROPPED_FEEDBACK = new Set(['transport-cc']);
/** m-lines per offer: a publisher sends a few; a room-wide WHEP player one per track it wants. */
export const MAX_MLINES = 64;
export const MAX_MID_LENGTH = 64;

/** One a=extmap of an m-line (RFC 8285): the id the sender writes for `uri`. */
export interface HeaderExtension {
  id: number;
  uri: string;
}

export const EXT_AUDIO_LEVEL = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
export const EXT_ABS_SEND_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time';
export const EXT_TRANSPORT_CC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
export const EXT_PLAYOUT_DELAY = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay';
export const EXT_CONTENT_TYPE = 'http://www.webrtc.org/experiments/rtp-hdrext/video-content-type';
export const EXT_VIDEO_ORIENTATION = 'urn:3gpp:video-orientation';
export const EXT_TOFFSET = 'urn:ietf:params:rtp-hdrext:toffset';

/**
 * The header extensions a subscriber's m-lines declare, with the ids of our offers: one
 * table for the whole BUNDLE group (an id means the same URI on every m-line), with
 * Chromium's own ids so a Chromium publisher's packets need no remapping. `forward`:
 * the publisher's element goes through; transport-wide-cc is declared for the coming
 * bandwidth estimation but never forwarded — its sequence numbers count the packets of
 * ONE transport (the publisher's), so under a subscriber's transport they would be
 * numbers that transport never sent; that issue will write our own per subscriber.
 * (Publishers do not send it anyway: prepareOffer removes it from their m-lines.)
 */
export const SUBSCRIBER_EXTENSIONS: readonly (HeaderExtension & { kinds: readonly Kind[]; forward: boolean })[] = [
  { id: 1, uri: EXT_AUDIO_LEVEL, kinds: ['audio'], forward: true },
  { id: 2, uri: EXT_ABS_SEND_TIME, kinds: ['audio', 'video'], forward: true },
  { id: 3, uri: EXT_TRANSPORT_CC, kinds: ['audio', 'video'], forward: false },
  { id: 5, uri: EXT_PLAYOUT_DELAY, kinds: ['video'], forward: true },
  { id: 6, uri: EXT_CONTENT_TYPE, kinds: ['video'], forward: true },
  { id: 13, uri: EXT_VIDEO_ORIENTATION, kinds: ['video'], forward: true },
  { id: 14, uri: EXT_TOFFSET, kinds: ['video'], forward: true },
];

/** URIs whose elements are forwarded from a publisher to its subscribers. */
export const FORWARDED_EXTENSIONS: ReadonlySet<string> = new Set(SUBSCRIBER_EXTENSIONS.filter((e) => e.forward).map((e) => e.uri));

/** What our offer to a subscriber declares on an m-line of `kind`. */
export function subscriberExtensions(kind: Kind): HeaderExtension[] {
  return SUBSCRIBER_EXTENSIONS.filter((e) => e.kinds.includes(kind)).map(({ id, uri }) => ({ id, uri }));
}

/**
 * What we answer a player's m-line with: the extensions of its offer that we declare
 * ourselves, at the player's ids.
 */
export function acceptedExtensions(kind: Kind, offered: readonly HeaderExtension[]): HeaderExtension[] {
  const ours = new Set(subscriberExtensions(kind).map((e) => e.uri));
  return offered.filter((e) => ours.has(e.uri));
}

/** A publisher m-line's extensions that are forwarded, as a track carries them (URI → the publisher's id). */
export function forwardedExtensions(extensions: readonly HeaderExtension[]): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  let n = 0;
  for (const e of extensions) {
    if (!FORWARDED_EXTENSIONS.has(e.uri)) continue;
    out[e.uri] = e.id;
    n++;
  }
  return n > 0 ? out : undefined;
}

/** The extensions of an m-line as sdp-transform reads them; a direction suffix (`2/sendonly`) is dropped. */
function extensionsOf(m: MediaSection): HeaderExtension[] {
  const out: HeaderExtension[] = [];
  for (const e of m.ext ?? []) {
    const id = Number.parseInt(String(e.value), 10);
    if (Number.isInteger(id) && id >= 1 && id <= 255 && typeof e.uri === 'string') out.push({ id, uri: e.uri });
  }
  return out;
}

/** The header extensions of each m-line of an SDP (a subscriber's answer), by mid; empty when it does not parse. */
export function extensionsByMid(sdp: string): Map<string, HeaderExtension[]> {
  const out = new Map<string, HeaderExtension[]>();
  try {
    for (const m of sdpTransform.parse(sdp).media ?? []) if (m.mid !== undefined) out.set(String(m.mid), extensionsOf(m));
  } catch {
    // nothing known: the offered ids stay
  }
  return out;
}

type MediaSection = sdpTransform.SessionDescription['media'][number];

/**
 * Each m-line's stream id, by mid, read from the raw text: `a=msid:<stream> <track>`
 * (unified plan), else the msid attribute of its first SSRC. sdp-transform's grammar
 * stops an msid at the first character outside `[A-Za-z0-9_-]`, and ours carry a `+`.
 */
function streamsByMid(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const section of raw.split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const stream = /^a=msid:(\S+)/m.exec(section)?.[1] ?? /^a=ssrc:\d+ msid:(\S+)/m.exec(section)?.[1];
    if (mid !== undefined && stream !== undefined && stream !== '-') out.set(mid, stream);
  }
  return out;
}

function fmtpOf(m: MediaSection, pt: number): string | undefined {
  return m.fmtp?.find((f) => f.payload === pt)?.config;
}

/** packetization-mode of an H264 fmtp line; absent means 0 (RFC 6184). */
function h264Mode(fmtp: string | undefined): number {
  const m = /(?:^|;)\s*packetization-mode=(\d)/.exec(fmtp ?? '');
  return m ? Number(m[1]) : 0;
}

/** The usable codecs of an m-line, in the client's order. */
function usableCodecs(m: MediaSection, kind: Kind): OfferedCodec[] {
  const out: OfferedCodec[] = [];
  for (const r of m.rtp) {
    const name = r.codec.toLowerCase();
    const fmtp = fmtpOf(m, r.payload);
    if (kind === 'audio') {
      if (name === 'opus' && r.rate === 48000) out.push({ name: 'opus', payloadType: r.payload, ...(fmtp ? { fmtp } : {}) });
    } else if (name === 'vp8' && r.rate === 90000) {
      out.push({ name: 'VP8', payloadType: r.payload });
    } else if (name === 'h264' && r.rate === 90000 && h264Mode(fmtp) === 1) {
      out.push({ name: 'H264', payloadType: r.payload, ...(fmtp ? { fmtp } : {}) });
    }
  }
  return out;
}

/** Payload type of the `rtx/90000` codec whose `apt` is `pt`, if the m-line offers one. */
function rtxOf(m: MediaSection, pt: number): number | undefined {
  for (const r of m.rtp) {
    if (r.codec.toLowerCase() !== 'rtx' || r.rate !== 90000) continue;
    if (new RegExp(`(?:^|;)\\s*apt=${pt}(?:;|$)`).test(fmtpOf(m, r.payload) ?? '')) return r.payload;
  }
  return undefined;
}

/** The repair SSRC of `ssrc` in the kept FID groups. */
function repairOf(groups: readonly { semantics: string; ssrcs: string }[], ssrc: number): number | undefined {
  for (const g of groups) {
    if (g.semantics !== 'FID') continue;
    const [media, repair] = g.ssrcs.split(' ').map(Number);
    if (media === ssrc && repair) return repair;
  }
  return undefined;
}

/** A sending m-line's codec: VP8 first, then H264 — preferring Constrained Baseline (42e0xx), which every receiver decodes. */
function chooseSendCodec(codecs: OfferedCodec[]): OfferedCodec | undefined {
  const vp8 = codecs.find((c) => c.name === 'VP8');
  if (vp8) return vp8;
  const h264 = codecs.filter((c) => c.name === 'H264');
  return h264.find((c) => /profile-level-id=42e0/i.test(c.fmtp ?? '')) ?? h264[0] ?? codecs.find((c) => c.name === 'opus');
}

/**
 * Parses and checks a client offer; sending m-lines are cut to the codec we forward.
 * For a subscriber (`receiver`), a sendrecv m-line is a receiving one (WHEP allows it).
 */
export function prepareOffer(raw: string, receiver = false): PreparedOffer {
  if (!/^v=0\r?\n/.test(raw)) throw new SdpError('body is not an SDP offer (must start with v=0)');
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(raw);
  } catch {
    throw new SdpError('SDP could not be parsed');
  }
  const media = session.media ?? [];
  if (media.length === 0) throw new SdpError('SDP has no m= line');
  // Each m-line costs a track in the engine and lines in our answer: a bounded number.
  if (media.length > MAX_MLINES) throw new SdpError(`SDP has ${media.length} m= lines; at most ${MAX_MLINES} are accepted`);
  if (!session.fingerprint && !media.every((m) => m.fingerprint)) throw new SdpError('SDP has no a=fingerprint');
  const out: OfferedMedia[] = [];
  const mids = new Set<string>();
  const streams = streamsByMid(raw);
  let hasDataChannel = false;
  for (const m of media) {
    if (!(m.iceUfrag ?? session.iceUfrag) || !(m.icePwd ?? session.icePwd)) {
      throw new SdpError('SDP has no a=ice-ufrag / a=ice-pwd');
    }
    if (m.mid === undefined) throw new SdpError('every m= line needs a=mid');
    const mid = String(m.mid);
    if (mid.length > MAX_MID_LENGTH) throw new SdpError(`a=mid is ${mid.length} characters long; at most ${MAX_MID_LENGTH}`);
    if (mids.has(mid)) throw new SdpError(`a=mid:${mid.slice(0, 32)} appears twice`);
    mids.add(mid);
    for (const r of m.rtp ?? []) {
      const pt = Number(r.payload);
      // 64–95 would be read as RTCP on the shared port (RFC 5761); over 127 is no payload type at all
      if (!Number.isInteger(pt) || pt < 0 || pt > 127 || (pt >= 64 && pt <= 95))
        throw new SdpError(`payload type ${String(r.payload).slice(0, 8)} of ${r.codec} is outside 0–63 and 96–127`);
    }
    if (m.type === 'application') {
      if (!String(m.protocol).includes('SCTP')) throw new SdpError('application m= line is not an SCTP data channel');
      hasDataChannel = true;
      continue;
    }
    if (m.type !== 'audio' && m.type !== 'video') throw new SdpError(`unsupported m= line type ${m.type}`);
    // Port 0 is a rejected/stopped m-line (left as it is), unless it is bundle-only: GStreamer's
    // webrtcbin offers every m-line after the first that way under max-bundle.
    if (m.port === 0 && !(m as { bundleOnly?: string }).bundleOnly) continue;
    const kind: Kind = m.type;
    const direction = (m.direction ?? 'sendrecv') as OfferedMedia['direction'];
    const codecs = usableCodecs(m, kind);
    if (direction === 'recvonly' || direction === 'inactive' || (receiver && direction === 'sendrecv')) {
      // A player's m-line: nothing is cut; it stays unused when no codec fits.
      const first = codecs[0];
      out.push({
        mid: String(m.mid),
        kind,
        direction,
        payloadType: first?.payloadType ?? -1,
        codec: first?.name ?? CODECS[kind].name,
        codecs,
        extensions: extensionsOf(m),
      });
      continue;
    }
    const chosen = chooseSendCodec(codecs);
    if (!chosen) {
      throw new SdpError(
        `no supported ${kind} codec offered (need ${kind === 'audio' ? 'opus' : 'VP8 or H264 with packetization-mode=1'})`,
      );
    }
    const pt = chosen.payloadType;
    // RTX of the chosen codec stays (we NACK, the publisher retransmits on it, we unwrap it);
    // its SSRC stays too, in its FID group, so the engine hands us its packets on this m-line.
    const rtx = kind === 'video' ? rtxOf(m, pt) : undefined;
    const kept = (payload: number) => payload === pt || payload === rtx;
    m.rtp = m.rtp.filter((r) => kept(r.payload));
    m.fmtp = (m.fmtp ?? []).filter((f) => kept(f.payload));
    m.rtcpFb = (m.rtcpFb ?? []).filter((f) => Number(f.payload) === pt && !DROPPED_FEEDBACK.has(f.type));
    m.payloads = rtx === undefined ? String(pt) : `${pt} ${rtx}`;
    m.ext = (m.ext ?? []).filter((e) => !e.uri.includes('transport-wide-cc'));
    // SSRC simulcast (VP8 only): the SIM group and each layer's RTX pair stay, so the engine
    // maps every layer's packets to this m-line; the layers beyond MAX_LAYERS go.
    const sim = chosen.name === 'VP8' ? (m.ssrcGroups ?? []).find((g) => g.semantics === 'SIM') : undefined;
    const simSsrcs = sim
      ? sim.ssrcs
          .split(' ')
          .map(Number)
          .filter((n) => Number.isInteger(n) && n > 0)
          .slice(0, MAX_LAYERS)
      : [];
    const simulcast = simSsrcs.length >= 2 ? simSsrcs : undefined;
    if (sim && simulcast) sim.ssrcs = simulcast.join(' ');
    // Other groups (FEC) and their SSRCs go with their codecs; keep primaries and the RTX pairs.
    const groups = (m.ssrcGroups ?? []).filter(
      (g) =>
        (g === sim && simulcast !== undefined) ||
        (rtx !== undefined && g.semantics === 'FID' && (!simulcast || simulcast.includes(Number(g.ssrcs.split(' ')[0])))),
    );
    const secondary = new Set<number>();
    for (const g of m.ssrcGroups ?? []) {
      if (groups.includes(g)) continue;
      const ids = g.ssrcs.split(' ').map(Number);
      for (const id of ids.slice(1)) secondary.add(id);
    }
    if (m.ssrcs) m.ssrcs = m.ssrcs.filter((s) => !secondary.has(Number(s.id)));
    if (groups.length > 0) m.ssrcGroups = groups;
    else delete m.ssrcGroups;
    out.push({
      mid: String(m.mid),
      kind,
      direction,
      payloadType: pt,
      codec: chosen.name,
      codecs,
      ...(rtx !== undefined ? { rtxPayloadType: rtx } : {}),
      extensions: extensionsOf(m),
      ...(simulcast ? { simulcast: { ssrcs: simulcast, rtx: simulcast.map((s) => repairOf(groups, s)) } } : {}),
      ...(streams.has(String(m.mid)) ? { stream: streams.get(String(m.mid))! } : {}),
    });
  }
  return { sdp: sdpTransform.write(session), hasDataChannel, media: out, mids };
}

/**
 * Our answer with every m-line the offer made `inactive` answered `inactive` too. The engine
 * answers from its track's own direction (recvonly) when a client pauses a sending m-line
 * (the SDK's screen share ending), which the browser refuses as incompatible (RFC 3264 §6.1).
 */
export function answerInactive(answer: string, offered: readonly OfferedMedia[]): string {
  const inactive = new Set(offered.filter((m) => m.direction === 'inactive').map((m) => m.mid));
  if (inactive.size === 0) return answer;
  const eol = answer.includes('\r\n') ? '\r\n' : '\n';
  return answer
    .split(/\r?\nm=/)
    .map((section, i) => {
      if (i === 0) return section;
      const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
      return mid !== undefined && inactive.has(mid) ? section.replace(/^a=(sendrecv|sendonly|recvonly)(?=\r?$)/m, 'a=inactive') : section;
    })
    .join(`${eol}m=`);
}

/**
 * The codec of `codecs` a receiver gets for a track sending `name`. For H264 the receiver
 * must take packetization-mode=1 (checked when parsed); any profile is accepted, since
 * decoders handle the Constrained Baseline that WHIP encoders send under all of them.
 */
export function receivable(codecs: readonly OfferedCodec[], name: CodecName): OfferedCodec | undefined {
  if (name !== 'H264') return codecs.find((c) => c.name === name);
  const h264 = codecs.filter((c) => c.name === 'H264');
  return (
    h264.find((c) => /profile-level-id=42e01f/i.test(c.fmtp ?? '')) ??
    h264.find((c) => /profile-level-id=42e0/i.test(c.fmtp ?? '')) ??
    h264[0]
  );
}
