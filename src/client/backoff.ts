/**
 * The waits between attempts to reach something that went away: doubling from a first wait up to a
 * longest one, back to the first once an attempt gets through. A wait ends early on `interrupt`, so that a
 * command asked to stop does not sit out a backoff first.
 */
export class Backoff {
  readonly #firstMs: number;
  readonly #longestMs: number;
  #nextMs: number;
  #interrupt: (() => void) | undefined;

  constructor(firstMs: number, longestMs: number) {
    this.#firstMs = firstMs;
    this.#longestMs = Math.max(firstMs, longestMs);
    this.#nextMs = firstMs;
  }

  /** An attempt got through: the next failure waits the first wait again. */
  reset(): void {
    this.#nextMs = this.#firstMs;
  }

  /** Waits the current wait and doubles the next one; resolves early on `interrupt`. */
  wait(): Promise<void> {
    const ms = this.#nextMs;
    this.#nextMs = Math.min(ms * 2, this.#longestMs);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#interrupt = done;
    });
  }

  interrupt(): void {
    this.#interrupt?.();
  }
}
