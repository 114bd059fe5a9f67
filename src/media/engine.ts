/**
 * The only module that talks to the WebRTC engine (node-datachannel, i.e.
 * libdatachannel). Everything else sees our own small vocabulary.
 *
 * Sharp edges handled here:
 * - an exception thrown inside a native callback aborts the process, so every
 *   callback we hand to the engine goes through `guard`;
 * - tracks added later to a data-channel-only connection only open with
 *   `forceMediaTransport`;
 * - we negotiate by hand (`disableAutoNegotiation`) so a subscriber's offers are ours to time.
 */
import nodeDataChannel from 'node-datachannel';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/log.js';

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

  constructor(config: Config, log: Logger) {
    const iceServers: (string | nodeDataChannel.IceServer)[] = [];
    if (config.stun) iceServers.push(config.stun);
    if (config.turn) iceServers.push(turnServer(config.turn.url, config.turn.username, config.turn.credential));
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
    // Engine logs go through our logger, not straight to stdout.
    nodeDataChannel.initLogger(engineLogLevel(log.level), (level, message) => {
      if (level === 'Error' || level === 'Fatal') log.error({ engine: true }, message);
      else if (level === 'Warning') log.warn({ engine: true }, message);
      else log.debug({ engine: true }, message);
    });
  }

  createPeerConnection(name: string): PeerConnection {
    return new nodeDataChannel.PeerConnection(name, this.rtcConfig);
  }

  video(mid: string): nodeDataChannel.Video {
    return new nodeDataChannel.Video(mid, 'SendOnly');
  }

  audio(mid: string): nodeDataChannel.Audio {
    return new nodeDataChannel.Audio(mid, 'SendOnly');
  }

  close(): void {
    this.muxListener?.stop();
    this.muxListener = undefined;
  }
}

function turnServer(url: string, username?: string, password?: string): nodeDataChannel.IceServer {
  const m = /^(turns?):([^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/.exec(url);
  if (!m) throw new Error(`--turn: cannot parse ${url}`);
  const tls = m[1] === 'turns';
  const relayType = tls ? 'TurnTls' : m[4] === 'tcp' ? 'TurnTcp' : 'TurnUdp';
  return {
    hostname: m[2]!,
    port: m[3] ? Number(m[3]) : tls ? 5349 : 3478,
    relayType,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
}

function engineLogLevel(level: string): nodeDataChannel.LogLevel {
  switch (level) {
    case 'trace':
      return 'Verbose';
    case 'debug':
      return 'Debug';
    case 'info':
    case 'warn':
      return 'Warning';
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
