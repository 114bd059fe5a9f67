/**
 * Loss on this machine's loopback for the loss tests (loss.test.ts) and the `lossy`
 * benchmark: nftables rules that drop a share of the media datagrams (UDP, longer than
 * 300 bytes, so RTCP and STUN pass) arriving from `lo`, in the INPUT hook. Not in OUTPUT:
 * there the drop makes the sender's sendmsg() fail (EPERM) and Chromium simply sends the
 * datagram again, so a Chromium sender sees no loss at all (measured: 3 % dropped in
 * OUTPUT on the publisher → SFU hop, 27 of 661 datagrams, gave 1 NACK in 20 s and no gap;
 * in INPUT, 30 of 671 gave 30 NACKs, 29 recovered). libjuice (the SFU) does not resend,
 * so OUTPUT drops hit only the SFU's own sends. Rules are scoped to the ports of the calls under test —
 * the SFU's `--rtc-port-range` (every hop of the SFU path has an SFU port on one side) and
 * the two ports of a direct Chromium→Chromium call (from each page's selected candidate
 * pair). Other tests on the machine are not touched. One table per instance
 * (`weever_loss_<pid>_<n>`), deleted by `delete()` and, whatever happens, on process exit.
 *
 * Also the measured call: one Chromium publisher page (fake camera 640×360) that publishes
 * to the SFU and, with the same camera, calls a second page directly; one Chromium
 * subscriber through the SFU. Both receivers are read from getStats (inbound-rtp video).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import type { Traffic } from '../../src/media/peer.js';
import { openPage, type ServerProcess, waitFor } from './harness.js';

const run = promisify(execFile);

const liveTables = new Set<string>();
let exitHooked = false;
let tableSeq = 0;

function deleteTableSync(table: string): void {
  try {
    execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Deletes every table of this process when it exits, also on a signal. */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const cleanup = () => {
    for (const t of liveTables) deleteTableSync(t);
    liveTables.clear();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanup();
      process.kill(process.pid, sig); // the default action, now that our handler is gone
    });
  }
}

async function nft(script: string): Promise<void> {
  const child = execFile('nft', ['-f', '-']);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin!.end(script);
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`nft failed (${code}): ${stderr.trim()}\n${script}`);
}

/** A UDP port set in nft syntax: `{ 20000-20039, 20100-20139 }` or `{ 41234, 52345 }`. */
export type PortSet = string;

export function portSet(items: (number | { begin: number; end: number })[]): PortSet {
  return `{ ${items.map((x) => (typeof x === 'number' ? String(x) : `${x.begin}-${x.end}`)).join(', ')} }`;
}

/**
 * Which datagrams a scope names: `src` those sent from one of its ports (e.g. the SFU's
 * downlinks), `dst` those sent to one (the SFU's uplinks), `either` both of these, `both`
 * those between two of its ports (a direct call's pair).
 */
export interface Scope {
  ports: PortSet;
  ends?: 'src' | 'dst' | 'either' | 'both';
}

export interface LossCounters {
  /** media datagrams seen on the scope's hops */
  seen: number;
  dropped: number;
}

/**
 * One nftables table. `set(perMille, scopes)` replaces the rules: for each named scope,
 * media datagrams on `lo` whose source port is in the set, and those whose destination
 * port is, are dropped with probability perMille/1000 (each datagram crosses `lo` once, so
 * this is the loss of each hop). Named counters per scope: seen and dropped.
 */
export class LossyLoopback {
  private constructor(readonly table: string) {}

  static async create(): Promise<LossyLoopback> {
    hookExit();
    const table = `weever_loss_${process.pid}_${tableSeq++}`;
    liveTables.add(table);
    deleteTableSync(table);
    await nft(`add table inet ${table}\nadd chain inet ${table} in { type filter hook input priority 0; }\n`);
    return new LossyLoopback(table);
  }

