// The messages of the albatross wire protocol, version 2 (WV2), as typed values.
// Layouts: PROTOCOL.md in the shared material; the seed's vmm_wire.ml is normative.
// Conventions: u64 fields are bigint (exact); ints and u32 are numbers; a VM name is its list of labels.

import type { IfDataCounters, RusageRecord } from './layouts.js';

import type { VmName } from '../vm/vm.js';

export type { VmName };

export interface Header {
  tag: number;
  version: number;
  id: bigint;
  /** Bytes after the 20-byte header. */
  length: number;
}

export type { Timeval } from './layouts.js';

/** A process's resource usage: the fields of RUSAGE_LAYOUT. */
export type Rusage = RusageRecord;

/** One network interface's counters (IFDATA_LAYOUT). On a VM's tap, "input" is traffic from the VM to the host. */
export interface IfData extends IfDataCounters {
  name: string;
}

/** A hypervisor counter as the wire pairs it: its description and value. */
export type VmmCounter = [description: string, value: bigint];

/**
 * A VM's hypervisor counters, in the hypervisor's order: values[i] counts what descriptions[i] says. The
 * wire pairs them; kept apart, the descriptions (which a hypervisor never changes) are one frozen array
 * that every sample and every decoded frame with those descriptions shares, and a frame costs no array
 * per counter. vmmCounters() makes one from pairs.
 */
export interface VmmCounters {
  readonly descriptions: readonly string[];
  readonly values: readonly bigint[];
}

export interface Stats {
  rusage: Rusage;
  vmm: VmmCounters;
  ifdata: IfData[];
}

/** A point in time as the seed's Ptime: days since the epoch and picoseconds within the day. */
export interface Ptime {
  d: number;
  ps: bigint;
}

export type LogEvent =
  | { type: 'startup' }
  | { type: 'login'; ip: string; port: number }
  | { type: 'logout'; ip: string; port: number }
  | { type: 'vm_start'; pid: number; block: string | null; taps: string[] }
  | { type: 'vm_stop'; pid: number; status: 'exit' | 'signal' | 'stop'; code: number };

export interface VmConfig {
  cpuid: number;
  /** Requested memory in MB. */
  memory: number;
  block: string | null;
  network: string[];
  /** 0 hvt-amd64, 1 hvt-arm64, 2 hvt-amd64-compressed. */
  vmtype: number;
  image: Uint8Array;
  argv: string[] | null;
}

export interface VmInfo {
  name: VmName;
  memory: number;
  cmd: string;
  pid: number;
  taps: string[];
}

export type Message =
  | { kind: 'success'; id: bigint; tag: number; msg: string | null }
  | { kind: 'fail'; id: bigint; msg: string | null }
  | { kind: 'console.add'; id: bigint; name: VmName }
  | { kind: 'console.attach'; id: bigint; name: VmName }
  | { kind: 'console.data'; id: bigint; name: VmName; ts: Ptime; msg: string }
  | { kind: 'stats.add'; id: bigint; name: VmName; pid: number; taps: string[] }
  | { kind: 'stats.remove'; id: bigint; name: VmName }
  | { kind: 'stats.subscribe'; id: bigint; name: VmName }
  | { kind: 'stats.data'; id: bigint; name: VmName; stats: Stats }
  | { kind: 'log.log'; id: bigint; name: VmName; ts: Ptime; event: LogEvent }
  | { kind: 'log.subscribe'; id: bigint; name: VmName }
  | { kind: 'vm.create'; id: bigint; name: VmName; config: VmConfig }
  | { kind: 'vm.destroy'; id: bigint; name: VmName }
  | { kind: 'vm.info'; id: bigint; name: VmName }
  | { kind: 'vm.info_reply'; id: bigint; vms: VmInfo[] };

export type MessageKind = Message['kind'];

/** A decoded frame: the header as read, and the message it carries. */
export interface Frame {
  header: Header;
  message: Message;
}

/** A message before an id is given to it (distributes over the union, so each kind keeps its fields). */
export type Unsent<M extends Message = Message> = M extends unknown ? Omit<M, 'id'> : never;
