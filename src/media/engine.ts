/**
 * The only module that talks to the WebRTC engine (node-datachannel, i.e.
 * libdatachannel). Everything else sees our own small vocabulary.
 *
 * Sharp edges handled here:
 * - an exception thrown inside a native callback aborts the process, so every
 *   callback we hand to the engine goes through `guard`;
 * - tracks added later to a data-channel-only connection only open with
 *   `forceMediaTransport`;
 * - we negotiate by hand (`disableAutoNegotiation`) so a subscriber's offers are ours to time;
 * - a Track or DataChannel wrapper must not be garbage collected while the binding still lists
 *   it (see `holdHandles`): `cleanup()`, which the engine's sleep calls, walks that list.
 */
import nodeDataChannel from 'node-datachannel';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/log.js';
import { forgetHeldHandles, holdHandles } from './engine-handles.js';
import { EngineProbe } from './engine-probe.js';

export type PeerConnection = nodeDataChannel.PeerConnection;
export type DataChannel = nodeDataChannel.DataChannel;
export type Track = nodeDataChannel.Track;
export type MediaDescription = nodeDataChannel.Video | nodeDataChannel.Audio;

/** Wraps a callback handed to native code: it must never throw; what it throws goes to `log`. */
export function guard<A extends unknown[]>(log: Logger, where: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      log.error({ err, where }, 'error in engine callback');
    }
  };
}

export class MediaEngine {
  private readonly rtcConfig: nodeDataChannel.RtcConfig;
  private muxListener: nodeDataChannel.IceUdpMuxListener | undefined;
  private probe: EngineProbe | undefined;
  private onWedged: ((silentMs: number) => void) | undefined;
  /** engine threads running: from the start, and from each peer on, until the instance has none (sleep) */
  private awake = true;
  private slept = false;
  /** a probe of this process carried packets: loopback through the engine works here */
  private probeWorked = false;
  private readonly canSleep: boolean;
  /** engine log lines dropped by the rate limit */
  logLinesDropped = 0;

  constructor(
    config: Config,
    private readonly log: Logger,
  ) {
    const iceServers: (string | nodeDataChannel.IceServer)[] = [];
    if (config.stun) iceServers.push(config.stun);
    // The server's own relay allocations: only with long-term credentials, which never
    // expire. With --turn-secret the relay is the clients' (credentials are minted per
    // response, docs/protocol.md "ICE servers"); the server is reached directly.
    const turn = config.turn;
    if (turn?.auth.kind === 'password') {
      for (const url of turn.urls) iceServers.push(turnServer(url, turn.auth.username, turn.auth.credential));
    }
    this.rtcConfig = {
      iceServers,
      forceMediaTransport: true,
      disableAutoNegotiation: true,
      ...(config.rtcBindAddress ? { bindAddress: config.rtcBindAddress } : {}),
      ...(config.rtcPortRange ? { portRangeBegin: config.rtcPortRange.begin, portRangeEnd: config.rtcPortRange.end } : {}),
      ...(config.rtcUdpPort ? { enableIceUdpMux: true, portRangeBegin: config.rtcUdpPort, portRangeEnd: config.rtcUdpPort } : {}),
    };
    if (config.rtcUdpPort) {
      // Keeps the shared socket open even while no peer exists.
      this.muxListener = new nodeDataChannel.IceUdpMuxListener(config.rtcUdpPort, config.rtcBindAddress);
    }
    this.initLogger();
    // With the shared UDP port the listener must outlive idle periods: the engine stays up.
    this.canSleep = !config.rtcUdpPort;
  }

  /**
   * Engine logs go through our logger, not straight to stdout, at most ENGINE_LOG_PER_SECOND
   * lines a second: a wedged engine repeats one warning endlessly. Again after each sleep
   * (the engine's cleanup drops the callback).
   */
  private initLogger(): void {
    const log = this.log;
    let second = 0;
    let lines = 0;
    nodeDataChannel.initLogger(engineLogLevel(log.level), (level, message) => {
      const now = Math.floor(performance.now() / 1000);
      if (now !== second) {
        if (lines > ENGINE_LOG_PER_SECOND) log.warn({ engine: true, dropped: lines - ENGINE_LOG_PER_SECOND }, 'engine log lines dropped');
        second = now;
        lines = 0;
      }
      if (++lines > ENGINE_LOG_PER_SECOND) {
        this.logLinesDropped++;
        return;
      }
      log[engineLineLevel(level, message)]({ engine: true }, message);
    });
  }

  /**
   * Watching that packets still pass through the engine (see engine-probe.ts) while it is
   * awake; `onWedged` is called once when they stopped.
   */
  watch(onWedged: (silentMs: number) => void): void {
    this.onWedged = onWedged;
    if (!this.awake) return;
    // Once a probe worked here, one that cannot connect means a wedged engine (a wedge in its first second).
    const connectWithinMs = this.probeWorked ? PROBE_CONNECT_WITHIN_MS : undefined;
    this.probe ??= new EngineProbe({ rtcConfig: this.rtcConfig, log: this.log, onWedged, ...(connectWithinMs ? { connectWithinMs } : {}) });
  }

  /**
   * Before a peer's PeerConnection: the engine (its threads) and the probe run. A peer
   * never lands on an engine that slept through a wedge: sleeping stops every engine thread.
   */
  wake(): void {
    if (this.awake) return;
    this.awake = true;
    if (this.slept) this.initLogger();
    if (this.onWedged) this.watch(this.onWedged);
  }

