/**
 * join: one Chromium publisher (fake camera) in a room; a Chromium subscriber joins and
 * leaves J times in a row. Per join: POST → answer, and POST start → first video frame
 * painted (requestVideoFrameCallback), measured inside the page.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { launchBrowser, openPage, publishFrom, startServer, waitFor } from '#server-harness';
import { percentile } from '../src/stats.js';
import { machine } from './lib/machine.js';

export interface JoinOptions {
  joins: number;
  keyframeInterval: number;
}

export interface JoinResult {
  scenario: 'join';
  joins: number;
  answerMsP50: number;
  answerMsP95: number;
  firstFrameMsP50: number;
  firstFrameMsP95: number;
  firstFrameMsP99: number;
}

export async function join(o: JoinOptions): Promise<JoinResult> {
  const server = await startServer(['--keyframe-interval', String(o.keyframeInterval)]);
  const browser = await launchBrowser();
  const answers: number[] = [];
  const frames: number[] = [];
  try {
    const room = 'join-bench';
    const pubPage = await openPage(browser, server);
    const pubId = await publishFrom(pubPage, room, 'presenter');
    await waitFor('publisher announced', async () => {
      const r = (await fetch(`${server.privateUrl}/debug/room/${room}`).then((x) => x.json())) as { media: Record<string, unknown> };
      return pubId in r.media;
    });
    const page = await openPage(browser, server);
    for (let i = 0; i < o.joins; i++) {
      const r = await page.evaluate(
        async ({ room, i }) => {
          const w = window as unknown as { weever: { subscribe(o: object): Promise<{ stop(): void }> } };
          const video = document.createElement('video');
          video.muted = true;
          video.autoplay = true;
          document.body.append(video);
          const t0 = performance.now();
          let answeredAt = 0;
          const firstFrame = new Promise<number>((resolve) => {
            video.requestVideoFrameCallback(() => resolve(performance.now()));
          });
          const sub = await w.weever.subscribe({
            room,
            id: `viewer${i}`,
            onStream: (_id: string, s: MediaStream) => {
              video.srcObject = s;
            },
          });
          answeredAt = performance.now();
          const t1 = await firstFrame;
          sub.stop();
          video.remove();
          return { answer: answeredAt - t0, frame: t1 - t0 };
        },
        { room, i },
      );
      answers.push(r.answer);
      frames.push(r.frame);
      await sleep(200);
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  answers.sort((a, b) => a - b);
  frames.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  const result: JoinResult = {
    scenario: 'join',
    joins: o.joins,
    answerMsP50: round(percentile(answers, 50)),
    answerMsP95: round(percentile(answers, 95)),
    firstFrameMsP50: round(percentile(frames, 50)),
    firstFrameMsP95: round(percentile(frames, 95)),
    firstFrameMsP99: round(percentile(frames, 99)),
  };
  console.log(`\njoin → first decoded frame, ${o.joins} sequential Chromium subscriber joins, periodic keyframe ${o.keyframeInterval} s`);
  console.log(`machine: ${machine()}`);
  console.log('| measure | p50 ms | p95 ms | p99 ms |');
  console.log('|---|---|---|---|');
  console.log(
    `| POST → answer applied (incl. offer + ICE gathering in the page) | ${result.answerMsP50} | ${result.answerMsP95} | ${round(percentile(answers, 99))} |`,
  );
  console.log(`| start → first video frame | ${result.firstFrameMsP50} | ${result.firstFrameMsP95} | ${result.firstFrameMsP99} |`);
  return result;
}
