// A real Prometheus scrapes the daemon's embedded metrics endpoint every second. The daemon samples a real,
// CPU-burning child process registered as a VM, the loopback interface as its tap (the scrapes themselves
// keep it busy), and hypervisor counters from a debugfs tree laid out as KVM's, for that child's pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsClient } from '../../src/client/client.js';
import type { StatsDaemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { startMetricsServer, type MetricsServer, type MetricsSource } from '../../src/metrics/server.js';
import {
  findTool, SCRAPE_JOB, startPrometheus, waitFor, type InstantSample, type PrometheusServer, type RangeSeries,
} from '../helpers/prometheus.js';
import { capturingLogger, renderMetrics } from './fixtures.js';

const prometheus = findTool('prometheus');
const skipReason = !prometheus ? 'prometheus is not on PATH (Debian package "prometheus")' : undefined;
if (skipReason) console.warn(`skipping the real Prometheus test: ${skipReason}`);

/** A name that needs every escape, dots and non-ASCII: Prometheus must hand it back unchanged. */
const VM_NAME = 'tenant."blue"\\web\nü🙂';

function sampleCount(exposition: string): number {
  return exposition.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
}

describe.skipIf(skipReason !== undefined)('a real Prometheus scraping the metrics server', () => {
  const { logger, records } = capturingLogger();
  let burner: ChildProcess;
  let dir: string;
  let daemon: StatsDaemon;
  let server: MetricsServer;
  let source: MetricsSource;
  let prom: PrometheusServer;

  beforeAll(async () => {
    burner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-prom-'));
    mkdirSync(join(dir, 'kvm', `${burner.pid}-11`), { recursive: true });
    writeFileSync(join(dir, 'kvm', `${burner.pid}-11`, 'exits'), '42\n');
    daemon = await startTestDaemon(join(dir, 'stat.sock'), {
      intervalMs: 500, debugfsRoot: join(dir, 'kvm'), logger,
    });
    const client = await StatsClient.connect(join(dir, 'stat.sock'));
    const reply = await client.request({ kind: 'stats.add', name: VM_NAME.split('.'), pid: burner.pid!, taps: ['lo'] });
    client.close();
    expect(reply.kind).toBe('success');
    source = daemon.serveMetrics();
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger });
    prom = await startPrometheus(prometheus!, `127.0.0.1:${server.address.port}`);
  });

  afterAll(async () => {
    await prom?.stop();
    await server?.close();
    await daemon?.stop();
    burner?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns the child\'s CPU time, rising from scrape to scrape', async () => {
    const series = await waitFor('three scrapes of the CPU series', async () => {
      const [cpu] = await prom.query<RangeSeries>('vmm_stats_vm_cpu_user_seconds_total[1m]');
      return cpu && cpu.values.length >= 3 ? cpu : undefined;
    });
    expect(series.metric).toEqual({
      __name__: 'vmm_stats_vm_cpu_user_seconds_total',
      vm: VM_NAME,
      instance: `127.0.0.1:${server.address.port}`,
      job: SCRAPE_JOB,
    });
    const values = series.values.map(([, value]) => Number(value));
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]!);
    expect(values[values.length - 1]).toBeGreaterThan(values[0]!);
    const [rate] = await prom.query<InstantSample>('rate(vmm_stats_vm_cpu_user_seconds_total[5s])');
    expect(Number(rate?.value[1])).toBeGreaterThan(0.05); // a busy loop uses a good part of a core
  });

  it('scraped OpenMetrics, and ingested every sample we served', async () => {
    const [target] = await prom.targets();
    expect(target).toMatchObject({ health: 'up', lastError: '' });
    expect(records.some((r) => r.msg === 'served metrics' && r.format === 'openmetrics')).toBe(true);
    expect(records.some((r) => r.msg === 'served metrics' && r.format !== 'openmetrics')).toBe(false);
    const [scraped] = await prom.query<InstantSample>(`scrape_samples_scraped{job="${SCRAPE_JOB}"}`);
    const { vms, self } = source.snapshot();
    expect(Number(scraped?.value[1])).toBe(sampleCount(renderMetrics(vms, self, 'openmetrics', 0.001)));
  });

  it('keeps the labels of taps and hypervisor counters, and the metadata of the families', async () => {
    const [tap] = await prom.query<InstantSample>('vmm_stats_tap_to_vm_bytes_total');
    expect(tap?.metric).toMatchObject({ vm: VM_NAME, interface: 'lo' });
    const [counter] = await prom.query<InstantSample>('vmm_stats_vm_hypervisor_stat');
    expect(counter?.metric).toMatchObject({ vm: VM_NAME, counter: 'exits' });
    expect(counter?.value[1]).toBe('42');
    const [metadata] = await prom.metadata('vmm_stats_vm_cpu_user_seconds');
    expect(metadata).toMatchObject({ type: 'counter', unit: 'seconds' });
  });
});
