// A Data frame as InfluxDB line protocol, the way albatross-influx writes it for this wire version (its
// vmm_influxdb_stats.ml of WV2, before the ASN.1 protocol): the measurements `resource_usage`, `vmm` and
// `interface`, the tag `vm` (and `ifname` on an interface), its field names (`maxflt` for majflt
// included) and its value formats: a timeval as decimal seconds with six digits of microseconds, every
// counter as an integer (`42i`). Dashboards built on albatross-influx's series read these unchanged.
//
// Two things albatross-influx does not do: it escapes no VM or interface name (albatross's names are
// host-name-like, ours may hold spaces, commas and `=`), and it leaves the time to the receiver, where this
// stamps each point with the time its frame arrived, so that points held back while InfluxDB is away keep
// their own time, and a point sent twice over a broken connection overwrites itself.

import { IFDATA_LAYOUT, RUSAGE_LAYOUT, type FieldKind, type IfDataField, type RusageField, type Timeval } from '../wire/layouts.js';
import type { IfData, Rusage, Stats, VmmCounters } from '../wire/messages.js';

/** A line protocol integer is a signed 64-bit one; a u64 counter past this cannot be written as one. */
const MAX_INTEGER = (1n << 63n) - 1n;

/** albatross-influx's name for each rusage field that it renames; the others keep theirs. */
const RUSAGE_FIELD_NAMES: Partial<Record<RusageField, string>> = { majflt: 'maxflt' };

/** albatross-influx's name for each interface counter it writes (it leaves out the flags), in its order. */
const INTERFACE_FIELD_NAMES: [IfDataField, string][] = [
  ['send_length', 'send_queue_length'],
  ['max_send_length', 'max_send_queue_length'],
  ['send_drops', 'send_queue_drops'],
  ['mtu', 'mtu'],
  ['baudrate', 'baudrate'],
  ['input_packets', 'vm_to_host_packets'],
  ['input_errors', 'vm_to_host_errors'],
  ['input_bytes', 'vm_to_host_bytes'],
  ['input_mcast', 'vm_to_host_mcast'],
  ['input_dropped', 'vm_to_host_dropped'],
  ['collisions', 'collisions'],
  ['output_packets', 'host_to_vm_packets'],
  ['output_errors', 'host_to_vm_errors'],
  ['output_bytes', 'host_to_vm_bytes'],
  ['output_mcast', 'host_to_vm_mcast'],
  ['output_dropped', 'host_to_vm_dropped'],
];

const INTERFACE_FIELD_KINDS = new Map(IFDATA_LAYOUT.map((field) => [field.key, field.kind]));

/** Something of a frame that could not be written, and so was left out of its lines. */
export type Omission =
  | { kind: 'vm-name'; vm: string }
  | { kind: 'interface-name'; vm: string; name: string }
  | { kind: 'counter-name'; vm: string; name: string }
  | { kind: 'out-of-range'; vm: string; measurement: string; field: string; value: bigint };

export interface FormattedFrame {
  /** The frame's lines, without line ends: resource_usage, vmm (when there are counters), one per interface. */
  lines: string[];
  omissions: Omission[];
}

/**
 * Why a tag value or field key cannot be written in line protocol, or undefined when it can. A backslash
 * before a space, comma or `=`, or at the end, would be read as escaping what follows, and InfluxDB 1.x
 * keeps a doubled backslash as two; a line break ends the line whatever precedes it; an empty one is refused.
 */
export function unwritableReason(text: string): string | undefined {
  if (text === '') return 'it is empty';
  if (/[\n\r]/.test(text)) return 'it holds a line break';
  if (/\\([ ,=]|$)/.test(text)) return "it holds a backslash before a space, ',' or '=', or at its end";
  return undefined;
}

/** A tag value or field key with its spaces, commas and equals signs escaped, as line protocol wants them. */
export function escapeKey(text: string): string {
  return text.replace(/[ ,=]/g, '\\$&');
}

/** `12.000345`: albatross-influx's `%Lu.%06d`, kept exact for any microseconds a daemon sends. */
export function formatTimeval({ sec, usec }: Timeval): string {
  const micros = sec * 1_000_000n + BigInt(usec);
  const sign = micros < 0n ? '-' : '';
  const magnitude = micros < 0n ? -micros : micros;
  return `${sign}${magnitude / 1_000_000n}.${String(magnitude % 1_000_000n).padStart(6, '0')}`;
}

/** Collects one line's fields, leaving out (and noting) the integers that do not fit. */
class FieldList {
  readonly #parts: string[] = [];
  readonly #omissions: Omission[];
  readonly #vm: string;
  readonly #measurement: string;

