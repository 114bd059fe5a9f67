/**
 * `--supervise`: the instance runs in a child process, and a child that dies other than by
 * an orderly stop is started again within a second. It is what lets an instance whose
 * media engine wedged (it exits on purpose, see media/engine-probe.ts) come back by itself
 * on a machine with no orchestrator; under Kubernetes the kubelet does the same.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Logger } from './observability/log.js';

/** The child runs the instance itself when this is set. */
export const SUPERVISED_ENV = 'WEEVER_SUPERVISED';

const RESTART_DELAY_MS = 500;
/** Restarts closer together than this count as a crash loop: the delay grows, up to 10 s. */
const CRASH_LOOP_MS = 10_000;

export function supervise(script: string, args: string[], log: Logger): void {
  let child: ChildProcess | undefined;
  let stopping: NodeJS.Signals | undefined;
  let lastStart = 0;
  let delay = RESTART_DELAY_MS / 2;

  const start = () => {
    lastStart = Date.now();
    child = fork(script, args, { env: { ...process.env, [SUPERVISED_ENV]: '1' }, stdio: 'inherit' });
    log.info({ supervisor: true, pid: child.pid }, 'instance started');
    child.on('exit', (code, signal) => {
      if (stopping || code === 0) process.exit(code ?? 0);
      // The first restart comes at once; a crash loop backs off.
      delay = Date.now() - lastStart < CRASH_LOOP_MS ? Math.min(delay * 2, 10_000) : RESTART_DELAY_MS;
      log.error({ supervisor: true, code, signal, restartInMs: delay }, 'instance died; starting it again');
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
