// The daemon as an operator runs it, `bin/vmm-stats daemon`, in a network namespace of the test's: its
// socket is a file (reachable from anywhere), its metrics endpoint is on the namespace's loopback.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetworkNamespace } from './netns.js';
import { eventually } from './processes.js';

const CLI = fileURLToPath(new URL('../../bin/vmm-stats', import.meta.url));
/** Any port will do: nothing else listens in a namespace of the test's own. */
const METRICS_PORT = 9947;

export interface DaemonLogRecord {
  msg: string;
  [field: string]: unknown;
}

export class DaemonProcess {
  readonly process: ChildProcess;
  readonly socketPath: string;
  readonly netns: NetworkNamespace;
  /** host:port of the metrics endpoint, inside the namespace. */
  readonly metricsTarget = `127.0.0.1:${METRICS_PORT}`;
  #stderr = '';

  private constructor(child: ChildProcess, socketPath: string, netns: NetworkNamespace) {
    this.process = child;
    this.socketPath = socketPath;
    this.netns = netns;
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.#stderr += text));
  }

  /** Starts the daemon (socket in `dir`, metrics on), resolving once both answer. */
  static async start(dir: string, netns: NetworkNamespace, intervalSeconds: number): Promise<DaemonProcess> {
    const socketPath = join(dir, 'stat.sock');
    const args = ['daemon', '--socket', socketPath, '--interval', String(intervalSeconds), '--metrics', `127.0.0.1:${METRICS_PORT}`, '--state-file', ''];
    const daemon = new DaemonProcess(netns.spawn(CLI, args, { stdio: ['ignore', 'ignore', 'pipe'] }), socketPath, netns);
    await eventually(() => {
      if (daemon.process.exitCode !== null) throw new Error(`the daemon exited with ${daemon.process.exitCode}: ${daemon.#stderr}`);
      return existsSync(socketPath) && daemon.logged('serving metrics') ? true : undefined;
    }, 20_000, 'the daemon to listen');
    return daemon;
  }

  /** Its log so far, one record per JSON line. */
  log(): DaemonLogRecord[] {
    return this.#stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as DaemonLogRecord);
  }

  logged(message: string): DaemonLogRecord[] {
    return this.log().filter((record) => record.msg.includes(message));
  }

  /** The metrics endpoint's text exposition. */
  metrics(): Promise<string> {
    return this.netns.get(`http://${this.metricsTarget}/metrics`);
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = once(this.process, 'exit');
    this.process.kill('SIGTERM');
    await exited;
  }
}
