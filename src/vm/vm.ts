// What a VM is to every part of vmm-stats: its name, how names cover each other, its process, its
// registration, and when silence means it is gone. The daemon, the collector, the client tools, the exporter
// and top all take these from here, so that they agree on which VM a frame is about.

/** A VM's full name as labels: `foo.bar.baz` is `['foo', 'bar', 'baz']`. */
export type VmName = string[];

/**
 * The dotted form of a name, `tenant.web` for `['tenant', 'web']`: the key of a VM everywhere, and the
 * form the seed itself keeps (`Vmm_core.id_of_string`).
 */
export function vmNameOf(labels: readonly string[]): string {
  return labels.join('.');
}

/** The labels of a dotted name; '' is no labels at all (every VM, as a prefix). */
export function vmLabels(name: string): VmName {
  return name === '' ? [] : name.split('.');
}

/**
 * Why `labels` cannot name a VM (or, with `prefix`, a subscription, where no labels at all is every VM);
 * undefined when it can. A label holding a dot would read back as two labels from the dotted form, and an
 * empty one vanishes in it, so neither survives the seed's own handling of names.
 */
export function vmNameProblem(labels: readonly string[], { prefix = false } = {}): string | undefined {
  if (labels.length === 0) return prefix ? undefined : 'a VM needs a name';
  const bad = labels.findIndex((label) => label === '' || label.includes('.'));
  if (bad < 0) return undefined;
  const what = labels[bad] === '' ? 'is empty' : `holds a '.' (${JSON.stringify(labels[bad])})`;
  return `label ${bad + 1} of the name ${what}: labels are joined by dots, so each must be non-empty and dot-free`;
}

/**
 * The dotted names of the subscription prefixes that cover the VM `labels`: '' (every VM), then one label
 * more each, the VM's own name last. `tenant` covers `tenant.web`; a label holds no '.', so each dotted
 * prefix stands for exactly one list of labels.
 */
export function coveringPrefixes(labels: readonly string[]): string[] {
  const prefixes = [''];
  for (let depth = 1; depth <= labels.length; depth++) prefixes.push(vmNameOf(labels.slice(0, depth)));
  return prefixes;
}

/** pid_t is 32-bit signed on Linux and FreeBSD, and pids start at 1. */
export const MAX_PID = 0x7fffffff;

/** The same taps in the same order: what a VM's counters are summed over. */
export function sameTaps(before: readonly string[], now: readonly string[]): boolean {
  return before.length === now.length && before.every((tap, i) => tap === now[i]);
}

export function isPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && pid <= MAX_PID;
}

/** A VM as the manager registered it: its VMM process and the taps to read. Never changed once made. */
export interface RegisteredVm {
  /** The full name, dotted (vmNameOf of the labels). */
  readonly name: string;
  readonly labels: VmName;
  readonly pid: number;
  /** The process's start time when it was registered: a pid with another start time is another process. */
  readonly startTime: bigint;
  readonly taps: readonly string[];
  /** FreeBSD: the VM's device under /dev/vmm; absent where the hypervisor finds the VM by its pid. */
  readonly vmmDevice?: string;
}

/**
 * A subscriber learns that a VM is gone only by its Data stopping (the channel has no Remove for
 * subscribers): a VM is stale after this many of its intervals without Data...
 */
export const STALE_INTERVALS = 3;
/** ...and never sooner than this, so that a late batch of frames does not make VMs flicker. */
export const MIN_STALE_MS = 1000;

/** How long a VM sending Data every `intervalMs` may go quiet before it counts as gone. */
export function staleAfterMs(intervalMs: number): number {
  return Math.max(STALE_INTERVALS * intervalMs, MIN_STALE_MS);
}

/**
 * What the overview page charts of one sample of a VM: its process's CPU and peak memory, and its taps'
 * traffic summed (the taps summed named, in order, so that a change of taps is no traffic).
 */
export interface SampleTotals {
  cpuSeconds: number;
  maxrssKiB: number;
  taps: readonly string[];
  fromVmBytes: number;
  toVmBytes: number;
  fromVmPackets: number;
  toVmPackets: number;
}

export function emptyTotals(): SampleTotals {
  return { cpuSeconds: 0, maxrssKiB: 0, taps: [], fromVmBytes: 0, toVmBytes: 0, fromVmPackets: 0, toVmPackets: 0 };
}
