// The overview page's memory of the last few minutes: every VM's CPU, memory and traffic, one point per
// round (a collector tick, or a burst of Data frames for the exporter), in rings of a fixed length.
import type { Slicer } from '../loop/slicer.js';
import type { Stats, Timeval } from '../wire/messages.js';
import { emptyTotals, sameTaps, type SampleTotals } from '../vm/vm.js';
import type { VmSnapshot } from './exposition.js';

/**
 * Points kept per VM: 10 minutes at the daemon's default 10-second interval. Each VM costs
 * HISTORY_SERIES.length × RING_SLOTS 4-byte floats (976 bytes) and its bookkeeping, some 1.9 KB in all
 * (npm run bench:overview), so the history stays within 2 KB × the VMs served: 2 MB at 1000 VMs, 128 MB
 * at the daemon's --max-vms default. A VM absent from a round is forgotten at once.
 */
export const HISTORY_POINTS = 60;
/**
 * One slot more than the points answered: the one a round being recorded writes into, in slices, while an
 * answer (made in slices too) reads the others.
 */
const RING_SLOTS = HISTORY_POINTS + 1;

/** What is charted, each a rate or a level per round. */
export const HISTORY_SERIES = ['cpu', 'memory', 'fromVm', 'toVm'] as const;
export type HistorySeries = (typeof HISTORY_SERIES)[number];

/** A moment by both clocks: the wall clock is shown, the monotonic one divides counters into rates. */
export interface Instant {
  wallMs: number;
  monotonicMs: number;
}

function now(): Instant {
  return { wallMs: Date.now(), monotonicMs: performance.now() };
}

/** One VM as the page shows it: its newest values, and its points for the rounds asked for. */
export interface OverviewVm {
  name: string;
  /** The round it was first seen in: points before it belonged to another VM of the same name, if any. */
  since: number;
  taps: number;
  /** CPU time per second (user and system): the cores it keeps busy. */
  cpu: number | null;
  /** Peak resident memory in bytes (rusage maxrss). */
  memory: number | null;
  /** Bytes per second from the VM to the host, and back, summed over its taps. */
  fromVm: number | null;
  toVm: number | null;
  fromVmPackets: number | null;
  toVmPackets: number | null;
  /** Per series, one value per round of Overview.times; null where the VM had no new sample. */
  history: Record<HistorySeries, (number | null)[]>;
}

/** What GET /api/overview answers. */
export interface Overview {
  /** The newest round: asked for as `since`, the next answer holds only the rounds after it. */
  round: number;
  /** The first round of `times`: since + 1, or the oldest kept when the asker is further behind. */
  from: number;
  /** How many rounds the history keeps, and a page should. */
  points: number;
  /** Mean seconds between the rounds kept (the collector's interval, as the page sees it); null before two. */
  intervalSeconds: number | null;
  /** Wall-clock time (ms since the epoch) of each round from `from` to `round`. */
  times: number[];
  vms: OverviewVm[];
}

/** The counters a rate is made from, as they were at a VM's previous sample. */
interface Counters {
  cpuSeconds: number;
  fromVmBytes: number;
  toVmBytes: number;
  fromVmPackets: number;
  toVmPackets: number;
}

interface VmHistory {
  readonly since: number;
  /** HISTORY_SERIES.length rings of RING_SLOTS, one after the other; NaN where there is no point. */
  readonly points: Float32Array;
  /**
   * The Stats last recorded: the same object again is no new sample (the exporter between two frames). Held
   * weakly: keeping 10,000 VMs' records alive from tick to tick would cost more than the history itself.
   */
  lastStats: WeakRef<Stats> | undefined;
  counters: Counters;
  /** The taps the counters summed: when they change, a difference of the sums is no traffic. */
  taps: readonly string[];
  sampledAtMs: number;
  /** The round of its newest sample, whose points are the values shown. */
  sampledInRound: number;
  seenInRound: number;
  fromVmPackets: number;
  toVmPackets: number;
}

function secondsOf(t: Timeval): number {
  return Number(t.sec) + t.usec / 1e6;
}

/** A sample's totals from its records, for a source that keeps records (the standalone exporter). */
function totalsOf(stats: Stats): SampleTotals {
  const totals = {
    cpuSeconds: secondsOf(stats.rusage.utime) + secondsOf(stats.rusage.stime),
    maxrssKiB: Number(stats.rusage.maxrss),
    taps: stats.ifdata.map((tap) => tap.name),
    fromVmBytes: 0,
    toVmBytes: 0,
    fromVmPackets: 0,
    toVmPackets: 0,
  };
  for (const tap of stats.ifdata) {
    totals.fromVmBytes += Number(tap.input_bytes);
    totals.toVmBytes += Number(tap.output_bytes);
    totals.fromVmPackets += Number(tap.input_packets);
    totals.toVmPackets += Number(tap.output_packets);
  }
  return totals;
}

