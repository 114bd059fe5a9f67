/**
 * Issue 22 (idle CPU): with no peer for 10 s the engine sleeps — probe stopped, every engine
 * thread ended — and the next connect wakes a fresh one. Real media must flow after each
 * wake, twice, and the woken probe must pass packets again.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { WeeverTarget } from 'weever-load';
import { waitFor } from './harness.js';
import { feed, type Supervised, startSupervised } from './supervised.js';

type Engine = { awake: boolean; probeSilentMs: number | null };
const engine = async (s: Supervised) => ((await (await fetch(`${s.privateUrl}/debug/resources`)).json()) as { engine: Engine }).engine;
/** the instance's engine threads (libdatachannel names them "RTC worker", "SCTP timer", …) */
function engineThreads(pid: number): number {
  let n = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (/^(RTC|SCTP|juice)/.test(readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8'))) n++;
    } catch {
      // ended
    }
  }
  return n;
}

describe('the engine sleeps with no peer and wakes for the next', () => {
  let s: Supervised | undefined;
  after(async () => {
    if (s?.proc.exitCode === null) {
      s.proc.kill('SIGTERM');
      await once(s.proc, 'exit');
    }
    nodeDataChannel.cleanup(); // the load clients' engine threads would keep the process alive
  });

  it('asleep after 10 s idle (no engine thread), media flows after a wake, twice', async () => {
    s = await startSupervised();
    const sup = s;
    const target = new WeeverTarget({ url: sup.publicUrl });
    for (const round of [1, 2]) {
      await waitFor(`the engine asleep (round ${round})`, async () => !(await engine(sup)).awake, 30_000, 500);
      const child = Number(readFileSync(`/proc/${sup.proc.pid}/task/${sup.proc.pid}/children`, 'utf8').trim());
      assert.equal(engineThreads(child), 0, 'no engine thread while asleep');
      const pub = await target.publish('sleep', `pub-${round}`, { audio: true, video: true });
      const stop = feed(pub);
      const sub = await target.subscribe('sleep', `sub-${round}`);
      let video = 0;
      sub.onRtp((kind) => {
        if (kind === 'video') video++;
      });
      await waitFor(`video reaching sub-${round} after the wake`, () => video > 20, 15_000);
      await waitFor('the woken probe passing packets', async () => ((await engine(sup)).probeSilentMs ?? 1e9) < 1000, 10_000);
      assert.ok(engineThreads(child) > 0, 'engine threads while awake');
      stop();
      pub.close();
      sub.close();
    }
    assert.deepEqual(
      sup.lines.filter((l) => /media engine wedged|instance died|engine threads would not stop/.test(l)),
      [],
    );
  });
});
