/** A server under test: ours (docs/protocol.md) or Janus' videoroom. One instance per worker thread. */
import type nodeDataChannel from 'node-datachannel';

export type Kind = 'audio' | 'video';

/** A send track the load tool writes whole RTP packets to (`track.sendMessageBinary`). */
export interface MediaSender {
  track: nodeDataChannel.Track;
  ssrc: number;
  payloadType: number;
}

export interface PublisherConnection {
  readonly id: string;
  video?: MediaSender;
  /** simulcast: one sender per layer (smallest first, all on the video track); `video` is the first */
  videoLayers?: MediaSender[];
  audio?: MediaSender;
  /** Called when the server asks for a keyframe (PLI or FIR received on the video track), with the SSRC it names. */
  onKeyframeRequest(cb: (ssrc: number) => void): void;
  close(): Promise<void>;
}

export interface SubscriberConnection {
  readonly id: string;
  /** Every RTP packet (not RTCP) received, with the kind of the track it arrived on. */
  onRtp(cb: (kind: Kind, packet: Buffer) => void): void;
  /** Sends RTCP (receiver reports) on the received track of `kind`; false when there is none (yet). */
  sendRtcp?(kind: Kind, packet: Buffer): boolean;
  close(): Promise<void>;
}

export interface PublishMedia {
  audio: boolean;
  video: boolean;
  /** VP8 simulcast layers by SSRC (`a=ssrc-group:SIM`); 1 or absent: one stream */
  layers?: number;
}

export interface Target {
  readonly name: string; // 'weever' | 'janus'
  /** Joins `room` as publisher `id` sending the given kinds (VP8 payload type and Opus chosen by the target's negotiation). */
  publish(room: string, id: string, media: PublishMedia): Promise<PublisherConnection>;
  /**
   * Joins `room` as subscriber `id` and receives the publishers present now (Janus:
   * the feeds listed at join time; weever: also later ones through renegotiation).
   */
  subscribe(room: string, id: string, choose?: Choose): Promise<SubscriberConnection>;
  close(): Promise<void>;
}

/**
 * Manual subscription (weever only): for each publisher announced, whether to receive it
 * and at which quality (`high`: what the path carries; `low`: its smallest simulcast layer).
 */
export type Choose = (pubFullId: string) => 'high' | 'low' | undefined;
