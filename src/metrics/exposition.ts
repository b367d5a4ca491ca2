// Renders VM statistics in the Prometheus text format 0.0.4 or OpenMetrics 1.0.0.
// Names follow Prometheus' conventions: base units (seconds, bytes), `_total` on counters, a `vm` label
// carrying the full dotted VM name, an `interface` label on tap series.
import { SHORT_STRING, storeIfAscii } from '../wire/ascii.js';
import type { Slicer } from '../loop/slicer.js';
import type { SampleTotals } from '../vm/vm.js';
import type { HistogramValues } from './histogram.js';
import type { IfData, Rusage, Stats, Timeval } from '../wire/messages.js';

export interface VmSnapshot {
  /** The full VM name, dotted; any UTF-8. */
  name: string;
  stats: Stats;
  /**
   * The few numbers the overview charts, when the source can give them without making `stats` (the daemon
   * reads them off its rows: at 10,000 VMs, records every tick would cost more than the history itself).
   */
  totals?: (into?: SampleTotals) => SampleTotals;
}



/** The endpoint's own numbers: the daemon's collector when embedded, the upstream link when standalone. */
export interface SelfMetrics {
  /** VMs whose statistics the endpoint serves. */
  vms: number;
  collector?: CollectorMetrics;
  /** The standalone exporter: whether it is subscribed to a stats daemon now. */
  upstreamUp?: boolean;
}

export interface CollectorMetrics {
  subscribers: number;
  droppedDataFrames: number;
  /** The collector's tick interval (`--interval`), what a tick's duration must stay under. */
  intervalSeconds: number;
  /** Duration of the last collector tick. */
  lastTickSeconds: number;
  /** Rendered as the `_count` and `_sum` of the summary vmm_stats_collector_tick_duration_seconds. */
  ticksTotal: number;
  tickSecondsTotal: number;
  /** VMs whose hypervisor counters the collector is still trying to open. */
  hypervisorOpensPending: number;
  /** Per tick, the longest stretch it held the event loop: what requests and scrapes waited behind. */
  tickBlocking: HistogramValues;
}

export type ExpositionFormat = 'prometheus' | 'openmetrics';

const CONTENT_TYPES: Record<ExpositionFormat, string> = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** One entry of an Accept-style header: `type/subtype;param=value;q=0.5`. */
export interface AcceptEntry {
  value: string;
  params: Map<string, string>;
  q: number;
}

