// What `vmm-stats top` shows, computed from the Data frames a subscription delivers: per-VM rates from
// the difference between a VM's frames at two refreshes of the display, so that a display refreshed less
// often than the daemon samples shows the average since the last refresh rather than the last interval's.
// Pure: the caller says when each frame arrived and when the display refreshes.
import { staleAfterMs, vmNameOf } from '../vm/vm.js';
import type { IfData, Stats, Timeval, VmmCounters, VmName } from '../wire/messages.js';

/** Traffic summed over a VM's taps. On a tap, "in" is what the VM sent (the host's receive side). */
export interface Traffic<T> {
  packetsIn: T;
  packetsOut: T;
  bytesIn: T;
  bytesOut: T;
}

/** One VM as a row of the view. A rate is undefined until two comparable frames have arrived. */
export interface VmRow {
  /** The full name, labels joined with dots. */
  name: string;
  /** CPU time (user + system) per wall-clock time: 100 is one core busy. */
  cpuPercent: number | undefined;
  /** The VM process's peak resident set, as getrusage reports it (ru_maxrss), in MiB. */
  maxrssMiB: number;
  /** Per second, summed over the taps that could be compared; undefined when none could. */
  traffic: Traffic<number> | undefined;
  taps: number;
  /** The hypervisor's VM exits per second; undefined without an exit counter (or until it has a rate). */
  exitsPerSecond: number | undefined;
}

/** One hypervisor counter of a VM, as `x` shows them: its total and its growth per second. */
export interface CounterRate {
  name: string;
  total: bigint;
  /** Undefined until two comparable frames, or when the counter went down (its VM restarted). */
  perSecond: number | undefined;
}

interface Sample {
  at: number;
  cpuSeconds: number;
  maxrssKiB: bigint;
  taps: Map<string, Traffic<bigint>>;
  vmm: VmmCounters;
}

interface VmState {
  name: string;
  latest: Sample;
  /** The frames the row compares: the latest at the refresh before the row's, and the latest at its own. */
  rowFrom: Sample | undefined;
  rowTo: Sample | undefined;
  row: VmRow | undefined;
}

function seconds(tv: Timeval): number {
  return Number(tv.sec) + tv.usec / 1e6;
}

function tapCounters(tap: IfData): Traffic<bigint> {
  return {
    packetsIn: tap.input_packets,
    packetsOut: tap.output_packets,
    bytesIn: tap.input_bytes,
    bytesOut: tap.output_bytes,
  };
}

function sampleOf(stats: Stats, at: number): Sample {
  return {
    at,
    cpuSeconds: seconds(stats.rusage.utime) + seconds(stats.rusage.stime),
    maxrssKiB: stats.rusage.maxrss,
    taps: new Map(stats.ifdata.map((tap) => [tap.name, tapCounters(tap)])),
    vmm: stats.vmm,
  };
}

/**
 * Did the VM's process change between two samples (restarted under a new pid)? One process's CPU time
 * and peak resident set never go down, so either going down means the counters started again.
 */
function processRestarted(before: Sample, after: Sample): boolean {
  return after.cpuSeconds < before.cpuSeconds || after.maxrssKiB < before.maxrssKiB;
}

const TRAFFIC_KEYS = ['packetsIn', 'packetsOut', 'bytesIn', 'bytesOut'] as const;

/** The counters' growth, or undefined when any went down (the tap was recreated, its counters reset). */
function tapGrowth(before: Traffic<bigint>, after: Traffic<bigint>): Traffic<bigint> | undefined {
  if (TRAFFIC_KEYS.some((key) => after[key] < before[key])) return undefined;
  return {
    packetsIn: after.packetsIn - before.packetsIn,
    packetsOut: after.packetsOut - before.packetsOut,
    bytesIn: after.bytesIn - before.bytesIn,
    bytesOut: after.bytesOut - before.bytesOut,
  };
}

/** Per-second traffic over the taps present in both samples with counters that only grew. */
function trafficRate(before: Sample, after: Sample, elapsedSeconds: number): Traffic<number> | undefined {
  const growths = [...after.taps].flatMap(([name, counters]) => {
    const previous = before.taps.get(name);
    const growth = previous && tapGrowth(previous, counters);
    return growth ? [growth] : [];
  });
  if (growths.length === 0) return undefined;
  const perSecond = (key: (typeof TRAFFIC_KEYS)[number]) =>
    growths.reduce((sum, growth) => sum + Number(growth[key]), 0) / elapsedSeconds;
  return {
    packetsIn: perSecond('packetsIn'),
    packetsOut: perSecond('packetsOut'),
    bytesIn: perSecond('bytesIn'),
    bytesOut: perSecond('bytesOut'),
  };
}

/**
 * The counters that count every VM exit: KVM's `exits` (debugfs and the statistics fds name it so), and
 * bhyve's VMEXIT_COUNT as vmm(4) describes it (amd64 and arm64 alike).
 */
