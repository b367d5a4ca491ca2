// The measurement itself: phases of a fixed length, with a once-a-second loop that samples the daemon's
// memory and scrapes the phase's exporters one after the other (never at once, so that on two cores one
// scrape's CPU does not show up as another's latency).
import { performance } from 'node:perf_hooks';
import { cpuDelta, readCpuTimes, readMachineBusySeconds, readMemory, type CpuTimes, type Memory } from './procfs.js';
import type { Scrape } from './scrape.js';
import type { DaemonService, Service } from './services.js';
import type { TickClock } from './tick-clock.js';

export interface PhaseSpec {
  name: string;
  seconds: number;
  /** Scraped in this order, each at most once a second. */
  scrape: Service[];
  /** Started as the CPU window opens: work that is to run during the window and nowhere else. */
  onWindowOpen?: () => void;
}

export interface TickTotals {
  ticks: number;
  /** Sum of the ticks' wall times, as the daemon measures them (sampling, without publishing). */
  seconds: number;
  /**
   * The daemon's histogram of the longest stretch each tick held its event loop: [upper bound in seconds,
   * ticks at or below it], ascending, +Inf last.
   */
  blocking: [number, number][];
}

export interface PhaseResult {
  spec: PhaseSpec;
  wallSeconds: number;
  /** CPU used during the phase, by service name. */
  cpu: Record<string, CpuTimes>;
  /**
   * The daemon's ticks from its self-metrics, read just before the CPU window opens and just after it closes
   * (with a tick clock, a little before and after): their sampling time and how long they held the loop.
   */
  ticks: TickTotals;
  /** The ticks whose CPU the window holds: what CPU per tick divides by. */
  windowTicks: number;
  /** Every scrape of the phase, by service name. */
  scrapes: Record<string, Scrape[]>;
  /** The daemon's memory each second, with the seconds since the run's start. */
  memory: (Memory & { atSeconds: number })[];
  dataFrames: number;
  /** CPU-seconds the whole machine was busy, and how much of it the harness itself took. */
  machineBusySeconds: number;
  harnessSeconds: number;
  /** The phase's CPU window on the monotonic clock, in microseconds: a CPU profile's time base. */
  window: { fromUs: number; toUs: number };
  /** The same on the wall clock, in ms since the epoch: the responsiveness probe's time base. */
  epoch: { fromMs: number; toMs: number };
}

export interface Targets {
  daemon: DaemonService;
  /** Their CPU is followed in every phase (a peer's helper too, such as libvirtd, scraped or not). */
  peers: Pick<Service, 'name' | 'pid'>[];
  /** Data frames received so far. */
  dataFrames(): number;
  /** performance.now() at the run's start, for the RSS series' time axis. */
  origin: number;
  /**
   * When the daemon ticks: given, the window opens and closes while it is idle, holds whole intervals, and
   * counts them as its ticks. Without, the window opens right after the self-metrics are read and counts the
   * ticks they count.
   */
  tickClock?: TickClock;
}

/**
 * Long enough for the work the harness caused before a window (two renders of the self-metrics, a new
 * subscription's first tick, the garbage they leave) to be over when the window opens.
 */
const SETTLE_MS = 1500;

/** CLOCK_MONOTONIC, as V8's CPU profiles time their samples. */
const monotonicMicroseconds = () => Number(process.hrtime.bigint() / 1000n);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The value of an unlabelled series in the daemon's own exposition. */
function seriesValue(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (match === null) throw new Error(`the daemon's /metrics has no ${name}`);
  return Number(match[1]);
}

/** The tick summary's _count and _sum in the daemon's own exposition. */
async function readTickTotals(daemon: Service): Promise<TickTotals> {
  const text = await daemon.scraper.text();
  const read = (suffix: string) => seriesValue(text, `vmm_stats_collector_tick_duration_seconds_${suffix}`);
  const blocking = [...text.matchAll(/^vmm_stats_collector_tick_blocking_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)]
    .map(([, le, count]): [number, number] => [le === '+Inf' ? Infinity : Number(le), Number(count)]);
  if (blocking.length === 0) throw new Error("the daemon's /metrics has no tick_blocking_seconds histogram");
  return { ticks: read('count'), seconds: read('sum'), blocking };
}

