// VMs as a real Prometheus sees them: real processes registered with a daemon in this process, the
// loopback interface as each one's tap, and KVM-style hypervisor counters in a debugfs tree made for
// their pids, rising every tick; the daemon's metrics endpoint scraped every second.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { StatsClient } from '../../src/client/client.js';
import type { StatsDaemon } from '../../src/daemon/daemon.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { startTestDaemon } from './daemon.js';
import { ChildProcesses } from './processes.js';
import { startPrometheus, waitFor, type PrometheusServer, type RangeSeries } from './prometheus.js';

const TICK_MS = 500;

/** A total and one exit reason, as KVM's debugfs names them. */
const EXIT_COUNTERS = ['exits', 'io_exits'];

export interface ScrapedVms {
  prom: PrometheusServer;
  /** The `instance` label of every series: the endpoint's host:port. */
  instance: string;
  /** The VMs' processes, by VM name. */
  processes: Map<string, ChildProcess>;
  children: ChildProcesses;
  stop(): Promise<void>;
}

/** Writes every exit counter of `pid`'s VM as `value`. */
function writeExitCounters(debugfs: string, pid: number, value: number): void {
  const vmDir = join(debugfs, `${pid}-11`);
  mkdirSync(vmDir, { recursive: true });
  for (const counter of EXIT_COUNTERS) writeFileSync(join(vmDir, counter), `${value}\n`);
}

async function register(socketPath: string, processes: Map<string, ChildProcess>): Promise<void> {
  const client = await StatsClient.connect(socketPath);
  try {
    for (const [name, child] of processes) {
      const reply = await client.request({ kind: 'stats.add', name: name.split('.'), pid: child.pid!, taps: ['lo'] });
      if (reply.kind !== 'success') throw new Error(`registering ${name}: ${JSON.stringify(reply)}`);
    }
  } finally {
    client.close();
  }
}

/**
 * Starts the first VM as a busy process and the others idle, registers them, and resolves once
 * Prometheus holds three scrapes of every VM's CPU series, so that rates over a few seconds exist.
 * `rules` is the text of a rule file for Prometheus to evaluate.
 */
export async function startScrapedVms(prometheusBinary: string, names: string[], rules?: string): Promise<ScrapedVms> {
  const children = new ChildProcesses();
  const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-scraped-'));
  const debugfs = join(dir, 'kvm');
  const processes = new Map<string, ChildProcess>();
  let daemon: StatsDaemon | undefined;
  let server: MetricsServer | undefined;
  let prom: PrometheusServer | undefined;
  let exits = 0;
  const bumpExits = setInterval(() => {
    exits += 100;
    for (const child of processes.values()) if (child.exitCode === null) writeExitCounters(debugfs, child.pid!, exits);
  }, TICK_MS);
  const stop = async (): Promise<void> => {
    clearInterval(bumpExits);
    await prom?.stop();
    await server?.close();
    await daemon?.stop();
    await children.killAll();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, name] of names.entries()) {
      const child = i === 0 ? await children.busy() : await children.idle();
      writeExitCounters(debugfs, child.pid!, exits);
      processes.set(name, child);
    }
    const socketPath = join(dir, 'stat.sock');
    daemon = await startTestDaemon(socketPath, { intervalMs: TICK_MS, debugfsRoot: debugfs });
    await register(socketPath, processes);
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, source: daemon.serveMetrics(), logger: pino({ level: 'silent' }) });
    const instance = `127.0.0.1:${server.address.port}`;
    prom = await startPrometheus(prometheusBinary, instance, { rules });
    const started = prom;
    await waitFor('three scrapes of every VM', async () => {
      const series = await started.query<RangeSeries>('vmm_stats_vm_cpu_user_seconds_total[1m]');
      return series.length === names.length && series.every((s) => s.values.length >= 3) ? true : undefined;
    });
    return { prom, instance, processes, children, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
