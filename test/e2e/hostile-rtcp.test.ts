/**
 * One malformed RTCP packet — an SDES whose CNAME claims 255 bytes in a 16-byte packet —
 * sends libdatachannel 0.24.5's dispatch loop spinning for ever on any PeerConnection with
 * more than one track: every peer of the process loses its media. The engine cannot be
 * patched here; the instance must notice (engine probe), say so on /liveness, exit, and
 * come back by itself under --supervise (as the README's first command runs it).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { WeeverTarget } from 'weever-load';
import { mediaOf, openPage, publishFrom, type ServerProcess, sharedBrowser, subscribeFrom, subView, waitFor } from './harness.js';
import { feed, knownWedgingSdes, startSupervised } from './supervised.js';

/** RTP of the publisher reaches a fresh subscriber: resolves with when. */
async function mediaFlows(target: WeeverTarget, room: string, tag: string, cleanups: (() => unknown)[]): Promise<number> {
  const pub = await target.publish(room, `pub-${tag}`, { audio: true, video: true });
  cleanups.push(feed(pub), () => pub.close());
  const sub = await target.subscribe(room, `sub-${tag}`);
  cleanups.push(() => sub.close());
  let video = 0;
  sub.onRtp((kind) => {
    if (kind === 'video') video++;
  });
  await waitFor(`video reaching sub-${tag}`, () => video > 10, 15_000);
  return Date.now();
}

describe('a malformed RTCP packet wedges the engine: the instance notices, exits and comes back (--supervise)', () => {
  const chromium = sharedBrowser();
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse())
      await Promise.resolve()
        .then(c)
        .catch(() => {}); // pages may already be gone with the browser
    nodeDataChannel.cleanup(); // the load clients' engine threads would keep the process alive
  });

  for (const from of ['publisher', 'subscriber'] as const) {
    it(`SDES from a ${from}: /liveness stops saying OK within 3 s, the instance restarts, a fresh browser pair gets media within 10 s`, async () => {
      const s = await startSupervised(['--debug']);
      cleanups.push(async () => {
        if (s.proc.exitCode === null) {
          s.proc.kill('SIGTERM');
          await once(s.proc, 'exit');
        }
      });
      const target = new WeeverTarget({ url: s.publicUrl });
      const room = `wedge-${from}`;
      await mediaFlows(target, room, 'before', cleanups);
      // The attacker: a publisher with two tracks, or a subscriber that now has two.
      let attackTrack: nodeDataChannel.Track;
      if (from === 'publisher') {
        const attacker = await target.publish(room, 'attacker', { audio: true, video: true });
        cleanups.push(feed(attacker), () => attacker.close());
        attackTrack = attacker.video!.track;
      } else {
        const attacker = await target.subscribe(room, 'attacker');
        cleanups.push(() => attacker.close());
        await waitFor('the attacking subscriber holding two tracks', () => attacker.tracks.filter((t) => t.isOpen()).length >= 2);
        attackTrack = attacker.tracks[0]!;
      }
      // Watch /liveness every 100 ms from now on.
      const seen: { at: number; ok: boolean }[] = [];
      let watching = true;
      cleanups.push(() => {
        watching = false; // also when the test failed half way: the watch must not keep the process alive
      });
      const watcher = (async () => {
        while (watching) {
          const at = Date.now();
          const ok = await fetch(`${s.privateUrl}/liveness`).then(
            (r) => r.status === 200,
            () => false,
          );
          seen.push({ at, ok });
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const attackAt = Date.now();
      attackTrack.sendMessageBinary(knownWedgingSdes(0x12345678));
      await waitFor('the instance to say its engine wedged', () => s.lines.some((l) => l.includes('media engine wedged')), 10_000);
      await waitFor('the supervisor to start it again', () => s.lines.some((l) => l.includes('instance died; starting it again')), 10_000);
      await waitFor(
        'the new instance ready',
        async () => (await fetch(`${s.privateUrl}/readiness`).catch(() => undefined))?.status === 200,
        10_000,
        50,
      );
      // A fresh browser pair on the same URL, as a person reloading would.
      const pubPage = await openPage(chromium.browser, s as unknown as ServerProcess);
      const subPage = await openPage(chromium.browser, s as unknown as ServerProcess);
      cleanups.push(
        () => pubPage.close(),
        () => subPage.close(),
      );
      await publishFrom(pubPage, room, 'fresh-pub');
      await subscribeFrom(subPage, room, 'fresh-sub');
      await waitFor('video decoded by the fresh subscriber', async () => mediaOf(await subView(subPage)).videoFrames > 10, 15_000);
      const backAt = Date.now();
      watching = false;
      await watcher;
      // While wedged: the last OK after the attack, before the restart's first OK.
      const down = seen.findIndex((x) => x.at > attackAt && !x.ok);
      const lastOkWedged =
        seen
          .slice(0, down)
          .filter((x) => x.at >= attackAt && x.ok)
          .at(-1)?.at ?? attackAt;
      console.error(
        `${from}: /liveness OK for ${lastOkWedged - attackAt} ms after the attack; media for a fresh pair ${backAt - attackAt} ms after it`,
      );
      assert.ok(down >= 0, '/liveness went down');
      assert.ok(lastOkWedged - attackAt <= 3000, `/liveness said OK ${lastOkWedged - attackAt} ms into the wedge`);
      assert.ok(backAt - attackAt <= 10_000, `fresh media ${backAt - attackAt} ms after the attack`);
    });
  }
});
