// The demo site: five use cases on top of the SDK served at /sdk/weever.js.
import { WeeverClient } from '/sdk/weever.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$('room').value = params.get('room') ?? 'demo';
$('name').value = params.get('id') ?? `guest${Math.floor(Math.random() * 1000)}`;
if (params.get('mode')) $('mode').value = params.get('mode');
if (params.get('token')) $('token').value = params.get('token');
// `?ice=relay`: TURN-relayed paths only, to check that the server's relay works
const iceTransportPolicy = params.get('ice') === 'relay' ? 'relay' : undefined;

/** What each use case does: publish camera/mic, subscribe, which controls it shows. */
const MODES = {
  conference: { publish: true, subscribe: true, controls: ['camera', 'mic', 'screen'] },
  audio: { publish: true, subscribe: true, audioOnly: true, controls: ['mic'] },
  broadcast: { publish: true, subscribe: false, controls: ['camera', 'mic', 'screen'] },
  watch: { publish: false, subscribe: true, controls: [] },
  publish: { publish: true, subscribe: false, raw: true, controls: ['camera', 'mic'] },
  subscribe: { publish: false, subscribe: true, raw: true, controls: [] },
};

/** Mute toggle buttons: the track kind and the labels, which say what a press does next. */
const TOGGLES = {
  camera: { kind: 'video', live: 'Camera off', muted: 'Camera on' },
  mic: { kind: 'audio', live: 'Mute mic', muted: 'Unmute mic' },
};

/** The running session, exposed for tests and for poking at from the console. */
const demo = { client: null, mode: null };
window.demo = demo;
let statsTimer;

function status(text, kind = 'info') {
  $('status').textContent = text;
  $('status').dataset.kind = kind;
}

function notify(text) {
  const li = document.createElement('li');
  li.textContent = text;
  $('notices').prepend(li);
  while ($('notices').children.length > 5) $('notices').lastElementChild.remove();
  setTimeout(() => li.remove(), 8000);
}

const who = (p) => (p.kind === 'screen' ? `${p.id} (screen)` : p.id);

/** A tile per stream: video when the stream has video, else a name card that plays the audio. */
function renderTile(key, { label, stream, local, kind, user }) {
  let fig = document.querySelector(`figure[data-peer="${CSS.escape(key)}"]`);
  if (!fig) {
    fig = document.createElement('figure');
    fig.className = 'tile';
    fig.dataset.peer = key;
    fig.dataset.kind = kind;
    fig.dataset.user = user;
    if (local) fig.dataset.local = 'true';
    const cap = document.createElement('figcaption');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = label;
    const quality = document.createElement('span');
    quality.className = 'quality';
    quality.textContent = '…';
    quality.setAttribute('aria-label', 'connection quality: unknown');
    cap.append(name, quality);
    fig.append(cap);
    $('grid').append(fig);
  }
  const hasVideo = stream.getVideoTracks().length > 0;
  const tag = hasVideo ? 'video' : 'audio';
  let el = fig.querySelector('video, audio');
  if (el?.localName !== tag) {
    el?.remove();
    el = document.createElement(tag);
    el.autoplay = true;
    if (hasVideo) el.playsInline = true;
    el.muted = local; // never play our own microphone back
    el.setAttribute('aria-label', `${hasVideo ? 'video' : 'audio'} of ${label}`);
    fig.prepend(el);
    // adaptive stream: the server sends the layer this tile's size needs, nothing while it is off screen
    stopObserving(fig);
    if (hasVideo && !local && demo.client) fig.stopObserving = demo.client.observeVideo(el, user, kind);
  }
  if (el.srcObject !== stream) el.srcObject = stream;
  fig.classList.toggle('audio-only', !hasVideo);
  fig.dataset.initial = (user[0] ?? '?').toUpperCase();
  if (demo.client) showSpeakers(demo.client, demo.client.activeSpeakers);
}

