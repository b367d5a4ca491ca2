import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Real processes standing in for VMMs, killed at the end of a test file. */
export class ChildProcesses {
  readonly #children = new Set<ChildProcess>();

  /** A process that burns CPU and touches memory until killed, so its utime and maxrss grow. */
  async busy(): Promise<ChildProcess> {
    return this.#start('const a = []; setInterval(() => { for (let i = 0; i < 2e6; i++); a.push(Buffer.alloc(1 << 16, 1)); if (a.length > 200) a.length = 0; }, 5);');
  }

  /** A process that sleeps until killed. */
  async idle(): Promise<ChildProcess> {
    return this.#start('setInterval(() => {}, 1 << 30);');
  }

  /** Kills a process and waits until it is gone (and reaped). */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    this.#children.delete(child);
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.#children].map((child) => this.kill(child)));
  }

  async #start(script: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    this.#children.add(child);
    await once(child, 'spawn');
    return child;
  }
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Why a test that needs root and `command` cannot run here (saying what root is for, and which Debian
 * package brings the command), or undefined when it can. Printed once, so that a skip is never silent.
 */
export function rootWithCommandMissing(what: string, rootFor: string, command: string, debianPackage: string): string | undefined {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = `not root: ${rootFor}`;
  else if (spawnSync(command, ['--help'], { stdio: 'ignore' }).error !== undefined) reason = `no '${command}' (Debian package ${debianPackage})`;
  if (reason !== undefined) console.warn(`skipping ${what}: ${reason}`);
  return reason;
}
