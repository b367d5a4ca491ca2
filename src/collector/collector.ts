// The collector: given the VMs to watch, samples them in as few calls into the addon as it can and returns
// the tick's snapshot. It knows nothing of who registered the VMs or who reads the numbers: the daemon owns
// the registry and decides what to do with a VM whose process is gone.
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import { Slicer } from '../loop/slicer.js';
import {
  ifDataViewAt,
  InterfaceSampler,
  processError,
  SampleRows,
  sampleProcessRowsInBackground,
  INTERFACE_ROW_FIELDS,
  interfaceRowField,
  processRowField,
  rowNumber,
  rusageViewAt,
  SamplerError,
  START_TIME_FIELD,
  VmmReader,
  type VmmReading,
} from '../sampler/sampler.js';
import { VmmDeviceNames } from '../sampler/vmm-device-name.js';
import { emptyTotals, type RegisteredVm, type SampleTotals } from '../vm/vm.js';
import { encodeStatsDataRows, type Encoder, type StatsRows } from '../wire/index.js';
import type { Stats, VmmCounter, VmmCounters } from '../wire/messages.js';

/** The sampler's rows of one tick: refilled only once the snapshot they belong to was released. */
interface TickRows {
  readonly processes: SampleRows;
  readonly taps: SampleRows;
  /** Counts the times the rows were handed back to be filled again: a sample made before reads no more. */
  uses: number;
}

/**
 * A VM's numbers from one tick, left in the tick's rows: a Data frame is encoded straight from them, and
 * `stats` reads them from there.
 */
export class VmSample implements StatsRows {
  readonly vm: RegisteredVm;
  readonly vmm: VmmCounters;
  readonly processField: number;
  readonly tapNames: readonly string[];
  readonly tapFields: readonly number[];
  readonly #rows: TickRows;
  readonly #use: number;

  constructor(vm: RegisteredVm, rows: TickRows, processField: number, vmm: VmmCounters, taps: TapRows) {
    this.vm = vm;
    this.vmm = vmm;
    this.processField = processField;
    this.tapNames = taps.names;
    this.tapFields = taps.fields;
    this.#rows = rows;
    this.#use = rows.uses;
  }

  /** The VM's dotted name: with stats and totals, what the metrics endpoint serves of a VM. */
  get name(): string {
    return this.vm.name;
  }

  get processWords(): Uint32Array {
    return this.#current().processes.words;
  }

  get tapWords(): Uint32Array {
    return this.#current().taps.words;
  }

  #current(): TickRows {
    if (this.#rows.uses !== this.#use) throw new Error(`the sample of ${this.vm.name} was read after its snapshot was released`);
    return this.#rows;
  }

  /**
   * The numbers as the wire's record has them, each read off the rows when asked for: nothing is copied, so
   * that a reader holding every VM's numbers a while (a scrape rendered in slices) holds no bigints. Not to be
   * read once the snapshot is released: they would show a later tick's rows.
   */
  get stats(): Stats {
    const rows = this.#current();
    return {
      rusage: rusageViewAt(rows.processes, this.processField),
      vmm: this.vmm,
      ifdata: this.tapNames.map((name, i) => ifDataViewAt(rows.taps, this.tapFields[i]!, name)),
    };
  }

  /**
   * What the overview charts, read off the rows: no record and no bigint is made. Written into `totals` when
   * given: the overview reads every VM's each tick, and an object per VM per tick is garbage for the collector.
   */
  totals(totals: SampleTotals = emptyTotals()): SampleTotals {
    const rows = this.#current();
    const process = rows.processes.words;
    const at = this.processField;
    totals.cpuSeconds = timevalSeconds(process, at + UTIME_SEC, at + UTIME_USEC) + timevalSeconds(process, at + STIME_SEC, at + STIME_USEC);
    totals.maxrssKiB = rowNumber(process, at + MAXRSS);
    totals.taps = this.tapNames;
    totals.fromVmBytes = 0;
    totals.toVmBytes = 0;
    totals.fromVmPackets = 0;
    totals.toVmPackets = 0;
    const taps = rows.taps.words;
    for (const tap of this.tapFields) {
      totals.fromVmBytes += rowNumber(taps, tap + INPUT_BYTES);
      totals.toVmBytes += rowNumber(taps, tap + OUTPUT_BYTES);
      totals.fromVmPackets += rowNumber(taps, tap + INPUT_PACKETS);
      totals.toVmPackets += rowNumber(taps, tap + OUTPUT_PACKETS);
    }
    return totals;
  }

