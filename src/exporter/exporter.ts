import { StatsClient } from '../client/client.js';
import { MIN_STALE_MS, staleAfterMs, vmNameOf } from '../vm/vm.js';
import type { Logger } from '../log/logger.js';
import type { MetricsSource } from '../metrics/server.js';
import type { VmSnapshot } from '../metrics/exposition.js';
import type { Frame } from '../wire/messages.js';

export interface ExporterOptions {
  socketPath: string;
  logger: Logger;
  /** How long a VM's series stay without new Data, before its interval is known from two frames. */
  staleAfterMs: number;
  /** Longest wait between two connection attempts. */
  maxBackoffMs?: number;
}

const FIRST_BACKOFF_MS = 100;

interface Latest {
  snapshot: VmSnapshot;
  receivedAt: number;
  /** Time between its last two Data frames: the daemon's interval as this VM sees it. */
  gapMs: number | undefined;
}

/**
 * The standalone adapter: subscribes to every VM of a stats daemon (ours or any that speaks the seed's Stats
 * channel), keeps each VM's newest Data, and serves them as metrics. Reconnects with backoff when the daemon
 * goes away; drops a VM that has sent nothing for a few of its intervals.
 */
export class Exporter {
  readonly #options: ExporterOptions;
  readonly #latest = new Map<string, Latest>();
  #client: StatsClient | undefined;
  #stopped = false;
  #connected = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ExporterOptions) {
    this.#options = options;
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#client?.close();
    this.#wake?.();
    await this.#running;
  }

  readonly metricsSource: MetricsSource = {
    snapshot: () => {
      this.#dropStale(Date.now());
      const vms = [...this.#latest.values()].map((latest) => latest.snapshot);
      return { vms, self: { vms: vms.length, upstreamUp: this.#connected } };
    },
  };

  async #run(): Promise<void> {
    let backoffMs = FIRST_BACKOFF_MS;
    while (!this.#stopped) {
      const subscribed = await this.#session();
      if (this.#stopped) break;
      backoffMs = subscribed ? FIRST_BACKOFF_MS : Math.min(backoffMs * 2, this.#options.maxBackoffMs ?? 5000);
      await this.#sleep(backoffMs);
    }
  }

  /** One connection's life: connect, subscribe to all, take Data until it ends. True if it got subscribed. */
  async #session(): Promise<boolean> {
    const { socketPath, logger } = this.#options;
    try {
      this.#client = await StatsClient.connect(socketPath);
    } catch (err) {
      logger.debug({ socket: socketPath, reason: (err as Error).message }, 'stats daemon not reachable; retrying');
      return false;
    }
    this.#client.onData((frame) => this.#keep(frame));
    const reply = await this.#client.request({ kind: 'stats.subscribe', name: [] }).catch((err: Error) => err);
    if (reply instanceof Error || reply.kind === 'fail') {
      logger.warn({ socket: socketPath, reason: reply instanceof Error ? reply.message : reply.msg }, 'subscription refused');
      this.#client.close();
      return false;
    }
    this.#connected = true;
    logger.info({ socket: socketPath }, 'subscribed to every VM of the stats daemon');
    const error = await this.#client.closed();
    this.#connected = false;
    if (!this.#stopped) logger.warn({ socket: socketPath, reason: error?.message }, 'stats daemon connection lost; reconnecting');
    return true;
  }

  #keep(frame: Frame): void {
    if (frame.message.kind !== 'stats.data') return;
    const name = vmNameOf(frame.message.name);
    const now = Date.now();
    const previous = this.#latest.get(name);
    this.#latest.set(name, {
      snapshot: { name, stats: frame.message.stats },
      receivedAt: now,
      gapMs: previous === undefined ? undefined : now - previous.receivedAt,
    });
  }

  #dropStale(now: number): void {
    for (const [name, latest] of this.#latest) {
      // A VM seen once has no interval yet: the configured wait stands in for it.
      const staleAfter = latest.gapMs === undefined ? Math.max(this.#options.staleAfterMs, MIN_STALE_MS) : staleAfterMs(latest.gapMs);
      if (now - latest.receivedAt > staleAfter) this.#latest.delete(name);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