/** Shows (or hides) a muted-mic or camera-off mark on a tile; a tile made later asks the SDK. */
function markTileMuted(key, kind, muted) {
  const fig = document.querySelector(`figure[data-peer="${CSS.escape(key)}"]`);
  if (!fig) return;
  if (muted) fig.dataset[kind === 'audio' ? 'mutedAudio' : 'mutedVideo'] = 'true';
  else delete fig.dataset[kind === 'audio' ? 'mutedAudio' : 'mutedVideo'];
}

function stopObserving(fig) {
  fig.stopObserving?.();
  fig.stopObserving = undefined;
}

function removeTile(key) {
  const fig = document.querySelector(`figure[data-peer="${CSS.escape(key)}"]`);
  if (!fig) return;
  stopObserving(fig);
  fig.remove();
}

/**
 * The grid fills the space left under the controls: every column count from 1 to the
 * number of tiles is tried, and the one giving the largest 16:9 tiles that fit both the
 * width and the height wins (2 tiles side by side on a laptop, one above the other on a
 * phone held upright). When that would make tiles narrower than MIN_TILE_WIDTH, the grid
 * is paged: a page holds as many as fit at that width, and the tiles of the other pages
 * are hidden — adaptive stream then receives none of their video (their sound plays on).
 * On a screen too short for even one row the tiles take the width and the page scrolls.
 */
const TILE_ASPECT = 16 / 9;
const MIN_GRID_HEIGHT = 180;
const MIN_TILE_WIDTH = 200;
/** the first tile of the page shown: the page follows it when the tiles per page change (a notice comes or goes) */
let pageStart = 0;
function layoutGrid() {
  const grid = $('grid');
  const tiles = [...grid.children];
  const n = tiles.length;
  if (n === 0) {
    $('pager').hidden = true;
    return;
  }
  const gap = Number.parseFloat(getComputedStyle(grid).columnGap) || 0;
  const width = grid.clientWidth;
  const bottomPadding = Number.parseFloat(getComputedStyle(document.querySelector('main')).paddingBottom) || 0;
  const height = Math.max(MIN_GRID_HEIGHT, window.innerHeight - (grid.getBoundingClientRect().top + window.scrollY) - bottomPadding);
  const fit = (k) => {
    let best = { cols: 1, tile: 0 };
    for (let cols = 1; cols <= k; cols++) {
      const rows = Math.ceil(k / cols);
      const byWidth = (width - gap * (cols - 1)) / cols;
      const byHeight = ((height - gap * (rows - 1)) / rows) * TILE_ASPECT;
      const tile = Math.min(byWidth, byHeight);
      if (tile > best.tile) best = { cols, tile };
    }
    return best;
  };
  let perPage = n;
  while (perPage > 1 && fit(perPage).tile < MIN_TILE_WIDTH) perPage--;
  const pages = Math.ceil(n / perPage);
  const page = Math.min(Math.floor(pageStart / perPage), pages - 1);
  if (Math.floor(pageStart / perPage) > page) pageStart = page * perPage; // tiles left: the last page
  grid.dataset.perPage = String(perPage);
  tiles.forEach((t, i) => {
    const shown = Math.floor(i / perPage) === page;
    if (t.hidden === shown) t.hidden = !shown;
  });
  $('pager').hidden = pages <= 1;
  $('page-label').textContent = `page ${page + 1} of ${pages}`;
  $('page-prev').disabled = page === 0;
  $('page-next').disabled = page === pages - 1;
  const best = fit(perPage);
  grid.style.setProperty('--cols', String(best.cols));
  grid.style.setProperty('--tile-width', `${Math.floor(best.tile)}px`);
}
for (const [id, step] of [
  ['page-prev', -1],
  ['page-next', 1],
]) {
  $(id).addEventListener('click', () => {
    const perPage = Number($('grid').dataset.perPage) || 1;
    pageStart = Math.max(0, (Math.floor(pageStart / perPage) + step) * perPage);
    layoutGrid();
  });
}
new MutationObserver(layoutGrid).observe($('grid'), { childList: true });
window.addEventListener('resize', layoutGrid);
// the controls above the grid change height (notices come and go, the toolbar wraps)
new ResizeObserver(layoutGrid).observe(document.querySelector('main'));

