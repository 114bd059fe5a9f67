/**
 * The allocator's choices for given budgets and layer tables (issue 18, item 3): audio first,
 * screen share before cameras, the lowest-priority video paused first and resumed when it
 * fits, caps, and hysteresis at the boundaries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AllocTrack, allocate, changedTracks, type Layer, type LayerRate, sameLayer } from '../../src/media/bandwidth/allocator.js';

const L = (spatial: number, temporal = 0): Layer => ({ spatial, temporal });
const R = (spatial: number, temporal: number, bps: number): LayerRate => ({ spatial, temporal, bps });

/** Three simulcast layers, one temporal layer each: 320x180, 640x360, 1280x720. */
const SIMULCAST = [R(0, 0, 150_000), R(1, 0, 500_000), R(2, 0, 1_300_000)];
/** The same with three temporal layers each (L1T3 per simulcast layer), rates cumulative. */
const TEMPORAL = [
  R(0, 0, 60_000),
  R(0, 1, 100_000),
  R(0, 2, 150_000),
  R(1, 0, 250_000),
  R(1, 1, 380_000),
  R(1, 2, 500_000),
  R(2, 0, 600_000),
  R(2, 1, 900_000),
  R(2, 2, 1_300_000),
];

const audio = (id = 'mic'): AllocTrack => ({ id, kind: 'audio', source: 'audio', layers: [R(0, 0, 40_000)] });
const camera = (id: string, extra: Partial<AllocTrack> = {}): AllocTrack => ({
  id,
  kind: 'video',
  source: 'camera',
  layers: SIMULCAST,
  ...extra,
});
const screen = (id = 'screen'): AllocTrack => ({ id, kind: 'video', source: 'screen', layers: [R(0, 0, 800_000)] });

/** The choices as plain entries, in the tracks' order: easy to compare exactly. */
function choices(budget: number, tracks: AllocTrack[], previous?: ReadonlyMap<string, Layer | null>) {
  const a = allocate(budget, tracks, previous);
  return { layers: Object.fromEntries(tracks.map((t) => [t.id, a.layers.get(t.id)])), used: a.usedBps, wanted: a.wantedBps, map: a.layers };
}