  constructor(vm: string, measurement: string, omissions: Omission[]) {
    this.#vm = vm;
    this.#measurement = measurement;
    this.#omissions = omissions;
  }

  integer(key: string, value: bigint | number): void {
    if (typeof value === 'bigint' && value > MAX_INTEGER) {
      this.#omissions.push({ kind: 'out-of-range', vm: this.#vm, measurement: this.#measurement, field: key, value });
    } else {
      this.#parts.push(`${key}=${value}i`);
    }
  }

  float(key: string, text: string): void {
    this.#parts.push(`${key}=${text}`);
  }

  /** `measurement,tags fields timestamp`, or undefined when no field was left. */
  line(tags: string, timestamp: string): string | undefined {
    if (this.#parts.length === 0) return undefined;
    // One join makes one flat string; a template would make a rope of its pieces, which costs a held point
    // more memory than its text.
    return [this.#measurement, ',', tags, ' ', this.#parts.join(','), ' ', timestamp].join('');
  }
}

function addField(fields: FieldList, key: string, kind: FieldKind, value: bigint | number | Timeval): void {
  if (kind === 'timeval') fields.float(key, formatTimeval(value as Timeval));
  else fields.integer(key, value as bigint | number);
}

function resourceUsageLine(vm: string, tags: string, rusage: Rusage, timestamp: string, omissions: Omission[]): string | undefined {
  const fields = new FieldList(vm, 'resource_usage', omissions);
  for (const { key, kind } of RUSAGE_LAYOUT) addField(fields, RUSAGE_FIELD_NAMES[key] ?? key, kind, rusage[key]);
  return fields.line(tags, timestamp);
}

function vmmLine(vm: string, tags: string, vmm: VmmCounters, timestamp: string, omissions: Omission[]): string | undefined {
  const fields = new FieldList(vm, 'vmm', omissions);
  for (let i = 0; i < vmm.descriptions.length; i++) {
    const name = vmm.descriptions[i]!;
    if (unwritableReason(name) === undefined) fields.integer(escapeKey(name), vmm.values[i]!);
    else omissions.push({ kind: 'counter-name', vm, name });
  }
  return fields.line(tags, timestamp);
}

function interfaceLine(vm: string, tags: string, ifdata: IfData, timestamp: string, omissions: Omission[]): string | undefined {
  if (unwritableReason(ifdata.name) !== undefined) {
    omissions.push({ kind: 'interface-name', vm, name: ifdata.name });
    return undefined;
  }
  const fields = new FieldList(vm, 'interface', omissions);
  for (const [key, name] of INTERFACE_FIELD_NAMES) addField(fields, name, INTERFACE_FIELD_KINDS.get(key)!, ifdata[key]);
  return fields.line(`${tags},ifname=${escapeKey(ifdata.name)}`, timestamp);
}

/**
 * The lines of one VM's Data frame, each ending in `timestampNs` (nanoseconds since the epoch). A VM whose
 * name cannot be written gets no lines; an interface or counter whose name cannot be, or an integer past
 * the signed 64-bit range, is left out; each is said in `omissions`.
 */
export function formatStats(vm: string, stats: Stats, timestampNs: bigint): FormattedFrame {
  const omissions: Omission[] = [];
  if (unwritableReason(vm) !== undefined) return { lines: [], omissions: [{ kind: 'vm-name', vm }] };
  const tags = `vm=${escapeKey(vm)}`;
  const timestamp = String(timestampNs);
  const lines = [
    resourceUsageLine(vm, tags, stats.rusage, timestamp, omissions),
    // As albatross-influx: no vmm line for a VM without hypervisor counters.
    stats.vmm.descriptions.length === 0 ? undefined : vmmLine(vm, tags, stats.vmm, timestamp, omissions),
    ...stats.ifdata.map((ifdata) => interfaceLine(vm, tags, ifdata, timestamp, omissions)),
  ];
  return { lines: lines.filter((line) => line !== undefined), omissions };
}

/** What an omission is about, as a log line says it. */
export function describeOmission(omission: Omission): string {
  switch (omission.kind) {
    case 'vm-name':
      return `the VM's name cannot be a tag value: ${unwritableReason(omission.vm)}; its points are not written`;
    case 'interface-name':
      return `interface ${JSON.stringify(omission.name)} cannot be a tag value: ${unwritableReason(omission.name)}; its points are not written`;
    case 'counter-name':
      return `hypervisor counter ${JSON.stringify(omission.name)} cannot be a field key: ${unwritableReason(omission.name)}; it is left out`;
    case 'out-of-range':
      return `${omission.measurement} field ${omission.field} = ${omission.value} is past the largest line protocol integer; it is left out`;
  }
}
