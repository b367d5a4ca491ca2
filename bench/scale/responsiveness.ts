// How long the daemon takes to answer while it works: a client in a process of its own (so that the
// harness's own work does not show up as the daemon's latency) sends a request every EVERY_MS ms on one
// connection for the whole run, a Subscribe to a prefix no VM has, and times each reply.
//   node --import tsx bench/scale/responsiveness.ts SOCKET EVERY_MS     (stopped by SIGTERM)
// On SIGTERM it prints one JSON line, { replies: [[epochMs, latencyMs], ...], failures }, and exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { StatsClient } from '../../src/client/client.js';

/** A prefix no stand-in has: the daemon answers it as any Subscribe and sends nothing after. */
const NOBODY = ['vmscale-probe-nobody'];

export interface Responsiveness {
  /** When each reply came (ms since the epoch) and how long it took (ms). */
  replies: [number, number][];
  failures: number;
}

/** The probe process, started; stop() ends it and gives what it measured. */
export class ResponsivenessProbe {
  readonly #child: ChildProcess;
  readonly #output: Promise<string>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    let text = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    this.#output = once(child, 'exit').then(() => text);
  }

  static async start(socketPath: string, everyMs: number): Promise<ResponsivenessProbe> {
    const self = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, ['--import', 'tsx', self, socketPath, String(everyMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child, 'spawn');
    return new ResponsivenessProbe(child);
  }

  /** Stops the probe's process where it is, for a window without its requests. */
  pause(): void {
    this.#child.kill('SIGSTOP');
  }

  resume(): void {
    this.#child.kill('SIGCONT');
  }

  async stop(): Promise<Responsiveness> {
    this.resume();
    this.#child.kill('SIGTERM');
    const text = await this.#output;
    if (text.trim() === '') throw new Error('the responsiveness probe printed nothing');
    return JSON.parse(text) as Responsiveness;
  }
}

async function probe(socketPath: string, everyMs: number): Promise<void> {
  const client = await StatsClient.connect(socketPath);
  const result: Responsiveness = { replies: [], failures: 0 };
  const ask = async () => {
    const started = performance.now();
    try {
      const reply = await client.request({ kind: 'stats.subscribe', name: NOBODY });
      if (reply.kind !== 'success') result.failures++;
      result.replies.push([Date.now(), performance.now() - started]);
    } catch {
      result.failures++;
    }
  };
  const timer = setInterval(() => void ask(), everyMs);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    client.close();
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await probe(process.argv[2]!, Number(process.argv[3]));
