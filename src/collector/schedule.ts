import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';

/**
 * Runs `tick` every interval. Ticks never overlap (one runs to its end before the next is scheduled) and
 * never drift (each is due at origin + k × interval; a tick that overruns skips the slots it missed and is
 * logged with its duration). A tick that throws is logged, and the next one runs as due.
 */
export class TickSchedule {
  readonly #intervalMs: number;
  readonly #tick: () => void;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #origin = 0;
  #slot = 0;

  constructor(intervalMs: number, tick: () => void, logger: Logger) {
    this.#intervalMs = intervalMs;
    this.#tick = tick;
    this.#logger = logger;
  }

  start(): void {
    this.#origin = performance.now();
    this.#slot = 0;
    this.#scheduleNext();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
    this.#timer = setTimeout(() => this.#run(), due - now);
  }

  #run(): void {
    const started = performance.now();
    try {
      this.#tick();
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
    if (this.#timer !== undefined) this.#scheduleNext();
  }
}