/** Parses a comma-separated list of values with parameters (Accept, Accept-Encoding); lower-cased. */
export function parseAcceptList(header: string | undefined): AcceptEntry[] {
  if (header === undefined) return [];
  const entries: AcceptEntry[] = [];
  for (const part of header.split(',')) {
    const [head = '', ...rest] = part.split(';');
    const value = head.trim().toLowerCase();
    if (value === '') continue;
    const params = new Map<string, string>();
    for (const param of rest) {
      const eq = param.indexOf('=');
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      params.set(key, param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'));
    }
    const q = params.has('q') ? Number(params.get('q')) : 1;
    entries.push({ value, params, q: Number.isFinite(q) ? q : 0 });
  }
  return entries;
}

function bestQuality(entries: AcceptEntry[], accepts: (entry: AcceptEntry) => boolean): number {
  let best = 0;
  for (const entry of entries) if (accepts(entry) && entry.q > best) best = entry.q;
  return best;
}

function versionIs(entry: AcceptEntry, version: string): boolean {
  const asked = entry.params.get('version');
  return asked === undefined || asked === version;
}

/**
 * OpenMetrics 1.0.0 when the scraper prefers it at least as much as the text format (Prometheus asks for
 * it first); the Prometheus text format otherwise, including for an absent or unsatisfiable header.
 */
export function negotiateFormat(accept: string | undefined): { format: ExpositionFormat; contentType: string } {
  const entries = parseAcceptList(accept);
  const openMetrics = bestQuality(
    entries,
    (e) => e.value === 'application/openmetrics-text' && versionIs(e, '1.0.0'),
  );
  const text = bestQuality(
    entries,
    (e) => (e.value === 'text/plain' && versionIs(e, '0.0.4')) || e.value === 'text/*' || e.value === '*/*',
  );
  const format: ExpositionFormat = openMetrics > 0 && openMetrics >= text ? 'openmetrics' : 'prometheus';
  return { format, contentType: CONTENT_TYPES[format] };
}

// ---- values ----

/** A label value as both formats require: backslash, double quote and newline escaped; any other UTF-8 as is. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/[\\"\n]/g, escapeChar) : value;
}

function escapeChar(c: string): string {
  return c === '\n' ? '\\n' : `\\${c}`;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return String(n);
}

const MICROS_PER_SECOND = 1_000_000n;

/** Exact decimal seconds of a timeval, normalising a usec outside [0, 1e6). */
function formatTimeval(t: Timeval): string {
  const micros = t.sec * MICROS_PER_SECOND + BigInt(t.usec);
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  const fraction = (abs % MICROS_PER_SECOND).toString().padStart(6, '0');
  return `${sign}${abs / MICROS_PER_SECOND}.${fraction}`;
}

// ---- families ----

type MetricType = 'counter' | 'gauge' | 'summary' | 'histogram';

/** A sample's value: bigints are rendered by their decimal string, so that u64s stay exact. */
type Value = bigint | number | string;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface FamilyMetadata {
  /** The family's name; a counter's samples append `_total`. */
  name: string;
  type: MetricType;
  /** OpenMetrics unit: the name's last component, when it is a base unit. */
  unit?: 'seconds' | 'bytes';
  help: string;
}

interface Family<T, V extends Value = Value> extends FamilyMetadata {
  read(item: T): V;
}

const IFF_UP = 1; // the same bit on Linux and FreeBSD

/** A layout field's family: the field's value becomes the sample's (unchanged when it is already a Value). */
type FieldFamily<V> = Omit<FamilyMetadata, 'name'> & { family: string } & (V extends Value
    ? { value?: (field: V) => Value }
    : { value: (field: V) => Value });

/** A layout field with no family, and why. */
interface LeftOut {
  leftOut: string;
}

/**
 * A family or a reason for every field of a record's layout (src/wire/layouts.ts), so that a field added
 * there is a type error here until it gets one or the other. Families come in the table's order.
 */
type FamilyTable<R> = { [K in keyof R]-?: FieldFamily<R[K]> | LeftOut };

function familiesOf<R, T>(table: FamilyTable<R>, prefix: string, recordOf: (item: T) => R): Family<T>[] {
  return (Object.keys(table) as (keyof R & string)[]).flatMap((key): Family<T>[] => {
    const entry = table[key] as FieldFamily<unknown> | LeftOut;
    if ('leftOut' in entry) return [];
    const { family, type, unit, help } = entry;
    const value = (entry.value ?? ((field: unknown) => field as Value)) as (field: R[keyof R]) => Value;
    return [{ name: `${prefix}${family}`, type, unit, help, read: (item) => value(recordOf(item)[key]) }];
  });
}

/**
 * ixrss, idrss, isrss: always 0 on Linux; on FreeBSD KiB x statistics-clock ticks, a clock rate the wire
 * does not carry, so they cannot be put in base units.
 */
const INTEGRAL: LeftOut = { leftOut: 'an integral over statistics-clock ticks, whose rate the wire does not carry' };

const RUSAGE_FAMILIES: FamilyTable<Rusage> = {
  utime: { family: 'cpu_user_seconds', type: 'counter', unit: 'seconds',
    help: "CPU time the VM's process spent in user mode (rusage utime).", value: formatTimeval },
  stime: { family: 'cpu_system_seconds', type: 'counter', unit: 'seconds',
    help: "CPU time the VM's process spent in the kernel (rusage stime).", value: formatTimeval },
  maxrss: { family: 'max_resident_memory_bytes', type: 'gauge', unit: 'bytes',
    help: "Peak resident set size of the VM's process (rusage maxrss, reported in KiB).", value: (kib) => kib * 1024n },
  ixrss: INTEGRAL,
  idrss: INTEGRAL,
  isrss: INTEGRAL,
  minflt: { family: 'minor_page_faults', type: 'counter',
    help: "Page faults of the VM's process serviced without I/O (rusage minflt)." },
  majflt: { family: 'major_page_faults', type: 'counter',
    help: "Page faults of the VM's process that needed I/O (rusage majflt)." },
  nswap: { leftOut: 'maintained by neither Linux nor FreeBSD: always 0' },
  inblock: { family: 'block_input_operations', type: 'counter',
    help: "Block input operations of the VM's process (rusage inblock; 512-byte blocks on Linux)." },
  outblock: { family: 'block_output_operations', type: 'counter',
    help: "Block output operations of the VM's process (rusage outblock; 512-byte blocks on Linux)." },
  msgsnd: { family: 'ipc_messages_sent', type: 'counter',
    help: "IPC messages sent by the VM's process (rusage msgsnd; 0 on Linux)." },
  msgrcv: { family: 'ipc_messages_received', type: 'counter',
    help: "IPC messages received by the VM's process (rusage msgrcv; 0 on Linux)." },
  nsignals: { family: 'signals_received', type: 'counter',
    help: "Signals delivered to the VM's process (rusage nsignals; 0 on Linux)." },
  nvcsw: { family: 'voluntary_context_switches', type: 'counter',
    help: "Context switches of the VM's process because it waited (rusage nvcsw)." },
  nivcsw: { family: 'involuntary_context_switches', type: 'counter',
    help: "Context switches of the VM's process because it was preempted (rusage nivcsw)." },
};

const VM_FAMILIES: Family<Stats>[] = familiesOf(RUSAGE_FAMILIES, 'vmm_stats_vm_', (stats: Stats) => stats.rusage);

// The counters' list mixes event counts with levels (resident and wired memory on bhyve, page counts on
// KVM), so the family cannot promise monotonicity: a gauge, values as the hypervisor reports them.
const HYPERVISOR_FAMILY: Family<bigint> = {
  name: 'vmm_stats_vm_hypervisor_stat',
  type: 'gauge',
  help: 'A statistic the hypervisor keeps for the VM, named by the counter label (its description), unconverted. '
    + 'Most count events (use rate()); some are levels such as memory.',
  read: (value) => value,
};

// On a VM's tap the host's receive side carries what the VM sends, so the names say "from_vm"/"to_vm"
// rather than receive/transmit, which would read backwards from the VM's point of view.
const FROM_VM = 'from the VM to the host (the host receives it on the tap: ifdata input)';
const TO_VM = 'from the host to the VM (the host transmits it on the tap: ifdata output)';
const IFDATA_FAMILIES: FamilyTable<Omit<IfData, 'name'>> = {
  input_bytes: { family: 'from_vm_bytes', type: 'counter', unit: 'bytes', help: `Bytes ${FROM_VM}.` },
  output_bytes: { family: 'to_vm_bytes', type: 'counter', unit: 'bytes', help: `Bytes ${TO_VM}.` },
  input_packets: { family: 'from_vm_packets', type: 'counter', help: `Packets ${FROM_VM}.` },
  output_packets: { family: 'to_vm_packets', type: 'counter', help: `Packets ${TO_VM}.` },
  input_mcast: { family: 'from_vm_multicast_packets', type: 'counter', help: `Multicast packets ${FROM_VM}.` },
  output_mcast: { family: 'to_vm_multicast_packets', type: 'counter', help: `Multicast packets ${TO_VM}.` },
  input_errors: { family: 'from_vm_errors', type: 'counter', help: `Errors on packets ${FROM_VM}.` },
  output_errors: { family: 'to_vm_errors', type: 'counter', help: `Errors on packets ${TO_VM}.` },
  input_dropped: { family: 'from_vm_drops', type: 'counter', help: `Dropped packets ${FROM_VM}.` },
  output_dropped: { family: 'to_vm_drops', type: 'counter', help: `Dropped packets ${TO_VM}.` },
  collisions: { family: 'collisions', type: 'counter', help: 'Collisions on the tap.' },
  mtu: { family: 'mtu_bytes', type: 'gauge', unit: 'bytes', help: 'MTU of the tap.' },
  flags: { family: 'up', type: 'gauge', help: 'Whether the tap is administratively up (IFF_UP): 1 or 0.',
    value: (flags) => flags & IFF_UP },
  send_length: { family: 'to_vm_queue_length', type: 'gauge',
    help: 'Packets waiting in the tap\'s send queue towards the VM.' },
  max_send_length: { family: 'to_vm_queue_max_length', type: 'gauge',
    help: 'Capacity in packets of the tap\'s send queue towards the VM.' },
  send_drops: { family: 'to_vm_queue_drops', type: 'counter',
    help: 'Packets towards the VM dropped because the tap\'s send queue was full.' },
  baudrate: { leftOut: 'the link speed the interface claims (0 when unknown), not something the VM did' },
};

const TAP_FAMILIES: Family<IfData>[] = familiesOf(IFDATA_FAMILIES, 'vmm_stats_tap_', (ifdata: IfData) => ifdata);

const SCRAPE_FAMILY: FamilyMetadata = {
  name: 'vmm_stats_scrape_duration_seconds', type: 'gauge', unit: 'seconds',
  help: 'Time the previous scrape of this endpoint took: snapshot, rendering, compression and sending.',
};

const VMS_FAMILY: FamilyMetadata = {
  name: 'vmm_stats_vms', type: 'gauge', help: 'VMs whose statistics this endpoint serves.',
};

const UPSTREAM_FAMILY: FamilyMetadata = {
  name: 'vmm_stats_exporter_upstream_up', type: 'gauge',
  help: 'Whether the standalone exporter is subscribed to its stats daemon now (1) or reconnecting (0).',
};

const COLLECTOR_FAMILIES: Family<CollectorMetrics, number>[] = [
  { name: 'vmm_stats_subscribers', type: 'gauge', help: 'Connections subscribed to Data frames.',
    read: (s) => s.subscribers },
  { name: 'vmm_stats_dropped_data_frames', type: 'counter',
    help: 'Data frames dropped because a subscriber did not read them in time.',
    read: (s) => s.droppedDataFrames },
  // Exposed because the tick counts cannot tell it: a tick that overruns skips slots, so ticks that take
  // 1.2 intervals come as often as ticks that take 0.6 of one would at twice the interval.
  { name: 'vmm_stats_collector_interval_seconds', type: 'gauge', unit: 'seconds',
    help: 'The collector\'s tick interval: a tick that takes longer overruns it.', read: (s) => s.intervalSeconds },
  { name: 'vmm_stats_collector_last_tick_duration_seconds', type: 'gauge', unit: 'seconds',
    help: 'Time the last collector tick took to sample every VM.', read: (s) => s.lastTickSeconds },
  // A VMM makes its device some time after it starts: a new VM's counters are tried on a few ticks, a
  // budget of VMs per tick, before its statistics go without them. After a burst of Adds this says when
  // the tries (which cost more than the reads) are over.
  { name: 'vmm_stats_collector_hypervisor_opens_pending', type: 'gauge',
    help: 'VMs whose hypervisor counters the collector is still trying to open.', read: (s) => s.hypervisorOpensPending },
];

// ---- rendering ----

/**
 * Appends UTF-8 to one growing buffer, rather than a string per sample joined at the end, whose many
 * small strings keep the garbage collector busy (BENCHMARKS.md, "Design measurements").
 */
class ByteWriter {
  #buffer: Buffer;
  /** The same memory, for storing bytes one by one (see storeIfAscii). */
  #bytes: Uint8Array;
  #length = 0;

  readonly #chunks: ChunkedOutput | undefined;

  /** Writes into one buffer of `expectedBytes`, grown when needed; or in chunks of `chunks`, when given. */
  constructor(expectedBytes: number, chunks?: ChunkedOutput) {
    this.#chunks = chunks;
    this.#buffer = chunks?.memory() ?? Buffer.allocUnsafeSlow(expectedBytes);
    this.#bytes = bytesOf(this.#buffer);
  }

  /** In chunks, the chunk written so far once it holds chunkBytes, the rest going into new memory. */
  fullChunk(): Buffer | undefined {
    if (this.#chunks === undefined || this.#length < this.#chunks.chunkBytes) return undefined;
    const full = this.bytes();
    this.#buffer = this.#chunks.memory();
    this.#bytes = bytesOf(this.#buffer);
    this.#length = 0;
    return full;
  }

  text(text: string): void {
    const needed = this.#length + text.length * 3; // a UTF-16 unit never takes more than 3 UTF-8 bytes
    if (needed > this.#buffer.length) this.#grow(needed);
    if (text.length < SHORT_STRING && storeIfAscii(text, this.#bytes, this.#length)) this.#length += text.length;
    else this.#length += this.#buffer.write(text, this.#length);
  }

  value(value: Value): void {
    // Most values are counters that fit a double exactly: their digits go straight in, with no string made.
    if (typeof value === 'bigint' && value >= 0n && value <= MAX_SAFE) this.#digits(Number(value));
    else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) this.#digits(value);
    else this.text(typeof value === 'number' ? formatNumber(value) : `${value}`);
  }

  /** The decimal digits of a non-negative safe integer. */
  #digits(n: number): void {
    let count = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) count++;
    if (this.#length + count > this.#buffer.length) this.#grow(this.#length + count);
    const bytes = this.#bytes;
    let rest = n;
    for (let at = this.#length + count - 1; at >= this.#length; at--) {
      bytes[at] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    this.#length += count;
  }

  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }

  #grow(needed: number): void {
    const bigger = Buffer.allocUnsafeSlow(Math.max(needed, this.#buffer.length * 2));
    this.#buffer.copy(bigger, 0, 0, this.#length);
    this.#buffer = bigger;
    this.#bytes = bytesOf(bigger);
  }
}

function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

/** One series of a family: its label set, escaped and braced, and what its value is read from. */
interface Row<T> {
  labels: string;
  item: T;
}

interface Rows {
  vms: Row<Stats>[];
  taps: Row<IfData>[];
  counters: Row<bigint>[];
}

/**
 * A rendering's steps yield every so many rows: where one rendered in slices may let the event loop go on
 * and send what is done (renderMetricsBytesInSlices), and where one rendered at once does not stop
 * (renderMetricsBytes). A step yields a full chunk when it made one.
 */
type Steps<T> = Generator<Buffer | undefined, T, undefined>;
const VMS_PER_STEP = 64;
const ROWS_PER_STEP = 256;

/** Escapes every label set once, and keeps the first of any duplicates so that no series repeats. */
function* prepareRows(vms: Iterable<VmSnapshot>): Steps<Rows> {
  const rows: Rows = { vms: [], taps: [], counters: [] };
  const seen = new Set<string>();
  for (const { name, stats } of vms) {
    if (seen.size % VMS_PER_STEP === VMS_PER_STEP - 1) yield;
    if (seen.has(name)) continue;
    seen.add(name);
    const vm = `vm="${escapeLabelValue(name)}"`;
    rows.vms.push({ labels: `{${vm}} `, item: stats });
    for (const data of firstByKey(stats.ifdata, (i) => i.name)) {
      rows.taps.push({ labels: `{${vm},interface="${escapeLabelValue(data.name)}"} `, item: data });
    }
    // By index: pairs of the counters would be an array per counter per scrape.
    const { descriptions, values } = stats.vmm;
    for (const i of firstByKey([...descriptions.keys()], (i) => descriptions[i]!)) {
      rows.counters.push({ labels: `{${vm},counter="${escapeLabelValue(descriptions[i]!)}"} `, item: values[i]! });
    }
  }
  return rows;
}

function firstByKey<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The name a sample carries: counters end in `_total`. */
function sampleName(family: FamilyMetadata): string {
  return family.type === 'counter' ? `${family.name}_total` : family.name;
}

function writeHeader(out: ByteWriter, family: FamilyMetadata, format: ExpositionFormat): void {
  // The text format names a counter's metadata after its samples; OpenMetrics after the family.
  const name = format === 'openmetrics' ? family.name : sampleName(family);
  out.text(`# HELP ${name} ${family.help}\n# TYPE ${name} ${family.type}\n`);
  if (format === 'openmetrics' && family.unit !== undefined) out.text(`# UNIT ${name} ${family.unit}\n`);
}

function* writeFamily<T>(out: ByteWriter, family: Family<T>, format: ExpositionFormat, rows: Row<T>[]): Steps<void> {
  if (rows.length === 0) return;
  writeHeader(out, family, format);
  const name = sampleName(family);
  for (let i = 0; i < rows.length; i++) {
    if (i % ROWS_PER_STEP === ROWS_PER_STEP - 1) yield out.fullChunk();
    const row = rows[i]!;
    out.text(name);
    out.text(row.labels);
    out.value(family.read(row.item));
    out.text('\n');
  }
}

function writeSample(out: ByteWriter, name: string, value: number): void {
  out.text(`${name} ${formatNumber(value)}\n`);
}

const TICK_SUMMARY: FamilyMetadata = {
  name: 'vmm_stats_collector_tick_duration_seconds', type: 'summary', unit: 'seconds',
  help: 'Collector ticks: their count and total duration (average tick: rate of _sum over rate of _count).',
};

function writeSelf(out: ByteWriter, self: SelfMetrics, format: ExpositionFormat, scrapeSeconds?: number): void {
  if (scrapeSeconds !== undefined) {
    writeHeader(out, SCRAPE_FAMILY, format);
    writeSample(out, SCRAPE_FAMILY.name, scrapeSeconds);
  }
  writeHeader(out, VMS_FAMILY, format);
  writeSample(out, VMS_FAMILY.name, self.vms);
  if (self.upstreamUp !== undefined) {
    writeHeader(out, UPSTREAM_FAMILY, format);
    writeSample(out, UPSTREAM_FAMILY.name, self.upstreamUp ? 1 : 0);
  }
  if (self.collector !== undefined) writeCollector(out, self.collector, format);
}

const TICK_BLOCKING: FamilyMetadata = {
  name: 'vmm_stats_collector_tick_blocking_seconds', type: 'histogram', unit: 'seconds',
  help: 'Per tick, the longest stretch it held the event loop (its reads run off it): what requests and scrapes waited behind.',
};

function writeCollector(out: ByteWriter, collector: CollectorMetrics, format: ExpositionFormat): void {
  for (const family of COLLECTOR_FAMILIES) {
    writeHeader(out, family, format);
    writeSample(out, sampleName(family), family.read(collector));
  }
  writeHeader(out, TICK_SUMMARY, format);
  writeSample(out, `${TICK_SUMMARY.name}_sum`, collector.tickSecondsTotal);
  writeSample(out, `${TICK_SUMMARY.name}_count`, collector.ticksTotal);
  writeHeader(out, TICK_BLOCKING, format);
  writeHistogram(out, TICK_BLOCKING.name, collector.tickBlocking);
}

function writeHistogram(out: ByteWriter, name: string, histogram: HistogramValues): void {
  const counts = histogram.cumulativeCounts;
  histogram.bounds.forEach((bound, i) => out.text(`${name}_bucket{le="${formatNumber(bound)}"} ${formatNumber(counts[i]!)}\n`));
  out.text(`${name}_bucket{le="+Inf"} ${formatNumber(counts[histogram.bounds.length]!)}\n`);
  writeSample(out, `${name}_sum`, histogram.sum);
  writeSample(out, `${name}_count`, counts[histogram.bounds.length]!);
}

/**
 * The whole exposition as UTF-8 bytes. Per-VM, hypervisor and tap families come first (each left out when
 * it has no samples), then the endpoint's own metrics. `scrapeSeconds` is the previous scrape's duration,
 * absent before the first. A VM name, tap name or hypervisor counter that repeats is rendered once, from
 * its first occurrence.
 */
export function renderMetricsBytes(vms: Iterable<VmSnapshot>, self: SelfMetrics, format: ExpositionFormat, scrapeSeconds?: number): Buffer {
  const steps = renderSteps(vms, self, format, scrapeSeconds);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** Where a rendering in slices sends its bytes as it goes, a chunk at a time (renderMetricsBytesInSlices). */
export interface ChunkedOutput {
  /** A chunk is sent once it holds this many bytes. */
  readonly chunkBytes: number;
  /** Memory for the next chunk: chunkBytes, and room for a step's rows beyond (it is grown if short). */
  memory(): Buffer;
  /** Takes a full chunk (a view of memory() handed out); resolves false when the rest is not wanted. */
  send(chunk: Buffer): Promise<boolean>;
}

/**
 * renderMetricsBytes in the slices of `slicer`, letting the event loop go on between them: at 10,000 VMs a
 * rendering takes hundreds of milliseconds. With `output`, the bytes go to it in chunks as they are made,
 * rather than into one buffer of the whole (some 30 MB at 10,000 VMs), and what is returned is the last
 * chunk (all of it when it is the only one), or undefined when the output wanted no more. `vms` must stay
 * readable until it resolves.
 */
export async function renderMetricsBytesInSlices(
  vms: Iterable<VmSnapshot>,
  self: SelfMetrics,
  format: ExpositionFormat,
  scrapeSeconds: number | undefined,
  slicer: Slicer,
  output?: ChunkedOutput,
): Promise<Buffer | undefined> {
  const steps = renderSteps(vms, self, format, scrapeSeconds, output);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    if (step.value !== undefined && !(await output!.send(step.value))) return undefined;
    if (slicer.due()) await slicer.next();
  }
}

function* renderSteps(vms: Iterable<VmSnapshot>, self: SelfMetrics, format: ExpositionFormat, scrapeSeconds?: number, output?: ChunkedOutput): Steps<Buffer> {
  const rows = yield* prepareRows(vms);
  const samples = rows.vms.length * VM_FAMILIES.length + rows.counters.length + rows.taps.length * TAP_FAMILIES.length;
  // A sample line is some 80 bytes; growing copies it all.
  const out = new ByteWriter(64 * 1024 + samples * 100, output);
  for (const family of VM_FAMILIES) yield* writeFamily(out, family, format, rows.vms);
  yield* writeFamily(out, HYPERVISOR_FAMILY, format, rows.counters);
  for (const family of TAP_FAMILIES) yield* writeFamily(out, family, format, rows.taps);
  writeSelf(out, self, format, scrapeSeconds);
  if (format === 'openmetrics') out.text('# EOF\n');
  return out.bytes();
}