/** The tile of a publisher full id: a remote one, or our own camera/screen preview. */
function tileKeyOf(client, fullId) {
  const own = client.fullIds;
  if (fullId === own.camera) return 'local-camera';
  if (fullId === own.screen) return 'local-screen';
  return fullId;
}

/** Highlights the loudest speaker's tile; every speaking tile gets a marker on its name. */
function showSpeakers(client, speakers) {
  const speaking = new Map(speakers.map((s, i) => [tileKeyOf(client, s.fullId), i === 0 ? 'top' : 'yes']));
  for (const fig of $('grid').children) {
    const state = speaking.get(fig.dataset.peer);
    if (state) fig.dataset.speaking = state;
    else delete fig.dataset.speaking;
  }
}

const PATH_NAMES = { host: 'direct', srflx: 'through NAT', prflx: 'through NAT', relay: 'relayed' };

/** Per connection, how it reaches the server: the selected candidate's type (host / srflx / relay). */
async function refreshPaths() {
  const client = demo.client;
  if (!client) return;
  let paths;
  try {
    paths = await client.getIcePaths();
  } catch {
    return;
  }
  const parts = Object.entries(paths).map(([conn, p]) => {
    const how = p.candidateType === 'relay' ? `relay ${p.relayProtocol ?? ''}`.trim() : `${p.candidateType} ${p.protocol}`;
    return `${conn}: ${how} (${PATH_NAMES[p.candidateType]})`;
  });
  $('paths').textContent = parts.join(' · ');
  $('paths').dataset.paths = JSON.stringify(Object.fromEntries(Object.entries(paths).map(([c, p]) => [c, p.candidateType])));
}

/** Connection-quality badge per tile, from the SDK's getStats() summary. */
async function refreshQuality() {
  const client = demo.client;
  if (!client) return;
  await refreshPaths();
  let stats;
  try {
    stats = await client.getStats();
  } catch {
    return;
  }
  const fullIds = client.fullIds;
  for (const s of stats) {
    const key = s.direction === 'outbound' ? (s.fullId === fullIds.screen ? 'local-screen' : 'local-camera') : s.fullId;
    const badge = document.querySelector(`figure[data-peer="${CSS.escape(key)}"] .quality`);
    if (!badge) continue;
    const rtt = s.rttMs === undefined ? '' : ` ${Math.round(s.rttMs)} ms`;
    const fps = s.video?.framesPerSecond === undefined ? '' : ` ${Math.round(s.video.framesPerSecond)} fps`;
    badge.dataset.quality = s.quality;
    badge.textContent = demo.mode?.raw ? `${s.quality}${rtt}${fps} ${s.fullId}` : `${s.quality}${rtt}`;
    badge.setAttribute('aria-label', `connection quality: ${s.quality}${rtt}${fps}`);
  }
}

function mediaConstraints(mode) {
  const audio = $('audio').checked;
  const video = !mode.audioOnly && $('video').checked;
  const height = Number($('resolution').value);
  const fps = Number($('fps').value) || 30;
  const camera = $('camera-device').value;
  const mic = $('mic-device').value;
  return {
    audio: audio && mic ? { deviceId: { exact: mic } } : audio,
    video: video
      ? {
          height: { ideal: height },
          width: { ideal: Math.round((height * 16) / 9) },
          frameRate: { ideal: fps },
          ...(camera ? { deviceId: { exact: camera } } : {}),
        }
      : false,
  };
}

/**
 * Device choice before joining: the cameras and microphones the browser lists (names once
 * the page may use them; before that "Camera 1", …), kept current when devices come and go.
 */
async function listDevices() {
  let devices;
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return; // no media devices API (plain http from another host): the defaults stay
  }
  for (const [id, kind, name] of [
    ['camera-device', 'videoinput', 'Camera'],
    ['mic-device', 'audioinput', 'Microphone'],
  ]) {
    const select = $(id);
    const chosen = select.value;
    const found = devices.filter((d) => d.kind === kind && d.deviceId !== '' && d.deviceId !== 'default');
    const options = [new Option('Default', ''), ...found.map((d, i) => new Option(d.label || `${name} ${i + 1}`, d.deviceId))];
    select.replaceChildren(...options);
    if (found.some((d) => d.deviceId === chosen)) select.value = chosen;
  }
}
void listDevices();
navigator.mediaDevices?.addEventListener('devicechange', () => void listDevices());

