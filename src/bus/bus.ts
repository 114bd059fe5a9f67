/**
 * The message bus between publishers and subscribers (docs/protocol.md, "Media routing"): per-track RTP,
 * room events and keyframe requests, addressed by subject. The in-process bus is the
 * default; a NATS bus implements the same interface for several instances.
 */
import type { DataEnvelope, RoomEvent } from 'weever-protocol';
import type { RtpHeader } from 'weever-rtp';

export type { DataEnvelope, RoomEvent, TrackInfo } from 'weever-protocol';

/**
 * Receives RTP packets of one track. Implemented by forwarders: no closure per packet.
 * Sinks may rewrite `packet` in place; `header` holds its original fields.
 */
export interface PacketSink {
  onPacket(packet: Buffer, header: RtpHeader): void;
}

/** Obtained once per published track; `send` is the per-packet call. */
export interface TrackSender {
  send(packet: Buffer, header: RtpHeader): void;
  close(): void;
}

export type Unsubscribe = () => void;

export interface BusStats {
  trackChannels: number;
  trackSinks: number;
  roomSubscriptions: number;
  dataSubscriptions: number;
  keyframeSubscriptions: number;
  /** dynacast report handlers (a simulcast track published here each) */
  layerWantsSubscriptions: number;
  /** NATS only: track subjects this instance is subscribed to */
  remoteTrackSubscriptions?: number;
  /** NATS only: message and error counters */
  nats?: Record<string, number>;
}

export interface Bus {
  trackSender(subject: string): TrackSender;
  subscribeTrack(subject: string, sink: PacketSink): Unsubscribe;
  publishRoomEvent(room: string, event: RoomEvent): void;
  subscribeRoom(room: string, handler: (event: RoomEvent) => void): Unsubscribe;
  /** A data message to the room's participants on every instance (this one included, asynchronously). */
  publishData(room: string, message: DataEnvelope): void;
  subscribeData(room: string, handler: (message: DataEnvelope) => void): Unsubscribe;
  /** Asks every instance (this one included) to end the sessions of `fullId` in `room` (admin kick). */
  publishKick(room: string, fullId: string): void;
  /** Kicks from any instance; asynchronous, as a remote one would arrive. */
  onKick(handler: (room: string, fullId: string) => void): Unsubscribe;
  requestKeyframe(trackSubject: string): void;
  /**
   * Dynacast: the highest simulcast layer of a track that subscribers on instance `from`
   * want (−1: none), to the track's publisher instance (this one: in process).
   */
  publishLayerWants(trackSubject: string, from: string, max: number): void;
  onLayerWants(trackSubject: string, handler: (from: string, max: number) => void): Unsubscribe;
  onKeyframeRequest(trackSubject: string, handler: () => void): Unsubscribe;
  stats(): BusStats;
  /** null when usable, else why not (readiness) */
  health(): string | null;
  close(): Promise<void>;
}

/**
 * Calls each room-event handler in its own microtask: asynchronously, as a remote event
 * would arrive, so a publisher closing never re-enters a subscriber; a throwing handler
 * goes to `onError`, never to the caller or the event loop.
 */
export function deliverRoomEvent(handlers: Iterable<(event: RoomEvent) => void>, event: RoomEvent, onError: (err: unknown) => void): void {
  for (const h of [...handlers]) {
    queueMicrotask(() => {
      try {
        h(event);
      } catch (err) {
        onError(err);
      }
    });
  }
}
