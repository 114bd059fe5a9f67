/**
 * A load worker: a child process holding its share of the clients, driven over IPC by
 * the runner. Processes, not worker_threads: node-datachannel's native callbacks crash
 * when PeerConnections live in more than one isolate of a process
 * (murat-dogan/node-datachannel#129; reproduced here with 0.33).
 */
import { type ClientsConfig, LoadClients } from './clients.js';

export interface Call {
  id: number;
  op: 'init' | 'publish' | 'subscribe' | 'snapshot' | 'stopSending' | 'close';
  args: unknown[];
}

const send = (m: object) => process.send?.(m);
let clients: LoadClients | undefined;

process.on('message', async (m: Call) => {
  try {
    if (m.op === 'init') {
      clients = await LoadClients.create(m.args[0] as ClientsConfig);
      return send({ id: m.id, result: 'ready' });
    }
    if (!clients) throw new Error('not initialised');
    const fn = clients[m.op] as (...a: unknown[]) => unknown;
    send({ id: m.id, result: await fn.apply(clients, m.args) });
  } catch (err) {
    send({ id: m.id, error: (err as Error).message });
  }
});
// The runner is gone (it ended or crashed): so is this worker, whatever it was doing.
process.on('disconnect', () => process.exit(0));
