/**
 * Prometheus metrics (prom-client). Nothing here runs per packet: gauges and counters
 * of traffic are read from the SFU's own counters when Prometheus scrapes, and labels
 * are rooms and kinds, never packets. Rooms that empty disappear from the peer gauge.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Traffic } from '../media/peer.js';
import type { Role, StateStore } from '../state/store.js';

type TrackCounts = { published: Record<'audio' | 'video', number>; forwarded: Record<'audio' | 'video', number> };

export interface MetricsSource {
  /** peers on this instance per room and role */
  peersByRoom(): Map<string, Record<Role, number>>;
  /** live tracks on this instance: received from publishers, and forwarded to subscribers */
  tracks(): TrackCounts;
  /** the same per room with a peer on this instance */
  tracksByRoom(): Map<string, TrackCounts>;
  /** monotonic totals since start */
  traffic(): Traffic;
  /** requests refused before any state was touched, by reason (monotonic) */
  refusals(): Record<string, number>;
  /** bus counters (NATS: publish errors, drops…) */
  busCounters(): Record<string, number>;
}

/** Event-loop lag sampling period: stalls shorter than this can be missed, longer ones are not. */
const EVENT_LOOP_SAMPLE_MS = 500;

export class Metrics {
  readonly registry = new Registry();
  readonly renegotiations: Counter;
  readonly renegotiationSeconds: Histogram;
  readonly layerSwitchSeconds: Histogram;
  readonly storeSeconds: Histogram<'op' | 'result'>;
  /** webhook attempts by event and outcome: delivered, retry, failed (given up), dropped (queue full) */
  readonly webhooks: Counter<'event' | 'outcome'>;

  constructor(pod: string, source: () => MetricsSource | undefined) {
    const registers = [this.registry];
    // process, heap, GC, event-loop lag. The lag monitor samples with a timer: prom-client's
    // default of every 10 ms woke the idle process 100 times a second (bench: idle CPU).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    new Gauge({
      name: 'sfu_pod_peer_count',
      help: 'Peers on this instance per room and type (pub|sub)',
      labelNames: ['pod', 'room', 'type'],
      registers,
      collect() {
        this.reset(); // a room that emptied is gone from the output
        const s = source();
        if (!s) return;
        for (const [room, counts] of s.peersByRoom()) {
          for (const type of ['pub', 'sub'] as const) if (counts[type] > 0) this.set({ pod, room, type }, counts[type]);
        }
      },
    });
    new Gauge({
      name: 'sfu_tracks',
      help: 'Live tracks on this instance by kind and direction (published = received from publishers)',
      labelNames: ['kind', 'direction'],
      registers,
      collect() {
        const s = source();
        if (!s) return;
        const t = s.tracks();
        for (const kind of ['audio', 'video'] as const) {
          this.set({ kind, direction: 'published' }, t.published[kind]);
          this.set({ kind, direction: 'forwarded' }, t.forwarded[kind]);
        }
      },
    });
    new Gauge({
      name: 'sfu_room_tracks',
      help: 'Live tracks on this instance per room, kind and direction (published = received from publishers, forwarded = sent to subscribers)',
      labelNames: ['pod', 'room', 'kind', 'direction'],
      registers,
      collect() {
        this.reset(); // a room that emptied is gone from the output
        const s = source();
        if (!s) return;
        for (const [room, t] of s.tracksByRoom()) {
          for (const kind of ['audio', 'video'] as const) {
            this.set({ pod, room, kind, direction: 'published' }, t.published[kind]);
            this.set({ pod, room, kind, direction: 'forwarded' }, t.forwarded[kind]);
          }
        }
      },
    });
    const traffic = (name: string, help: string, pick: (t: ReturnType<MetricsSource['traffic']>) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const s = source();
          if (!s) return;
          // the SFU's totals are monotonic (closed peers included): mirror them
          this.reset();
          this.inc(pick(s.traffic()));
        },
      });
    traffic('sfu_received_packets_total', 'RTP packets received from publishers', (t) => t.receivedPackets);
    traffic('sfu_forwarded_packets_total', 'RTP packets forwarded to subscribers', (t) => t.forwardedPackets);
    traffic('sfu_forwarded_bytes_total', 'RTP bytes forwarded to subscribers', (t) => t.forwardedBytes);
    traffic('sfu_nack_received_total', 'sequence numbers subscribers NACKed', (t) => t.nacksReceived);
    traffic('sfu_retransmitted_packets_total', 'packets resent to subscribers for their NACKs', (t) => t.retransmittedPackets);
    traffic('sfu_nack_sent_total', 'sequence numbers NACKed to publishers (each try counts)', (t) => t.nacksSent);
    traffic('sfu_recovered_packets_total', "packets lost on a publisher's uplink that arrived after a NACK", (t) => t.recoveredPackets);
    traffic('sfu_unrecovered_packets_total', "packets lost on a publisher's uplink and given up", (t) => t.unrecoveredPackets);
    traffic('sfu_keyframe_requests_total', 'keyframe requests (PLI) sent to publishers', (t) => t.keyframeRequests);
    traffic('sfu_sender_reports_total', 'RTCP sender reports sent to subscribers', (t) => t.senderReports);
    new Counter({
      name: 'sfu_refused_total',
      help: 'requests refused before any state was touched: pending (too many sessions connecting), rateLimited, requestTimeout',
      labelNames: ['reason'],
      registers,
      collect() {
        const s = source();
        if (!s) return;
        this.reset();
        for (const [reason, n] of Object.entries(s.refusals())) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'sfu_bus_events',
      help: 'Bus counters since start (NATS: published, received, publishErrors, droppedDisconnected, sinkErrors, slowConsumers, serverErrors, disconnects, reconnects)',
      labelNames: ['event'],
      registers,
      collect() {
        const s = source();
        if (!s) return;
        for (const [event, n] of Object.entries(s.busCounters())) this.set({ event }, n);
      },
    });
    this.renegotiations = new Counter({
      name: 'sfu_renegotiations_total',
      help: 'Server offers answered by subscribers',
      registers,
    });
    this.renegotiationSeconds = new Histogram({
      name: 'sfu_renegotiation_seconds',
      help: 'Server SDP_OFFER sent → SDP_ANSWER applied',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers,
    });
    this.layerSwitchSeconds = new Histogram({
      name: 'sfu_layer_switch_seconds',
      help: "Simulcast layer switches: a subscriber's new layer chosen → that layer's keyframe forwarded",
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.webhooks = new Counter({
      name: 'sfu_webhook_requests_total',
      help: 'Webhook events by event and outcome (delivered, retry, failed = given up, dropped = queue full)',
      labelNames: ['event', 'outcome'],
      registers,
    });
    this.storeSeconds = new Histogram({
      name: 'sfu_state_store_seconds',
      help: 'State store call latency by operation and result',
      labelNames: ['op', 'result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
      registers,
    });
  }

  /** The store, with every call timed into `sfu_state_store_seconds`. */
  instrument(store: StateStore): StateStore {
    const h = this.storeSeconds;
    return new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || prop === 'health' || prop === 'localEntries' || prop === 'close') {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return (...args: unknown[]) => {
          const end = h.startTimer({ op: String(prop) });
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).then(
            (v) => {
              end({ result: 'ok' });
              return v;
            },
            (err) => {
              end({ result: 'error' });
              throw err;
            },
          );
        };
      },
    });
  }
}
