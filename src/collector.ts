import { performance } from 'node:perf_hooks';
import type { Logger } from './log.js';
import type { RegisteredVm, Registry } from './daemon/registry.js';
import {
  InterfaceSampler,
  openVmmDevice,
  sampleProcesses,
  SamplerError,
  type VmmDevice,
} from './sampler.js';
import type { IfData, Stats, VmmCounter } from './wire/messages.js';

export interface VmSample {
  vm: RegisteredVm;
  stats: Stats;
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

/** A VM's hypervisor counters: opened lazily, retried for a few ticks, then given up with one log line. */
interface VmmState {
  device: VmmDevice | undefined;
  failedOpens: number;
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
  readonly #latest = new Map<string, VmSample>();
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

  /** The newest sample of each VM still registered, for the metrics endpoint. */
  latest(): Iterable<VmSample> {
    return this.#latest.values();
  }

  get stats(): { lastTickSeconds: number; ticks: number; tickSecondsTotal: number } {
    return { lastTickSeconds: this.#lastTickSeconds, ticks: this.#ticks, tickSecondsTotal: this.#tickSecondsTotal };
  }

  /** Forgets what is kept for a VM that was removed or replaced. */
  forget(vm: RegisteredVm): void {
    this.#vmm.get(vm)?.device?.close();
    this.#vmm.delete(vm);
    if (this.#latest.get(vm.name)?.vm === vm) this.#latest.delete(vm.name);
  }

  /** The interfaces among `names` that do not exist now. */
  missingInterfaces(names: readonly string[]): string[] {
    if (names.length === 0) return [];
    return this.#interfaces.sample(names).flatMap((result, i) => (result.ok ? [] : [names[i]!]));
  }

  /** One tick: sample every registered VM's process (to see exits), and the rest of the wanted ones. */
  tick(): TickReport {
    const started = performance.now();
    const alive = this.#checkProcesses();
    const wanted = alive.filter(({ vm }) => this.#options.wants(vm));
    const ifdata = this.#sampleTaps(wanted.map(({ vm }) => vm));
    const samples = wanted.map(({ vm, rusage }) => {
      const sample: VmSample = {
        vm,
        stats: { rusage, vmm: this.#readVmm(vm), ifdata: vm.taps.flatMap((tap) => ifdata.get(tap) ?? []) },
      };
      this.#latest.set(vm.name, sample);
      return sample;
    });
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

  #checkProcesses(): { vm: RegisteredVm; rusage: Stats['rusage'] }[] {
    const vms = [...this.#registry.all()];
    const results = sampleProcesses(vms.map((vm) => vm.pid));
    const alive: { vm: RegisteredVm; rusage: Stats['rusage'] }[] = [];
    results.forEach((result, i) => {
      const vm = vms[i]!;
      if (result.ok && result.value.startTime === vm.startTime) {
        alive.push({ vm, rusage: result.value.rusage });
      } else if (result.ok || result.error.code === 'ESRCH') {
        this.#unregisterExited(vm, result.ok ? 'its pid now belongs to another process' : 'the process is gone');
      } else {
        this.#options.logger.warn({ vm: vm.name, pid: vm.pid, err: result.error }, 'cannot read the VM process');
      }
    });
    return alive;
  }

  #unregisterExited(vm: RegisteredVm, why: string): void {
    if (!this.#registry.removeExact(vm)) return;
    this.forget(vm);
    this.#options.logger.info({ vm: vm.name, pid: vm.pid }, `VM process exited (${why}): unregistered`);
  }

  /** All taps of this tick in one sampler call; a tap that does not exist (yet, or any more) is left out. */
  #sampleTaps(vms: RegisteredVm[]): Map<string, IfData> {
    const names = [...new Set(vms.flatMap((vm) => vm.taps))];
    const found = new Map<string, IfData>();
    if (names.length === 0) return found;
    this.#interfaces.sample(names).forEach((result, i) => {
      if (result.ok) found.set(names[i]!, result.value);
    });
    return found;
  }

  #readVmm(vm: RegisteredVm): VmmCounter[] {
    const state = this.#vmmState(vm);
    if (state.device === undefined) return [];
    try {
      return state.device.read();
    } catch (err) {
      // The VM may have torn its device down; reopen on a later tick.
      this.#options.logger.debug({ vm: vm.name, err }, 'hypervisor counters unreadable; reopening');
      state.device.close();
      state.device = undefined;
      return [];
    }
  }

  #vmmState(vm: RegisteredVm): VmmState {
    let state = this.#vmm.get(vm);
    if (state === undefined) {
      state = { device: undefined, failedOpens: 0 };
      this.#vmm.set(vm, state);
    }
    const attempts = this.#options.vmmOpenAttempts ?? DEFAULT_VMM_OPEN_ATTEMPTS;
    if (state.device === undefined && state.failedOpens < attempts) this.#openVmm(vm, state, attempts);
    return state;
  }

  #openVmm(vm: RegisteredVm, state: VmmState, attempts: number): void {
    try {
      state.device = openVmmDevice({ pid: vm.pid, debugfsRoot: this.#options.debugfsRoot });
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
