// A VM host as `vmm-stats influx` meets it: a real daemon process (`bin/vmm-stats daemon`, no state file)
// ticking every 200 ms, VMs registered with it that are real busy processes, each with a tap a process
// writes into as a VMM does, and KVM-style hypervisor counters in a debugfs tree of the test's, rising
// every tick; and `bin/vmm-stats influx` itself, run as an operator runs it, its JSON log kept.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StatsClient } from '../../src/client/client.js';
import { TapVmm, uniqueInterfaceName } from './net.js';
import { ChildProcesses, eventually } from './processes.js';

const CLI = fileURLToPath(new URL('../../bin/vmm-stats', import.meta.url));
export const TICK_MS = 200;

export interface HostVm {
  name: string;
  process: ChildProcess;
  tap: TapVmm;
}

export class InfluxHost {
  readonly dir: string;
  readonly socketPath: string;
  readonly vms: HostVm[] = [];
  readonly #children = new ChildProcesses();
  #daemon: ChildProcess | undefined;
  readonly #bumpExits: NodeJS.Timeout;
  #exits = 0;

  private constructor(dir: string) {
    this.dir = dir;
    this.socketPath = join(dir, 'stat.sock');
    this.#bumpExits = setInterval(() => this.#writeExits((this.#exits += 10)), TICK_MS);
  }

  /** Starts the daemon, and registers a VM of each name (a busy process, a tap). */
  static async start(names: string[]): Promise<InfluxHost> {
    const host = new InfluxHost(mkdtempSync(join(tmpdir(), 'vmm-stats-influx-')));
    try {
      await host.#startDaemon();
      for (const name of names) await host.#addVm(name);
    } catch (err) {
      await host.stop();
      throw err;
    }
    return host;
  }

  /** Stops the daemon and starts it again, registering the same VMs (it keeps no state file). */
  async restartDaemon(): Promise<void> {
    await this.#stopDaemon();
    await this.#startDaemon();
    for (const vm of this.vms) await this.#register(vm);
  }

  vm(name: string): HostVm {
    return this.vms.find((vm) => vm.name === name)!;
  }

  async stop(): Promise<void> {
    clearInterval(this.#bumpExits);
    await this.#stopDaemon();
    for (const vm of this.vms) await vm.tap.destroy();
    await this.#children.killAll();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #startDaemon(): Promise<void> {
    const args = ['daemon', '--socket', this.socketPath, '--interval', String(TICK_MS / 1000), '--state-file', '', '--debugfs', join(this.dir, 'kvm')];
    const daemon = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore' });
    this.#daemon = daemon;
    await eventually(() => {
      if (daemon.exitCode !== null) throw new Error(`the daemon exited with ${daemon.exitCode}`);
      return existsSync(this.socketPath) ? true : undefined;
    }, 20_000, 'the daemon socket');
  }

  async #stopDaemon(): Promise<void> {
    const daemon = this.#daemon;
    if (daemon === undefined || daemon.exitCode !== null || daemon.signalCode !== null) return;
    const exited = once(daemon, 'exit');
    daemon.kill('SIGTERM');
    await exited;
  }

  async #addVm(name: string): Promise<void> {
    const vm = { name, process: await this.#children.busy(), tap: await TapVmm.create(uniqueInterfaceName('vsi')) };
    this.vms.push(vm);
    this.#writeExits(this.#exits);
    await this.#register(vm);
  }

  async #register({ name, process, tap }: HostVm): Promise<void> {
    const client = await StatsClient.connect(this.socketPath);
    const reply = await client.request({ kind: 'stats.add', name: name.split('.'), pid: process.pid!, taps: [tap.name] });
    client.close();
    if (reply.kind !== 'success') throw new Error(`registering ${name}: ${JSON.stringify(reply)}`);
  }

  /** KVM's debugfs layout, `<pid>-<fd>/<counter>`, for every VM's process. */
  #writeExits(value: number): void {
    for (const vm of this.vms) {
      const vmDir = join(this.dir, 'kvm', `${vm.process.pid}-11`);
      mkdirSync(vmDir, { recursive: true });
      writeFileSync(join(vmDir, 'exits'), `${value}\n`);
      writeFileSync(join(vmDir, 'io_exits'), `${value / 2}\n`);
    }
  }
}

export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** `vmm-stats influx` as a child process. */
export class InfluxCommand {
  readonly process: ChildProcess;
  #stderr = '';

  constructor(args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.process = spawn(process.execPath, [CLI, 'influx', '--log-level', 'debug', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
    this.process.stderr!.setEncoding('utf8').on('data', (text: string) => (this.#stderr += text));
  }

  log(): LogRecord[] {
    return this.#stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogRecord);
  }

  logged(message: string): LogRecord[] {
    return this.log().filter((record) => record.msg.includes(message));
  }

  /** Waits for a log record whose message holds `message`. */
  waitForLog(message: string, timeoutMs = 20_000): Promise<LogRecord> {
    return eventually(() => {
      if (this.process.exitCode !== null) throw new Error(`vmm-stats influx exited with ${this.process.exitCode}: ${this.#stderr}`);
      return this.logged(message)[0];
    }, timeoutMs, `vmm-stats influx to log '${message}'`);
  }

  /** SIGTERM, and its exit code. */
  async stop(): Promise<number | null> {
    if (this.process.exitCode !== null) return this.process.exitCode;
    const exited = once(this.process, 'exit');
    this.process.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    return code;
  }
}
