/**
 * What the wedge tests share (hostile-rtcp, fuzz, cluster-wedge): an instance run as the
 * README's first command runs it (`--supervise`), the SDES packet that wedges libdatachannel
 * 0.24.5, and plain RTP that keeps a load-tool publisher's tracks flowing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { MediaSender, PublisherConnection } from 'weever-load';
import { CLI, waitFor } from './harness.js';
import { freePort } from './services.js';

/** SDES, one chunk: SSRC, then CNAME (type 1) claiming 255 bytes, in a 16-byte packet. */
export function knownWedgingSdes(ssrc: number): Buffer {
  const p = Buffer.from('81ca000300000000' + '01ff6162' + '00000000', 'hex');
  p.writeUInt32BE(ssrc >>> 0, 4);
  return p;
}

/** Sends a plain RTP packet on each of the publisher's tracks every 20 ms, so its tracks flow. */
export function feed(pub: PublisherConnection): () => void {
  const senders = [pub.video, pub.audio].filter((s): s is MediaSender => s !== undefined);
  let seq = 0;
  const timer = setInterval(() => {
    seq++;
    for (const s of senders) {
      const p = Buffer.alloc(112);
      p[0] = 0x80;
      p[1] = s.payloadType;
      p.writeUInt16BE(seq & 0xffff, 2);
      p.writeUInt32BE((seq * 960) >>> 0, 4);
      p.writeUInt32BE(s.ssrc, 8);
      p[12] = 0x10; // VP8 descriptor: S bit; Opus: any byte
      try {
        if (s.track.isOpen()) s.track.sendMessageBinary(p);
      } catch {
        // closed: the instance went away
      }
    }
  }, 20);
  return () => clearInterval(timer);
}

export interface Supervised {
  proc: ChildProcess;
  publicUrl: string;
  privateUrl: string;
  /** every line the supervisor and its instances printed */
  lines: string[];
}

/** Starts `cli.js --supervise` on free ports; resolves once it answers (see `probing`). */
export async function startSupervised(args: string[] = []): Promise<Supervised> {
  const [port, privatePort] = [await freePort(), await freePort()];
  const proc = spawn(
    process.execPath,
    [CLI, '--supervise', ...args, '--host', '127.0.0.1', '--port', String(port), '--private-port', String(privatePort)],
    { env: { PATH: process.env.PATH, WEEVER_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!])
    stream.on('data', (d: Buffer) =>
      lines.push(
        ...d
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      ),
    );
  const s = { proc, publicUrl: `http://127.0.0.1:${port}`, privateUrl: `http://127.0.0.1:${privatePort}`, lines };
  await probing(s);
  return s;
}

/** Waits until the instance answers and its engine sleeps (no peer yet) or its probe sees packets pass. */
export async function probing(s: Supervised, ms = 15_000): Promise<void> {
  await waitFor(
    'the instance probing its engine',
    async () => {
      try {
        const r = (await (await fetch(`${s.privateUrl}/debug/resources`)).json()) as {
          engine: { awake: boolean; probeSilentMs: number | null };
        };
        return !r.engine.awake || (r.engine.probeSilentMs !== null && r.engine.probeSilentMs < 1000);
      } catch {
        return false;
      }
    },
    ms,
  );
}
