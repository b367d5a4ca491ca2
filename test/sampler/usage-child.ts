import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';

/** Why the children these tests drive cannot run here, or undefined when they can. */
export function pythonUnavailableReason(): string | undefined {
  return spawnSync('python3', ['-c', 'pass']).status === 0 ? undefined : 'no python3 to run the test children';
}

/** A process whose usage a test drives through usage-child.py: burn CPU, touch memory, write, start threads. */
export class UsageChild {
  readonly process: ChildProcess;
  readonly #lines: Interface;
  readonly #pending: ((line: string) => void)[] = [];

  private constructor(child: ChildProcess) {
    this.process = child;
    this.#lines = createInterface({ input: child.stdout! });
    this.#lines.on('line', (line) => this.#pending.shift()?.(line));
  }

  static async start(): Promise<UsageChild> {
    const script = new URL('./usage-child.py', import.meta.url).pathname;
    const child = new UsageChild(spawn('python3', [script], { stdio: ['pipe', 'pipe', 'inherit'] }));
    await child.#nextLine();
    return child;
  }

  get pid(): number {
    return this.process.pid!;
  }

  async burn(milliseconds: number): Promise<void> {
    await this.#command(`burn ${milliseconds}`);
  }

  async touch(mebibytes: number): Promise<void> {
    await this.#command(`touch ${mebibytes}`);
  }

  async write(kibibytes: number, directory: string): Promise<void> {
    await this.#command(`write ${kibibytes} ${directory}`);
  }

  async threads(count: number): Promise<void> {
    await this.#command(`threads ${count}`);
  }

  /**
   * Stops the process (SIGSTOP) and waits until its counters hold still. Each thread stops on its own, and
   * counts a context switch as it does, so every thread must show T and the switch counts must have settled.
   */
  async freeze(): Promise<void> {
    this.process.kill('SIGSTOP');
    const deadline = Date.now() + 5000;
    let previous = '';
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const current = threadStates(this.pid);
      if (current === previous && !/\bstate=[^T]/.test(current)) return;
      if (Date.now() > deadline) throw new Error(`process ${this.pid} did not stop: ${current}`);
      previous = current;
    }
  }

  async kill(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const exited = once(this.process, 'exit');
      this.process.kill('SIGKILL');
      await exited;
    }
    this.#lines.close();
  }

  async #command(line: string): Promise<void> {
    this.process.stdin!.write(line + '\n');
    const answer = await this.#nextLine();
    if (answer !== 'done') throw new Error(`usage child answered ${JSON.stringify(answer)} to ${line}`);
  }

  #nextLine(): Promise<string> {
    return new Promise((resolve) => this.#pending.push(resolve));
  }
}

/** Each thread's state and context-switch counts, as one string to compare between reads. */
function threadStates(pid: number): string {
  return readdirSync(`/proc/${pid}/task`)
    .map((tid) => {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];
      return `${tid} state=${field('State')} ${field('voluntary_ctxt_switches')}/${field('nonvoluntary_ctxt_switches')}`;
    })
    .join(', ');
}

/** Runs fn with VMM_STATS_PROCESS_SOURCE set (the addon reads it on every call), then restores it. */
export function withProcessSource<T>(source: 'procfs' | 'taskstats' | undefined, fn: () => T): T {
  const saved = process.env.VMM_STATS_PROCESS_SOURCE;
  if (source === undefined) delete process.env.VMM_STATS_PROCESS_SOURCE;
  else process.env.VMM_STATS_PROCESS_SOURCE = source;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.VMM_STATS_PROCESS_SOURCE;
    else process.env.VMM_STATS_PROCESS_SOURCE = saved;
  }
}