  /** The VM's Stats Data frame (id 0, as unsolicited data has), by `encoder` (into its memory) when given. */
  dataFrame(encoder?: Encoder): Buffer {
    return encoder === undefined ? encodeStatsDataRows(this.vm.labels, this, 0n) : encoder.encodeStatsDataRows(this.vm.labels, this, 0n);
  }
}

function timevalSeconds(words: Uint32Array, sec: number, usec: number): number {
  return rowNumber(words, sec) + rowNumber(words, usec) / 1e6;
}

const [UTIME_SEC, UTIME_USEC, STIME_SEC, STIME_USEC, MAXRSS] = ['utime_sec', 'utime_usec', 'stime_sec', 'stime_usec', 'maxrss'].map(processRowField) as [number, number, number, number, number];
const [INPUT_BYTES, OUTPUT_BYTES, INPUT_PACKETS, OUTPUT_PACKETS] = ['input_bytes', 'output_bytes', 'input_packets', 'output_packets'].map(interfaceRowField) as [number, number, number, number];

/** A VM's taps that were read, and where each one's row starts. */
interface TapRows {
  names: readonly string[];
  fields: readonly number[];
}

/**
 * What a tick samples. The caller keeps handing the same arrays while nothing changed, and new ones when
 * something did: the collector plans its calls into the addon once per pair of arrays, not once per tick.
 */
export interface Targets {
  /** Every VM whose process is watched; one whose process is gone is reported, wanted or not. */
  readonly vms: readonly RegisteredVm[];
  /** Those of `vms`, in their order, whose numbers someone wants: their taps and counters are read too. */
  readonly wanted: readonly RegisteredVm[];
}

/** Why a watched VM's process is not the one registered any more. */
export interface GoneVm {
  vm: RegisteredVm;
  why: string;
}

export interface TickSnapshot {
  /** The wanted VMs whose process was read, in the order of `wanted`. */
  readonly samples: readonly VmSample[];
  readonly gone: readonly GoneVm[];
  /** Wall time of the tick, in seconds. */
  readonly seconds: number;
  /**
   * The slices the tick ran in on the JavaScript thread, before its reads went off it and after they were
   * back: its owner's work on the snapshot (encoding, sending) goes on in them, so that `longestMs` is what
   * the whole tick held the loop.
   */
  readonly slicer: Slicer;
}

export interface CollectorOptions {
  logger: Logger;
  /** Where KVM publishes per-VM statistics; the sampler's default when absent. */
  debugfsRoot?: string;
  /** How many ticks to try opening a VM's hypervisor counters before giving up on them. */
  vmmOpenAttempts?: number;
  /** How many hypervisor devices one tick may try to open; the other VMs wait for the next ticks. */
  vmmOpensPerTick?: number;
}

export interface CollectorStats {
  lastTickSeconds: number;
  ticks: number;
  tickSecondsTotal: number;
  /** VMs whose hypervisor counters are still to be opened, a budget of them per tick: 0 once all are settled. */
  hypervisorOpensPending: number;
}

/** Albatross opens the vmm device lazily, a few times, since the VMM creates it after it starts. */
const DEFAULT_VMM_OPEN_ATTEMPTS = 5;
/**
 * Opening a VM's counters costs far more than reading them (its descriptors are listed, copied, or
 * debugfs searched): a burst of registrations opens a tick's worth at a time, so that no tick grows with it.
 */
const DEFAULT_VMM_OPENS_PER_TICK = 100;
/** A tick needs one set of rows; the snapshot being served holds another. */
const MAX_SPARE_ROWS = 2;

