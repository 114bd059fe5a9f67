/**
 * The seeded random attacker of issue 22 item 7, shared by the CI run
 * (test/e2e/fuzz-recovery.test.ts, 60 s) and the benchmark (`npm run bench -- fuzz
 * --minutes 10`). Each attack picks a room's publisher (two tracks) or subscriber (two
 * tracks) and sends a burst on random tracks of it: malformed RTP, RTCP of every type with
 * lying lengths and counts, malformed SDES (which may wedge the engine), or the known wedging
 * SDES on one or both tracks. After each, it measures how long until a fresh load-tool
 * publisher and subscriber get video again from an instance whose readiness answers OK.
 */
import type nodeDataChannel from 'node-datachannel';
import { type PublisherConnection, WeeverTarget } from 'weever-load';
import { malformedRtcp, malformedRtp, malformedSdes, prng, RTCP_KINDS, RTP_KINDS } from './fuzz-packets.js';
import { waitFor } from './harness.js';
import { feed, knownWedgingSdes, type Supervised } from './supervised.js';

export const ATTACKS = ['rtp', 'rtcp', 'sdes', 'wedge-one', 'wedge-both'] as const;

export interface FuzzDown {
  kind: (typeof ATTACKS)[number];
  from: 'publisher' | 'subscriber';
  /** e.g. `rtcp×37 from the subscriber` */
  attack: string;
  /** attack sent → a fresh pair got video */
  downMs: number;
}

export interface FuzzOptions {
  /** the instance under attack (README's first command: --supervise) */
  s: Supervised;
  seed: number;
  seconds: number;
  /** closers of the clients it opens, for the caller's cleanup */
  cleanups: (() => unknown)[];
  onAttack?: (n: number, d: FuzzDown) => void;
}

/** Loopback ICE + DTLS takes 0.1–0.5 s here, more under CI load. */
const FRESH_OPEN_TIMEOUT_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Attacks until `seconds` have passed; one entry per attack. */
export async function fuzzRecovery(o: FuzzOptions): Promise<FuzzDown[]> {
  const s = o.s;
  // Every client (the victims and the fresh pair) gives up on a connection as a client
  // retrying elsewhere would: an instance killed for a wedge after answering its POST
  // leaves it waiting for an ICE peer that is gone, and the default 15 s open timeout
  // would count as down time while the restarted instance already serves (seen: 15.5 s
  // for an outage of ~4 s with the fresh pair; 15.8 s with the next attack's victim).
  const probe = new WeeverTarget({ url: s.publicUrl, openTimeoutMs: FRESH_OPEN_TIMEOUT_MS });
  const target = probe;
  const r = prng(o.seed);
  const downs: FuzzDown[] = [];
  const until = Date.now() + o.seconds * 1000;
  let lastGoodAt = Date.now();
  for (let n = 0; Date.now() < until; n++) {
    const room = `fz-${n}`;
    const fromSub = r.int(0, 1) === 1;
    // The victim peer: a fed publisher with two tracks, or a subscriber holding two. An
    // earlier attack may take effect late (the instance restarting now): then setting the
    // victim up fails until it is back, and that outage counts, from the last good pair on.
    let victim: { pub: PublisherConnection; stop: () => void; tracks: nodeDataChannel.Track[] } | undefined;
    let setupFailed = false;
    await waitFor(
      `the victim peers of attack ${n}`,
      async () => {
        const pub = await target.publish(room, `victim-pub-${Date.now()}`, { audio: true, video: true }).catch(() => undefined);
        if (!pub) {
          setupFailed = true;
          return false;
        }
        const stop = feed(pub);
        o.cleanups.push(stop, () => pub.close());
        if (!fromSub) {
          await sleep(500); // its tracks established
          victim = { pub, stop, tracks: [pub.video!.track, pub.audio!.track] };
          return true;
        }
        const sub = await target.subscribe(room, `victim-sub-${Date.now()}`).catch(() => undefined);
        if (sub) o.cleanups.push(() => sub.close());
        const holding =
          sub &&
          (await waitFor('two tracks', () => sub.tracks.filter((t) => t.isOpen()).length >= 2, 15_000).then(
            () => true,
            () => false,
          ));
        if (!sub || !holding) {
          setupFailed = true;
          stop();
          pub.close();
          sub?.close();
          return false;
        }
        victim = { pub, stop, tracks: sub.tracks.filter((t) => t.isOpen()) };
        return true;
      },
      60_000,
      200,
    );
    if (setupFailed && downs.length > 0) {
      const prev = downs.at(-1)!;
      downs.push({
        kind: prev.kind,
        from: prev.from,
        attack: `late effect of attack ${n - 1} (${prev.attack})`,
        downMs: Date.now() - lastGoodAt,
      });
      o.onAttack?.(n - 1, downs.at(-1)!);
    }
    const { pub, stop, tracks } = victim!;
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
        const p = await probe.publish(room, `fresh-pub-${n}-${Date.now()}`, { audio: true, video: true });
        const stopP = feed(p);
        try {
          const sub = await probe.subscribe(room, `fresh-sub-${n}-${Date.now()}`);
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
    lastGoodAt = backAt;
    downs.push({
      kind: attack,
      from: fromSub ? 'subscriber' : 'publisher',
      attack: `${attack}${attack === 'rtp' || attack === 'rtcp' || attack === 'sdes' ? `×${burst}` : ''} from the ${fromSub ? 'subscriber' : 'publisher'}`,
      downMs,
    });
    o.onAttack?.(n, downs.at(-1)!);
  }
  return downs;
}