  /** Scopes: name → the ports that name a hop (a datagram matching several is counted under the first). */
  async set(perMille: number, scopes: Record<string, Scope>): Promise<void> {
    const t = this.table;
    // the rules go first (they use the counters), then every counter of the previous set
    await nft(`flush chain inet ${t} in\n`);
    for (const name of Object.keys(await this.counters())) {
      await nft(`delete counter inet ${t} ${name}_seen\ndelete counter inet ${t} ${name}_dropped\n`);
    }
    const media = 'meta iifname "lo" meta l4proto udp meta length gt 300';
    const script: string[] = [];
    for (const [name, { ports, ends }] of Object.entries(scopes)) {
      script.push(`add counter inet ${t} ${name}_seen`, `add counter inet ${t} ${name}_dropped`);
      const matches =
        ends === 'both'
          ? [`udp sport ${ports} udp dport ${ports}`]
          : ends === 'src'
            ? [`udp sport ${ports}`]
            : ends === 'dst'
              ? [`udp dport ${ports}`]
              : [`udp sport ${ports}`, `udp dport ${ports}`];
      for (const m of matches) {
        script.push(`add rule inet ${t} in ${media} ${m} counter name ${name}_seen`);
        if (perMille > 0) {
          script.push(`add rule inet ${t} in ${media} ${m} numgen random mod 1000 lt ${perMille} counter name ${name}_dropped drop`);
        }
      }
    }
    await nft(`${script.join('\n')}\n`);
  }

  async counters(): Promise<Record<string, LossCounters>> {
    const { stdout } = await run('nft', ['-j', 'list', 'counters', 'table', 'inet', this.table]);
    const out: Record<string, LossCounters> = {};
    const j = JSON.parse(stdout) as { nftables: { counter?: { name: string; packets: number } }[] };
    for (const e of j.nftables) {
      const c = e.counter;
      if (!c) continue;
      const m = /^(.*)_(seen|dropped)$/.exec(c.name);
      if (!m) continue;
      const entry = (out[m[1]!] ??= { seen: 0, dropped: 0 });
      entry[m[2] as 'seen' | 'dropped'] = c.packets;
    }
    return out;
  }

  async delete(): Promise<void> {
    liveTables.delete(this.table);
    await run('nft', ['delete', 'table', 'inet', this.table]).catch(() => {});
  }
}

/** `n` consecutive UDP ports below the ephemeral range (so no browser port falls in it), free a moment ago. */
export async function freeUdpRange(n: number): Promise<{ begin: number; end: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const begin = 20000 + Math.floor(Math.random() * (12000 - n));
    const socks = [];
    let ok = true;
    for (let p = begin; p < begin + n && ok; p++) {
      const s = createSocket('udp4');
      socks.push(s);
      try {
        s.bind(p);
        await Promise.race([
          once(s, 'listening'),
          once(s, 'error').then(([e]) => {
            throw e;
          }),
        ]);
      } catch {
        ok = false;
      }
    }
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r())).catch(() => {})));
    if (ok) return { begin, end: begin + n - 1 };
  }
  throw new Error('no free UDP port range');
}

/** What a receiver's getStats says of its video (inbound-rtp), cumulative. */
export interface VideoIn {
  framesDecoded: number;
  framesDropped: number;
  freezeCount: number;
  totalFreezesDuration: number;
  nackCount: number;
  pliCount: number;
  firCount: number;
  packetsReceived: number;
  packetsLost: number;
  retransmittedPacketsReceived: number;
  frameWidth: number;
  frameHeight: number;
}

/** What the publisher's getStats says of one video sender (outbound-rtp), cumulative. */
export interface VideoOut {
  framesEncoded: number;
  nackCount: number;
  pliCount: number;
  firCount: number;
  retransmittedPacketsSent: number;
  targetBitrate: number;
}

/** The server's recovery counters, as /debug/resources reports them (`traffic`). */
export type ServerRecovery = Traffic;

export interface Sample {
  at: number;
  direct: VideoIn;
  sfu: VideoIn;
  pubDirect: VideoOut;
  pubSfu: VideoOut;
  servers: ServerRecovery[];
}

type CallWindow = {
  weever: {
    publish(o: object): Promise<{ pc: RTCPeerConnection; fullId: string }>;
    subscribe(o: object): Promise<{ pc: RTCPeerConnection }>;
  };
  lossPub?: { pc: RTCPeerConnection; fullId: string };
  lossSub?: { pc: RTCPeerConnection };
  directPc?: RTCPeerConnection;
};

/**
 * The two calls of a loss measurement, flowing: `pubServer` gets the publisher (which
 * also calls `directPage` straight), `subServer` the subscriber (the same server, or
 * another instance of the cluster).
 */
export class Calls {
  private constructor(
    readonly pubPage: Page,
    readonly subPage: Page,
    readonly directPage: Page,
    readonly servers: ServerProcess[],
  ) {}

