// When the daemon ticks, as a subscriber sees it: the first Data frame of each burst. The phases' CPU windows
// open and close half an interval after a tick, when the daemon is idle, so that a window holds whole ticks
// and none of the work around it (the harness's own reads of the self-metrics, a subscription's first tick).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Bursts remembered: enough for a median that one late burst does not move. */
const KEPT_BURSTS = 15;
const BURST_WAIT_INTERVALS = 3;
const POLL_MS = 50;

export class TickClock {
  readonly intervalMs: number;
  readonly #burstStarts: number[] = [];
  #lastFrameAt = -Infinity;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  /** Called for every Data frame, as it arrives. */
  frameArrived(at = performance.now()): void {
    // A tick's frames come in slices milliseconds apart; the next tick's an interval later.
    if (at - this.#lastFrameAt > this.intervalMs / 4) {
      this.#burstStarts.push(at);
      if (this.#burstStarts.length > KEPT_BURSTS) this.#burstStarts.shift();
    }
    this.#lastFrameAt = at;
  }

  /**
   * The first moment at or after `after` half an interval past a tick's first frame; waits for a tick's
   * frames when none was seen yet, and throws when none comes: a window opened at a guess could cut ticks in
   * two.
   */
  async quietMomentAfter(after: number): Promise<number> {
    const waitUntil = performance.now() + BURST_WAIT_INTERVALS * this.intervalMs;
    while (this.#burstStarts.length === 0 && performance.now() < waitUntil) await sleep(POLL_MS);
    const [first, ...rest] = this.#burstStarts;
    if (first === undefined) throw new Error(`no Data frame in ${BURST_WAIT_INTERVALS} intervals: the daemon's ticks cannot be located`);
    const interval = this.intervalMs;
    const offsetOf = (at: number) => ((((at - first) % interval) + interval * 1.5) % interval) - interval / 2;
    const offsets = [0, ...rest.map(offsetOf)].sort((a, b) => a - b);
    const burst = first + offsets[Math.floor(offsets.length / 2)]!;
    const quiet = burst + interval / 2;
    return quiet + Math.ceil((after - quiet) / interval) * interval;
  }
}
