/**
 * `--supervise`: the instance runs in a child process, and a child that dies other than by
 * an orderly stop, or stops answering the heartbeat (heartbeat.ts), is started again
 * within a second. It is what lets an instance whose media engine wedged come back by
 * itself on a machine with no orchestrator; under Kubernetes the kubelet does the same
 * (liveness probe, `timeoutSeconds`).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { HEARTBEAT, HeartbeatMonitor, type HeartbeatOptions, READY_MESSAGE, restartDelay } from './heartbeat.js';
import type { Logger } from './observability/log.js';

/** The child runs the instance itself when this is set. */
export const SUPERVISED_ENV = 'WEEVER_SUPERVISED';

export function supervise(script: string, args: string[], log: Logger, heartbeat: HeartbeatOptions = HEARTBEAT): void {
  let child: ChildProcess | undefined;
  let stopping: NodeJS.Signals | undefined;
  let lastStart = 0;
  let delay = 0;

  const start = () => {
    lastStart = Date.now();
    const c = fork(script, args, { env: { ...process.env, [SUPERVISED_ENV]: '1' }, stdio: 'inherit' });
    child = c;
    log.info({ supervisor: true, pid: c.pid }, 'instance started');
    const monitor = new HeartbeatMonitor(heartbeat, () => performance.now());
    let killed: string | undefined;
    let ready = false;
    c.on('message', (m) => {
      if (typeof m === 'number') monitor.answer(m);
      else if (m === READY_MESSAGE) ready = true;
    });
    const timer = setInterval(() => {
      if (stopping) return; // an orderly stop may take its time (drain)
      const b = monitor.beat();
      if (b.kind === 'ping') {
        if (c.connected) c.send(b.seq, (err) => err && undefined); // a send error is a miss like any other
        return;
      }
      clearInterval(timer);
      killed = `no heartbeat answer for ${Math.round(b.silentMs)} ms (${b.missed} pings in a row${b.answeredOnce ? '' : ', never answered since it started'}): its event loop is stuck or its media engine wedged`;
      log.error(
        { supervisor: true, pid: c.pid, missed: b.missed, silentMs: Math.round(b.silentMs) },
        `instance ${killed}; killing it (SIGKILL)`,
      );
      c.kill('SIGKILL'); // a flooded child would not get to act on SIGTERM
    }, heartbeat.intervalMs);
    c.on('exit', (code, signal) => {
      clearInterval(timer);
      if (stopping || (code === 0 && !killed)) process.exit(code ?? 0);
      // The first restart comes at once; a crash loop (dying before it listens) backs off.
      delay = restartDelay(delay, Date.now() - lastStart, ready);
      log.error(
        { supervisor: true, code, signal, restartInMs: delay, ...(killed ? { reason: killed } : {}) },
        'instance died; starting it again',
      );
      setTimeout(start, delay);
    });
  };
  // An orderly stop goes to the instance (SIGTERM drains); the supervisor ends with it.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      stopping = sig;
      if (child && child.exitCode === null && child.signalCode === null) child.kill(sig);
      else process.exit(0);
    });
  }
  start();
}
