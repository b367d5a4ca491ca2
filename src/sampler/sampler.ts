// The native sampler: process usage, interface counters and hypervisor counters, read by the C++ addon
// (native/). Many pids or interfaces go to the addon in one call each, and the numbers come back in typed
// arrays allocated once and grown when needed, one row of u64 per pid or interface.
//
// Environment switches the addon reads on Linux, for tests and benches:
//   VMM_STATS_PROCESS_SOURCE=procfs        read every process field from /proc, not from taskstats
//   VMM_STATS_PROCESS_SOURCE=taskstats     insist on taskstats: every pid fails when it cannot be had
//   VMM_STATS_LINK_STRATEGY=dump|request   read interfaces by one link dump, or by one request per name
import { createRequire } from 'node:module';
import { constants, endianness } from 'node:os';
import { fileURLToPath } from 'node:url';
import { getSystemErrorMap } from 'node:util';
import { compileRowReader, compileRowView } from '../wire/layout-code.js';
import { IFDATA_LAYOUT, RUSAGE_LAYOUT, scalarsOf } from '../wire/layouts.js';
import type { IfData, Rusage, VmmCounter } from '../wire/messages.js';
import { isPid } from '../vm/vm.js';

/** Where Linux publishes KVM's per-VM statistics. */
export const DEFAULT_DEBUGFS_ROOT = '/sys/kernel/debug/kvm';

/** A failure of the operating system to tell what was asked: `code` is the errno's name (ESRCH, ENODEV…). */
export class SamplerError extends Error {
  override name = 'SamplerError';
  readonly code: string;
  readonly errno: number;

  constructor(errno: number, what: string) {
    const [code, description] = describeErrno(errno);
    super(`${what}: ${description} (${code})`);
    this.code = code;
    this.errno = errno;
  }
}

export interface ProcessSample {
  pid: number;
  rusage: Rusage;
  /** Fixed for the life of the process: a different value under the same pid means a new process. */
  startTime: bigint;
}

export type Sampled<T> = { ok: true; value: T } | { ok: false; error: SamplerError };

/** One process's usage; throws SamplerError (ESRCH when there is no such process). */
export function sampleProcess(pid: number): ProcessSample {
  checkPid(pid);
  const addon = native();
  const rows = new SampleRows().fit(1, addon.processFields);
  const errno = addon.sampleProcess(pid, rows.rows);
  if (errno !== 0) throw processError(pid, errno);
  return processSampleAt(rows, 0, pid);
}

/** Many processes' usage in one call into the addon; each result stands alone. */
export function sampleProcesses(pids: readonly number[]): Sampled<ProcessSample>[] {
  sampleProcessRows(pids, processBuffers);
  return pids.map((pid, i) => {
    const errno = processBuffers.errors[i];
    if (errno !== 0) return { ok: false, error: processError(pid, errno) };
    return { ok: true, value: processSampleAt(processBuffers, i * processBuffers.fields, pid) };
  });
}

/**
 * sampleProcesses without the records: row i of `into` holds pid i's rusage fields then its start time
 * (START_TIME_FIELD), or errors[i] its errno. For a caller that samples every second and reads few values.
 */
export function sampleProcessRows(pids: readonly number[], into: SampleRows): void {
  fitProcessRows(pids, into);
  native().sampleProcesses(into.pids, pids.length, into.rows, into.errors);
}

/**
 * sampleProcessRows on a thread of libuv's pool, so that the JavaScript thread goes on meanwhile: `into` is
 * filled when the promise resolves, and must not be read or refitted before.
 */
export async function sampleProcessRowsInBackground(pids: readonly number[], into: SampleRows): Promise<void> {
  fitProcessRows(pids, into);
  await native().sampleProcessesInBackground(into.pids, pids.length, into.rows, into.errors);
}

