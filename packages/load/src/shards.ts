/** Where load clients run: this process (LocalShard) or a worker process (ProcessShard), behind one call interface. */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ClientsConfig, LoadClients } from './clients.js';
import type { Call } from './worker.js';

export interface Shard {
  readonly pid: number;
  call<T>(op: Exclude<Call['op'], 'init'>, ...args: unknown[]): Promise<T>;
  terminate(): Promise<void>;
}

export class LocalShard implements Shard {
  readonly pid = process.pid;
  constructor(private readonly clients: LoadClients) {}
  async call<T>(op: Exclude<Call['op'], 'init'>, ...args: unknown[]): Promise<T> {
    const fn = this.clients[op] as (...a: unknown[]) => unknown;
    return (await fn.apply(this.clients, args)) as T;
  }
  async terminate(): Promise<void> {}
}

/** A child process running src/worker.ts (see there why not a worker thread). */
export class ProcessShard implements Shard {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly pid: number;
  private constructor(private readonly child: ChildProcess) {
    this.pid = child.pid!;
    child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`load worker exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  static async start(cfg: ClientsConfig): Promise<ProcessShard> {
    // 'advanced' serialization: snapshots carry typed arrays (delay histograms)
    const child = fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [], { serialization: 'advanced', stdio: 'inherit' });
    const shard = new ProcessShard(child);
    await shard.call('init', cfg);
    return shard;
  }

  call<T>(op: Call['op'], ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.child.connected) return reject(new Error('load worker is gone'));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  async terminate(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
