/**
 * The engine probe (src/media/engine-probe.ts) over the real engine and loopback: it carries
 * packets and stays healthy; while real traffic grows (`delivered`) it sends none of its own;
 * when that traffic stops it sends again, at once, and stays healthy.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { EngineProbe } from '../../src/media/engine-probe.js';
import { createLogger } from '../../src/observability/log.js';
import { waitFor } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('engine probe', () => {
  let probe: EngineProbe | undefined;
  after(() => {
    probe?.close();
    nodeDataChannel.cleanup();
  });

  it('works, is silent while real traffic flows, and probes again the moment it stops', async () => {
    let delivered = 0;
    let flowing = false;
    let wedged = false;
    probe = new EngineProbe({
      rtcConfig: { iceServers: [], bindAddress: '127.0.0.1', disableAutoNegotiation: true, forceMediaTransport: true },
      log: createLogger('silent'),
      intervalMs: 50,
      onWedged: () => {
        wedged = true;
      },
      delivered: () => (flowing ? ++delivered : delivered),
    });
    await waitFor('the probe carrying packets', () => probe!.worked(), 10_000);
    assert.ok(probe.healthy());

    flowing = true;
    await sleep(100); // the tick in flight
    const sentWhileFlowing = probe.sentPackets;
    await sleep(1000);
    assert.equal(probe.sentPackets, sentWhileFlowing, 'no probe packet while real traffic flows');
    assert.ok(probe.healthy() && probe.silentMs()! < 200, `silent ${probe.silentMs()} ms`);

    flowing = false;
    await sleep(1000);
    assert.ok(probe.sentPackets >= sentWhileFlowing + 10, `${probe.sentPackets - sentWhileFlowing} probe packets in 1 s`);
    assert.ok(probe.healthy() && probe.silentMs()! < 500, `silent ${probe.silentMs()} ms`);
    assert.equal(wedged, false);
  });
});
