// What `vmm-stats top` shows, computed from the Data frames a subscription delivers: per-VM rates from
// the difference between a VM's successive frames. Pure: the caller says when each frame arrived.
import { staleAfterMs, vmNameOf } from '../vm/vm.js';
import type { IfData, Stats, Timeval, VmName } from '../wire/messages.js';

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
}

interface Sample {
  at: number;
  cpuSeconds: number;
  maxrssKiB: bigint;
  taps: Map<string, Traffic<bigint>>;
}

interface VmState {
  name: string;
  latest: Sample;
  row: VmRow;
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

function rowOf(name: string, before: Sample | undefined, after: Sample): VmRow {
  const elapsedSeconds = before ? (after.at - before.at) / 1000 : 0;
  const comparable = before !== undefined && elapsedSeconds > 0 && !processRestarted(before, after);
  return {
    name,
    cpuPercent: comparable ? ((after.cpuSeconds - before.cpuSeconds) / elapsedSeconds) * 100 : undefined,
    maxrssMiB: Number(after.maxrssKiB) / 1024,
    traffic: comparable ? trafficRate(before, after, elapsedSeconds) : undefined,
    taps: after.taps.size,
  };
}

/** Every VM's latest frame and the rates since its previous one. */
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
    this.#vms.set(key, { name: key, latest, row: rowOf(key, previous?.latest, latest) });
  }

  /** Forgets the VMs that have sent nothing for a few intervals. */
  expire(now: number): void {
    if (this.#intervalMs === undefined) return;
    const staleAfter = staleAfterMs(this.#intervalMs);
    for (const [key, vm] of this.#vms) if (now - vm.latest.at > staleAfter) this.#vms.delete(key);
  }

  rows(): VmRow[] {
    return [...this.#vms.values()].map((vm) => vm.row);
  }
}
