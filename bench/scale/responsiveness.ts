// How long the daemon takes to answer while it works: a client in a process of its own (so that the
// harness's own work does not show up as the daemon's latency) sends a request every EVERY_MS ms for the
// whole run and times each reply. By default a Subscribe to a prefix no VM has, on one connection; with
// --request, the request given (a JSON Stats request without id); with --fresh, each on a new connection,
// the round trip then counting the connect, as a new client sees it.
//   node --import tsx bench/scale/responsiveness.ts SOCKET EVERY_MS [--fresh] [--request JSON]   (stopped by SIGTERM)
// It prints "ready" once it has connected (at once with --fresh), and on SIGTERM one JSON line,
// { replies: [[epochMs, latencyMs], ...], failures }, and exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StatsClient, type StatsRequest } from '../../src/client/client.js';
import type { Unsent } from '../../src/wire/messages.js';

/** A prefix no stand-in has: the daemon answers it as any Subscribe and sends nothing after. */
const NOBODY: Unsent<StatsRequest> = { kind: 'stats.subscribe', name: ['vmscale-probe-nobody'] };

export interface Responsiveness {
  /** When each reply came (ms since the epoch) and how long it took (ms). */
  replies: [number, number][];
  failures: number;
}

export interface ProbeRequests {
  /** What is asked each time: a Subscribe to a prefix no VM has when absent. */
  request?: Unsent<StatsRequest>;
  /** Each request on a connection of its own, as a new client sends it, rather than all on one. */
  fresh?: boolean;
}

/** The probe process, started and ready; stop() ends it and gives what it measured. */
export class ResponsivenessProbe {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }

  static async start(socketPath: string, everyMs: number, asked: ProbeRequests = {}): Promise<ResponsivenessProbe> {
    const self = fileURLToPath(import.meta.url);
    const args = ['--import', 'tsx', self, socketPath, String(everyMs), ...(asked.fresh ? ['--fresh'] : []),
      ...(asked.request ? ['--request', JSON.stringify(asked.request)] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child, 'spawn');
    const probe = new ResponsivenessProbe(child);
    const first = await probe.#lines.next();
    if (first.done || first.value !== 'ready') throw new Error('the responsiveness probe did not connect');
    return probe;
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
    const last = await this.#lines.next();
    if (last.done || last.value.trim() === '') throw new Error('the responsiveness probe printed nothing');
    return JSON.parse(last.value) as Responsiveness;
  }
}

/** A StatsClient for each request (`fresh`), or the one connected at the start. */
async function clients(socketPath: string, fresh: boolean): Promise<{ get(): Promise<StatsClient>; done(client: StatsClient): void; close(): void }> {
  if (fresh) return { get: () => StatsClient.connect(socketPath), done: (client) => client.close(), close: () => {} };
  const shared = await StatsClient.connect(socketPath);
  return { get: async () => shared, done: () => {}, close: () => shared.close() };
}

async function probe(socketPath: string, everyMs: number, asked: Required<ProbeRequests>): Promise<void> {
  const connections = await clients(socketPath, asked.fresh);
  const result: Responsiveness = { replies: [], failures: 0 };
  const ask = async () => {
    const started = performance.now();
    try {
      const client = await connections.get();
      try {
        const reply = await client.request(asked.request);
        if (reply.kind !== 'success') result.failures++;
      } finally {
        connections.done(client);
      }
      result.replies.push([Date.now(), performance.now() - started]);
    } catch {
      result.failures++;
    }
  };
  process.stdout.write('ready\n');
  const timer = setInterval(() => void ask(), everyMs);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    connections.close();
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { fresh: { type: 'boolean', default: false }, request: { type: 'string' } } });
  const request = values.request === undefined ? NOBODY : (JSON.parse(values.request) as Unsent<StatsRequest>);
  await probe(positionals[0]!, Number(positionals[1]), { request, fresh: values.fresh });
}
