/**
 * A WHEP player (an offer with recvonly m-lines and no data channel): no renegotiation.
 * The player's m-lines become our DownTracks, sendonly with a fixed SSRC, filled before
 * the answer with the room's tracks in publisher arrival order. Later, a publisher that
 * leaves frees its m-lines (the player's track goes silent) and one that joins fills free
 * m-lines of its kind — the answer's msid then no longer names it, which is why a dynamic
 * room is better watched in control-channel mode. An m-line's next track continues the
 * RTP numbering of the previous one, so the player sees one continuous stream per m-line.
 */
import { type CodecName, control, idOf, type Kind, type TrackInfo } from 'weever-protocol';
import { randomSsrc } from 'weever-rtp';
import type { DownTrack } from './down-track.js';
import { PublisherNotLiveError } from './errors.js';
import type { PeerContext } from './peer.js';
import { acceptedExtensions, CODECS, type HeaderExtension, type OfferedCodec, type OfferedMedia, receivable } from './sdp.js';
import { Subscriber } from './subscriber.js';

/** What a WHEP player asked for. */
export interface WhepRequest {
  /** the player's audio/video m-lines, in offer order */
  media: OfferedMedia[];
  /** per-publisher endpoint: the publisher id (or full id) this session plays */
  target?: string;
}

/** Seconds a WHEP player is told to wait before asking again for a publisher that is not live. */
const WHEP_RETRY_AFTER_SECONDS = 5;

/** One m-line of a player as the planner sees it. */
export interface PlayerLine {
  kind: Kind;
  accepts: readonly OfferedCodec[];
  /** what it carries now, if anything */
  pub?: string | undefined;
  trackId?: string | undefined;
  /** cannot carry anything (inactive, or no codec we forward) */
  unusable?: boolean;
}

export type Fill = { pub: string; info: TrackInfo } | undefined;

/**
 * Which track goes on which free line: publishers in arrival order, their tracks in order,
 * each on the first free line of its kind that can receive its codec. `onePublisher`
 * (the per-publisher endpoint) takes at most one track per kind, of one publisher, and
 * none while another publisher is on a line.
 */
export function planWhep(desired: ReadonlyMap<string, readonly TrackInfo[]>, lines: readonly PlayerLine[], onePublisher: boolean): Fill[] {
  const out: Fill[] = lines.map(() => undefined);
  for (const [pub, tracks] of desired) {
    if (onePublisher && lines.some((l) => l.pub !== undefined && l.pub !== pub)) continue;
    const kindsDone = new Set<Kind>();
    for (const info of tracks) {
      if (onePublisher && kindsDone.has(info.kind)) continue;
      if (lines.some((l) => l.pub === pub && l.trackId === info.trackId)) continue;
      const codec: CodecName = info.codec ?? CODECS[info.kind].name;
      const i = lines.findIndex(
        (l, n) => !l.unusable && l.pub === undefined && !out[n] && l.kind === info.kind && receivable(l.accepts, codec) !== undefined,
      );
      if (i < 0) continue; // no line can take it (kind full, or e.g. H264 to a VP8-only player)
      out[i] = { pub, info };
      kindsDone.add(info.kind);
    }
    if (onePublisher && kindsDone.size > 0) break;
  }
  return out;
}

interface PlayerSlot {
  media: OfferedMedia;
  /** undefined: answered inactive, carries nothing ever */
  down: DownTrack | undefined;
  ssrc: number;
  /** the header extensions answered on it: the player's ids */
  extensions: HeaderExtension[];
}

export class WhepSubscriber extends Subscriber {
  private readonly slots: PlayerSlot[] = [];

  constructor(
    ctx: PeerContext,
    room: string,
    fullId: string,
    private readonly whep: WhepRequest,
  ) {
    super(ctx, room, fullId);
  }

