import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from './log.js';
import type { RegisteredVm, Registry } from './daemon/registry.js';
import {
  ifDataAt,
  InterfaceSampler,
  openVmmDevice,
  processError,
  processSampleAt,
  SampleRows,
  sampleProcessRows,
  SamplerError,
  START_TIME_FIELD,
  type VmmDevice,
} from './sampler.js';
import { VmmDeviceNames } from './vmm-device-name.js';
import { encodeStatsDataRows, type FrameMemory, type StatsRows } from './wire/index.js';
import type { Stats, VmmCounter, VmmCounters } from './wire/messages.js';

/** What every tick fills anew: the sampler's rows of all processes and of the wanted VMs' taps. */
interface TickRows {
  processes: SampleRows;
  taps: SampleRows;
  /** Which tick filled them. */
  tick: number;
}

/**
 * A VM's numbers from one tick, left in the tick's rows: a Data frame is encoded straight from them, and
 * records (bigints, objects) are made only when asked for. Valid until the next tick refills the rows.
 */
export class VmSample implements StatsRows {
  readonly vm: RegisteredVm;
  readonly vmm: VmmCounters;
  readonly processField: number;
  readonly tapNames: readonly string[];
  readonly tapFields: readonly number[];
  readonly #rows: TickRows;
  readonly #tick: number;
  #stats: Stats | undefined;

  constructor(vm: RegisteredVm, rows: TickRows, processField: number, vmm: VmmCounters, taps: TapRows) {
    this.vm = vm;
    this.vmm = vmm;
    this.processField = processField;
    this.tapNames = taps.names;
    this.tapFields = taps.fields;
    this.#rows = rows;
    this.#tick = rows.tick;
  }

  get processWords(): Uint32Array {
    return this.#current().processes.words;
  }

  get tapWords(): Uint32Array {
    return this.#current().taps.words;
  }

  /** The numbers as the wire's record; made on first use. */
  get stats(): Stats {
    if (this.#stats === undefined) {
      const rows = this.#current();
      this.#stats = {
        rusage: processSampleAt(rows.processes, this.processField, this.vm.pid).rusage,
        vmm: this.vmm,
        ifdata: this.tapNames.map((name, i) => ifDataAt(rows.taps, this.tapFields[i]!, name)),
      };
    }
    return this.#stats;
  }

  /** The VM's Stats Data frame (id 0, as unsolicited data has), in `memory` when given. */
  dataFrame(memory?: FrameMemory): Buffer {
    return encodeStatsDataRows(this.vm.labels, this, 0n, memory);
  }

  #current(): TickRows {
    if (this.#rows.tick !== this.#tick) throw new Error(`the sample of ${this.vm.name} was read after a later tick replaced it`);
    return this.#rows;
  }
}

/** A VM's taps that were read, and where each one's row starts. */
interface TapRows {
  names: readonly string[];
  fields: readonly number[];
}

export interface TickReport {
  samples: VmSample[];
  /** Wall time of the tick, in seconds. */
  seconds: number;
}

export interface CollectorOptions {
  intervalMs: number;
  logger: Logger;
  /** Whether a VM's numbers are wanted this tick (someone subscribes, or the metrics endpoint is on). */
  wants(vm: RegisteredVm): boolean;
  /** Where KVM publishes per-VM statistics; the sampler's default when absent. */
  debugfsRoot?: string;
  /** How many ticks to try opening a VM's hypervisor counters before giving up on them. */
  vmmOpenAttempts?: number;
}

/** Albatross opens the vmm device lazily, a few times, since the VMM creates it after it starts. */
const DEFAULT_VMM_OPEN_ATTEMPTS = 5;

/** The registered VMs as a tick samples them, remade when the registry changes. */
interface Roster {
  generation: number;
  vms: RegisteredVm[];
  pids: number[];
}

/** Which taps a tick reads, for which wanted VMs, remade when those VMs change. */
interface TapPlan {
  vms: RegisteredVm[];
  names: string[];
  /** Per VM of `vms`: the row of each of its taps among `names`. */
  rows: number[][];
  /** Per VM of `vms`: its taps and where their rows start, once the rows' width is known. */
  taps?: TapRows[];
}

const NO_COUNTERS: VmmCounters = Object.freeze({ descriptions: Object.freeze([]), values: Object.freeze([]) });

/**
 * The taps of `all` (rows `rows` of `sampled`) that were read, `all` itself when every one was: a tap that
 * does not exist (yet, or any more) is left out.
 */
function readTaps(all: TapRows, rows: number[], sampled: SampleRows): TapRows {
  const read = (_: unknown, i: number) => sampled.errors[rows[i]!] === 0;
  if (all.names.every(read)) return all;
  return { names: all.names.filter(read), fields: all.fields.filter(read) };
}