/** How a tick reads the targets, remade when the caller hands new arrays. */
interface Plan {
  targets: Targets;
  pids: number[];
  /** Each watched VM's row among the processes: also what tells a VM still watched. */
  rowOfVm: Map<RegisteredVm, number>;
  /** Per wanted VM: its row among the processes. */
  processRows: number[];
  /** Every tap of the wanted VMs, once each. */
  tapNames: string[];
  /** Per wanted VM: the row of each of its taps among `tapNames`. */
  tapRows: number[][];
  /** Per wanted VM: its taps and where their rows start. */
  taps: TapRows[];
}

const NO_COUNTERS: VmmCounters = Object.freeze({ descriptions: Object.freeze([]), values: Object.freeze([]) });

/** The plan for `targets`, made in the tick's slices: at 100,000 VMs it takes longer than a request may wait. */
async function planOf(targets: Targets, slicer: Slicer): Promise<Plan> {
  const rowOfVm = new Map<RegisteredVm, number>();
  const pids: number[] = [];
  for (let row = 0; row < targets.vms.length; row++) {
    if (slicer.dueAt(row)) await slicer.next();
    const vm = targets.vms[row]!;
    rowOfVm.set(vm, row);
    pids.push(vm.pid);
  }
  const plan: Plan = { targets, pids, rowOfVm, processRows: [], tapNames: [], tapRows: [], taps: [] };
  const rowOfTap = new Map<string, number>();
  const tapRowOf = (tap: string) => rowOfTap.get(tap) ?? rowOfTap.set(tap, plan.tapNames.push(tap) - 1).get(tap)!;
  for (let i = 0; i < targets.wanted.length; i++) {
    if (slicer.dueAt(i)) await slicer.next();
    const vm = targets.wanted[i]!;
    const row = rowOfVm.get(vm);
    if (row === undefined) throw new Error(`wanted VM ${vm.name} is not among the VMs watched`);
    plan.processRows.push(row);
    const tapRows = vm.taps.map(tapRowOf);
    plan.tapRows.push(tapRows);
    plan.taps.push({ names: vm.taps, fields: tapRows.map((tapRow) => tapRow * INTERFACE_ROW_FIELDS) });
  }
  return plan;
}

/**
 * The taps of `all` (rows `rows` of `sampled`) that were read, `all` itself when every one was: a tap that
 * does not exist (yet, or any more) is left out.
 */
function readTaps(all: TapRows, rows: readonly number[], sampled: SampleRows): TapRows {
  const read = (_: unknown, i: number) => sampled.errors[rows[i]!] === 0;
  if (all.names.every(read)) return all;
  return { names: all.names.filter(read), fields: all.fields.filter(read) };
}

/** A VM's hypervisor counters: opened lazily, retried for a few ticks, then given up with one log line. */
interface VmmState {
  reader: VmmReader | undefined;
  failedOpens: number;
  /** The descriptions of the last read, shared by every read that has the same. */
  descriptions: readonly string[];
}

/**
 * Promise.all, but settled only once every promise has: a pass that failed must not let the tick end (and
 * the rows or readers be reused or closed) while the others still run.
 */
async function settledAll<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** A VM whose counters a tick reads, and the reader that reads them. */
type DueVmm = [vm: RegisteredVm, reader: VmmReader, state: VmmState];

/** The device's pairs as counters, with the descriptions of the VM's last read when they are the same. */
function countersOf(state: VmmState, pairs: readonly VmmCounter[]): VmmCounters {
  const last = state.descriptions;
  if (pairs.length !== last.length || pairs.some(([description], i) => description !== last[i])) {
    state.descriptions = Object.freeze(pairs.map(([description]) => description));
  }
  return { descriptions: state.descriptions, values: pairs.map(([, value]) => value) };
}

/**
 * Samples VMs when asked; keeps what outlives a tick (the netlink sockets, the VMs' hypervisor devices). A
 * tick's reads run off the JavaScript thread, so that its owner goes on answering meanwhile; ticks do not
 * overlap.
 */
