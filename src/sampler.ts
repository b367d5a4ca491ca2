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
import type { IfData, Rusage, VmmCounter } from './wire/messages.js';

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
  const buffers = new RowBuffers().fit(1, addon.processFields);
  const errno = addon.sampleProcess(pid, buffers.rows);
  if (errno !== 0) throw processError(pid, errno);
  return processSample(pid, buffers, 0);
}

/** Many processes' usage in one call into the addon; each result stands alone. */
export function sampleProcesses(pids: readonly number[]): Sampled<ProcessSample>[] {
  pids.forEach(checkPid);
  const addon = native();
  const buffers = processBuffers.fit(pids.length, addon.processFields);
  buffers.pids.set(pids);
  addon.sampleProcesses(buffers.pids, pids.length, buffers.rows, buffers.errors);
  return pids.map((pid, i) => {
    const errno = buffers.errors[i];
    if (errno !== 0) return { ok: false, error: processError(pid, errno) };
    return { ok: true, value: processSample(pid, buffers, i * addon.processFields) };
  });
}

/** Reads interface counters by name, many per call; holds a netlink socket (Linux) until closed. */
export class InterfaceSampler {
  #native: NativeInterfaceSampler | undefined;
  #closed = false;
  readonly #buffers = new RowBuffers();

  /** A name that names no interface gives an error with code ENODEV. */
  sample(names: readonly string[]): Sampled<IfData>[] {
    const sampler = this.#open();
    const fields = native().interfaceFields;
    const buffers = this.#buffers.fit(names.length, fields);
    // '\n' joins the names for the addon; a name holding one (or none at all) cannot name an interface, and
    // the addon answers the empty name with ENODEV.
    const joined = names.map((name) => (name.includes('\n') ? '' : name)).join('\n');
    const errno = sampler.sample(joined, names.length, buffers.rows, buffers.errors);
    if (errno !== 0) throw new SamplerError(errno, 'cannot read interface counters');
    return names.map((name, i) => {
      const failure = buffers.errors[i];
      if (failure !== 0) return { ok: false, error: new SamplerError(failure, `cannot read interface ${name}`) };
      return { ok: true, value: ifData(name, buffers, i * fields) };
    });
  }

  close(): void {
    this.#native?.close();
    this.#native = undefined;
    this.#closed = true;
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
  deviceName?: string;
  /** Linux: where KVM's debugfs statistics are; DEFAULT_DEBUGFS_ROOT when absent. */
  debugfsRoot?: string;
}

export interface VmmDevice {
  /** The counters now; throws SamplerError (ENOENT once the VM is gone). */
  read(): VmmCounter[];
  close(): void;
}

/** Opens a VM's hypervisor counters: SamplerError ENOENT when the VM is not there (yet), EACCES when unreadable. */
export function openVmmDevice(target: VmmTarget): VmmDevice {
  checkPid(target.pid);
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

function describeTarget({ pid, deviceName, debugfsRoot }: VmmTarget): string {
  if (deviceName !== undefined && deviceName !== '') return `device ${deviceName} (pid ${pid})`;
  return process.platform === 'linux' ? `pid ${pid} under ${debugfsRoot ?? DEFAULT_DEBUGFS_ROOT}` : `pid ${pid}`;
}

// --- the addon ---

interface NativeInterfaceSampler {
  open(): number;
  sample(joinedNames: string, count: number, rows: BigUint64Array, errors: Int32Array): number;
  close(): void;
}

interface NativeVmmDevice {
  open(pid: number, deviceName: string, debugfsRoot: string): number;
  read(): VmmCounter[] | number;
  close(): void;
}

interface Addon {
  processFields: number;
  interfaceFields: number;
  sampleProcesses(pids: Int32Array, count: number, rows: BigUint64Array, errors: Int32Array): void;
  sampleProcess(pid: number, row: BigUint64Array): number;
  InterfaceSampler: new () => NativeInterfaceSampler;
  VmmDevice: new () => NativeVmmDevice;
}

let addon: Addon | undefined;

/** Loads the addon on first use, so that importing this module never fails. */
function native(): Addon {
  addon ??= loadAddon();
  return addon;
}

function loadAddon(): Addon {
  if (process.platform !== 'linux' && process.platform !== 'freebsd') {
    throw new Error(`vmm-stats: unsupported platform ${process.platform}: the native sampler runs on Linux and FreeBSD`);
  }
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (root: string) => Addon;
  // src/ and dist/ both sit one level below the package root, where binding.gyp and prebuilds/ are.
  return load(fileURLToPath(new URL('..', import.meta.url)));
}

/** Where the low half of a u64 is among its two 32-bit words. */
const LOW_WORD = endianness() === 'LE' ? 0 : 1;

/** Typed arrays for `count` rows, reallocated only when a call needs more rows than any before. */
class RowBuffers {
  rows = new BigUint64Array(0);
  /** The rows as 32-bit words, to read the fields that hold numbers without making a bigint first. */
  words = new Uint32Array(0);
  errors = new Int32Array(0);
  pids = new Int32Array(0);

  fit(count: number, fields: number): this {
    if (this.errors.length < count) {
      const capacity = Math.max(count, this.errors.length * 2, 16);
      this.rows = new BigUint64Array(capacity * fields);
      this.words = new Uint32Array(this.rows.buffer);
      this.errors = new Int32Array(capacity);
      this.pids = new Int32Array(capacity);
    }
    return this;
  }

  /** The low 32 bits of field `index`, for fields the platforms fill from 32-bit values. */
  low(index: number): number {
    return this.words[2 * index + LOW_WORD];
  }
}

const processBuffers = new RowBuffers();

// --- rows to records: the field order is native/sampler.h's ---

function processSample(pid: number, buffers: RowBuffers, at: number): ProcessSample {
  const row = buffers.rows;
  const rusage: Rusage = {
    utime: { sec: row[at], usec: buffers.low(at + 1) },
    stime: { sec: row[at + 2], usec: buffers.low(at + 3) },
    maxrss: row[at + 4],
    ixrss: row[at + 5],
    idrss: row[at + 6],
    isrss: row[at + 7],
    minflt: row[at + 8],
    majflt: row[at + 9],
    nswap: row[at + 10],
    inblock: row[at + 11],
    outblock: row[at + 12],
    msgsnd: row[at + 13],
    msgrcv: row[at + 14],
    nsignals: row[at + 15],
    nvcsw: row[at + 16],
    nivcsw: row[at + 17],
  };
  return { pid, rusage, startTime: row[at + 18] };
}

function ifData(name: string, buffers: RowBuffers, at: number): IfData {
  const row = buffers.rows;
  return {
    name,
    flags: buffers.low(at),
    send_length: buffers.low(at + 1),
    max_send_length: buffers.low(at + 2),
    send_drops: buffers.low(at + 3),
    mtu: buffers.low(at + 4),
    baudrate: row[at + 5],
    input_packets: row[at + 6],
    input_errors: row[at + 7],
    output_packets: row[at + 8],
    output_errors: row[at + 9],
    collisions: row[at + 10],
    input_bytes: row[at + 11],
    output_bytes: row[at + 12],
    input_mcast: row[at + 13],
    output_mcast: row[at + 14],
    input_dropped: row[at + 15],
    output_dropped: row[at + 16],
  };
}

// --- errors ---

function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) throw new RangeError(`not a pid: ${pid}`);
}

function processError(pid: number, errno: number): SamplerError {
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
