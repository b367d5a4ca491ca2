// Holds many connections to the daemon from child processes of bench/hostile/holder.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HOLDER = fileURLToPath(new URL('./holder.ts', import.meta.url));
/** Connections per holder process: well under the default open-files limit. */
const PER_HOLDER = 5000;

export class Crowd {
  readonly #holders: ChildProcess[] = [];
  opened = 0;
  refused = 0;

  /** Opens `count` connections, idle or each with half a header sent, and resolves once all have settled. */
  async open(socketPath: string, count: number, halfOpen: boolean): Promise<void> {
    const starts = [];
    for (let left = count; left > 0; left -= PER_HOLDER) {
      const args = ['--import', 'tsx', HOLDER, socketPath, String(Math.min(PER_HOLDER, left)), ...(halfOpen ? ['--half-open'] : [])];
      const holder = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
      this.#holders.push(holder);
      starts.push(this.#ready(holder));
    }
    await Promise.all(starts);
  }

  async #ready(holder: ChildProcess): Promise<void> {
    const lines = createInterface({ input: holder.stdout! });
    const [line] = (await once(lines, 'line')) as [string];
    const [, opened, refused] = line.split(' ').map(Number);
    this.opened += opened!;
    this.refused += refused!;
  }

  /** Closes every connection and waits for the holders to exit. */
  async close(): Promise<void> {
    await Promise.all(this.#holders.splice(0).map(async (holder) => {
      const exited = once(holder, 'exit');
      holder.stdin!.end();
      await exited;
    }));
    this.opened = 0;
    this.refused = 0;
  }
}