  static async start(browser: Browser, pubServer: ServerProcess, subServer: ServerProcess, room: string): Promise<Calls> {
    const pubPage = await openPage(browser, pubServer);
    const subPage = await openPage(browser, subServer);
    const directPage = await openPage(browser, subServer);
    const servers = pubServer === subServer ? [pubServer] : [pubServer, subServer];
    const calls = new Calls(pubPage, subPage, directPage, servers);
    try {
      const offer = await pubPage.evaluate(async (room) => {
        const w = window as unknown as CallWindow;
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
        w.lossPub = await w.weever.publish({ room, id: 'lossy', stream });
        // the direct call: same camera, VP8 as through the SFU, complete (non-trickle) offer
        const pc = new RTCPeerConnection();
        w.directPc = pc;
        for (const t of stream.getTracks()) {
          const tr = pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] });
          if (t.kind === 'video') {
            const codecs = RTCRtpSender.getCapabilities('video')!.codecs;
            tr.setCodecPreferences([...codecs.filter((c) => /vp8/i.test(c.mimeType)), ...codecs.filter((c) => !/vp8/i.test(c.mimeType))]);
          }
        }
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise<void>((r) => {
          if (pc.iceGatheringState === 'complete') r();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
        });
        return pc.localDescription!.sdp;
      }, room);
      const answer = await directPage.evaluate(async (sdp) => {
        const w = window as unknown as CallWindow;
        const pc = new RTCPeerConnection();
        w.directPc = pc;
        await pc.setRemoteDescription({ type: 'offer', sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        await new Promise<void>((r) => {
          if (pc.iceGatheringState === 'complete') r();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
        });
        return pc.localDescription!.sdp;
      }, offer);
      await pubPage.evaluate(async (sdp) => {
        await (window as unknown as CallWindow).directPc!.setRemoteDescription({ type: 'answer', sdp });
      }, answer);
      await subPage.evaluate(async (room) => {
        const w = window as unknown as CallWindow;
        w.lossSub = await w.weever.subscribe({ room, id: 'viewer' });
      }, room);
      await waitFor(
        'both calls decoding video',
        async () => {
          const s = await calls.sample();
          return s.direct.framesDecoded > 40 && s.sfu.framesDecoded > 40;
        },
        30_000,
        250,
      );
    } catch (err) {
      await calls.close();
      throw err;
    }
    return calls;
  }

  /** The local UDP ports of the direct call's selected candidate pair, one per page. */
  async directPorts(): Promise<number[]> {
    const portOf = (page: Page) =>
      page.evaluate(async () => {
        const pc = (window as unknown as CallWindow).directPc!;
        const stats = await pc.getStats();
        let pairId: string | undefined;
        stats.forEach((s) => {
          if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
        });
        const pair = pairId ? stats.get(pairId) : undefined;
        const local = pair ? stats.get(pair.localCandidateId) : undefined;
        if (local?.protocol !== 'udp') throw new Error(`direct call: no selected UDP pair (${JSON.stringify(local)})`);
        return local.port as number;
      });
    return [await portOf(this.pubPage), await portOf(this.directPage)];
  }

  async sample(): Promise<Sample> {
    const videoIn = (page: Page, which: 'direct' | 'sfu') =>
      page.evaluate(async (which) => {
        const w = window as unknown as CallWindow;
        const pc = which === 'direct' ? w.directPc : w.lossSub?.pc;
        const out = {
          framesDecoded: 0,
          framesDropped: 0,
          freezeCount: 0,
          totalFreezesDuration: 0,
          nackCount: 0,
          pliCount: 0,
          firCount: 0,
          packetsReceived: 0,
          packetsLost: 0,
          retransmittedPacketsReceived: 0,
          frameWidth: 0,
          frameHeight: 0,
        };
        if (!pc) return out;
        (await pc.getStats()).forEach((s) => {
          if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
          for (const k of Object.keys(out) as (keyof typeof out)[]) {
            if (k === 'frameWidth' || k === 'frameHeight') out[k] = Math.max(out[k], s[k] ?? 0);
            else out[k] += s[k] ?? 0;
          }
        });
        return out;
      }, which);
    const videoOut = (which: 'direct' | 'sfu') =>
      this.pubPage.evaluate(async (which) => {
        const w = window as unknown as CallWindow;
        const pc = which === 'direct' ? w.directPc : w.lossPub?.pc;
        const out = { framesEncoded: 0, nackCount: 0, pliCount: 0, firCount: 0, retransmittedPacketsSent: 0, targetBitrate: 0 };
        if (!pc) return out;
        (await pc.getStats()).forEach((s) => {
          if (s.type !== 'outbound-rtp' || s.kind !== 'video') return;
          for (const k of Object.keys(out) as (keyof typeof out)[]) out[k] += s[k] ?? 0;
        });
        return out;
      }, which);
    const [direct, sfu, pubDirect, pubSfu, servers] = await Promise.all([
      videoIn(this.directPage, 'direct'),
      videoIn(this.subPage, 'sfu'),
      videoOut('direct'),
      videoOut('sfu'),
      Promise.all(this.servers.map(async (s) => (await s.resources()).traffic as unknown as ServerRecovery)),
    ]);
    return { at: performance.now(), direct, sfu, pubDirect, pubSfu, servers };
  }

  async close(): Promise<void> {
    for (const p of [this.subPage, this.directPage, this.pubPage]) {
      await p
        .evaluate(async () => {
          const w = window as unknown as CallWindow & { lossSub?: { stop?(): Promise<void> }; lossPub?: { stop?(): Promise<void> } };
          w.directPc?.close();
          await (w.lossSub as { stop?(): Promise<void> } | undefined)?.stop?.();
          await (w.lossPub as { stop?(): Promise<void> } | undefined)?.stop?.();
        })
        .catch(() => {});
      await p.close().catch(() => {});
    }
  }
}