function countersOf(totals: SampleTotals, into: Counters): void {
  into.cpuSeconds = totals.cpuSeconds;
  into.fromVmBytes = totals.fromVmBytes;
  into.toVmBytes = totals.toVmBytes;
  into.fromVmPackets = totals.fromVmPackets;
  into.toVmPackets = totals.toVmPackets;
}

/** Per second; NaN for a counter that went back (a tap recreated) or when no time passed. */
function rate(after: number, before: number, elapsedSeconds: number): number {
  return after >= before && elapsedSeconds > 0 ? (after - before) / elapsedSeconds : NaN;
}

/** A point as the JSON carries it: a rate to 3 decimals, bytes whole, so that a float32's tail is not sent. */
function rounded(value: number): number | null {
  if (Number.isNaN(value)) return null;
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 1000) / 1000;
}

const SERIES_INDEX: Record<HistorySeries, number> = { cpu: 0, memory: 1, fromVm: 2, toVm: 3 };

export class OverviewHistory {
  readonly #vms = new Map<string, VmHistory>();
  /** Wall-clock time of each round, by round % RING_SLOTS. */
  readonly #times = new Float64Array(RING_SLOTS);
  #round = 0;
  /** Whether a round is being recorded, in slices: it counts once it is done. */
  #recording = false;
  /** Filled with the counters of the sample being recorded, then swapped with the VM's previous ones. */
  #current: Counters = { cpuSeconds: 0, fromVmBytes: 0, toVmBytes: 0, fromVmPackets: 0, toVmPackets: 0 };
  /** Where a source that reads totals off its rows writes the sample being recorded: one object, not one per VM. */
  readonly #totals = emptyTotals();

  get round(): number {
    return this.#round;
  }

  get recording(): boolean {
    return this.#recording;
  }

  /** VMs whose history is kept now. */
  get size(): number {
    return this.#vms.size;
  }

  /**
   * One round: a point for every VM of `vms` (a name that repeats counts once, from its first), and the
   * VMs absent from it forgotten. With a slicer, in its slices (at 10,000 VMs a round takes some 10 ms);
   * the round counts, in `round` and in answers, once it is done. One round at a time.
   */
  async record(vms: Iterable<VmSnapshot>, { at = now(), slicer }: { at?: Instant; slicer?: Slicer } = {}): Promise<void> {
    if (this.#recording) throw new Error('a round of the overview is being recorded already');
    this.#recording = true;
    try {
      const round = this.#round + 1;
      this.#times[round % RING_SLOTS] = at.wallMs;
      let count = 0;
      for (const snapshot of vms) {
        let vm = this.#vms.get(snapshot.name);
        if (vm?.seenInRound === round) continue;
        if (vm === undefined) {
          vm = this.#start(round);
          this.#vms.set(snapshot.name, vm);
        }
        vm.seenInRound = round;
        this.#sample(vm, round, snapshot, at.monotonicMs);
        if (slicer?.dueAt(++count) === true) await slicer.next();
      }
      for (const [name, vm] of this.#vms) if (vm.seenInRound !== round) this.#vms.delete(name);
      this.#round = round;
    } finally {
      this.#recording = false;
      slicer?.end();
    }
  }

  #start(round: number): VmHistory {
    return {
      since: round,
      points: new Float32Array(HISTORY_SERIES.length * RING_SLOTS).fill(NaN),
      lastStats: undefined,
      counters: { cpuSeconds: 0, fromVmBytes: 0, toVmBytes: 0, fromVmPackets: 0, toVmPackets: 0 },
      taps: [],
      sampledAtMs: 0,
      sampledInRound: 0,
      seenInRound: round,
      fromVmPackets: NaN,
      toVmPackets: NaN,
    };
  }

  /** The VM's point of this round; a source's same Stats as the round before is no new sample: no point. */
  #sample(vm: VmHistory, round: number, snapshot: VmSnapshot, monotonicMs: number): void {
    if (snapshot.totals !== undefined) {
      this.#point(vm, round, snapshot.totals(this.#totals), monotonicMs);
      return;
    }
    const { stats } = snapshot;
    if (vm.lastStats?.deref() === stats) {
      const slot = round % RING_SLOTS;
      for (let series = 0; series < HISTORY_SERIES.length; series++) vm.points[series * RING_SLOTS + slot] = NaN;
      return;
    }
    vm.lastStats = new WeakRef(stats);
    this.#point(vm, round, totalsOf(stats), monotonicMs);
  }