function explain(err) {
  // The SDK's typed errors: decide on status/code, show the server's reason as is.
  switch (err?.code) {
    case 'unauthorized':
      $('token').focus();
      return `the server refused the token (${err.status}: ${err.reason})`;
    case 'bad-request':
      return `the server rejected the request (${err.status}: ${err.reason})`;
    case 'conflict':
      return `that id is already connected (${err.status}: ${err.reason})`;
    case 'unavailable':
      return `the server is busy or draining, try again (${err.status}: ${err.reason})`;
    case 'media':
      return `no camera or microphone: ${err.reason}`;
    case 'network':
      return `cannot reach the server: ${err.reason}`;
    default:
      return err?.message ?? String(err);
  }
}

/** The people panel: one entry per participant (a viewer who only watches too), with a name. */
function showPeople(client) {
  const list = [...client.participants.values()].sort((a, b) => a.name.localeCompare(b.name));
  $('people-count').textContent = String(list.length);
  $('people').replaceChildren(
    ...list.map((p) => {
      const li = document.createElement('li');
      li.dataset.id = p.id;
      const publishing = p.connections.some((c) => c.role === 'pub');
      li.textContent = `${p.name}${p.id === client.id ? ' (you)' : ''}${publishing ? '' : ' · watching'}`;
      return li;
    }),
  );
}

function addChat(name, text, own = false) {
  const li = document.createElement('li');
  li.className = own ? 'own' : '';
  const who = document.createElement('b');
  who.textContent = `${name}: `;
  li.append(who, document.createTextNode(text));
  $('chat').append(li);
  while ($('chat').children.length > 200) $('chat').firstElementChild.remove();
  li.scrollIntoView({ block: 'nearest' });
}

$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const client = demo.client;
  const text = $('chat-input').value.trim();
  if (!client || !text) return;
  try {
    client.send(text, { topic: 'chat' });
    addChat('you', text, true);
    $('chat-input').value = '';
  } catch (err) {
    status(`message not sent: ${explain(err)}`, 'error');
  }
});

function setJoined(joined, mode) {
  $('side').hidden = !joined || !mode?.subscribe;
  if (!joined) {
    $('people').replaceChildren();
    $('chat').replaceChildren();
    $('people-count').textContent = '0';
  }
  for (const el of $('join').querySelectorAll('input, select, button')) el.disabled = joined;
  $('join').hidden = joined; // the call gets the screen (phones); the form is back after leaving
  $('toolbar').hidden = !joined;
  for (const id of ['camera', 'mic', 'screen']) {
    $(id).hidden = !joined || !mode?.controls.includes(id);
    $(id).dataset.active = 'false';
  }
  for (const [id, t] of Object.entries(TOGGLES)) $(id).textContent = t.live;
  showSharing(false);
}

function showSharing(sharing) {
  $('screen').dataset.active = String(sharing);
  $('screen').textContent = sharing ? 'Stop sharing' : 'Share screen';
}