function diff<T extends object>(a: T, b: T): T {
  const out = {} as Record<string, number>;
  for (const k of Object.keys(b)) out[k] = (b as Record<string, number>)[k]! - ((a as Record<string, number>)[k] ?? 0);
  return out as T;
}

/** Figures of one call over the window. */
export interface CallFigures {
  fps: number;
  frames: number;
  freezes: number;
  freezeSeconds: number;
  /** NACKs the receiving browser sent (inbound-rtp nackCount) */
  nacks: number;
  /** keyframe requests the receiving browser sent (PLI + FIR) */
  keyframeRequests: number;
  packetsLost: number;
  /** retransmissions the publisher's browser sent on this call (outbound-rtp) */
  publisherRetransmissions: number;
  /** NACKs / PLIs the publisher's browser received on this call */
  publisherNacks: number;
  publisherPlis: number;
  resolution: string;
}

export interface LossResult {
  lossPercent: number;
  seconds: number;
  direct: CallFigures;
  sfu: CallFigures;
  /** the SFU's counters summed over its instances, deltas over the window */
  server: ServerRecovery;
  /** keyframe requests per minute: sent to the publisher by the SFU, and by the direct receiver */
  keyframesPerMinute: { sfuToPublisher: number; subscriberToSfu: number; direct: number };
  /** what nftables saw and dropped over the window, per scope */
  dropped: Record<string, LossCounters>;
}

function figures(inD: VideoIn, out: VideoOut, inEnd: VideoIn, seconds: number): CallFigures {
  const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    fps: round(inD.framesDecoded / seconds, 1),
    frames: inD.framesDecoded,
    freezes: inD.freezeCount,
    freezeSeconds: round(inD.totalFreezesDuration),
    nacks: inD.nackCount,
    keyframeRequests: inD.pliCount + inD.firCount,
    packetsLost: inD.packetsLost,
    publisherRetransmissions: out.retransmittedPacketsSent,
    publisherNacks: out.nackCount,
    publisherPlis: out.pliCount + out.firCount,
    resolution: `${inEnd.frameWidth}x${inEnd.frameHeight}`,
  };
}

/**
 * Sets `lossPercent` on both calls (SFU ports `sfuPorts`, the direct call's pair), waits
 * `settleMs`, then measures `seconds`: framesDecoded and totalFreezesDuration deltas etc.
 */