/** A VM's hypervisor counters: opened lazily, retried for a few ticks, then given up with one log line. */
interface VmmState {
  device: VmmDevice | undefined;
  failedOpens: number;
  /** The descriptions of the last read, shared by every read that has the same. */
  descriptions: readonly string[];
}

/** The device's pairs as counters, with the descriptions of the VM's last read when they are the same. */
function countersOf(state: VmmState, pairs: readonly VmmCounter[]): VmmCounters {
  const last = state.descriptions;
  if (pairs.length !== last.length || pairs.some(([description], i) => description !== last[i])) {
    state.descriptions = Object.freeze(pairs.map(([description]) => description));
  }
  return { descriptions: state.descriptions, values: pairs.map(([, value]) => value) };
}

/**
 * Samples the registered VMs every interval. Ticks never overlap (a tick runs to its end before the next
 * is scheduled) and never drift (each is due at origin + k × interval; a tick that overruns skips the
 * slots it missed and is logged with its duration).
 */
export class Collector {
  readonly #registry: Registry;
  readonly #options: CollectorOptions;
  readonly #onTick: (report: TickReport) => void;
  readonly #interfaces = new InterfaceSampler();
  readonly #vmm = new Map<RegisteredVm, VmmState>();
  readonly #vmmDevices: VmmDeviceNames;
  readonly #rows: TickRows = { processes: new SampleRows(), taps: new SampleRows(), tick: 0 };
  #roster: Roster = { generation: -1, vms: [], pids: [] };
  #tapPlan: TapPlan = { vms: [], names: [], rows: [] };
  #latest: VmSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #origin = 0;
  #slot = 0;
  #lastTickSeconds = 0;
  #ticks = 0;
  #tickSecondsTotal = 0;

  constructor(registry: Registry, options: CollectorOptions, onTick: (report: TickReport) => void) {
    this.#registry = registry;
    this.#options = options;
    this.#onTick = onTick;
    this.#vmmDevices = new VmmDeviceNames(options.logger);
  }

  start(): void {
    this.#origin = performance.now();
    this.#slot = 0;
    this.#scheduleNext();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const state of this.#vmm.values()) state.device?.close();
    this.#vmm.clear();
    this.#interfaces.close();
  }

  /** The last tick's sample of each VM still registered, for the metrics endpoint. */
  latest(): Iterable<VmSample> {
    return this.#latest;
  }