/** Checks and copies the pids, unless `into` holds this very array's already (a tick's, unchanged). */
function fitProcessRows(pids: readonly number[], into: SampleRows): void {
  if (into.pidsOf === pids) return;
  pids.forEach(checkPid);
  into.fit(pids.length, native().processFields);
  into.pids.set(pids);
  into.pidsOf = pids;
}

/**
 * Each pid's start time (what tells its process from a later one under the same pid, as a sample's
 * startTime), or why it could not be read (ESRCH: no such process). What a registration checks: on Linux
 * /proc/<pid>/stat alone, for a fraction of a whole sample's cost.
 */
export function processStartTimes(pids: readonly number[]): (bigint | SamplerError)[] {
  pids.forEach(checkPid);
  const startTimes = new BigUint64Array(pids.length);
  const errors = new Int32Array(pids.length);
  native().processStartTimes(Int32Array.from(pids), pids.length, startTimes, errors);
  return pids.map((pid, i) => (errors[i] === 0 ? startTimes[i]! : processError(pid, errors[i]!)));
}

/** The names among `names` that name no interface now (one ioctl each: nothing is read of the others). */
export function missingInterfaceNames(names: readonly string[]): string[] {
  if (names.length === 0) return [];
  const exists = new Int32Array(names.length);
  // '\n' joins the names, as for InterfaceSampler: a name holding one names no interface.
  native().interfacesExist(names.map((name) => (name.includes('\n') ? '' : name)).join('\n'), names.length, exists);
  return names.filter((_, i) => exists[i] === 0);
}

/** Reads interface counters by name, many per call; holds a netlink socket (Linux) until closed. */
export class InterfaceSampler {
  #native: NativeInterfaceSampler | undefined;
  #closed = false;
  readonly #buffers = new SampleRows();
  #lastNames: readonly string[] = [];
  #lastJoined = '';

  /** A name that names no interface gives an error with code ENODEV. */
  sample(names: readonly string[]): Sampled<IfData>[] {
    const buffers = this.#buffers;
    this.sampleRows(names, buffers);
    return names.map((name, i) => {
      const failure = buffers.errors[i];
      if (failure !== 0) return { ok: false, error: new SamplerError(failure, `cannot read interface ${name}`) };
      return { ok: true, value: ifDataAt(buffers, i * buffers.fields, name) };
    });
  }

  /**
   * sample without the records: row i of `into` holds interface i's counters, or errors[i]
   * its errno. Given the same array of names as the call before, the names are not joined again.
   */
  sampleRows(names: readonly string[], into: SampleRows): void {
    const sampler = this.#open();
    into.fit(names.length, native().interfaceFields);
    this.#check(sampler, sampler.sample(this.#joined(names), names.length, into.rows, into.errors));
  }

  /**
   * sampleRows on a thread of libuv's pool: `into` is filled when the promise resolves, and must not be read
   * before. Meanwhile the sampler is busy: another call on it throws.
   */
  async sampleRowsInBackground(names: readonly string[], into: SampleRows): Promise<void> {
    const sampler = this.#open();
    into.fit(names.length, native().interfaceFields);
    this.#check(sampler, await sampler.sampleInBackground(this.#joined(names), names.length, into.rows, into.errors));
  }

  #check(sampler: NativeInterfaceSampler, errno: number): void {
    if (errno === 0) return;
    // The socket itself failed: the next call opens a new one.
    sampler.close();
    this.#native = undefined;
    throw new SamplerError(errno, 'cannot read interface counters');
  }

  /** '\n' joins the names for the addon; a name holding one (or none at all) cannot name an interface, and
   * the addon answers the empty name with ENODEV. */
  #joined(names: readonly string[]): string {
    if (names !== this.#lastNames) {
      this.#lastNames = names;
      this.#lastJoined = names.map((name) => (name.includes('\n') ? '' : name)).join('\n');
    }
    return this.#lastJoined;
  }

  close(): void {
    this.#native?.close();
    this.#native = undefined;
    this.#closed = true;
  }

  /** Whether close() was called: a sampler closed on purpose, not one whose socket failed. */
  get closed(): boolean {
    return this.#closed;
  }

  #open(): NativeInterfaceSampler {
    if (this.#closed) throw new SamplerError(constants.errno.EBADF, 'interface sampler is closed');
    if (this.#native === undefined) {
      const sampler = new (native().InterfaceSampler)();
      const errno = sampler.open();
      if (errno !== 0) throw new SamplerError(errno, 'cannot open a socket for interface counters');
      this.#native = sampler;
    }
    return this.#native;
  }
}

