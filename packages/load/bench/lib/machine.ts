/** One line saying what machine a benchmark ran on. */
import { execSync } from 'node:child_process';
import os from 'node:os';

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  let kernel = os.release();
  try {
    kernel = execSync('uname -sr').toString().trim();
  } catch {
    // keep os.release()
  }
  return `${cpu} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${kernel}, node ${process.version}`;
}

/** Pins this process (all its threads: -a) to `cpu` when taskset exists and the machine has more than one core. */
export function pinSelf(cpu: number): boolean {
  if (os.cpus().length < 2) return false;
  try {
    execSync(`taskset -a -cp ${cpu} ${process.pid}`, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
