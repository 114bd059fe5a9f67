/**
 * Issue 22 item 7, the short CI run: a seeded random attacker under --supervise for
 * FUZZ_RECOVERY_SECONDS (60). Each attack picks a room's publisher (two tracks) or
 * subscriber (two tracks) and sends a burst on random tracks of it: malformed RTP, RTCP of
 * every type with lying lengths and counts, malformed SDES (which may wedge the engine), or
 * the known wedging SDES on one or both tracks. After each attack the instance must serve
 * media again within 10 s: a fresh load-tool publisher and subscriber get video. Prints
 * each attack and how long the service was down; FUZZ_SEED=<n> replays.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { WeeverTarget } from 'weever-load';
import { malformedRtcp, malformedRtp, malformedSdes, prng, RTCP_KINDS, RTP_KINDS } from './fuzz-packets.js';
import { waitFor } from './harness.js';
import { feed, knownWedgingSdes, type Supervised, startSupervised } from './supervised.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const SECONDS = Number(process.env.FUZZ_RECOVERY_SECONDS ?? 60);
const BOUND_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ATTACKS = ['rtp', 'rtcp', 'sdes', 'wedge-one', 'wedge-both'] as const;

describe(`fuzz recovery (seed ${SEED}, ${SECONDS} s)`, () => {
  let s: Supervised | undefined;
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // already gone
      }
    }
    if (s?.proc.exitCode === null) {
      s.proc.kill('SIGTERM');
      await once(s.proc, 'exit');
    }
    nodeDataChannel.cleanup(); // the clients' native threads would keep the process alive
    const file = join(tmpdir(), `weever-fuzz-recovery-${SEED}.log`);
    writeFileSync(file, `${s?.lines.join('\n')}\n`);
    console.error(`server log: ${file}`);
  });

  it('after every attack a fresh pair gets media within 10 s', async () => {
    console.error(`fuzz recovery seed ${SEED} (replay: FUZZ_SEED=${SEED})`);
    s = await startSupervised();
    const target = new WeeverTarget({ url: s.publicUrl });
    const r = prng(SEED);
    const downs: { attack: string; downMs: number }[] = [];
    const until = Date.now() + SECONDS * 1000;
    for (let n = 0; Date.now() < until; n++) {
      const room = `fz-${n}`;
      // The victim peer: a fed publisher with two tracks, or a subscriber holding two.
      const pub = await target.publish(room, 'victim-pub', { audio: true, video: true });
      const stop = feed(pub);
      cleanups.push(stop, () => pub.close());
      const fromSub = r.int(0, 1) === 1;
      let tracks: nodeDataChannel.Track[] = [pub.video!.track, pub.audio!.track];
      if (fromSub) {
        const sub = await target.subscribe(room, 'victim-sub');
        cleanups.push(() => sub.close());
        await waitFor('the victim subscriber holding two tracks', () => sub.tracks.filter((t) => t.isOpen()).length >= 2, 15_000);
        tracks = sub.tracks.filter((t) => t.isOpen());
      } else await sleep(500); // its tracks established
      const attack = r.pick(ATTACKS);
      const known = [pub.video!.ssrc, pub.audio!.ssrc];
      const ctx = { ssrc: pub.video!.ssrc, payloadType: pub.video!.payloadType, seq: 20_000 };
      const burst = r.int(1, 200);
      const at = Date.now();
      for (let i = 0; i < (attack.startsWith('wedge') ? 1 : burst); i++) {
        const t = r.pick(tracks);
        try {
          if (attack === 'rtp') t.sendMessageBinary(malformedRtp(r, ctx, r.pick(RTP_KINDS)));
          else if (attack === 'rtcp') t.sendMessageBinary(malformedRtcp(r, known, r.pick(RTCP_KINDS)));
          else if (attack === 'sdes') t.sendMessageBinary(malformedSdes(r, known));
          else {
            tracks[0]!.sendMessageBinary(knownWedgingSdes(known[0]!));
            if (attack === 'wedge-both') {
              await sleep(500);
              tracks[1]!.sendMessageBinary(knownWedgingSdes(known[1]!));
            }
          }
        } catch {
          // refused by the client's engine, or the instance went away
        }
      }
      stop();
      pub.close();
      // Down until a fresh pair gets media (through a restart if the attack wedged it).
      const readiness = `${s.privateUrl}/readiness`;
      let backAt = Number.POSITIVE_INFINITY;
      await waitFor(
        `a fresh pair getting media after attack ${n} (${attack})`,
        async () => {
          // as a load balancer would: only to an instance whose readiness answers OK within 1 s
          const ready = await fetch(readiness, { signal: AbortSignal.timeout(1000) }).then(
            (x) => x.status === 200,
            () => false,
          );
          if (!ready) return false;
          const p = await target.publish(room, `fresh-pub-${n}-${Date.now()}`, { audio: true, video: true });
          const stopP = feed(p);
          try {
            const sub = await target.subscribe(room, `fresh-sub-${n}-${Date.now()}`);
            let video = 0;
            sub.onRtp((k) => {
              if (k === 'video') video++;
            });
            const ok = await waitFor('video', () => video > 5, 3000).then(
              () => true,
              () => false,
            );
            sub.close();
            if (ok) backAt = Date.now();
            return ok;
          } catch {
            return false;
          } finally {
            stopP();
            p.close();
          }
        },
        30_000,
        200,
      );
      const downMs = backAt - at;
      downs.push({
        attack: `${attack}${attack === 'rtp' || attack === 'rtcp' || attack === 'sdes' ? `×${burst}` : ''} from the ${fromSub ? 'subscriber' : 'publisher'}`,
        downMs,
      });
      console.error(`attack ${n}: ${downs.at(-1)!.attack}: media for a fresh pair ${downMs} ms after it`);
    }
    const worst = Math.max(...downs.map((d) => d.downMs));
    console.error(`seed ${SEED}: ${downs.length} attacks, worst ${worst} ms`);
    assert.ok(downs.length > 0);
    for (const d of downs) assert.ok(d.downMs <= BOUND_MS, `seed ${SEED}: ${d.attack}: down ${d.downMs} ms`);
  });
});