  /** On the per-publisher endpoint, every publisher but the target (by full id, or by id: any connection of that user). */
  protected override isExcluded(pubFullId: string): boolean {
    const target = this.whep.target;
    if (target === undefined) return super.isExcluded(pubFullId);
    return target.includes('+') ? pubFullId !== target : idOf(pubFullId) !== target;
  }

  override async answer(offerSdp: string): Promise<string> {
    await this.prepare();
    return super.answer(offerSdp);
  }

  /** Reads the room, then adds one sendonly m-line per player m-line, filled where a track fits. */
  private async prepare(): Promise<void> {
    const { media, target } = this.whep;
    await this.loadRoom();
    if (this.closed) return;
    if (target !== undefined && this.desired.size === 0)
      throw new PublisherNotLiveError(`publisher ${target} is not live in room ${this.room}`, WHEP_RETRY_AFTER_SECONDS);
    // The per-publisher endpoint names its one MediaStream after the publisher it plays.
    const streamId = target === undefined ? '-' : [...this.desired.keys()][0]!;
    const planned = planWhep(
      this.desired,
      media.map((m) => ({ kind: m.kind, accepts: m.codecs })),
      target !== undefined,
    );
    media.forEach((m, i) => {
      const fill = planned[i];
      if (m.codecs.length === 0 || m.direction === 'inactive') {
        // Nothing we could ever send on it: answered inactive.
        const d = this.describe(m.mid, m.kind, [CODECS[m.kind]]);
        d.setDirection('Inactive');
        this.pc.addTrack(d);
        this.slots.push({ media: m, down: undefined, ssrc: 0, extensions: [] });
        return;
      }
      const ssrc = randomSsrc();
      // Sendonly with every codec of the player's m-line we can forward, at its payload types,
      // and the header extensions of its offer that we declare, at its ids.
      const extensions = acceptedExtensions(m.kind, m.extensions);
      const d = this.describe(m.mid, m.kind, m.codecs, extensions);
      const msid = fill ? (target === undefined ? fill.pub : streamId) : streamId;
      d.addSSRC(ssrc, msid === '-' ? this.fullId : msid, msid, fill?.info.trackId ?? `${m.kind}${i}`);
      const slot: PlayerSlot = { media: m, down: this.newDownTrack(m.mid, m.kind, this.pc.addTrack(d)), ssrc, extensions };
      this.slots.push(slot);
      if (fill) this.assign(slot, fill.pub, fill.info);
    });
    this.log.info(
      { publishers: this.desired.size, filled: this.slots.filter((s) => s.down?.source).length, mlines: media.length },
      'WHEP subscriber ready',
    );
  }

  /** Puts a publisher track on a slot; forwarding starts once the track is open. */
  private assign(slot: PlayerSlot, pub: string, info: TrackInfo): void {
    const codec = receivable(slot.media.codecs, info.codec ?? CODECS[info.kind].name);
    if (!codec || !slot.down) return;
    this.bind(slot.down, pub, info, slot.ssrc, codec.payloadType, slot.extensions, true);
    slot.down.enable();
  }

  /** Brings the slots to `desired` without renegotiating. */
  protected override onRoomChanged(): void {
    for (const { down } of this.slots) {
      const on = down?.source;
      if (!on) continue;
      if (!this.desired.get(on.pub)?.some((t) => t.trackId === on.info.trackId)) this.unbind(down);
    }
    const lines: PlayerLine[] = this.slots.map((s) => ({
      kind: s.media.kind,
      accepts: s.media.codecs,
      pub: s.down?.source?.pub,
      trackId: s.down?.source?.info.trackId,
      unusable: s.down === undefined,
    }));
    planWhep(this.desired, lines, this.whep.target !== undefined).forEach((fill, i) => {
      if (fill) this.assign(this.slots[i]!, fill.pub, fill.info);
    });
  }

  protected override onControlOpen(): void {
    // A WHEP player has no control channel; one that opens anyway carries nothing for it.
  }

  protected override onCommand(): void {
    this.send(control.error('a WHEP session takes no commands'));
  }
}