  #point(vm: VmHistory, round: number, totals: SampleTotals, monotonicMs: number): void {
    const slot = round % RING_SLOTS;
    const { points } = vm;
    const current = this.#current;
    countersOf(totals, current);
    const before = vm.counters;
    const elapsed = vm.sampledInRound === 0 ? 0 : (monotonicMs - vm.sampledAtMs) / 1000;
    const tapsKept = sameTaps(vm.taps, totals.taps);
    // No taps is no traffic known, rather than none; other taps than before, no difference of their sums.
    const trafficSeconds = tapsKept && totals.taps.length > 0 ? elapsed : 0;
    points[SERIES_INDEX.cpu * RING_SLOTS + slot] = rate(current.cpuSeconds, before.cpuSeconds, elapsed);
    points[SERIES_INDEX.memory * RING_SLOTS + slot] = totals.maxrssKiB * 1024;
    points[SERIES_INDEX.fromVm * RING_SLOTS + slot] = rate(current.fromVmBytes, before.fromVmBytes, trafficSeconds);
    points[SERIES_INDEX.toVm * RING_SLOTS + slot] = rate(current.toVmBytes, before.toVmBytes, trafficSeconds);
    vm.fromVmPackets = rate(current.fromVmPackets, before.fromVmPackets, trafficSeconds);
    vm.toVmPackets = rate(current.toVmPackets, before.toVmPackets, trafficSeconds);
    vm.counters = current;
    this.#current = before;
    if (!tapsKept) vm.taps = totals.taps;
    vm.sampledAtMs = monotonicMs;
    vm.sampledInRound = round;
  }

  /**
   * The rounds after `since` (all that are kept, when that is further back than the history reaches, or
   * ahead of it, as after a restart), and every VM's newest values.
   */
  overview(since: number): Overview {
    const head = this.#head(since);
    return { ...head, vms: [...this.#vms].map(([name, vm]) => this.#overviewOf(name, vm, head)) };
  }

  /**
   * The same as JSON, made in the slices of `slicer` when given: at 10,000 VMs it takes some 50 ms for one
   * round, 300 for all. The rounds it holds are those done when it began.
   */
  async overviewJson(since: number, slicer?: Slicer): Promise<string> {
    const head = this.#head(since);
    const vms: string[] = [];
    for (const [name, vm] of [...this.#vms]) {
      vms.push(JSON.stringify(this.#overviewOf(name, vm, head)));
      if (slicer?.dueAt(vms.length) === true) await slicer.next();
    }
    slicer?.end();
    return `${JSON.stringify(head).slice(0, -1)},"vms":[${vms.join(',')}]}`;
  }

  #head(since: number): Omit<Overview, 'vms'> {
    const round = this.#round;
    const oldest = Math.max(1, round - HISTORY_POINTS + 1);
    const from = since >= oldest - 1 && since <= round ? since + 1 : oldest;
    const times: number[] = [];
    for (let r = from; r <= round; r++) times.push(this.#times[r % RING_SLOTS]!);
    return { round, from, points: HISTORY_POINTS, intervalSeconds: this.#observedInterval(oldest, round), times };
  }

  #overviewOf(name: string, vm: VmHistory, { from, round }: Pick<Overview, 'from' | 'round'>): OverviewVm {
    // Newer than `round` when the round being recorded has reached it: its values are as real.
    const kept = round - vm.sampledInRound < HISTORY_POINTS;
    const series = (name: HistorySeries) => {
      const ring = SERIES_INDEX[name] * RING_SLOTS;
      const values: (number | null)[] = [];
      for (let r = from; r <= round; r++) values.push(r < vm.since ? null : rounded(vm.points[ring + (r % RING_SLOTS)]!));
      return values;
    };
    const newest = (name: HistorySeries) =>
      kept ? rounded(vm.points[SERIES_INDEX[name] * RING_SLOTS + (vm.sampledInRound % RING_SLOTS)]!) : null;
    return {
      name,
      since: vm.since,
      taps: vm.taps.length,
      cpu: newest('cpu'),
      memory: newest('memory'),
      fromVm: newest('fromVm'),
      toVm: newest('toVm'),
      fromVmPackets: kept ? rounded(vm.fromVmPackets) : null,
      toVmPackets: kept ? rounded(vm.toVmPackets) : null,
      history: { cpu: series('cpu'), memory: series('memory'), fromVm: series('fromVm'), toVm: series('toVm') },
    };
  }

  /** Mean seconds between the rounds kept: what a page should wait between two requests. */
  #observedInterval(oldest: number, round: number): number | null {
    if (round - oldest < 1) return null;
    return (this.#times[round % RING_SLOTS]! - this.#times[oldest % RING_SLOTS]!) / (round - oldest) / 1000;
  }
}

export type OverviewAnswer = { ok: true; json: string } | { ok: false; error: string };

/** GET /api/overview?since=ROUND: the JSON of the rounds after ROUND (all kept, without it). */
export async function answerOverview(history: OverviewHistory, query: URLSearchParams, slicer?: Slicer): Promise<OverviewAnswer> {
  const since = query.get('since');
  if (since !== null && !/^\d{1,15}$/.test(since)) {
    return { ok: false, error: `since takes the round of an earlier answer, a whole number, not ${JSON.stringify(since.slice(0, 40))}` };
  }
  return { ok: true, json: await history.overviewJson(since === null ? 0 : Number(since), slicer) };
}
