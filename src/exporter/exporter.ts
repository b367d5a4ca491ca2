import { StatsSubscription } from '../client/subscription.js';
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

/**
 * A daemon sends a tick's Data frames together, which arrive within milliseconds: listeners are told once
 * this long after the first frame of a burst, so that a tick's frames make one round of the overview.
 */
const BURST_MS = 50;

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
  readonly #subscription: StatsSubscription;
  readonly #sampleListeners = new Set<() => void>();
  #burst: NodeJS.Timeout | undefined;

  constructor(options: ExporterOptions) {
    this.#options = options;
    const { socketPath, logger, maxBackoffMs } = options;
    this.#subscription = new StatsSubscription({ socketPath, logger, maxBackoffMs, onData: (frame) => this.#keep(frame) });
  }

  get connected(): boolean {
    return this.#subscription.connected;
  }

  start(): void {
    this.#subscription.start();
  }

  stop(): Promise<void> {
    clearTimeout(this.#burst);
    return this.#subscription.stop();
  }

  readonly metricsSource: MetricsSource = {
    snapshot: () => {
      this.#dropStale(Date.now());
      const vms = [...this.#latest.values()].map((latest) => latest.snapshot);
      return { vms, self: { vms: vms.length, upstreamUp: this.#subscription.connected } };
    },
    onSamples: (listener) => {
      this.#sampleListeners.add(listener);
      return () => this.#sampleListeners.delete(listener);
    },
  };

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
    this.#burst ??= setTimeout(() => {
      this.#burst = undefined;
      for (const listener of this.#sampleListeners) listener();
    }, BURST_MS);
  }

  #dropStale(now: number): void {
    for (const [name, latest] of this.#latest) {
      // A VM seen once has no interval yet: the configured wait stands in for it.
      const staleAfter = latest.gapMs === undefined ? Math.max(this.#options.staleAfterMs, MIN_STALE_MS) : staleAfterMs(latest.gapMs);
      if (now - latest.receivedAt > staleAfter) this.#latest.delete(name);
    }
  }
}
