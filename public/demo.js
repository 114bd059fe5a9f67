// Minimal low-level client of the Weever Streaming protocol, used by the end-to-end tests
// to drive the wire protocol directly. Applications use the typed SDK (client/, /sdk/weever.js).

const randomSuffix = () => Math.random().toString(36).slice(2, 8);

function waitIceComplete(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === 'complete') {
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      }
    };
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function post(base, path, sdp, token) {
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: sdp });
  const text = await res.text();
  if (res.status !== 201) {
    const err = new Error(`${res.status}: ${text.trim()}`);
    err.status = res.status;
    throw err;
  }
  return { answer: text, location: new URL(res.headers.get('Location'), `${base || location.origin}/`).href };
}

/**
 * Sends STOP and closes once the server has closed the channel (or after 1 s without it):
 * closing at once could tear the connection down before STOP is delivered.
 */
async function stopVia(dc, pc) {
  if (dc.readyState === 'open') {
    dc.send('STOP');
    await new Promise((resolve) => {
      dc.addEventListener('close', resolve, { once: true });
      setTimeout(resolve, 1000);
    });
  }
  pc.close();
}

function openControl(pc) {
  const dc = pc.createDataChannel('control');
  const opened = new Promise((resolve) => dc.addEventListener('open', resolve, { once: true }));
  return { dc, opened };
}

/** Publishes `stream` (camera/mic) as `<id>+<random>`; resolves when the answer is applied. */
export async function publish({ base = '', room, id, stream, token }) {
  const fullId = `${id}+${randomSuffix()}`;
  const pc = new RTCPeerConnection();
  const { dc, opened } = openControl(pc);
  const messages = [];
  let answerWaiter = null;
  dc.addEventListener('message', (e) => {
    messages.push(e.data);
    const msg = String(e.data);
    if (answerWaiter && (msg.startsWith('SDP_ANSWER ') || msg.startsWith('ERROR '))) {
      const w = answerWaiter;
      answerWaiter = null;
      w(msg);
    }
  });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  await pc.setLocalDescription(await pc.createOffer());
  await waitIceComplete(pc);
  const { answer, location: session } = await post(
    base,
    `/pub/${encodeURIComponent(room)}/${encodeURIComponent(fullId)}`,
    pc.localDescription.sdp,
    token,
  );
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  await opened;
  return {
    pc,
    dc,
    fullId,
    session,
    messages,
    /** Adds a track to the running publication: our SDP_OFFER on `control`, the server's SDP_ANSWER back. */
    async addTrack(track) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      await pc.setLocalDescription(await pc.createOffer());
      const reply = new Promise((resolve) => {
        answerWaiter = resolve;
      });
      dc.send(`SDP_OFFER ${pc.localDescription.sdp}`);
      const msg = await reply;
      if (!msg.startsWith('SDP_ANSWER ')) throw new Error(msg);
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.slice('SDP_ANSWER '.length) });
    },
    stop: () => stopVia(dc, pc),
    async remove() {
      await fetch(session, { method: 'DELETE' });
      pc.close();
    },
  };
}

/**
 * Subscribes to the room as `<id>+<random>`. Answers every server offer in order.
 * `onStream(pubFullId, stream)` fires for each new publisher stream, `onLeft(pubFullId)` when it goes.
 */
export async function subscribe({ base = '', room, id, token, onStream = () => {}, onLeft = () => {}, holdAnswers = false }) {
  const fullId = `${id}+${randomSuffix()}`;
  const pc = new RTCPeerConnection();
  const { dc, opened } = openControl(pc);
  // streamOfMid: m-line → publisher full id (MediaStream id), from the track events
  const state = { offers: 0, joins: [], lefts: [], errors: [], streams: new Map(), streamOfMid: {}, messages: [] };
  // holdAnswers (tests): answers wait until release() is called, to exercise coalescing.
  let release = () => {};
  let chain = holdAnswers
    ? new Promise((resolve) => {
        release = resolve;
      })
    : Promise.resolve();
  dc.addEventListener('message', (e) => {
    const msg = String(e.data);
    state.messages.push(msg.slice(0, 200));
    chain = chain
      .then(async () => {
        const space = msg.indexOf(' ');
        const cmd = space < 0 ? msg : msg.slice(0, space);
        const arg = space < 0 ? '' : msg.slice(space + 1);
        if (cmd === 'SDP_OFFER') {
          state.offers++;
          await pc.setRemoteDescription({ type: 'offer', sdp: arg });
          await pc.setLocalDescription(await pc.createAnswer());
          dc.send(`SDP_ANSWER ${pc.localDescription.sdp}`);
        } else if (cmd === 'PUB_JOIN') {
          state.joins.push(arg);
        } else if (cmd === 'PUB_LEFT') {
          state.lefts.push(arg);
          state.streams.delete(arg);
          onLeft(arg);
        } else if (cmd === 'ERROR') {
          state.errors.push(arg);
        }
      })
      .catch((err) => state.errors.push(`client: ${err}`));
  });
  pc.addEventListener('track', (e) => {
    const stream = e.streams[0];
    if (!stream) return;
    state.streamOfMid[e.transceiver.mid] = stream.id;
    const known = state.streams.get(stream.id);
    state.streams.set(stream.id, stream);
    if (!known) onStream(stream.id, stream);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await waitIceComplete(pc);
  const { answer, location: session } = await post(
    base,
    `/sub/${encodeURIComponent(room)}/${encodeURIComponent(fullId)}`,
    pc.localDescription.sdp,
    token,
  );
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  await opened;
  return {
    pc,
    dc,
    fullId,
    session,
    state,
    release: () => release(),
    stop: () => stopVia(dc, pc),
    async remove() {
      await fetch(session, { method: 'DELETE' });
      pc.close();
    },
  };
}

/** Per inbound track: kind, stream (publisher full id), frames decoded, packets received. */
export async function inboundStats(pc) {
  const stats = await pc.getStats();
  const out = [];
  stats.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const t = [...pc.getTransceivers()].find((x) => x.mid === s.mid);
    out.push({
      kind: s.kind,
      mid: s.mid,
      trackIdentifier: s.trackIdentifier,
      packetsReceived: s.packetsReceived ?? 0,
      framesDecoded: s.framesDecoded ?? 0,
      direction: t?.currentDirection ?? null,
    });
  });
  return out;
}