  get stats(): { lastTickSeconds: number; ticks: number; tickSecondsTotal: number } {
    return { lastTickSeconds: this.#lastTickSeconds, ticks: this.#ticks, tickSecondsTotal: this.#tickSecondsTotal };
  }

  /** Forgets what is kept for a VM that was removed or replaced. */
  forget(vm: RegisteredVm): void {
    this.#vmm.get(vm)?.device?.close();
    this.#vmm.delete(vm);
    if (this.#latest.some((sample) => sample.vm === vm)) this.#latest = this.#latest.filter((sample) => sample.vm !== vm);
  }

  /** The interfaces among `names` that do not exist now. */
  missingInterfaces(names: readonly string[]): string[] {
    if (names.length === 0) return [];
    return this.#interfaces.sample(names).flatMap((result, i) => (result.ok ? [] : [names[i]!]));
  }

  /** One tick: sample every registered VM's process (to see exits), and the rest of the wanted ones. */
  tick(): TickReport {
    const started = performance.now();
    this.#rows.tick += 1;
    // The rows change from here on: the last tick's samples are void, even if this tick fails.
    this.#latest = [];
    const { vms, processFields } = this.#sampleProcesses();
    const taps = this.#sampleTaps(vms);
    const samples = vms.map((vm, i) => new VmSample(vm, this.#rows, processFields[i]!, this.#readVmm(vm), taps[i]!));
    this.#latest = samples;
    const seconds = (performance.now() - started) / 1000;
    this.#lastTickSeconds = seconds;
    this.#ticks += 1;
    this.#tickSecondsTotal += seconds;
    return { samples, seconds };
  }

  #scheduleNext(): void {
    this.#slot += 1;
    const now = performance.now();
    let due = this.#origin + this.#slot * this.#options.intervalMs;
    if (due < now) {
      const missed = Math.ceil((now - due) / this.#options.intervalMs);
      this.#slot += missed;
      due += missed * this.#options.intervalMs;
    }
    this.#timer = setTimeout(() => this.#runTick(), due - now);
  }

  #runTick(): void {
    try {
      const report = this.tick();
      if (report.seconds * 1000 > this.#options.intervalMs) {
        this.#options.logger.warn(
          { tickMs: Math.round(report.seconds * 1000), intervalMs: this.#options.intervalMs },
          'slow tick: sampling took longer than the interval; the ticks it overran are skipped',
        );
      }
      this.#onTick(report);
    } catch (err) {
      this.#options.logger.error({ err }, 'tick failed');
    }
    if (this.#timer !== undefined) this.#scheduleNext();
  }

  /** Every registered VM's process in one call; the VMs alive and wanted, and where their rows start. */
  #sampleProcesses(): { vms: RegisteredVm[]; processFields: number[] } {
    const roster = this.#currentRoster();
    const processes = this.#rows.processes;
    sampleProcessRows(roster.pids, processes);
    const vms: RegisteredVm[] = [];
    const processFields: number[] = [];
    for (let i = 0; i < roster.vms.length; i++) {
      const vm = roster.vms[i]!;
      const errno = processes.errors[i]!;
      const at = i * processes.fields;
      if (errno === 0 && processes.rows[at + START_TIME_FIELD] === vm.startTime) {
        if (!this.#options.wants(vm)) continue;
        vms.push(vm);
        processFields.push(at);
      } else if (errno === 0 || errno === constants.errno.ESRCH) {
        this.#unregisterExited(vm, errno === 0 ? 'its pid now belongs to another process' : 'the process is gone');
      } else {
        this.#options.logger.warn({ vm: vm.name, pid: vm.pid, err: processError(vm.pid, errno) }, 'cannot read the VM process');
      }
    }
    return { vms, processFields };
  }

  #currentRoster(): Roster {
    const generation = this.#registry.generation;
    if (this.#roster.generation !== generation) {
      const vms = [...this.#registry.all()];
      this.#roster = { generation, vms, pids: vms.map((vm) => vm.pid) };
    }
    return this.#roster;
  }

  #unregisterExited(vm: RegisteredVm, why: string): void {
    if (!this.#registry.removeExact(vm)) return;
    this.forget(vm);
    this.#options.logger.info({ vm: vm.name, pid: vm.pid }, `VM process exited (${why}): unregistered`);
  }

  /** All taps of the wanted VMs in one sampler call; per VM, its taps that were read and their rows. */
  #sampleTaps(vms: RegisteredVm[]): TapRows[] {
    const plan = this.#planTaps(vms);
    const rows = this.#rows.taps;
    if (plan.names.length > 0) this.#interfaces.sampleRows(plan.names, rows);
    plan.taps ??= plan.rows.map((tapRows, i) => ({ names: vms[i]!.taps, fields: tapRows.map((row) => row * rows.fields) }));
    return plan.taps.map((taps, i) => readTaps(taps, plan.rows[i]!, rows));
  }

  #planTaps(vms: RegisteredVm[]): TapPlan {
    const known = this.#tapPlan.vms;
    if (vms.length === known.length && vms.every((vm, i) => vm === known[i])) return this.#tapPlan;
    const names = [...new Set(vms.flatMap((vm) => vm.taps))];
    const rowOf = new Map(names.map((name, row) => [name, row]));
    this.#tapPlan = { vms, names, rows: vms.map((vm) => vm.taps.map((tap) => rowOf.get(tap)!)) };
    return this.#tapPlan;
  }

  #readVmm(vm: RegisteredVm): VmmCounters {
    const state = this.#vmmState(vm);
    if (state.device === undefined) return NO_COUNTERS;
    try {
      return countersOf(state, state.device.read());
    } catch (err) {
      // The VM may have torn its device down; reopen on a later tick.
      this.#options.logger.debug({ vm: vm.name, err }, 'hypervisor counters unreadable; reopening');
      state.device.close();
      state.device = undefined;
      return NO_COUNTERS;
    }
  }

  #vmmState(vm: RegisteredVm): VmmState {
    let state = this.#vmm.get(vm);
    if (state === undefined) {
      state = { device: undefined, failedOpens: 0, descriptions: NO_COUNTERS.descriptions };
      this.#vmm.set(vm, state);
    }
    const attempts = this.#options.vmmOpenAttempts ?? DEFAULT_VMM_OPEN_ATTEMPTS;
    if (state.device === undefined && state.failedOpens < attempts) this.#openVmm(vm, state, attempts);
    return state;
  }

  #openVmm(vm: RegisteredVm, state: VmmState, attempts: number): void {
    try {
      state.device = openVmmDevice({ pid: vm.pid, deviceName: this.#vmmDevices.for(vm), debugfsRoot: this.#options.debugfsRoot });
    } catch (err) {
      state.failedOpens += 1;
      if (state.failedOpens === attempts) {
        const reason = err instanceof SamplerError ? err.message : String(err);
        this.#options.logger.info(
          { vm: vm.name, pid: vm.pid, reason },
          'no hypervisor counters for this VM: its statistics carry rusage and taps only',
        );
      }
    }
  }
}
