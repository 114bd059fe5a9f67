/**
 * The per-subscriber Downlink (src/media/downlink.ts): which layer each DownTrack is told
 * to take for a given estimate, the app's caps, and the floor under a noisy estimate.
 * DownTracks are stand-ins with the fields the Downlink reads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DownTrack } from '../../src/media/down-track.js';
import { DownTrackState } from '../../src/media/down-track.js';
import { Downlink, layerForView } from '../../src/media/downlink.js';

interface Fake {
  mid: string;
  kind: 'audio' | 'video';
  state: DownTrackState;
  source: { pub: string; subject: string; info: { trackId: string } };
  layerCount: number;
  layerBps: Float64Array;
  chosen: [number, number][];
  tickRates(): void;
  layerOff(): boolean;
  setLayer(s: number, t: number): void;
  /** what setHidden was told, each allocation (one-stream video) */
  hidden: boolean[];
  setHidden(hidden: boolean): void;
  sendPadding(): boolean;
}

function track(mid: string, kind: 'audio' | 'video', pub: string, layers = 0): Fake {
  return {
    mid,
    kind,
    state: DownTrackState.Forwarding,
    source: { pub, subject: `rtc.r.${pub}.${kind}.${kind}0`, info: { trackId: `${kind}0` } },
    layerCount: layers,
    layerBps: new Float64Array(4),
    chosen: [],
    tickRates() {},
    layerOff: () => false,
    setLayer(s, t) {
      this.chosen.push([s, t]);
    },
    hidden: [],
    setHidden(hidden) {
      this.hidden.push(hidden);
    },
    sendPadding: () => true,
  };
}

/** A Downlink over `tracks` whose layer rates (published here) are `rates` by subject and layer. */
function downlink(tracks: Fake[], rates: Record<string, number[]>, estimate: number): Downlink {
  const d = new Downlink(
    () => tracks as unknown as DownTrack[],
    (subject) => {
      const m = /^(.*?)(?:\.l(\d))?$/.exec(subject)!;
      return rates[m[1]!]?.[Number(m[2] ?? 0)];
    },
  );
  // as if reports had judged the path (before any, the floor below holds whatever the estimate)
  Object.assign(d.estimator as unknown as { lossBasedBps: number; judged: boolean }, { lossBasedBps: estimate, judged: true });
  return d;
}

const CAM = 'rtc.r.alice+1.video.video0';
const RATES = { [CAM]: [150_000, 500_000, 1_500_000] };

