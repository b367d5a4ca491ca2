import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';

/** Why tests that need taps cannot run here, or undefined when they can. */
export function tapUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: creating taps needs CAP_NET_ADMIN';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun on this machine';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return "no 'ip' command (Debian package iproute2)";
  }
  return undefined;
}

/** A short interface name, unique to this process and call (IFNAMSIZ leaves 15 characters). */
let serial = 0;
export function uniqueInterfaceName(prefix: string): string {
  return `${prefix}${process.pid % 100000}x${serial++}`.slice(0, 15);
}

/**
 * A tap with a process attached to it the way a VMM is: the process is the "VM", so what it writes is
 * traffic from the VM. IPv6 is off on the tap so that the host sends nothing of its own into it.
 */
export class TapVmm {
  readonly name: string;
  readonly process: ChildProcess;
  readonly #lines: Interface;
  readonly #pending: ((line: string) => void)[] = [];

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.process = child;
    this.#lines = createInterface({ input: child.stdout! });
    this.#lines.on('line', (line) => this.#pending.shift()?.(line));
  }

  static async create(name: string): Promise<TapVmm> {
    execFileSync('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    execFileSync('sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
    const script = new URL('./tap-vmm.py', import.meta.url).pathname;
    const child = spawn('python3', [script, name], { stdio: ['pipe', 'pipe', 'inherit'] });
    const tap = new TapVmm(name, child);
    await tap.#nextLine();
    execFileSync('ip', ['link', 'set', name, 'up']);
    return tap;
  }

  /** Writes `count` frames of `size` bytes from the VM into the tap. */
  async send(count: number, size = 100): Promise<void> {
    this.process.stdin!.write(`send ${count} ${size}\n`);
    await this.#nextLine();
  }

  async destroy(): Promise<void> {
    if (this.process.exitCode === null) {
      const exited = once(this.process, 'exit');
      this.process.kill('SIGKILL');
      await exited;
    }
    this.#lines.close();
    try {
      execFileSync('ip', ['link', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // Already gone with its process.
    }
  }

  #nextLine(): Promise<string> {
    return new Promise((resolve) => this.#pending.push(resolve));
  }
}
