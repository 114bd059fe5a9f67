/**
 * Relayed participants (issue 17): a relay-only Chromium publisher and subscriber
 * (`iceTransportPolicy: 'relay'`) through Debian's coturn, TURN over TCP and over UDP;
 * the subscriber decodes the publisher's video. Each suite starts and stops its own
 * coturn on free ports.
 *
 * Over TCP, Chromium's checks carry an ICE-CONTROLLING tiebreaker of 0, which libjuice
 * 1.7.2 refuses with 400 ("Controlling and controlled attributes mismatch"): these pass
 * only with the engine patched by scripts/patch-engine.mjs (run by `npm ci`'s postinstall).
 *
 * The server binds ICE to 127.0.0.1: the relay is on loopback, and host candidates on
 * another interface would be answered from 127.0.0.1, an address coturn holds no
 * permission for (a loopback-only artefact; a public server answers from the address it
 * advertises).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { startCoturn, stopCoturn, type Turn } from './coturn.js';
import { leaveAndClose, mediaOf, openPage, publishFrom, serverAndBrowser, subscribeFrom, subView, waitFor } from './harness.js';
import { playerView, stopPlayer, whepPlay } from './whep-player.js';

/** Whether scripts/patch-engine.mjs has patched the engine (it accepts ICE tiebreakers of 0). */
function enginePatched(): boolean {
  try {
    execFileSync(process.execPath, ['scripts/patch-engine.mjs', '--check'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A page whose RTCPeerConnections (the SDK's) only use `url` through the relay. */
async function relayPage(
  ctx: { browser: import('playwright-core').Browser; server: Parameters<typeof openPage>[1] },
  url: string,
): Promise<Page> {
  const page = await openPage(ctx.browser, ctx.server);
  await page.evaluate((url) => {
    const Native = window.RTCPeerConnection;
    const Relayed = function (this: unknown, cfg?: RTCConfiguration) {
      return new Native({ ...cfg, iceServers: [{ urls: url, username: 'u', credential: 'p' }], iceTransportPolicy: 'relay' });
    } as unknown as typeof RTCPeerConnection;
    Relayed.prototype = Native.prototype;
    window.RTCPeerConnection = Relayed;
  }, url);
  return page;
}

/** The selected pair's local candidate as seen by the page's publisher or subscriber. */
async function selectedLocal(page: Page, who: 'pub' | 'sub'): Promise<{ type: string; relayProtocol?: string } | null> {
  return page.evaluate(async (who) => {
    const pc = (window as unknown as Record<string, { pc: RTCPeerConnection }>)[who]!.pc;
    const stats = await pc.getStats();
    let out: { type: string; relayProtocol?: string } | null = null;
    stats.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const pair = stats.get(s.selectedCandidatePairId);
      const local = pair && stats.get(pair.localCandidateId);
      if (local) out = { type: local.candidateType, relayProtocol: local.relayProtocol };
    });
    return out;
  }, who);
}

for (const transport of ['tcp', 'udp'] as const) {
  describe(`relay-only Chromium through coturn, TURN over ${transport.toUpperCase()}`, () => {
    let turn: Turn | undefined;
    before(async () => {
      turn = await startCoturn();
    });
    after(() => stopCoturn(turn));
    // engine warnings are only requested at debug
    const ctx = serverAndBrowser(['--rtc-bind-address', '127.0.0.1'], { WEEVER_LOG_LEVEL: 'debug' });

    it('a control-channel subscriber and a WHEP player decode the publisher, all over relay candidates', async () => {
      const url = `turn:127.0.0.1:${turn!.port}?transport=${transport}`;
      const pub = await relayPage(ctx, url);
      const sub = await relayPage(ctx, url);
      const player = await relayPage(ctx, url);
      try {
        await publishFrom(pub, 'relayed', 'alice');
        await subscribeFrom(sub, 'relayed', 'bob');
        await waitFor('video frames and audio through the relay', async () => {
          const m = mediaOf(await subView(sub));
          return m.videoFrames > 30 && m.audioPackets > 50;
        }).catch((err: Error) => {
          const refused = ctx.server.logs.filter((l) => l.includes('attributes mismatch')).length;
          throw new Error(
            `${err.message}; the engine refused ${refused} relayed checks; engine ${enginePatched() ? 'patched' : 'NOT patched (node scripts/patch-engine.mjs)'}`,
          );
        });
        const played = await whepPlay(player, `${ctx.server.publicUrl}/whep/relayed/alice`);
        assert.equal(played.status, 201, played.text);
        await waitFor('WHEP player frames through the relay', async () => {
          const v = await playerView(player);
          return v.videoFrames > 30 && v.audioPackets > 50;
        });
        const playerLocal = await player.evaluate(async () => {
          const pc = (window as unknown as { player: { pc: RTCPeerConnection } }).player.pc;
          const stats = await pc.getStats();
          let out: { type: string; relayProtocol?: string } | null = null;
          stats.forEach((s) => {
            if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
            const local = stats.get(stats.get(s.selectedCandidatePairId)?.localCandidateId);
            if (local) out = { type: local.candidateType, relayProtocol: local.relayProtocol };
          });
          return out;
        });
        assert.deepEqual(playerLocal, { type: 'relay', relayProtocol: transport });
        assert.equal(await stopPlayer(player), 200);
        for (const [page, who] of [
          [pub, 'pub'],
          [sub, 'sub'],
        ] as const) {
          assert.deepEqual(await selectedLocal(page, who), { type: 'relay', relayProtocol: transport });
        }
        const refused = ctx.server.logs.filter((l) => l.includes('attributes mismatch')).length;
        assert.equal(refused, 0, 'the engine refused relayed checks');
      } finally {
        await Promise.all([leaveAndClose(pub), leaveAndClose(sub), player.close()]);
      }
    });
  });
}
