// What a well-behaved client and the operator see while the daemon is under load: how long a new
// client's Add takes to be answered, and the daemon's memory and descriptors.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { StatsClient, type StatsRequest } from '../../src/client/client.js';
import type { Unsent } from '../../src/wire/messages.js';

/**
 * A new client every `everyMs`: connect, send the request (an Add of a VM that is already registered, say),
 * read the reply, close. With `client`, that connection asks instead, as a client that was there before the
 * load came.
 */
export class RoundTrips {
  readonly #socketPath: string;
  readonly #request: Unsent<StatsRequest>;
  readonly #client: StatsClient | undefined;
  readonly millis: number[] = [];
  failures = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(socketPath: string, request: Unsent<StatsRequest>, client?: StatsClient) {
    this.#socketPath = socketPath;
    this.#request = request;
    this.#client = client;
  }

  start(everyMs = 10): void {
    this.#timer = setInterval(() => void this.#once(), everyMs);
  }

  stop(): { millis: number[]; failures: number } {
    clearInterval(this.#timer);
    return { millis: this.millis.splice(0), failures: this.failures };
  }

  async #once(): Promise<void> {
    const started = performance.now();
    try {
      const client = this.#client ?? (await StatsClient.connect(this.#socketPath));
      try {
        const reply = await client.request(this.#request);
        if (reply.kind !== 'success') this.failures++;
      } finally {
        if (client !== this.#client) client.close();
      }
      this.millis.push(performance.now() - started);
    } catch {
      this.failures++;
    }
  }
}

export interface Resources {
  rssMB: number;
  fds: number;
}

export function resourcesOf(pid: number): Resources {
  const rssKB = Number(/^VmRSS:\s*(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return { rssMB: rssKB / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** What a process's descriptors are, by kind (socket, pipe, anon_inode:…, or the file's directory), counted. */
export function descriptorKinds(pid: number): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const kind = /^(\w+):/.exec(target)?.[1] ?? target.replace(/\/[^/]*$/, '/').replace(/\/\d+\//, '/<pid>/');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

/** `after`'s kinds that differ in count from `before`'s, as "kind +n" or "kind -n". */
export function descriptorChange(before: Map<string, number>, after: Map<string, number>): string[] {
  const kinds = new Set([...before.keys(), ...after.keys()]);
  return [...kinds].flatMap((kind) => {
    const change = (after.get(kind) ?? 0) - (before.get(kind) ?? 0);
    return change === 0 ? [] : [`${kind} ${change > 0 ? '+' : ''}${change}`];
  });
}

/** The daemon's peak memory and descriptors while a load runs, sampled every 100 ms. */
export class PeakWatch {
  readonly #pid: number;
  peak: Resources;
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.#pid = pid;
    this.peak = resourcesOf(pid);
    this.#timer = setInterval(() => this.#sample(), 100);
  }

  #sample(): void {
    const now = resourcesOf(this.#pid);
    this.peak = { rssMB: Math.max(this.peak.rssMB, now.rssMB), fds: Math.max(this.peak.fds, now.fds) };
  }

  stop(): Resources {
    clearInterval(this.#timer);
    this.#sample();
    return this.peak;
  }
}
