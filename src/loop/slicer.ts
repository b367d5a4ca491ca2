// Long work on the event loop in slices, so that what waits behind it (a request, a scrape) waits no
// longer than a slice: at 10,000 VMs a tick's encoding or a scrape's rendering takes far longer than the
// 20 ms a request may wait.
import { performance } from 'node:perf_hooks';

/** How long a slice may run before it lets the event loop go on. */
export const SLICE_MS = 5;
/** How many items a loop handles between two looks at the clock: each look costs far more than an item. */
const ITEMS_PER_LOOK = 64;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Measures the slices of one piece of work: `due` says when the current one is over, `next` ends it (and
 * lets I/O and timers run) and starts another. The longest slice is kept: what the work held the loop.
 */
export class Slicer {
  readonly #sliceMs: number;
  #started = performance.now();
  #longestMs = 0;

  constructor(sliceMs = SLICE_MS) {
    this.#sliceMs = sliceMs;
  }

  /** Whether the current slice has run its time. Cheap: call it every few items. */
  due(): boolean {
    return performance.now() - this.#started >= this.#sliceMs;
  }

  /** For the `i`th item of a loop: whether the slice is over, the clock looked at every few items only. */
  dueAt(i: number): boolean {
    return i % ITEMS_PER_LOOK === 0 && this.due();
  }

  /** Ends the current slice and resumes on a later turn of the event loop. */
  async next(): Promise<void> {
    this.end();
    await nextTurn();
    this.#started = performance.now();
  }

  /** Ends the current slice while `work` goes on off the loop (reads on libuv's pool), and starts one after. */
  async wait<T>(work: Promise<T>): Promise<T> {
    this.end();
    try {
      return await work;
    } finally {
      this.#started = performance.now();
    }
  }

  /** Ends the current slice for good; `longestMs` then counts it. */
  end(): void {
    this.#longestMs = Math.max(this.#longestMs, performance.now() - this.#started);
  }

  /** The longest slice ended so far. */
  get longestMs(): number {
    return this.#longestMs;
  }
}
