// One QEMU per guest, in the test's network namespace, with a virtio-net NIC on a tap made beforehand.
// KVM is tried first with a boot deadline (a guest kernel has been seen to hang early under KVM on nested
// machines), TCG is the fallback; `accelerator` and the log line say which one booted.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { createInterface } from 'node:readline';
import { guestCommandLine, type GuestImage, type GuestNetwork, type Workload } from './guest.js';
import type { NetworkNamespace } from './netns.js';

export type Accelerator = 'kvm' | 'tcg';

export interface GuestSpec extends GuestNetwork {
  name: string;
  netns: NetworkNamespace;
  tap: string;
  workload: Workload;
  memoryMiB?: number;
  log?: (line: string) => void;
}

/** A guest this small reaches its init in a second or two under KVM. */
const KVM_BOOT_DEADLINE_MS = 20_000;
const TCG_BOOT_DEADLINE_MS = 180_000;
const STEP = /^vmm-stats-guest: (\S+)(.*)$/;

/** Whether this process may open /dev/kvm for QEMU. */
export function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether KVM boots a guest here, as the first guest to try found: guests booted at the same time wait for
 * its answer rather than each spending the deadline (and a core) on a guest that hangs.
 */
let kvmBoots: Promise<boolean> | undefined;

export class QemuGuest {
  readonly process: ChildProcess;
  readonly accelerator: Accelerator;
  /** The console's lines so far (the kernel's and the init's). */
  readonly console: string[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #stepListeners = new Map<string, (() => void)[]>();

  private constructor(child: ChildProcess, accelerator: Accelerator) {
    this.process = child;
    this.accelerator = accelerator;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.console.push(line);
      const step = STEP.exec(line)?.[1];
      for (const listener of (step && this.#stepListeners.get(step)) || []) listener();
      this.#wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => this.console.push(...text.trimEnd().split('\n')));
    child.once('exit', () => this.#wake());
  }

  get pid(): number {
    return this.process.pid!;
  }

  /** A guest whose init has booted: under KVM if it boots within the deadline, otherwise under TCG. */
  static async boot(image: GuestImage, spec: GuestSpec): Promise<QemuGuest> {
    const log = spec.log ?? ((line: string) => console.info(line));
    if (!kvmUsable()) {
      log(`guest ${spec.name}: /dev/kvm cannot be opened; using TCG`);
    } else if (kvmBoots === undefined || (await kvmBoots)) {
      const attempt = QemuGuest.#bootUnderKvm(image, spec, log);
      kvmBoots ??= attempt.then((guest) => guest !== undefined);
      const guest = await attempt;
      if (guest !== undefined) return guest;
    } else {
      log(`guest ${spec.name}: KVM booted no guest of this process; using TCG`);
    }
    const guest = QemuGuest.launch(image, spec, 'tcg');
    const failure = await guest.#booted(TCG_BOOT_DEADLINE_MS);
    if (failure !== undefined) {
      await guest.kill();
      throw new Error(`guest ${spec.name} did not boot under TCG: ${failure}\n${guest.console.slice(-20).join('\n')}`);
    }
    log(`guest ${spec.name}: booted under TCG (pid ${guest.pid})`);
    return guest;
  }

  /** A guest booted under KVM, or undefined (and why, logged) once it has not booted in time. */
  static async #bootUnderKvm(image: GuestImage, spec: GuestSpec, log: (line: string) => void): Promise<QemuGuest | undefined> {
    const guest = QemuGuest.launch(image, spec, 'kvm');
    const failure = await guest.#booted(KVM_BOOT_DEADLINE_MS);
    if (failure === undefined) {
      log(`guest ${spec.name}: booted under KVM (pid ${guest.pid})`);
      return guest;
    }
    await guest.kill();
    log(`guest ${spec.name}: not booted under KVM (${failure}); falling back to TCG`);
    return undefined;
  }

  /** QEMU started under `accelerator`, booting or not. */
  static launch(image: GuestImage, spec: GuestSpec, accelerator: Accelerator): QemuGuest {
    const args = [
      '-name', spec.name, '-nodefaults', '-no-user-config', '-no-reboot', '-display', 'none', '-serial', 'stdio',
      '-m', String(spec.memoryMiB ?? 256), '-smp', '1',
      // QEMU's default CPU model: '-cpu host' aborts on some nested hosts (an MSR KVM refuses to set).
      '-accel', accelerator,
      '-kernel', image.kernel, '-initrd', image.initrd,
      '-append', guestCommandLine(spec, spec.workload),
      '-netdev', `tap,id=net0,ifname=${spec.tap},script=no,downscript=no`, '-device', 'virtio-net-pci,netdev=net0',
    ];
    return new QemuGuest(spec.netns.spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] }), accelerator);
  }

  /** Resolves with the rest of the line of the init's `step`; rejects if QEMU exits or time runs out. */
  async reached(step: string, timeoutMs: number): Promise<string> {
    const found = await this.#waitFor(() => this.#step(step), timeoutMs);
    if (typeof found === 'string') return found;
    throw new Error(`guest (pid ${this.pid}) did not reach "${step}": ${found.failure}\n${this.console.slice(-20).join('\n')}`);
  }

  /** Calls `listener` the moment the init reports `step`. */
  onStep(step: string, listener: () => void): void {
    this.#stepListeners.set(step, [...(this.#stepListeners.get(step) ?? []), listener]);
  }

  async kill(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = once(this.process, 'exit');
    this.process.kill('SIGKILL');
    await exited;
  }

  /** Undefined once booted, or why not. */
  async #booted(timeoutMs: number): Promise<string | undefined> {
    const found = await this.#waitFor(() => this.#step('booted'), timeoutMs);
    return typeof found === 'string' ? undefined : found.failure;
  }

  #step(step: string): string | undefined {
    for (const line of this.console) {
      const match = STEP.exec(line);
      if (match?.[1] === step) return match[2]!.trim();
    }
    return undefined;
  }

  async #waitFor(probe: () => string | undefined, timeoutMs: number): Promise<string | { failure: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        return { failure: `QEMU exited (${this.process.exitCode ?? this.process.signalCode})` };
      }
      const left = deadline - Date.now();
      if (left <= 0) return { failure: `nothing within ${timeoutMs / 1000} s` };
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
