import { Backoff } from '../client/backoff.js';
import type { Logger } from '../log/logger.js';
import { PointBuffer } from './point-buffer.js';
import type { Sink } from './sinks.js';

export interface WriterOptions {
  sink: Sink;
  logger: Logger;
  /** Points held while the receiver is away, before the oldest are dropped. */
  maxBufferedPoints: number;
  /** Longest wait between two attempts to deliver. */
  maxBackoffMs?: number;
}

/** Points a request carries at most: InfluxDB advises batches of 5000 lines; these lines are long. */
const BATCH_POINTS = 1000;
const FIRST_BACKOFF_MS = 100;
const DEFAULT_MAX_BACKOFF_MS = 5000;
/** While InfluxDB stays away, how often the log says so again, with what was dropped meanwhile. */
const OUTAGE_REPORT_MS = 60_000;
/** How long stop() goes on delivering what is buffered before it gives up on it. */
const FLUSH_ON_STOP_MS = 5000;

/**
 * Delivers points through a sink in batches, in the order they came: what cannot be delivered now waits in
 * a bounded buffer and is sent again, with backoff, when the receiver is back. It logs what happens to the
 * stream (the receiver gone, back, the buffer overflowing, a batch refused), never a line per point.
 */
export class InfluxWriter {
  readonly #sink: Sink;
  readonly #logger: Logger;
  readonly #buffer: PointBuffer;
  readonly #backoff: Backoff;
  #delivered = 0;
  #rejectedBatches = 0;
  /** Since the last delivery failed: when, and how many had been dropped by then; undefined while all goes through. */
  #outage: { since: Date; droppedBefore: number; reportedAt: number } | undefined;
  #overflowLogged = false;
  #stopping = false;
  /** stop() ran out of time: nothing more is sent. */
  #abandoned = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(options: WriterOptions) {
    this.#sink = options.sink;
    this.#logger = options.logger.child({ influx: options.sink.destination });
    this.#buffer = new PointBuffer(options.maxBufferedPoints);
    this.#backoff = new Backoff(FIRST_BACKOFF_MS, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
  }

  start(): void {
    this.#running = this.#run();
  }

  /** Queues points for delivery. */
  add(points: readonly string[]): void {
    if (points.length === 0) return;
    const dropped = this.#buffer.dropped;
    this.#buffer.push(points);
    if (this.#buffer.dropped > dropped && !this.#overflowLogged) {
      this.#overflowLogged = true;
      this.#logger.warn({ capacity: this.#buffer.capacity }, 'point buffer full: dropping the oldest points until InfluxDB takes them again');
    }
    this.#wake?.();
  }

  /** Delivers what it still can within a few seconds, then closes the sink; says what is left undelivered. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#backoff.interrupt();
    this.#wake?.();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_ON_STOP_MS)));
    await Promise.race([this.#running, late]);
    clearTimeout(timer);
    this.#abandoned = true;
    this.#sink.close();
    await this.#running;
    // rejectedBatches: batches the receiver refused points of (InfluxDB 1.x keeps a batch's good points).
    const counts = { delivered: this.#delivered, rejectedBatches: this.#rejectedBatches, dropped: this.#buffer.dropped, undelivered: this.#buffer.size };
    this.#logger.info(counts, 'stopped writing to InfluxDB');
  }

  async #run(): Promise<void> {
    while (!this.#abandoned) {
      if (this.#buffer.size === 0) {
        if (this.#stopping) return;
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const batch = this.#buffer.take(BATCH_POINTS);
      const delivery = await this.#sink.send(batch.join('\n') + '\n');
      if (delivery.outcome === 'unreachable') {
        this.#buffer.giveBack(batch);
        this.#noteOutage(delivery.reason);
        if (this.#stopping) return;
        await this.#backoff.wait();
        continue;
      }
      this.#buffer.sent();
      if (delivery.outcome === 'delivered') this.#delivered += batch.length;
      else this.#refused(batch.length, delivery.reason);
      this.#noteRecovery();
    }
  }

  #noteOutage(reason: string): void {
    const now = Date.now();
    const fields = { reason, buffered: this.#buffer.size, capacity: this.#buffer.capacity };
    if (this.#outage === undefined) {
      this.#outage = { since: new Date(now), droppedBefore: this.#buffer.dropped, reportedAt: now };
      this.#logger.warn(fields, 'InfluxDB does not take points; holding them and trying again');
    } else if (now - this.#outage.reportedAt >= OUTAGE_REPORT_MS) {
      this.#outage.reportedAt = now;
      const dropped = this.#buffer.dropped - this.#outage.droppedBefore;
      this.#logger.warn({ ...fields, since: this.#outage.since.toISOString(), dropped }, 'InfluxDB still does not take points');
    } else {
      this.#logger.debug(fields, 'InfluxDB did not take a batch');
    }
  }

  #noteRecovery(): void {
    this.#backoff.reset();
    if (this.#outage === undefined) return;
    const dropped = this.#buffer.dropped - this.#outage.droppedBefore;
    this.#logger.info({ since: this.#outage.since.toISOString(), dropped, buffered: this.#buffer.size }, 'InfluxDB takes points again');
    this.#outage = undefined;
    this.#overflowLogged = false;
  }

  #refused(points: number, reason: string): void {
    this.#rejectedBatches += 1;
    this.#logger.error({ reason, points, rejectedBatches: this.#rejectedBatches }, 'InfluxDB refused points of a batch; it is not sent again');
  }
}