describe('allocate', () => {
  it('gives a camera its top layer when the budget has headroom over it, and asks for nothing more', () => {
    const a = choices(2_000_000, [audio(), camera('cam')]);
    assert.deepEqual(a.layers, { mic: L(0), cam: L(2) });
    assert.equal(a.used, 1_340_000);
    assert.equal(a.wanted, 0);
  });

  it('takes the layer that fits a 400 kbit/s budget and asks for the budget of the top layer', () => {
    const a = choices(400_000, [audio(), camera('cam')]);
    assert.deepEqual(a.layers, { mic: L(0), cam: L(0) });
    assert.equal(a.used, 190_000);
    // (40k + 1.3M) × 1.15
    assert.equal(a.wanted, 1_541_000);
  });

  it('always forwards audio, even with no budget; a video that does not fit is paused', () => {
    const a = choices(0, [camera('cam'), audio()]);
    assert.deepEqual(a.layers, { cam: null, mic: L(0) });
    assert.equal(a.used, 40_000);
  });

  it('reserves audio before any video', () => {
    // 150k of camera fits 200k only without the 40k audio (and its headroom)
    const a = choices(200_000, [camera('cam'), audio()]);
    assert.deepEqual(a.layers, { cam: null, mic: L(0) });
    const b = choices(219_000, [camera('cam'), audio()]);
    assert.deepEqual(b.layers, { cam: L(0), mic: L(0) });
  });

  it('serves a screen share before cameras listed ahead of it, and pauses the last camera first', () => {
    const tracks = [camera('a'), camera('b'), audio(), screen()];
    const a = choices(1_200_000, tracks);
    // screen 840k×1.15 = 966k ✓, camera a 990k×1.15 = 1138.5k ✓, camera b 1140k×1.15 = 1311k ✗
    assert.deepEqual(a.layers, { a: L(0), b: null, mic: L(0), screen: L(0) });
    assert.equal(a.used, 990_000);
  });

  it('lets a cheap lower-priority video use what a costly higher-priority one could not', () => {
    const a = choices(500_000, [screen(), camera('a'), camera('b'), audio()]);
    assert.deepEqual(a.layers, { screen: null, a: L(0), b: L(0), mic: L(0) });
    assert.equal(a.used, 340_000);
  });

  it('upgrades equal priorities in turn: two cameras at 360p before one at 720p', () => {
    const a = choices(1_500_000, [audio(), camera('a'), camera('b')]);
    assert.deepEqual(a.layers, { mic: L(0), a: L(1), b: L(1) });
    assert.equal(a.used, 1_040_000);
  });

  it('upgrades a higher priority (the spotlight) to its best before the others leave their lowest', () => {
    const a = choices(2_000_000, [audio(), camera('thumb'), camera('spot', { priority: 3 })]);
    // spot: 150k → 500k → 1.3M (1.49M × 1.15 = 1.7135M ✓); thumb to 500k would need 1.84M × 1.15
    assert.deepEqual(a.layers, { mic: L(0), thumb: L(0), spot: L(2) });
  });

  describe('pause and resume', () => {
    const tracks = [audio(), camera('a'), camera('b')];

    it('pauses the lowest-priority camera when its lowest layer no longer fits', () => {
      const before = choices(2_000_000, tracks).map;
      const a = choices(300_000, tracks, before);
      assert.deepEqual(a.layers, { mic: L(0), a: L(0), b: null });
      const b = choices(150_000, tracks, a.map);
      assert.deepEqual(b.layers, { mic: L(0), a: null, b: null });
    });

    it('resumes a paused camera only with headroom', () => {
      const paused = new Map<string, Layer | null>([
        ['mic', L(0)],
        ['a', L(0)],
        ['b', null],
      ]);
      // 340k fits 360k, but resuming needs 340k × 1.15 = 391k
      assert.deepEqual(choices(360_000, tracks, paused).layers, { mic: L(0), a: L(0), b: null });
      assert.deepEqual(choices(390_999, tracks, paused).layers, { mic: L(0), a: L(0), b: null });
      assert.deepEqual(choices(391_000, tracks, paused).layers, { mic: L(0), a: L(0), b: L(0) });
    });

    it('names the budget that resumes the paused cameras at their lowest layer (what to probe for first)', () => {
      const paused = new Map<string, Layer | null>([
        ['mic', L(0)],
        ['a', L(0)],
        ['b', null],
      ]);
      const a = allocate(360_000, tracks, paused);
      // used 190k (mic + a's lowest) + b's lowest 150k, × 1.15; the best is still all top layers
      assert.equal(a.resumeBps, 391_000);
      assert.equal(a.wantedBps, 3_036_000);
      const none = allocate(150_000, tracks, paused);
      assert.equal(none.resumeBps, Math.ceil((40_000 + 150_000 + 150_000) * 1.15));
      assert.equal(allocate(391_000, tracks, paused).resumeBps, 0, 'nothing paused');
    });

    it('keeps a running camera at a budget its resume would not get', () => {
      const running = new Map<string, Layer | null>([
        ['mic', L(0)],
        ['a', L(0)],
        ['b', L(0)],
      ]);
      assert.deepEqual(choices(340_000, tracks, running).layers, { mic: L(0), a: L(0), b: L(0) });
      assert.deepEqual(choices(339_999, tracks, running).layers, { mic: L(0), a: L(0), b: null });
    });
  });

  describe('hysteresis', () => {
    const tracks = [audio(), camera('cam')];
    const at = (layer: Layer) => new Map<string, Layer | null>([['cam', layer]]);

    it('stays on the top layer while it fits, goes down when it does not', () => {
      assert.deepEqual(choices(1_340_000, tracks, at(L(2))).layers.cam, L(2));
      assert.deepEqual(choices(1_339_999, tracks, at(L(2))).layers.cam, L(1));
    });

    it('goes up only with 15 % headroom over the new total', () => {
      // 1.34M × 1.15 = 1.541M
      assert.deepEqual(choices(1_540_999, tracks, at(L(1))).layers.cam, L(1));
      assert.deepEqual(choices(1_541_000, tracks, at(L(1))).layers.cam, L(2));
      // 540k × 1.15 = 621k
      assert.deepEqual(choices(620_999, tracks, at(L(0))).layers.cam, L(0));
      assert.deepEqual(choices(621_000, tracks, at(L(0))).layers.cam, L(1));
    });

    it('does not flap when the budget oscillates ±5 % around a layer boundary', () => {
      let prev: ReadonlyMap<string, Layer | null> = at(L(2));
      const seen: (Layer | null | undefined)[] = [];
      for (const budget of [1_300_000, 1_400_000, 1_330_000, 1_420_000, 1_300_000]) {
        prev = allocate(budget, tracks, prev).layers;
        seen.push(prev.get('cam'));
      }
      assert.deepEqual(seen, [L(1), L(1), L(1), L(1), L(1)]);
    });

    it('uses the track’s current layer when the previous allocation does not know it', () => {
      const t = [audio(), camera('cam', { current: L(2) })];
      assert.deepEqual(choices(1_400_000, t).layers.cam, L(2));
      assert.deepEqual(choices(1_400_000, [audio(), camera('cam')]).layers.cam, L(1));
    });
  });

  describe('caps', () => {
    it('never goes above the cap, and asks for nothing more once there', () => {
      const a = choices(5_000_000, [audio(), camera('cam', { cap: { maxSpatial: 1 } })]);
      assert.deepEqual(a.layers.cam, L(1));
      assert.equal(a.wanted, 0);
      assert.deepEqual(choices(5_000_000, [audio(), camera('cam', { cap: { maxSpatial: 0 } })]).layers.cam, L(0));
    });

    it('moves down at once when the cap drops below the previous layer', () => {
      const prev = new Map<string, Layer | null>([['cam', L(2)]]);
      assert.deepEqual(choices(5_000_000, [audio(), camera('cam', { cap: { maxSpatial: 0 } })], prev).layers.cam, L(0));
    });

    it('caps temporal layers', () => {
      const cam = camera('cam', { layers: TEMPORAL, cap: { maxTemporal: 1 } });
      assert.deepEqual(choices(5_000_000, [audio(), cam]).layers.cam, L(2, 1));
      assert.deepEqual(choices(300_000, [audio(), cam]).layers.cam, L(0, 1));
    });

    it('pauses a video whose cap leaves no seen layer, without asking for more', () => {
      const cam = camera('cam', { layers: [R(0, 0, 0), R(1, 0, 500_000)], cap: { maxSpatial: 0 } });
      const a = choices(5_000_000, [audio(), cam]);
      assert.equal(a.layers.cam, null);
      assert.equal(a.wanted, 0);
    });
  });

  describe('layers', () => {
    it('prefers the full frame rate of a lower resolution to a higher resolution at a lower frame rate', () => {
      const cam = camera('cam', { layers: TEMPORAL });
      // S1T0 (250k) would fit 400k, but only S0T2 and the full-rate S1T2 (540k × 1.15) are offered
      assert.deepEqual(choices(400_000, [audio(), cam]).layers.cam, L(0, 2));
      assert.deepEqual(choices(621_000, [audio(), cam]).layers.cam, L(1, 2));
      assert.deepEqual(choices(1_541_000, [audio(), cam]).layers.cam, L(2, 2));
    });

    it('drops temporal layers of the lowest resolution before pausing', () => {
      const cam = camera('cam', { layers: TEMPORAL });
      const prev = new Map<string, Layer | null>([['cam', L(0, 2)]]);
      assert.deepEqual(choices(140_000, [audio(), cam], prev).layers.cam, L(0, 1));
      assert.deepEqual(choices(100_000, [audio(), cam], prev).layers.cam, L(0, 0));
      assert.deepEqual(choices(99_999, [audio(), cam], prev).layers.cam, null);
    });

    it('never chooses a layer not seen yet', () => {
      const cam = camera('cam', { layers: [R(0, 0, 150_000), R(1, 0, 500_000), R(2, 0, 0)] });
      const a = choices(10_000_000, [audio(), cam]);
      assert.deepEqual(a.layers.cam, L(1));
      assert.equal(a.wanted, 0);
      assert.equal(choices(10_000_000, [audio(), camera('new', { layers: [] })]).layers.new, null);
    });

    it('takes the layers in quality order whatever order they come in', () => {
      const cam = camera('cam', { layers: [R(2, 0, 1_300_000), R(0, 0, 150_000), R(1, 0, 500_000)] });
      assert.deepEqual(choices(700_000, [audio(), cam]).layers.cam, L(1));
    });
  });

  it('lists what changed between two allocations', () => {
    const before = new Map<string, Layer | null>([
      ['mic', L(0)],
      ['a', L(2)],
      ['b', L(0)],
      ['gone', L(0)],
    ]);
    const after = new Map<string, Layer | null>([
      ['mic', L(0)],
      ['a', L(1)],
      ['b', null],
      ['new', L(0)],
    ]);
    assert.deepEqual(changedTracks(before, after), ['a', 'b', 'new', 'gone']);
    assert.deepEqual(changedTracks(after, after), []);
    assert.equal(sameLayer(null, null), true);
    assert.equal(sameLayer(L(0), null), false);
    assert.equal(sameLayer(L(1, 2), L(1, 2)), true);
  });
});