const EXIT_COUNTERS = ['exits', 'total number of vm exits'];

function counterValue(vmm: VmmCounters, name: string): bigint | undefined {
  const index = vmm.descriptions.indexOf(name);
  return index < 0 ? undefined : vmm.values[index];
}

function exitCount(sample: Sample): bigint | undefined {
  for (const name of EXIT_COUNTERS) {
    const value = counterValue(sample.vmm, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** How fast a counter grew, or undefined when it is missing from either sample or went down. */
function counterRate(before: bigint | undefined, after: bigint | undefined, elapsedSeconds: number): number | undefined {
  if (before === undefined || after === undefined || after < before) return undefined;
  return Number(after - before) / elapsedSeconds;
}

/** The seconds between two samples whose rates mean something, or undefined when they cannot be compared. */
function comparableSeconds(before: Sample | undefined, after: Sample): number | undefined {
  if (before === undefined || processRestarted(before, after)) return undefined;
  const elapsedSeconds = (after.at - before.at) / 1000;
  return elapsedSeconds > 0 ? elapsedSeconds : undefined;
}

function rowOf(name: string, before: Sample | undefined, after: Sample): VmRow {
  const elapsed = comparableSeconds(before, after);
  const comparable = elapsed !== undefined && before !== undefined;
  return {
    name,
    cpuPercent: comparable ? ((after.cpuSeconds - before.cpuSeconds) / elapsed) * 100 : undefined,
    maxrssMiB: Number(after.maxrssKiB) / 1024,
    traffic: comparable ? trafficRate(before, after, elapsed) : undefined,
    taps: after.taps.size,
    exitsPerSecond: comparable ? counterRate(exitCount(before), exitCount(after), elapsed) : undefined,
  };
}

/** Every counter of `after` with its rate since `before`, fastest first; ties (and no rate) by name. */
function counterRates(before: Sample | undefined, after: Sample): CounterRate[] {
  const elapsed = comparableSeconds(before, after);
  const rates = after.vmm.descriptions.map((name, i): CounterRate => {
    const total = after.vmm.values[i]!;
    const previous = before && elapsed !== undefined ? counterValue(before.vmm, name) : undefined;
    return { name, total, perSecond: elapsed === undefined ? undefined : counterRate(previous, total, elapsed) };
  });
  const rateOf = (counter: CounterRate) => counter.perSecond ?? -1;
  return rates.sort((a, b) => rateOf(b) - rateOf(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every VM's latest frame, and its rates between the display's last two refreshes. */
export class TopModel {
  readonly #vms = new Map<string, VmState>();
  /** The time between a VM's last two frames, as last seen: the daemon's interval, near enough. */
  #intervalMs: number | undefined;

  /** Takes one Data frame for `name` that arrived at `at` (milliseconds on a monotonic clock). */
  observe(name: VmName, stats: Stats, at: number): void {
    const key = vmNameOf(name);
    const previous = this.#vms.get(key);
    const latest = sampleOf(stats, at);
    if (previous && at > previous.latest.at) this.#intervalMs = at - previous.latest.at;
    if (previous) previous.latest = latest;
    else this.#vms.set(key, { name: key, latest, rowFrom: undefined, rowTo: undefined, row: undefined });
  }

  /**
   * The display refreshes: each VM with a frame since the last refresh gets its rates over the time
   * between the two; a VM without one keeps the rates it had (the daemon samples less often than that).
   */
  refresh(): void {
    for (const vm of this.#vms.values()) {
      if (vm.latest === vm.rowTo) continue;
      vm.rowFrom = vm.rowTo;
      vm.rowTo = vm.latest;
      vm.row = rowOf(vm.name, vm.rowFrom, vm.rowTo);
    }
  }

  /** The daemon's interval as the frames show it; undefined until a VM has sent two. */
  get intervalMs(): number | undefined {
    return this.#intervalMs;
  }

  /** Forgets the VMs that have sent nothing for a few intervals. */
  expire(now: number): void {
    if (this.#intervalMs === undefined) return;
    const staleAfter = staleAfterMs(this.#intervalMs);
    for (const [key, vm] of this.#vms) if (now - vm.latest.at > staleAfter) this.#vms.delete(key);
  }

  /** The VMs as of the last refresh (a VM first seen since has no row yet). */
  rows(): VmRow[] {
    return [...this.#vms.values()].flatMap((vm) => (vm.row ? [vm.row] : []));
  }

  /** A VM's hypervisor counters as of the last refresh, fastest-growing first; undefined for no such VM. */
  counters(name: string): CounterRate[] | undefined {
    const vm = this.#vms.get(name);
    return vm?.rowTo && counterRates(vm.rowFrom, vm.rowTo);
  }
}
