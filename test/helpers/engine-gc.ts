/**
 * Child process of test/e2e/engine-handles.test.ts (run with --expose-gc): connects five
 * loopback PeerConnection pairs, each with a track and a data channel, closes them, lets the
 * garbage collector take every wrapper it may, then calls the engine's cleanup() as the
 * engine's sleep does. `hold` routes each PeerConnection through holdHandles; `bare` does not.
 * Prints `handles held after close: N` and `cleanup survived`.
 */
import nodeDataChannel from 'node-datachannel';
import { heldHandleCount, holdHandles } from '../../src/media/engine-handles.js';

const mode = process.argv[2];
if (mode !== 'hold' && mode !== 'bare') throw new Error('usage: engine-gc hold|bare');
const config = { iceServers: [], disableAutoNegotiation: true, forceMediaTransport: true, bindAddress: '127.0.0.1' };
const wrap = (pc: nodeDataChannel.PeerConnection) => (mode === 'hold' ? holdHandles(pc) : pc);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pair(): Promise<void> {
  const a = wrap(new nodeDataChannel.PeerConnection('a', config));
  const b = wrap(new nodeDataChannel.PeerConnection('b', config));
  const video = new nodeDataChannel.Video('v', 'SendOnly');
  video.addVP8Codec(96);
  video.addSSRC(1234, 'probe');
  // handles referenced while the pair lives, dropped when it is closed (as a session does)
  const handles: unknown[] = [a.addTrack(video), a.createDataChannel('control')];
  b.onTrack((t) => handles.push(t));
  b.onDataChannel((dc) => handles.push(dc));
  a.onLocalCandidate((c, mid) => b.addRemoteCandidate(c, mid));
  b.onLocalCandidate((c, mid) => a.addRemoteCandidate(c, mid));
  a.setLocalDescription('offer');
  b.setRemoteDescription(a.localDescription()!.sdp, 'offer');
  b.setLocalDescription('answer');
  a.setRemoteDescription(b.localDescription()!.sdp, 'answer');
  for (let i = 0; i < 150 && handles.length < 4; i++) await sleep(20);
  if (handles.length < 4) throw new Error(`pair did not connect (${handles.length - 2} of 2 handles arrived)`);
  a.close();
  b.close();
}

for (let i = 0; i < 5; i++) await pair();
for (let i = 0; i < 100 && heldHandleCount() > 0; i++) await sleep(20);
console.log(`handles held after close: ${heldHandleCount()}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
for (let i = 0; i < 5; i++) {
  gc();
  await sleep(50);
}
nodeDataChannel.cleanup();
console.log('cleanup survived');
