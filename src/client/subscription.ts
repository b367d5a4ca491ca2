import { Backoff } from './backoff.js';
import { StatsClient } from './client.js';
import type { Logger } from '../log/logger.js';
import type { Frame } from '../wire/messages.js';

export interface SubscriptionOptions {
  socketPath: string;
  logger: Logger;
  /** Every Data frame of every VM, as it arrives. */
  onData: (frame: Frame) => void;
  /** Longest wait between two connection attempts. */
  maxBackoffMs?: number;
}

const FIRST_BACKOFF_MS = 100;
const DEFAULT_MAX_BACKOFF_MS = 5000;

/**
 * A subscription to every VM of a stats daemon (ours or any that speaks the seed's Stats channel) that
 * outlives the daemon: when the connection ends it connects and subscribes again, with backoff, until
 * stopped. What the adapters (the standalone exporter, the InfluxDB writer) share.
 */
export class StatsSubscription {
  readonly #options: SubscriptionOptions;
  readonly #backoff: Backoff;
  #client: StatsClient | undefined;
  #stopped = false;
  #connected = false;
  #running: Promise<void> | undefined;

  constructor(options: SubscriptionOptions) {
    this.#options = options;
    this.#backoff = new Backoff(FIRST_BACKOFF_MS, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
  }

  /** Subscribed right now. */
  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#client?.close();
    this.#backoff.interrupt();
    await this.#running;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const subscribed = await this.#session();
      if (this.#stopped) break;
      if (subscribed) this.#backoff.reset();
      await this.#backoff.wait();
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
    // stop() may have come while connecting, when there was no client yet to close.
    if (this.#stopped) {
      this.#client.close();
      return false;
    }
    this.#client.onData(this.#options.onData);
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
}
