// What the operator sees of the daemon while it is under load: its memory and descriptors.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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
