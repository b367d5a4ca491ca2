import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';

/**
 * Runs `tick` every interval. Ticks never overlap (one runs to its end, its promise settled, before the next
 * is scheduled) and
 * never drift (each is due at origin + k × interval; a tick that overruns skips the slots it missed and is
 * logged with its duration). A tick that throws is logged, and the next one runs as due.
 */
export class TickSchedule {
  readonly #intervalMs: number;
  readonly #tick: () => Promise<void>;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #origin = 0;
  #slot = 0;

  constructor(intervalMs: number, tick: () => Promise<void>, logger: Logger) {
    this.#intervalMs = intervalMs;
    this.#tick = tick;
    this.#logger = logger;
  }

  start(): void {
    this.#stopped = false;
    this.#origin = performance.now();
    this.#slot = 0;
    this.#scheduleNext();
  }

  /** No tick starts after this; resolves once the one running, if any, has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #scheduleNext(): void {
    this.#slot += 1;
    const now = performance.now();
    let due = this.#origin + this.#slot * this.#intervalMs;
    if (due < now) {
      const missed = Math.ceil((now - due) / this.#intervalMs);
      this.#slot += missed;
      due += missed * this.#intervalMs;
    }
    this.#timer = setTimeout(() => {
      this.#running = this.#run();
    }, due - now);
  }

  async #run(): Promise<void> {
    const started = performance.now();
    try {
      await this.#tick();
    } catch (err) {
      this.#logger.error({ err }, 'tick failed');
    }
    const tickMs = performance.now() - started;
    if (tickMs > this.#intervalMs) {
      this.#logger.warn(
        { tickMs: Math.round(tickMs), intervalMs: this.#intervalMs },
        'slow tick: sampling and sending took longer than the interval; the ticks it overran are skipped',
      );
    }
    this.#running = undefined;
    if (!this.#stopped) this.#scheduleNext();
  }
}