/**
 * Waits until the daemon has opened or given up on every VM's hypervisor counters: the attempts (a few
 * ticks per VM, a budget of VMs per tick) cost more than the reads and are not part of the steady state.
 */
export async function hypervisorOpensSettled(daemon: Service, intervalMs: number, progress: (pending: number) => void): Promise<void> {
  for (let polls = 0; ; polls++) {
    const pending = seriesValue(await daemon.scraper.text(), 'vmm_stats_collector_hypervisor_opens_pending');
    if (pending === 0) return;
    if (polls % 30 === 0) progress(pending);
    await sleep(intervalMs);
  }
}

function tickDelta(before: TickTotals, after: TickTotals): TickTotals {
  return {
    ticks: after.ticks - before.ticks,
    seconds: after.seconds - before.seconds,
    blocking: after.blocking.map(([le, count], i) => [le, count - before.blocking[i]![1]]),
  };
}

/**
 * The intervals nearest to `ms`, at least one. A window opened while the daemon is idle holds one tick per
 * interval (the last scrape may have kept it open a little longer), unless the daemon, which counted those
 * and the ones just around the window, counted fewer: a tick that overran skips the slots it missed.
 */
function wholeIntervals(ms: number, clock: TickClock): number {
  return Math.max(1, Math.round(ms / clock.intervalMs));
}

function cpuOfAll(targets: Targets): Record<string, CpuTimes> {
  const all = [targets.daemon, ...targets.peers];
  return Object.fromEntries(all.map((service) => [service.name, readCpuTimes(service.pid)]));
}

export async function runPhase(spec: PhaseSpec, targets: Targets): Promise<PhaseResult> {
  const scrapes: Record<string, Scrape[]> = Object.fromEntries(spec.scrape.map((s) => [s.name, []]));
  const memory: PhaseResult['memory'] = [];
  // The self-metrics are read outside the CPU window, so that these two renders are not counted.
  const ticksBefore = await readTickTotals(targets.daemon);
  const clock = targets.tickClock;
  if (clock !== undefined) await sleep((await clock.quietMomentAfter(performance.now() + SETTLE_MS)) - performance.now());
  spec.onWindowOpen?.();
  const framesBefore = targets.dataFrames();
  const cpuBefore = cpuOfAll(targets);
  const machineBefore = readMachineBusySeconds();
  const harnessBefore = process.cpuUsage();
  const fromUs = monotonicMicroseconds();
  const epochFrom = Date.now();
  const start = performance.now();
  const end = start + (clock === undefined ? spec.seconds * 1000 : wholeIntervals(spec.seconds * 1000, clock) * clock.intervalMs);
  for (let slot = 0; start + slot * 1000 < end; ) {
    await sleep(start + slot * 1000 - performance.now());
    memory.push({ atSeconds: (performance.now() - targets.origin) / 1000, ...readMemory(targets.daemon.pid) });
    for (const service of spec.scrape) scrapes[service.name]!.push(await service.scraper.scrape());
    // A second whose scrapes overran skips the slots it missed rather than scraping back to back.
    slot = Math.max(slot + 1, Math.ceil((performance.now() - start) / 1000));
  }
  await sleep(end - performance.now());
  const cpuAfter = cpuOfAll(targets);
  const toUs = monotonicMicroseconds();
  const epochTo = Date.now();
  const machineBusySeconds = readMachineBusySeconds() - machineBefore;
  const harness = process.cpuUsage(harnessBefore);
  const wallSeconds = (performance.now() - start) / 1000;
  const framesAfter = targets.dataFrames();
  const ticksAfter = await readTickTotals(targets.daemon);
  const cpu = Object.fromEntries(Object.keys(cpuAfter).map((name) => [name, cpuDelta(cpuBefore[name]!, cpuAfter[name]!)]));
  const ticks = tickDelta(ticksBefore, ticksAfter);
  return {
    spec,
    wallSeconds,
    cpu,
    ticks,
    windowTicks: clock === undefined ? ticks.ticks : Math.min(ticks.ticks, wholeIntervals(wallSeconds * 1000, clock)),
    epoch: { fromMs: epochFrom, toMs: epochTo },
    scrapes,
    memory,
    dataFrames: framesAfter - framesBefore,
    machineBusySeconds,
    harnessSeconds: (harness.user + harness.system) / 1e6,
    window: { fromUs, toUs },
  };
}
