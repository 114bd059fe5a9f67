// Direct Chromium→Chromium call forced through the relay; prints stats.
import { chromium } from 'playwright-core';
const turnUrl = process.env.TURN_URL ?? 'turn:127.0.0.1:3478?transport=tcp';
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--disable-features=WebRtcHideLocalIpsWithMdns'] });
const p = await b.newPage();
const r = await p.evaluate(async (turnUrl) => {
  const cfg = { iceServers: [{ urls: turnUrl, username: 'u', credential: 'p' }], iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(cfg), c = new RTCPeerConnection(cfg);
  a.onicecandidate = (e) => e.candidate && c.addIceCandidate(e.candidate);
  c.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const cv = document.createElement('canvas'); cv.width=320; cv.height=240; const g=cv.getContext('2d'); setInterval(()=>{g.fillStyle='#'+Math.floor(Math.random()*4095).toString(16).padStart(3,'0'); g.fillRect(0,0,320,240);},33); const s = cv.captureStream(30);
  s.getTracks().forEach((t) => a.addTrack(t, s));
  await a.setLocalDescription(); await c.setRemoteDescription(a.localDescription);
  await c.setLocalDescription(); await a.setRemoteDescription(c.localDescription);
  await new Promise((r) => setTimeout(r, 6000));
  let frames = 0; (await c.getStats()).forEach((x) => { if (x.type === 'inbound-rtp') frames = x.framesDecoded; });
  return { state: a.connectionState, frames };
}, turnUrl);
console.log(r); await b.close();
