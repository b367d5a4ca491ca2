import { StatsSubscription } from '../client/subscription.js';
import type { Logger } from '../log/logger.js';
import { vmNameOf } from '../vm/vm.js';
import type { Frame } from '../wire/messages.js';
import { describeOmission, formatStats, type Omission } from './line-protocol.js';
import { openSink } from './sinks.js';
import type { InfluxTarget } from './target.js';
import { InfluxWriter } from './writer.js';

export interface ForwarderOptions {
  socketPath: string;
  target: InfluxTarget;
  /** Sent with every HTTP request; none for TCP. */
  token: string | undefined;
  logger: Logger;
  maxBufferedPoints: number;
  /** Longest wait between two attempts, at either end. */
  maxBackoffMs?: number;
}

/** Distinct omissions logged, at most: past it they are forgotten and may be logged again. */
const MAX_OMISSIONS_REMEMBERED = 10_000;

/**
 * albatross-influx's job: subscribes to every VM of a stats daemon and writes each Data frame as line
 * protocol, stamped with the time it arrived. Each end is retried on its own: the daemon going away stops
 * the points, InfluxDB going away holds them.
 */
export class InfluxForwarder {
  readonly #logger: Logger;
  readonly #subscription: StatsSubscription;
  readonly #writer: InfluxWriter;
  /** Omissions already logged, so that a name that cannot be written is said once, not every interval. */
  readonly #omissionsLogged = new Set<string>();

  constructor(options: ForwarderOptions) {
    const { socketPath, logger, maxBackoffMs } = options;
    this.#logger = logger;
    this.#writer = new InfluxWriter({ sink: openSink(options.target, options.token), logger, maxBufferedPoints: options.maxBufferedPoints, maxBackoffMs });
    this.#subscription = new StatsSubscription({ socketPath, logger, maxBackoffMs, onData: (frame) => this.#forward(frame) });
  }

  start(): void {
    this.#writer.start();
    this.#subscription.start();
  }

  async stop(): Promise<void> {
    await this.#subscription.stop();
    await this.#writer.stop();
  }

  #forward(frame: Frame): void {
    const { message } = frame;
    if (message.kind !== 'stats.data') return;
    const { lines, omissions } = formatStats(vmNameOf(message.name), message.stats, BigInt(Date.now()) * 1_000_000n);
    for (const omission of omissions) this.#logOnce(omission);
    this.#writer.add(lines);
  }

  #logOnce(omission: Omission): void {
    const { value: _value, ...what } = omission as Omission & { value?: bigint };
    const key = JSON.stringify(what);
    if (this.#omissionsLogged.has(key)) return;
    if (this.#omissionsLogged.size >= MAX_OMISSIONS_REMEMBERED) this.#omissionsLogged.clear();
    this.#omissionsLogged.add(key);
    this.#logger.warn({ vm: omission.vm }, describeOmission(omission));
  }
}
