// Experiment: relay-only Chromium publisher + subscriber through the SFU via coturn.
import { startServer, launchBrowser, openPage, publishFrom, subscribeFrom, subView, mediaOf } from '../dist/test/e2e/harness.js';
const turnUrl = process.env.TURN_URL ?? 'turn:127.0.0.1:3478?transport=tcp';
const secs = Number(process.env.SECS ?? 20);
const args = process.env.SARGS ? process.env.SARGS.split(' ') : [];
const server = await startServer(args, { LOG_LEVEL: process.env.SLOG ?? 'debug' });
console.log('server', server.publicUrl);
const browser = await launchBrowser();
async function page() {
  const p = await openPage(browser, server);
  await p.evaluate(({ turnUrl }) => {
    const Orig = RTCPeerConnection;
    window.RTCPeerConnection = function (cfg) {
      return new Orig({ ...cfg, iceServers: [{ urls: turnUrl, username: 'u', credential: 'p' }], iceTransportPolicy: 'relay' });
    };
    window.RTCPeerConnection.prototype = Orig.prototype;
  }, { turnUrl });
  return p;
}
const pub = await page();
const sub = await page();
const res = {};
await Promise.allSettled([
  publishFrom(pub, 'r', 'alice').then((x) => (res.pub = x), (e) => (res.pubErr = String(e).slice(0, 200))),
  subscribeFrom(sub, 'r', 'bob').then((x) => (res.sub = x), (e) => (res.subErr = String(e).slice(0, 200))),
]);
console.log(res);
const end = Date.now() + secs * 1000;
while (Date.now() < end) {
  try { const v = await subView(sub); console.log(JSON.stringify(mediaOf(v))); } catch (e) { console.log('view err', String(e).slice(0, 100)); }
  await new Promise((r) => setTimeout(r, 2000));
}
const stats = await pub.evaluate(async () => {
  const pc = window.pub?.pc; if (!pc) return null; const out = [];
  (await pc.getStats()).forEach((s) => { if (s.type === 'candidate-pair' || s.type === 'local-candidate' || s.type === 'remote-candidate') out.push(s); });
  return out;
}).catch((e) => String(e));
console.log('pubstats', JSON.stringify(stats));
await browser.close();
await server.stop();
const fs = await import('node:fs');
fs.writeFileSync(process.env.OUT ?? '/tmp/exp-server.log', server.logs.join('\n'));
process.exit(0);