export class Collector {
  readonly #options: CollectorOptions;
  /** The ticks' socket, busy while a tick reads. */
  readonly #interfaces = new InterfaceSampler();
  readonly #vmm = new Map<RegisteredVm, VmmState>();
  /** Wanted VMs whose hypervisor counters are open. */
  #vmmOpen = new Set<RegisteredVm>();
  /** Wanted VMs whose counters are not open and may be tried again, in the order they will be. */
  #vmmPending = new Set<RegisteredVm>();
  readonly #vmmDevices: VmmDeviceNames;
  #plan: Plan | undefined;
  /** Rows of snapshots handed back by their owner (release), to be filled again rather than made anew. */
  readonly #spareRows: TickRows[] = [];
  readonly #rowsOf = new WeakMap<TickSnapshot, TickRows>();
  /** Watched VMs whose process could not be read (other than gone) at the last tick. */
  readonly #unreadableProcesses = new Set<RegisteredVm>();
  /** Whether the last tick could not read any interface: said once, and again once it can. */
  #interfacesFailed = false;
  #ticking = false;
  #closed = false;
  #stats: CollectorStats = { lastTickSeconds: 0, ticks: 0, tickSecondsTotal: 0, hypervisorOpensPending: 0 };

  constructor(options: CollectorOptions) {
    this.#options = options;
    this.#vmmDevices = new VmmDeviceNames(options.logger);
  }