  /**
   * No peer is left (issue 22, idle CPU): the probe stops and the engine's threads end
   * (nodeDataChannel.cleanup(); usrsctp's timer thread alone ticks 100 times a second).
   * With no PeerConnection nothing can wedge and no one is harmed by a wedge; the next
   * peer wakes a fresh engine. A wedged engine does not let its threads be joined: the
   * cleanup gives up after 10 s (or the supervisor's heartbeat kills us first) — wedged.
   */
  sleep(): void {
    if (!this.awake || !this.canSleep) return;
    if (this.probe?.worked()) this.probeWorked = true;
    this.probe?.close();
    this.probe = undefined;
    this.awake = false;
    this.slept = true;
    const startedAt = performance.now();
    try {
      nodeDataChannel.cleanup();
      forgetHeldHandles(); // the binding lists none of them any more
      this.log.debug({ ms: Math.round(performance.now() - startedAt) }, 'engine asleep (no peer)');
    } catch (err) {
      this.log.error({ err: String(err) }, 'engine threads would not stop');
      this.onWedged?.(performance.now() - startedAt);
    }
  }

  /** The probe's view and the log rate limit (debug). */
  status(): { awake: boolean; probeSilentMs: number | null; logLinesDropped: number } {
    const silent = this.probe?.silentMs();
    return { awake: this.awake, probeSilentMs: silent === undefined ? null : Math.round(silent), logLinesDropped: this.logLinesDropped };
  }

  /** False once the engine stopped passing packets, or our timers starve (liveness, heartbeat). */
  healthy(): boolean {
    return this.probe?.healthy() ?? true;
  }

  createPeerConnection(name: string): PeerConnection {
    this.wake();
    return holdHandles(new nodeDataChannel.PeerConnection(name, this.rtcConfig));
  }

  video(mid: string): nodeDataChannel.Video {
    return new nodeDataChannel.Video(mid, 'SendOnly');
  }

  audio(mid: string): nodeDataChannel.Audio {
    return new nodeDataChannel.Audio(mid, 'SendOnly');
  }

  close(): void {
    this.probe?.close();
    this.probe = undefined;
    this.muxListener?.stop();
    this.muxListener = undefined;
  }
}

function turnServer(url: string, username?: string, password?: string): nodeDataChannel.IceServer {
  const m = /^(turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/.exec(url);
  if (!m) throw new Error(`--turn: cannot parse ${url}`);
  const tls = m[1] === 'turns';
  const relayType = tls ? 'TurnTls' : m[4] === 'tcp' ? 'TurnTcp' : 'TurnUdp';
  return {
    hostname: m[2]!.replace(/^\[(.*)\]$/, '$1'),
    port: m[3] ? Number(m[3]) : tls ? 5349 : 3478,
    relayType,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
}

/** A fresh probe pair connects over loopback in well under a second; 5 s without a packet is a wedge. */
const PROBE_CONNECT_WITHIN_MS = 5000;

/** Engine log lines passed on per second; the rest are counted and dropped. */
const ENGINE_LOG_PER_SECOND = 200;

/**
 * Engine errors that only say a peer went away under a send: usrsctp refuses a message on a
 * stream the remote end is closing (ENOENT), e.g. a control message on its way to a
 * subscriber whose data channel closes that millisecond. Not a fault of this process: a warning.
 */
const PEER_GONE_ENGINE_ERROR = /SCTP sending failed, errno=2\b/;

/** Our log level for one engine log line. */
export function engineLineLevel(level: string, message: string): 'error' | 'warn' | 'debug' {
  if (level === 'Error' || level === 'Fatal') return PEER_GONE_ENGINE_ERROR.test(message) ? 'warn' : 'error';
  if (level === 'Warning') return 'warn';
  return 'debug';
}

/**
 * The engine's level for ours. Its warnings only from `debug` on: a line the engine logs is
 * queued to the JavaScript thread whatever we do with it, and a wedged engine logs one
 * warning endlessly (+175 MB/s) — errors only, by default, cannot flood.
 */
function engineLogLevel(level: string): nodeDataChannel.LogLevel {
  switch (level) {
    case 'trace':
      return 'Verbose';
    case 'debug':
      return 'Debug';
    default:
      return 'Error';
  }
}

/** Replaces the address of host candidates with the announced public IP (1:1 NAT). */
export function announcePublicIp(sdp: string, publicIp: string | undefined): string {
  if (!publicIp) return sdp;
  const family = publicIp.includes(':') ? 'IP6' : 'IP4';
  const seen = new Set<string>();
  return sdp
    .split('\r\n')
    .flatMap((line) => {
      // The connection address too: it would otherwise show the private one.
      if (line.startsWith('c=IN ')) return [`c=IN ${family} ${publicIp}`];
      const m = /^(a=candidate:\S+ (\d+) \S+ \d+ )(\S+)( (\d+) typ host.*)$/.exec(line);
      if (!m) return [line];
      // Several local addresses on one port become one public candidate, once.
      const key = `${m[2]} ${m[5]}`;
      if (seen.has(key)) return [];
      seen.add(key);
      return [`${m[1]}${publicIp}${m[4]}`];
    })
    .join('\r\n');
}
