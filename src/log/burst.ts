// A warning that can come by the thousand (a client sending garbage, a crowd refused at the limit): a
// line per occurrence would cost the daemon a write each and fill the operator's disk, while saying no more
// than the first line and a count.
import type { Logger } from './logger.js';

/** How long the occurrences after a logged one are counted before a line says how many came. */
const DEFAULT_WINDOW_MS = 10_000;

/**
 * Logs the first occurrence at once, then, at the end of each window in which more came, one line with
 * their number (`more`) and the fields of the last; a window in which none came ends the burst.
 */
export class BurstLog {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #windowMs: number;
  #window: NodeJS.Timeout | undefined;
  #more = 0;
  #lastFields: Record<string, unknown> = {};

  constructor(logger: Logger, message: string, windowMs = DEFAULT_WINDOW_MS) {
    this.#logger = logger;
    this.#message = message;
    this.#windowMs = windowMs;
  }

  note(fields: Record<string, unknown>): void {
    if (this.#window !== undefined) {
      this.#more += 1;
      this.#lastFields = fields;
      return;
    }
    this.#logger.warn(fields, this.#message);
    this.#openWindow();
  }

  #openWindow(): void {
    this.#window = setTimeout(() => this.#endWindow(), this.#windowMs);
    this.#window.unref();
  }

  #endWindow(): void {
    this.#window = undefined;
    if (this.#more === 0) return;
    this.#logger.warn({ ...this.#lastFields, more: this.#more }, `${this.#message}: ${this.#more} more in the last ${this.#windowMs / 1000} s, the last of them here`);
    this.#more = 0;
    this.#openWindow();
  }
}