/** A VM as the hypervisor knows it: FreeBSD by its /dev/vmm device name, Linux by the VMM's pid. */
export interface VmmTarget {
  pid: number;
  /**
   * FreeBSD: the VM's name under /dev/vmm, solo5-<pid> (solo5-hvt's) when absent. The addon refuses the empty
   * name, ".", ".." and names holding '/' with EINVAL, and names as long as the kernel's VM_MAX_NAMELEN with
   * ENAMETOOLONG. Ignored on Linux.
   */
  deviceName?: string;
  /**
   * Linux: where KVM's debugfs statistics are (DEFAULT_DEBUGFS_ROOT when absent), read when the VMM keeps no
   * KVM statistics fd that can be copied.
   */
  debugfsRoot?: string;
}

export interface VmmDevice {
  /**
   * The counters now (on FreeBSD each summed over the VM's vCPUs); throws SamplerError. ENOENT once the VM is
   * gone: Linux's debugfs directory is removed, and on FreeBSD the kernel answers a device held open after its
   * VM was destroyed with ENXIO, which the addon reports as ENOENT too. The collector closes a device that
   * fails to read and reopens it on later ticks, a few times, as it opens a new one.
   */
  read(): VmmCounter[];
  close(): void;
}

/**
 * Opens a VM's hypervisor counters: SamplerError ENOENT when the VM is not there (yet; on FreeBSD also when its
 * device answers ENXIO, destroyed), EACCES when unreadable, on Linux ENODATA when the VMM keeps no KVM
 * statistics fd and debugfs has none either, on FreeBSD EINVAL or ENAMETOOLONG for a device name no VM can
 * have (see VmmTarget), and ENOTSUP on FreeBSD other than amd64, where this addon does not read bhyve.
 */
export function openVmmDevice(target: VmmTarget): VmmDevice {
  checkVmmTarget(target);
  const where = describeTarget(target);
  let device: NativeVmmDevice | undefined = new (native().VmmDevice)();
  const errno = device.open(target.pid, target.deviceName ?? '', target.debugfsRoot ?? DEFAULT_DEBUGFS_ROOT);
  if (errno !== 0) throw new SamplerError(errno, `cannot open the hypervisor counters of ${where}`);
  return {
    read(): VmmCounter[] {
      if (device === undefined) throw new SamplerError(constants.errno.EBADF, `hypervisor counters of ${where} are closed`);
      const result = device.read();
      if (typeof result === 'number') throw new SamplerError(result, `cannot read the hypervisor counters of ${where}`);
      return result;
    },
    close(): void {
      device?.close();
      device = undefined;
    },
  };
}

/**
 * A VM's hypervisor counters as a tick reads them: opened and read together with the other VMs' off the
 * JavaScript thread, by VmmReader.readAll. What the device can be and answer is as openVmmDevice says.
 */
export class VmmReader {
  readonly #device: NativeVmmDevice;
  readonly #target: VmmTarget;
  readonly #where: string;
  #opened = false;

  /** Throws SamplerError EINVAL for an empty device name, as openVmmDevice. */
  constructor(target: VmmTarget) {
    checkVmmTarget(target);
    this.#target = target;
    this.#where = describeTarget(target);
    this.#device = new (native().VmmDevice)();
  }

  /** Whether the device was open after the last pass. */
  get opened(): boolean {
    return this.#opened;
  }