describe('Downlink', () => {
  it('gives a camera the layer the estimate carries, audio first', () => {
    const cam = track('1', 'video', 'alice+1', 3);
    const d = downlink([track('0', 'audio', 'alice+1'), cam], RATES, 800_000);
    d.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [1, 3]);
  });

  it('keeps the smallest layer when the estimate is above 35 % of it, pauses below', () => {
    const cam = track('1', 'video', 'alice+1', 3);
    const d = downlink([track('0', 'audio', 'alice+1'), cam], RATES, 70_000);
    d.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [0, 3], '70k ≥ 35 % of 150k + 40k audio (66.5k): the smallest layer');
    const cam2 = track('1', 'video', 'alice+1', 3);
    const d2 = downlink([track('0', 'audio', 'alice+1'), cam2], RATES, 60_000);
    d2.tick(1000);
    assert.deepEqual(cam2.chosen.at(-1), [-1, 3], '60k: paused');
  });

  it('pauses nothing before a report judged the path', () => {
    const cam = track('1', 'video', 'alice+1', 3);
    const d = downlink([track('0', 'audio', 'alice+1'), cam], RATES, 55_000);
    (d.estimator as unknown as { judged: boolean }).judged = false;
    d.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [0, 3]);
  });

  it('never chooses a layer the publisher does not send (rate 0 where it is published)', () => {
    const cam = track('1', 'video', 'alice+1', 3);
    const d = downlink([cam], { [CAM]: [0, 500_000, 1_500_000] }, 5_000_000);
    d.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [2, 3]);
    const d2 = downlink([cam], { [CAM]: [150_000, 500_000, 0] }, 5_000_000);
    d2.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [1, 3]);
  });

  it("keeps a camera on its layer while every layer of it is silent (the publisher's outage), pauses none", () => {
    const cam = track('1', 'video', 'alice+1', 3);
    const rates: Record<string, number[]> = { [CAM]: [150_000, 500_000, 1_500_000] };
    const d = downlink([track('0', 'audio', 'alice+1'), cam], rates, 800_000);
    d.tick(1000);
    assert.deepEqual(cam.chosen, [[1, 3]]);
    rates[CAM] = [0, 0, 0]; // nothing arrives from the publisher
    d.tick(1500);
    d.tick(2000);
    assert.deepEqual(cam.chosen, [[1, 3]], 'not told to pause');
    assert.deepEqual(d.layers.get('1'), { spatial: 1, temporal: 3 });
    rates[CAM] = [150_000, 0, 0]; // back, with only its smallest layer
    d.tick(2500);
    assert.deepEqual(cam.chosen.at(-1), [0, 3]);
    // a camera the budget had paused stays paused when it falls silent
    const cam2 = track('1', 'video', 'alice+1', 3);
    const rates2: Record<string, number[]> = { [CAM]: [150_000, 500_000, 1_500_000] };
    const d2 = downlink([track('0', 'audio', 'alice+1'), cam2], rates2, 60_000);
    d2.tick(1000);
    rates2[CAM] = [0, 0, 0];
    d2.tick(1500);
    assert.deepEqual(cam2.chosen, [
      [-1, 3],
      [-1, 3],
    ]);
  });

  it("caps a publisher's camera at the app's quality, at the next tick", () => {
    const cam = track('1', 'video', 'alice+1', 3);
    const d = downlink([cam], RATES, 5_000_000);
    d.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [2, 3]);
    assert.equal(d.setQuality('alice+1', 'low'), true);
    d.tick(1050);
    assert.deepEqual(cam.chosen.at(-1), [0, 3]);
    d.setQuality('alice+1', 'medium');
    d.tick(1100);
    assert.deepEqual(cam.chosen.at(-1), [1, 3]);
    d.setQuality('alice+1', 'high');
    d.tick(1150);
    assert.deepEqual(cam.chosen.at(-1), [2, 3]);
  });

  it('asks for PAD_MS ticks only while a higher layer is wanted or an allocation is due', () => {
    // a 1:1 call without simulcast: nothing to probe for once allocated
    const plain = downlink([track('0', 'audio', 'bob+1'), track('1', 'video', 'bob+1')], {}, 500_000);
    assert.equal(plain.wantsFastTicks, true, 'before the first allocation');
    plain.tick(1000);
    assert.equal(plain.wantsFastTicks, false);
    // a camera on its top layer: the same, until the app caps it
    const top = downlink([track('1', 'video', 'alice+1', 3)], RATES, 5_000_000);
    top.tick(1000);
    assert.equal(top.wantsFastTicks, false);
    top.setQuality('alice+1', 'low');
    assert.equal(top.wantsFastTicks, true, 'the cap is applied at the next fast tick');
    top.tick(1050);
    assert.equal(top.wantsFastTicks, false);
    // a camera below the layer it would like: probes may start at any tick
    const cam = track('1', 'video', 'alice+1', 3);
    const below = downlink([cam], RATES, 800_000);
    below.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [1, 3]);
    assert.equal(below.wantsFastTicks, true);
  });

  it('bounds the caps one subscriber keeps', () => {
    const d = downlink([], {}, 1_000_000);
    for (let i = 0; i < 256; i++) assert.equal(d.setQuality(`p${i}+x`, 'low'), true);
    assert.equal(d.setQuality('one-more+x', 'low'), false);
    assert.equal(d.setQuality('p0+x', 'medium'), true, 'changing an existing cap is fine');
    assert.equal(d.setQuality('one-more+x', 'high'), true, 'lifting is always fine');
  });

  it('adaptive stream: the smallest layer at least the size shown (with VIDEO_QUALITY a further cap); hidden: paused', () => {
    const cam = track('1', 'video', 'alice+1', 3);
    const d = downlink([cam], RATES, 5_000_000);
    const sizes: [number, number][] = [
      [320, 180],
      [640, 360],
      [1280, 720],
    ];
    d.sizesOf = (pub, trackId) => (pub === 'alice+1' && trackId === 'video0' ? sizes : undefined);
    d.tick(1000);
    assert.deepEqual(cam.chosen.at(-1), [2, 3]);
    assert.equal(d.setViewSize('alice+1', 320, 180), true);
    d.tick(1050);
    assert.deepEqual(cam.chosen.at(-1), [0, 3], '320×180: the ¼ layer');
    d.setViewSize('alice+1', 400, 200);
    d.tick(1100);
    assert.deepEqual(cam.chosen.at(-1), [1, 3], 'wider than ¼: the ½ layer');
    d.setQuality('alice+1', 'low');
    d.tick(1150);
    assert.deepEqual(cam.chosen.at(-1), [0, 3], 'the quality cap still holds');
    d.setQuality('alice+1', 'high');
    d.setViewSize('alice+1', 0, 0);
    d.tick(1200);
    assert.deepEqual(cam.chosen.at(-1), [-1, 3], 'not shown: paused');
    assert.equal(d.layers.get('1'), null);
    d.setViewSize('alice+1', 2560, 1440);
    d.tick(1250);
    assert.deepEqual(cam.chosen.at(-1), [2, 3], 'larger than every layer: what the path carries');
    d.forget('alice+1');
    d.sizesOf = () => undefined;
    d.setViewSize('alice+1', 320, 180);
    d.tick(1300);
    assert.deepEqual(cam.chosen.at(-1), [2, 3], 'no layer size known: the size caps nothing');
  });

  it('adaptive stream, one-stream video: hidden while shown at 0×0, shown again after; a simulcast camera is never told', () => {
    const plain = track('1', 'video', 'bob+1');
    const cam = track('2', 'video', 'alice+1', 3);
    const d = downlink([plain, cam], RATES, 5_000_000);
    d.tick(1000);
    assert.deepEqual(plain.hidden, [false], 'no size set: shown');
    d.setViewSize('bob+1', 0, 0);
    d.tick(1050);
    assert.deepEqual(plain.hidden, [false, true], 'not shown: paused');
    d.setViewSize('bob+1', 320, 180);
    d.tick(1100);
    assert.deepEqual(plain.hidden, [false, true, false], 'shown again');
    assert.deepEqual(cam.hidden, [], 'simulcast pauses by its layer choice');
  });

  it('layerForView: the smallest known layer at least as wide and as high', () => {
    const sizes: [number, number][] = [
      [0, 0],
      [640, 480],
      [1280, 960],
    ];
    assert.equal(layerForView(sizes, { width: 100, height: 100 }), 1, 'an unknown layer is skipped');
    assert.equal(layerForView(sizes, { width: 640, height: 360 }), 1);
    assert.equal(layerForView(sizes, { width: 641, height: 360 }), 2);
    assert.equal(layerForView(sizes, { width: 320, height: 500 }), 2, 'height counts too');
    assert.equal(layerForView(sizes, { width: 1920, height: 1080 }), undefined);
    assert.equal(layerForView(undefined, { width: 1, height: 1 }), undefined);
  });

  it('bounds the video sizes one subscriber keeps', () => {
    const d = downlink([], {}, 1_000_000);
    for (let i = 0; i < 256; i++) assert.equal(d.setViewSize(`p${i}+x`, 320, 180), true);
    assert.equal(d.setViewSize('one-more+x', 320, 180), false);
    d.forget('p0+x');
    assert.equal(d.setViewSize('one-more+x', 320, 180), true, 'a departed publisher frees its place');
  });
});