$('join').addEventListener('submit', async (e) => {
  e.preventDefault();
  const mode = MODES[$('mode').value] ?? MODES.conference;
  const room = $('room').value.trim();
  const id = $('name').value.trim();
  const token = $('token').value.trim();
  let client;
  try {
    client = new WeeverClient({ room, id, ...(token ? { token } : {}), ...(iceTransportPolicy ? { iceTransportPolicy } : {}) });
  } catch (err) {
    status(`could not join: ${explain(err)}`, 'error');
    return;
  }
  demo.client = client;
  demo.mode = mode;
  setJoined(true, mode);
  status('connecting…');

  client.on('connectionState', ({ state, reason }) => {
    $('conn').textContent = state === 'reconnecting' ? 'reconnecting…' : state;
    $('conn').dataset.state = state;
    // ICE `disconnected` (a path outage) is 'reconnecting' too: it may heal on the same session
    if (state === 'reconnecting') status(`connection interrupted (${reason ?? 'unknown'}), reconnecting…`);
    else if (state === 'connected') status(`in room ${room} as ${id}`);
  });
  client.on('publisherJoined', (p) => {
    if (client.connectionState !== 'reconnecting') notify(p.kind === 'screen' ? `${p.id} is sharing their screen` : `${p.id} joined`);
  });
  client.on('publisherLeft', (p) => {
    removeTile(p.fullId);
    if (client.connectionState !== 'reconnecting') notify(p.kind === 'screen' ? `${p.id} stopped sharing` : `${p.id} left`);
  });
  client.on('stream', (p) => {
    const label = mode.raw ? p.fullId : who(p);
    const render = () => {
      renderTile(p.fullId, { label, stream: p.stream, local: false, kind: p.kind, user: p.id });
      for (const t of p.stream.getTracks()) {
        const trackId = t.id; // the server's track id (msid)
        markTileMuted(p.fullId, t.kind, client.isRemoteMuted(p.fullId, trackId));
      }
    };
    render();
    p.stream.addEventListener('addtrack', render);
  });
  // Mute icons: the server says which remote tracks are muted (nothing of them arrives).
  const markMuted = ({ fullId, trackKind }, muted) => markTileMuted(fullId, trackKind, muted);
  client.on('trackMuted', (t) => markMuted(t, true));
  client.on('trackUnmuted', (t) => markMuted(t, false));
  client.on('screenShareEnded', () => {
    removeTile('local-screen');
    showSharing(false);
  });
  client.on('error', (err) => status(explain(err), 'error'));
  client.on('activeSpeakers', ({ speakers }) => showSpeakers(client, speakers));
  for (const ev of ['participantJoined', 'participantUpdated', 'participantLeft']) client.on(ev, () => showPeople(client));
  client.on('data', ({ from, payload, topic }) => {
    if (topic === 'chat' && typeof payload === 'string') addChat(client.participants.get(from)?.name ?? from, payload);
  });

  try {
    if (mode.publish) {
      const stream = await client.publish(mediaConstraints(mode));
      void listDevices(); // with the permission granted now, the devices have their names
      renderTile('local-camera', { label: `${id} (you)`, stream, local: true, kind: 'camera', user: id });
    }
    if (mode.subscribe) await client.subscribe();
    status(`in room ${room} as ${id}`);
    clearInterval(statsTimer);
    statsTimer = setInterval(refreshQuality, 2000);
    void refreshPaths();
  } catch (err) {
    status(`could not join: ${explain(err)}`, 'error');
    await leave(false);
  }
});

async function leave(say = true) {
  clearInterval(statsTimer);
  const client = demo.client;
  demo.client = null;
  await client?.close();
  for (const fig of $('grid').children) stopObserving(fig);
  $('grid').replaceChildren();
  $('paths').textContent = '';
  setJoined(false);
  if (say) status('left the room');
}

$('leave').addEventListener('click', () => void leave());

// Mute toggles: the SDK's isMuted() is the state; data-active only styles the button.
for (const [id, t] of Object.entries(TOGGLES)) {
  $(id).addEventListener('click', () => {
    const client = demo.client;
    if (!client) return;
    client.setMuted(t.kind, !client.isMuted(t.kind));
    const muted = client.isMuted(t.kind);
    markTileMuted('local-camera', t.kind, muted);
    $(id).dataset.active = String(muted);
    $(id).textContent = muted ? t.muted : t.live;
  });
}

$('screen').addEventListener('click', async () => {
  const client = demo.client;
  if (!client) return;
  if (client.screenStream) {
    await client.unpublishScreen();
    return;
  }
  try {
    $('screen').disabled = true;
    const stream = await client.publishScreen();
    renderTile('local-screen', { label: `${client.id} (your screen)`, stream, local: true, kind: 'screen', user: client.id });
    showSharing(true);
  } catch (err) {
    status(`cannot share the screen: ${explain(err)}`, 'error');
  } finally {
    $('screen').disabled = false;
  }
});