  /** The next readAll opens the device before reading it. */
  openInNextPass(): void {
    const { pid, deviceName, debugfsRoot } = this.#target;
    this.#device.openLater(pid, deviceName ?? '', debugfsRoot ?? DEFAULT_DEBUGFS_ROOT);
  }

  close(): void {
    this.#device.close();
    this.#opened = false;
  }

  /**
   * Reads each reader's counters (opening its device first where openInNextPass asked) one after the other on
   * a thread of libuv's pool; the readers are busy until the promise resolves. A device whose read fails is
   * closed, to be opened again later.
   */
  static async readAll(readers: readonly VmmReader[]): Promise<VmmReading[]> {
    if (readers.length === 0) return [];
    const outcomes = new Int32Array(readers.length);
    await native().VmmDevice.readInBackground(readers.map((reader) => reader.#device), outcomes);
    return readers.map((reader, i) => reader.#reading(outcomes[i]!));
  }

  #reading(outcome: number): VmmReading {
    this.#opened = outcome === 0;
    if (outcome === 0) return { ok: true, counters: this.#device.counters() };
    if (outcome > 0) return { ok: false, opening: false, error: new SamplerError(outcome, `cannot read the hypervisor counters of ${this.#where}`) };
    return { ok: false, opening: true, error: new SamplerError(-outcome, `cannot open the hypervisor counters of ${this.#where}`) };
  }
}

/** A device's part of a pass: its counters, or why there are none (`opening`: it could not be opened). */
export type VmmReading = { ok: true; counters: VmmCounter[] } | { ok: false; opening: boolean; error: SamplerError };

function checkVmmTarget(target: VmmTarget): void {
  checkPid(target.pid);
  // The addon takes the empty name for "none given": a name given empty is refused here, as it would be there.
  if (target.deviceName === '') throw new SamplerError(constants.errno.EINVAL, 'an empty device name names no VM');
}

function describeTarget({ pid, deviceName, debugfsRoot }: VmmTarget): string {
  if (deviceName !== undefined && deviceName !== '') return `device ${deviceName} (pid ${pid})`;
  if (process.platform !== 'linux') return `pid ${pid}`;
  return `pid ${pid} (its KVM statistics fds, else debugfs under ${debugfsRoot ?? DEFAULT_DEBUGFS_ROOT})`;
}

// --- the addon ---

interface NativeInterfaceSampler {
  open(): number;
  sample(joinedNames: string, count: number, rows: BigUint64Array, errors: Int32Array): number;
  sampleInBackground(joinedNames: string, count: number, rows: BigUint64Array, errors: Int32Array): Promise<number>;
  close(): void;
}

interface NativeVmmDevice {
  open(pid: number, deviceName: string, debugfsRoot: string): number;
  openLater(pid: number, deviceName: string, debugfsRoot: string): void;
  read(): VmmCounter[] | number;
  counters(): VmmCounter[];
  close(): void;
}

interface Addon {
  processFields: number;
  interfaceFields: number;
  /** The fields of a process row and of an interface row, in order, as native/sampler.h declares them. */
  processFieldNames: string[];
  interfaceFieldNames: string[];
  sampleProcesses(pids: Int32Array, count: number, rows: BigUint64Array, errors: Int32Array): void;
  sampleProcessesInBackground(pids: Int32Array, count: number, rows: BigUint64Array, errors: Int32Array): Promise<number>;
  sampleProcess(pid: number, row: BigUint64Array): number;
  processStartTimes(pids: Int32Array, count: number, startTimes: BigUint64Array, errors: Int32Array): void;
  interfacesExist(joinedNames: string, count: number, exists: Int32Array): void;
  InterfaceSampler: new () => NativeInterfaceSampler;
  VmmDevice: {
    new (): NativeVmmDevice;
    /** outcomes[i]: 0 read, an errno when the read failed (the device is closed), -errno when the open did. */
    readInBackground(devices: readonly NativeVmmDevice[], outcomes: Int32Array): Promise<number>;
  };
  raiseOpenFilesLimit(): { soft: number; hard: number; errno: number };
  listenUnix(path: string, backlog: number): { fd: number } | number;
  Acceptor: new (listeningFd: number, perBatch: number, onBatch: (connections: AcceptedConnection[], errno: number) => void) => NativeAcceptor;
}

/** A connection the addon accepted: its descriptor, and who connected it or why that could not be read. */
export type AcceptedConnection = { fd: number; uid: number; gid: number } | { fd: number; errno: number };

/** Accepts on a thread of the addon; hands over the next batch once next() is called. */
export interface NativeAcceptor {
  next(): void;
  close(): void;
}

let addon: Addon | undefined;

/** Loads the addon on first use, so that importing this module never fails. */
export function native(): Addon {
  addon ??= loadAddon();
  return addon;
}

function loadAddon(): Addon {
  if (process.platform !== 'linux' && process.platform !== 'freebsd') {
    throw new Error(`vmm-stats: unsupported platform ${process.platform}: the native sampler runs on Linux and FreeBSD`);
  }
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (root: string) => Addon;
  // src/sampler/ and dist/sampler/ both sit two levels below the package root, where binding.gyp and prebuilds/ are.
  const loaded = load(fileURLToPath(new URL('../..', import.meta.url)));
  checkAddonRows(loaded);
  return loaded;
}

/**
 * Throws unless the addon's rows hold the fields the layouts say, in their order: native/sampler.h's
 * structs and src/wire/layouts.ts are two declarations of one thing, and a row read with the wrong
 * layout would give numbers under the wrong names.
 */
export function checkAddonRows(addon: Pick<Addon, 'processFieldNames' | 'interfaceFieldNames'>): void {
  const mismatch = (what: string, native: readonly string[], expected: readonly string[]) => {
    if (native.length === expected.length && native.every((name, i) => name === expected[i])) return;
    throw new Error(
      `vmm-stats: the addon's ${what} rows (native/sampler.h) are [${native.join(', ')}], but src/wire/layouts.ts ` +
        `expects [${expected.join(', ')}]: rebuild the addon, or make the two agree`,
    );
  };
  mismatch('process', addon.processFieldNames, PROCESS_ROW_NAMES);
  mismatch('interface', addon.interfaceFieldNames, INTERFACE_ROW_NAMES);
}

/** Rows a SampleRows holds at least. */
const MIN_SAMPLE_ROWS = 16;

/**
 * What the sampler fills: `count` rows of u64 fields (`words` shows each as two 32-bit words in this
 * machine's order) and an errno per row. Reallocated only when a call needs more rows than it holds, or
 * fewer than a quarter of them, so a caller that keeps one samples every tick without allocating, and a
 * burst of VMs gone again does not keep the largest arrays of the daemon at their peak.
 */
export class SampleRows {
  rows = new BigUint64Array(0);
  words = new Uint32Array(0);
  errors = new Int32Array(0);
  pids = new Int32Array(0);
  /** The array whose pids `pids` holds; callers hand the same array while nothing changed. */
  pidsOf: readonly number[] | undefined;
  /** Fields per row, as the last call filled them. */
  fields = 0;

  fit(count: number, fields: number): this {
    this.fields = fields;
    const held = this.errors.length;
    if (held < count || this.rows.length < count * fields) this.#allocate(Math.max(count, held * 2, MIN_SAMPLE_ROWS), fields);
    else if (held > MIN_SAMPLE_ROWS && count * 4 < held) this.#allocate(Math.max(count * 2, MIN_SAMPLE_ROWS), fields);
    return this;
  }

  #allocate(capacity: number, fields: number): void {
    this.pidsOf = undefined;
    this.rows = new BigUint64Array(capacity * fields);
    this.words = new Uint32Array(this.rows.buffer);
    this.errors = new Int32Array(capacity);
    this.pids = new Int32Array(capacity);
  }
}

const processBuffers = new SampleRows();

// --- rows to records: a row holds a layout's scalars in order (layouts.ts), as native/sampler.h lays them out ---

const RUSAGE_ROW = scalarsOf(RUSAGE_LAYOUT);
/** A process row holds the wire's rusage fields in its order, then this field. */
export const START_TIME_FIELD = RUSAGE_ROW.length;
const PROCESS_ROW_NAMES = [...RUSAGE_ROW.map((field) => field.rowName), 'start_time'];
const INTERFACE_ROW_NAMES = scalarsOf(IFDATA_LAYOUT).map((field) => field.rowName);
/** The u64 fields of an interface row (the addon's, checked against the layout when it loads). */
export const INTERFACE_ROW_FIELDS = INTERFACE_ROW_NAMES.length;

function fieldIndex(names: readonly string[], name: string): number {
  const index = names.indexOf(name);
  if (index < 0) throw new Error(`no field ${name} in a row of [${names.join(', ')}]`);
  return index;
}

/** Where a field of a process row is (utime_sec, maxrss, …, start_time), from the row's start. */
export const processRowField = (name: string): number => fieldIndex(PROCESS_ROW_NAMES, name);
/** Where a field of an interface row is (input_bytes, …), from the row's start. */
export const interfaceRowField = (name: string): number => fieldIndex(INTERFACE_ROW_NAMES, name);

const HIGH_WORD = endianness() === 'LE' ? 1 : 0;

/** The u64 field `field` of rows' `words` as a number: exact below 2^53, close above; no bigint made. */
export function rowNumber(words: Uint32Array, field: number): number {
  return words[2 * field + HIGH_WORD]! * 2 ** 32 + words[2 * field + 1 - HIGH_WORD]!;
}

const rusageInRow = compileRowReader<Rusage>('rusageInRow', RUSAGE_LAYOUT);
const ifDataInRow = compileRowReader<IfData, [name: string]>('ifDataInRow', IFDATA_LAYOUT, ['name']);

/** The row of `rows` that starts at field `at`, filled by sampleProcessRows, as a record. */
export function processSampleAt(rows: SampleRows, at: number, pid: number): ProcessSample {
  return { pid, rusage: rusageInRow(rows.rows, rows.words, at), startTime: rows.rows[at + START_TIME_FIELD] };
}

/** The row of `rows` that starts at field `at`, filled by InterfaceSampler.sampleRows, as a record. */
export function ifDataAt(rows: SampleRows, at: number, name: string): IfData {
  return ifDataInRow(rows.rows, rows.words, at, name);
}

const RusageView = compileRowView<Rusage>('RusageView', RUSAGE_LAYOUT);
const IfDataView = compileRowView<IfData, [name: string]>('IfDataView', IFDATA_LAYOUT, ['name']);

/** processSampleAt's rusage as a view of the row (see compileRowView): valid until `rows` is refilled. */
export function rusageViewAt(rows: SampleRows, at: number): Rusage {
  return new RusageView(rows.rows, rows.words, at);
}

/** ifDataAt as a view of the row (see compileRowView): valid until `rows` is refilled. */
export function ifDataViewAt(rows: SampleRows, at: number, name: string): IfData {
  return new IfDataView(rows.rows, rows.words, at, name);
}

// --- errors ---

function checkPid(pid: number): void {
  if (!isPid(pid)) throw new RangeError(`not a pid: ${pid}`);
}

export function processError(pid: number, errno: number): SamplerError {
  return new SamplerError(errno, `cannot sample process ${pid}`);
}

const systemErrors = getSystemErrorMap();
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);

/** The errno's name and its description; libuv's table holds both (keyed by the negated errno). */
function describeErrno(errno: number): [code: string, description: string] {
  const known = systemErrors.get(-errno);
  if (known !== undefined) return known;
  const name = errnoNames.get(errno) ?? `errno ${errno}`;
  return [name, name];
}
