// The management page: the private API's token and list routes (on the public server with --debug).

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const id of ['t-room', 'l-room']) $(id).value = params.get('room') ?? 'demo';

/** Fetches and turns a failure into the server's one-line reason with its status. */
async function call(url, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new Error(`cannot reach the server: ${err.message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status}: ${text.split('\n', 1)[0] || res.statusText}`);
  return text;
}

$('token-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('token-result').textContent = '';
  $('token-error').textContent = '';
  const role = $('t-role').value;
  const body = JSON.stringify({ room: $('t-room').value, id: $('t-id').value, token: $('t-token').value });
  try {
    for (const r of role === 'both' ? ['pub', 'sub'] : [role]) {
      await call(`/create/${r}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    }
    const what = role === 'both' ? 'publisher and subscriber' : role === 'pub' ? 'publisher' : 'subscriber';
    $('token-result').textContent = $('t-token').value
      ? `token set for ${what} ${$('t-id').value} in ${$('t-room').value}`
      : `token cleared for ${what} ${$('t-id').value} in ${$('t-room').value}`;
  } catch (err) {
    $('token-error').textContent = `could not set the token: ${err.message}`;
  }
});

function fill(list, ids) {
  list.replaceChildren(
    ...ids.map((id) => {
      const li = document.createElement('li');
      li.textContent = id;
      return li;
    }),
  );
}

async function refresh() {
  $('list-error').textContent = '';
  const room = encodeURIComponent($('l-room').value);
  try {
    const json = { headers: { Accept: 'application/json' } };
    const [pubs, subs] = await Promise.all([call(`/list/pub/${room}`, json), call(`/list/sub/${room}`, json)]);
    fill($('pubs'), JSON.parse(pubs));
    fill($('subs'), JSON.parse(subs));
  } catch (err) {
    fill($('pubs'), []);
    fill($('subs'), []);
    $('list-error').textContent = `could not list the room: ${err.message}`;
  }
}

$('list-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void refresh();
});

let timer;
$('l-auto').addEventListener('change', () => {
  clearInterval(timer);
  if ($('l-auto').checked) timer = setInterval(refresh, 2000);
});
