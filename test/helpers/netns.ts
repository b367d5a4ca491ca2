// A network namespace of the test's own: whatever runs in it (taps, QEMU, the daemon, Prometheus) can
// reach nothing but its loopback and its own taps, and everything in it goes away with `destroy`.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class NetworkNamespace {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /** A fresh namespace with its loopback up. */
  static create(name: string): NetworkNamespace {
    execFileSync('ip', ['netns', 'add', name]);
    const namespace = new NetworkNamespace(name);
    namespace.run('ip', ['link', 'set', 'lo', 'up']);
    return namespace;
  }

  /** One that exists already, made by `create` in another process. */
  static named(name: string): NetworkNamespace {
    return new NetworkNamespace(name);
  }

  /**
   * `command args` as run inside the namespace. nsenter joins the network namespace only, where `ip netns
   * exec` would also remount /sys, hiding debugfs from the daemon.
   */
  command(command: string, args: string[]): [string, string[]] {
    return ['nsenter', [`--net=/run/netns/${this.name}`, '--', command, ...args]];
  }

  /** nsenter execs the command itself, so the child's pid is the command's. */
  spawn(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const [nsenter, inside] = this.command(command, args);
    return spawn(nsenter, inside, options);
  }

  run(command: string, args: string[]): string {
    const [nsenter, inside] = this.command(command, args);
    return execFileSync(nsenter, inside, { encoding: 'utf8' });
  }

  /** The body of an HTTP GET made from inside the namespace; rejects on a status >= 400. */
  async get(url: string, headers: Record<string, string> = {}): Promise<string> {
    const flags = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
    const [nsenter, inside] = this.command('curl', ['-sSf', '--max-time', '10', ...flags, url]);
    return (await run(nsenter, inside, { encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
  }

  /**
   * A persistent tap in the namespace, up, with IPv6 off, so that the host sends nothing of its own into it,
   * and `hostAddress` (CIDR) on the host's side if given. A VMM attaches to it by name.
   */
  addTap(name: string, hostAddress?: string): void {
    this.run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    this.run('sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
    if (hostAddress !== undefined) this.addAddress(name, hostAddress);
    this.run('ip', ['link', 'set', name, 'up']);
  }

  addAddress(device: string, address: string): void {
    this.run('ip', ['address', 'add', address, 'dev', device]);
  }

  /** Deletes the namespace, and with it its taps; processes still in it keep it until they exit. */
  destroy(): void {
    try {
      execFileSync('ip', ['netns', 'delete', this.name], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}