export async function measureLoss(
  loss: LossyLoopback,
  calls: Calls,
  sfuPorts: PortSet,
  lossPercent: number,
  seconds: number,
  settleMs = 2000,
): Promise<LossResult> {
  const direct = await calls.directPorts();
  await loss.set(Math.round(lossPercent * 10), {
    uplink: { ports: sfuPorts, ends: 'dst' },
    downlink: { ports: sfuPorts, ends: 'src' },
    direct: { ports: portSet(direct), ends: 'both' },
  });
  await sleep(settleMs);
  const c0 = await loss.counters();
  const s0 = await calls.sample();
  await sleep(seconds * 1000);
  const s1 = await calls.sample();
  const c1 = await loss.counters();
  const secs = (s1.at - s0.at) / 1000;
  const sum = (s: Sample) =>
    s.servers.reduce((acc, x) => {
      for (const k of Object.keys(x) as (keyof ServerRecovery)[]) acc[k] = (acc[k] ?? 0) + (x[k] ?? 0);
      return acc;
    }, {} as ServerRecovery);
  const server = diff(sum(s0), sum(s1));
  const directIn = diff(s0.direct, s1.direct);
  const sfuIn = diff(s0.sfu, s1.sfu);
  const dropped: Record<string, LossCounters> = {};
  for (const k of Object.keys(c1)) dropped[k] = diff(c0[k] ?? { seen: 0, dropped: 0 }, c1[k]!);
  const perMin = (n: number) => Math.round((n * 600) / secs) / 10;
  return {
    lossPercent,
    seconds: Math.round(secs * 10) / 10,
    direct: figures(directIn, diff(s0.pubDirect, s1.pubDirect), s1.direct, secs),
    sfu: figures(sfuIn, diff(s0.pubSfu, s1.pubSfu), s1.sfu, secs),
    server,
    keyframesPerMinute: {
      sfuToPublisher: perMin(server.keyframeRequests),
      subscriberToSfu: perMin(sfuIn.pliCount + sfuIn.firCount),
      direct: perMin(directIn.pliCount + directIn.firCount),
    },
    dropped,
  };
}

/** One line per call, for test output and the benchmark's table. */
export function describeLoss(r: LossResult): string {
  const c = (name: string, f: CallFigures) =>
    `${name}: ${f.fps} fps (${f.frames} frames, ${f.resolution}), ${f.freezes} freezes ${f.freezeSeconds} s, ` +
    `receiver NACKs ${f.nacks}, receiver PLI/FIR ${f.keyframeRequests}, lost ${f.packetsLost}; ` +
    `publisher got ${f.publisherNacks} NACKs ${f.publisherPlis} PLI/FIR, resent ${f.publisherRetransmissions}`;
  const s = r.server;
  const d = Object.entries(r.dropped)
    .map(([k, v]) => `${k} ${v.dropped}/${v.seen} (${v.seen ? ((100 * v.dropped) / v.seen).toFixed(1) : '-'} %)`)
    .join(', ');
  return [
    `loss ${r.lossPercent} % per hop, ${r.seconds} s; nft dropped: ${d}`,
    `  ${c('direct', r.direct)}`,
    `  ${c('SFU   ', r.sfu)}`,
    `  server: NACKs received ${s.nacksReceived}, retransmitted ${s.retransmittedPackets}; NACKs sent upstream ${s.nacksSent}, ` +
      `recovered ${s.recoveredPackets}, unrecovered ${s.unrecoveredPackets}; keyframe requests ${s.keyframeRequests} ` +
      `(${r.keyframesPerMinute.sfuToPublisher}/min; subscriber→SFU ${r.keyframesPerMinute.subscriberToSfu}/min, direct ${r.keyframesPerMinute.direct}/min); SRs ${s.senderReports}`,
  ].join('\n');
}

/**
 * A table of fixed rules on the input hook (`rules`: nft rule bodies; `counter name X` makes
 * named counter X). Deleted by `remove()`, and when the process exits whatever happened.
 */
export class NftTable {
  private constructor(readonly table: string) {}

  static async create(name: string, rules: string[]): Promise<NftTable> {
    hookExit();
    const table = `${name}_${tableSeq++}`;
    liveTables.add(table);
    deleteTableSync(table);
    const counters = [...new Set(rules.flatMap((r) => [...r.matchAll(/counter name (\w+)/g)].map((m) => m[1]!)))];
    const script = [
      `add table inet ${table}`,
      ...counters.map((c) => `add counter inet ${table} ${c}`),
      `add chain inet ${table} in { type filter hook input priority 0; }`,
      ...rules.map((r) => `add rule inet ${table} in ${r}`),
    ];
    try {
      await nft(`${script.join('\n')}\n`);
    } catch (err) {
      deleteTableSync(table);
      liveTables.delete(table);
      throw err;
    }
    return new NftTable(table);
  }

  /** Packets counted by named counter `name`. */
  async counter(name: string): Promise<number> {
    const { stdout } = await run('nft', ['-j', 'list', 'counter', 'inet', this.table, name]);
    const j = JSON.parse(stdout) as { nftables: { counter?: { packets: number } }[] };
    return j.nftables.find((e) => e.counter)?.counter?.packets ?? 0;
  }

  async remove(): Promise<void> {
    liveTables.delete(this.table);
    await run('nft', ['delete', 'table', 'inet', this.table]).catch(() => {});
  }
}