  /** Closes what the collector holds, at once or, during a tick, as it ends; a tick after this fails. */
  close(): void {
    this.#closed = true;
    if (!this.#ticking) this.#closeAll();
  }

  #closeAll(): void {
    for (const state of this.#vmm.values()) state.reader?.close();
    this.#vmm.clear();
    this.#interfaces.close();
  }

  /**
   * Hands a snapshot back once its owner is done with it: its rows are filled again by a later tick, rather
   * than new ones made every tick, and its samples throw if read after this. A snapshot never released stays
   * readable for as long as it is held.
   */
  release(snapshot: TickSnapshot): void {
    const rows = this.#rowsOf.get(snapshot);
    if (rows === undefined) return;
    this.#rowsOf.delete(snapshot);
    rows.uses += 1;
    if (this.#spareRows.length < MAX_SPARE_ROWS) this.#spareRows.push(rows);
  }

  get stats(): Readonly<CollectorStats> {
    return this.#stats;
  }

  /**
   * One tick: every watched VM's process (to see exits), and the taps and counters of the wanted ones. The
   * targets' arrays must not change until it resolves; a tick while another runs is refused. Its work on the
   * JavaScript thread runs in `slicer`'s slices, the snapshot's.
   */
  async tick(targets: Targets, slicer = new Slicer()): Promise<TickSnapshot> {
    if (this.#closed) throw new SamplerError(constants.errno.EBADF, 'the collector is closed');
    if (this.#ticking) throw new Error('a tick is already running');
    this.#ticking = true;
    try {
      return await this.#sample(targets, slicer);
    } finally {
      this.#ticking = false;
      if (this.#closed) this.#closeAll();
    }
  }

  async #sample(targets: Targets, slicer: Slicer): Promise<TickSnapshot> {
    const started = performance.now();
    const plan = await this.#planFor(targets, slicer);
    const rows: TickRows = this.#spareRows.pop() ?? { processes: new SampleRows(), taps: new SampleRows(), uses: 0 };
    const due = this.#vmmDue();
    const [, , readings] = await slicer.wait(settledAll([
      sampleProcessRowsInBackground(plan.pids, rows.processes),
      plan.tapNames.length > 0 ? this.#sampleTaps(plan.tapNames, rows.taps) : undefined,
      VmmReader.readAll(due.map(([, reader]) => reader)),
    ] as const));
    const counters = this.#countersRead(due, readings);
    const gone = await this.#goneVms(plan, rows.processes, slicer);
    const samples: VmSample[] = [];
    for (let i = 0; i < targets.wanted.length; i++) {
      if (slicer.dueAt(i)) await slicer.next();
      const vm = targets.wanted[i]!;
      if (!this.#isRegisteredProcess(vm, rows.processes, plan.processRows[i]!)) continue;
      const taps = readTaps(plan.taps[i]!, plan.tapRows[i]!, rows.taps);
      samples.push(new VmSample(vm, rows, plan.processRows[i]! * rows.processes.fields, counters.get(vm) ?? NO_COUNTERS, taps));
    }
    const seconds = (performance.now() - started) / 1000;
    this.#stats = {
      lastTickSeconds: seconds,
      ticks: this.#stats.ticks + 1,
      tickSecondsTotal: this.#stats.tickSecondsTotal + seconds,
      hypervisorOpensPending: this.#vmmPending.size,
    };
    const snapshot = { samples, gone, seconds, slicer };
    this.#rowsOf.set(snapshot, rows);
    return snapshot;
  }

  /** The taps' rows; when no interface can be read at all, every tap counts as unread, and the tick goes on. */
  async #sampleTaps(names: readonly string[], into: SampleRows): Promise<void> {
    try {
      await this.#interfaces.sampleRowsInBackground(names, into);
    } catch (err) {
      if (!(err instanceof SamplerError) || this.#interfaces.closed) throw err;
      into.errors.fill(err.errno, 0, names.length);
      if (!this.#interfacesFailed) this.#options.logger.warn({ err }, 'interface counters unreadable this tick: trying again at the next');
      this.#interfacesFailed = true;
      return;
    }
    if (this.#interfacesFailed) this.#options.logger.info('interface counters readable again');
    this.#interfacesFailed = false;
  }

  async #planFor(targets: Targets, slicer: Slicer): Promise<Plan> {
    const known = this.#plan?.targets;
    if (known?.vms === targets.vms && known.wanted === targets.wanted) return this.#plan!;
    this.#plan = await planOf(targets, slicer);
    this.#forgetAllBut(this.#plan.rowOfVm);
    await this.#trackVmm(targets.wanted, slicer);
    return this.#plan;
  }

  /** Drops what is kept for VMs no longer watched (removed, or replaced by a new registration). */
  #forgetAllBut(watched: ReadonlyMap<RegisteredVm, number>): void {
    for (const [vm, state] of this.#vmm) {
      if (watched.has(vm)) continue;
      state.reader?.close();
      this.#vmm.delete(vm);
    }
    for (const vm of this.#unreadableProcesses) if (!watched.has(vm)) this.#unreadableProcesses.delete(vm);
  }

  #isRegisteredProcess(vm: RegisteredVm, processes: SampleRows, row: number): boolean {
    return processes.errors[row] === 0 && processes.rows[row * processes.fields + START_TIME_FIELD] === vm.startTime;
  }

  /** The watched VMs whose pid is gone or now another process's; a process that cannot be read is logged. */
  async #goneVms(plan: Plan, processes: SampleRows, slicer: Slicer): Promise<GoneVm[]> {
    const gone: GoneVm[] = [];
    const vms = plan.targets.vms;
    for (let row = 0; row < vms.length; row++) {
      if (slicer.dueAt(row)) await slicer.next();
      const vm = vms[row]!;
      if (this.#isRegisteredProcess(vm, processes, row)) {
        if (this.#unreadableProcesses.size > 0 && this.#unreadableProcesses.delete(vm)) this.#options.logger.info({ vm: vm.name, pid: vm.pid }, 'VM process readable again');
        continue;
      }
      const errno = processes.errors[row]!;
      if (errno === 0) gone.push({ vm, why: 'its pid now belongs to another process' });
      else if (errno === constants.errno.ESRCH) gone.push({ vm, why: 'the process is gone' });
      else this.#sayUnreadable(vm, errno);
    }
    return gone;
  }

  /** Said once per VM, not every tick, until it can be read again. */
  #sayUnreadable(vm: RegisteredVm, errno: number): void {
    if (this.#unreadableProcesses.has(vm)) return;
    this.#unreadableProcesses.add(vm);
    this.#options.logger.warn({ vm: vm.name, pid: vm.pid, err: processError(vm.pid, errno) }, 'cannot read the VM process: said once, until it can be read again');
  }

  /** Sorts the wanted VMs into those whose counters are open and those still to try, once per plan. */
  async #trackVmm(wanted: readonly RegisteredVm[], slicer: Slicer): Promise<void> {
    const attempts = this.#options.vmmOpenAttempts ?? DEFAULT_VMM_OPEN_ATTEMPTS;
    this.#vmmOpen = new Set();
    this.#vmmPending = new Set();
    for (let i = 0; i < wanted.length; i++) {
      if (slicer.dueAt(i)) await slicer.next();
      const vm = wanted[i]!;
      const state = this.#vmm.get(vm);
      if (state?.reader?.opened === true) this.#vmmOpen.add(vm);
      else if (state === undefined || (state.reader !== undefined && state.failedOpens < attempts)) this.#vmmPending.add(vm);
    }
  }

  /**
   * The wanted VMs whose hypervisor counters this tick reads: those open, and as many of those still to try
   * as the tick's budget of opens allows (the others wait for the next ticks). Costs what is read and tried,
   * not what was given up on.
   */
  #vmmDue(): DueVmm[] {
    const due: DueVmm[] = [];
    for (const vm of this.#vmmOpen) {
      const state = this.#vmm.get(vm)!;
      due.push([vm, state.reader!, state]);
    }
    let opensLeft = this.#options.vmmOpensPerTick ?? DEFAULT_VMM_OPENS_PER_TICK;
    for (const vm of this.#vmmPending) {
      if (opensLeft === 0) break;
      const state = this.#vmmState(vm);
      if (state.reader === undefined) {
        this.#vmmPending.delete(vm);
        continue;
      }
      opensLeft -= 1;
      state.reader.openInNextPass();
      due.push([vm, state.reader, state]);
    }
    return due;
  }

  /** What each due VM's reading gave: its counters, or none (a failed open counted, a failed read logged). */
  #countersRead(due: readonly DueVmm[], readings: readonly VmmReading[]): Map<RegisteredVm, VmmCounters> {
    const counters = new Map<RegisteredVm, VmmCounters>();
    due.forEach(([vm, , state], i) => {
      const reading = readings[i]!;
      if (reading.ok) {
        counters.set(vm, countersOf(state, reading.counters));
        if (this.#vmmPending.delete(vm)) this.#vmmOpen.add(vm);
      } else if (reading.opening) {
        this.#openFailed(vm, state, reading.error);
      } else {
        // The VM may have torn its device down: it is opened again on a later tick.
        this.#options.logger.debug({ vm: vm.name, err: reading.error }, 'hypervisor counters unreadable; reopening');
        this.#vmmOpen.delete(vm);
        this.#vmmPending.add(vm);
      }
    });
    return counters;
  }

  /** The VM's state, made on first use; without a reader when its target can name no device (said once). */
  #vmmState(vm: RegisteredVm): VmmState {
    let state = this.#vmm.get(vm);
    if (state === undefined) {
      state = { reader: undefined, failedOpens: 0, descriptions: NO_COUNTERS.descriptions };
      this.#vmm.set(vm, state);
      const target = { pid: vm.pid, deviceName: vm.vmmDevice ?? this.#vmmDevices.for(vm), debugfsRoot: this.#options.debugfsRoot };
      try {
        state.reader = new VmmReader(target);
      } catch (err) {
        if (!(err instanceof SamplerError)) throw err;
        state.failedOpens = this.#options.vmmOpenAttempts ?? DEFAULT_VMM_OPEN_ATTEMPTS;
        this.#noCounters(vm, err);
      }
    }
    return state;
  }

  /** Another attempt later (after the others still to try), or given up with one log line. */
  #openFailed(vm: RegisteredVm, state: VmmState, err: SamplerError): void {
    state.failedOpens += 1;
    this.#vmmPending.delete(vm);
    if (state.failedOpens < (this.#options.vmmOpenAttempts ?? DEFAULT_VMM_OPEN_ATTEMPTS)) this.#vmmPending.add(vm);
    else this.#noCounters(vm, err);
  }

  #noCounters(vm: RegisteredVm, err: SamplerError): void {
    this.#options.logger.info(
      { vm: vm.name, pid: vm.pid, reason: err.message },
      'no hypervisor counters for this VM: its statistics carry rusage and taps only',
    );
  }
}
