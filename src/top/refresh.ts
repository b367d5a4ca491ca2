// When `vmm-stats top` refreshes (with the daemon's ticks, or every --delay) and when it ends (--end-time).
// Timers only: what a refresh does is the caller's.
import { performance } from 'node:perf_hooks';

/** Frames of one tick arrive together: wait for a quiet moment, so a tick is drawn once and whole. */
const QUIET_MS = 100;
/** ...but draw at least this often while frames keep coming. */
const MAX_WAIT_MS = 500;
/**
 * Without --delay, a refresh comes with each tick's Data, or when none has come for this long (virt-top's
 * delay) and for two of the daemon's intervals: no VM is sending (none yet, or all gone).
 */
const IDLE_REFRESH_MS = 3000;
const IDLE_INTERVALS = 2;

/**
 * Calls `action` once things have been quiet for QUIET_MS after a poke, or MAX_WAIT_MS after the first.
 * Once stopped it stays stopped: Data still in flight after the user quit must not draw again.
 */
function coalescer(action: () => void): { poke(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let firstPoke = 0;
  let stopped = false;
  const fire = () => {
    timer = undefined;
    action();
  };
  return {
    poke() {
      if (stopped) return;
      const now = performance.now();
      if (timer === undefined) firstPoke = now;
      clearTimeout(timer);
      timer = setTimeout(fire, Math.min(QUIET_MS, firstPoke + MAX_WAIT_MS - now));
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * When the display refreshes: with --delay, every delay (the first as soon as the first tick's Data is in,
 * so that the screen is not empty for a whole delay); without, with each tick's Data, or after an idle
 * time without any, so that --iterations ends even with no VM to show. `intervalMs` is the daemon's
 * interval once the frames show it.
 */
export function refreshSchedule(
  delayMs: number | undefined,
  intervalMs: () => number | undefined,
  refresh: () => void,
): { dataArrived(): void; stop(): void } {
  let refreshes = 0;
  let timer: NodeJS.Timeout | undefined;
  const idleMs = () => Math.max(IDLE_REFRESH_MS, IDLE_INTERVALS * (intervalMs() ?? 0));
  const next = () => setTimeout(run, delayMs ?? idleMs());
  const run = () => {
    clearTimeout(timer);
    refreshes++;
    refresh();
    timer = next();
  };
  const onData = coalescer(run);
  timer = next();
  return {
    dataArrived: () => {
      if (delayMs === undefined || refreshes === 0) onData.poke();
    },
    stop: () => {
      onData.stop();
      clearTimeout(timer);
    },
  };
}

/**
 * Resolves at `end` (wall-clock time), never without one. setTimeout takes at most about 24.8 days, so a
 * longer wait is made of shorter ones, each looking at the clock again.
 */
export function endTimeReached(end: Date | undefined): { reached: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const reached = new Promise<void>((resolve) => {
    if (end === undefined) return;
    const wait = () => {
      const left = end.getTime() - Date.now();
      if (left <= 0) resolve();
      else timer = setTimeout(wait, Math.min(left, 2 ** 31 - 1));
    };
    wait();
  });
  return { reached, cancel: () => clearTimeout(timer) };
}
