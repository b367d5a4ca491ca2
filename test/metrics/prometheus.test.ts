// A real Prometheus scrapes startMetricsServer every second. The source reports a real, CPU-burning
// child process (its utime and stime from /proc) and the real loopback interface, which the scrapes
// themselves keep busy, so the values rise as they would for a VM.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IfData, Stats, Timeval } from '../../src/wire/messages.js';
import { renderMetrics, type VmSnapshot } from '../../src/metrics/exposition.js';
import { startMetricsServer, type MetricsServer, type MetricsSource } from '../../src/metrics/server.js';
import {
  findTool, SCRAPE_JOB, startPrometheus, waitFor, type InstantSample, type PrometheusServer, type RangeSeries,
} from '../helpers/prometheus.js';
import { capturingLogger, ifdata, rusage, SELF } from './fixtures.js';

const prometheus = findTool('prometheus');
const hasProc = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();
const skipReason = !prometheus ? 'prometheus is not on PATH (Debian package "prometheus")'
  : !hasProc ? 'there is no /proc to read a child\'s CPU time from' : undefined;
if (skipReason) console.warn(`skipping the real Prometheus test: ${skipReason}`);

/** A name that needs every escape, dots and non-ASCII: Prometheus must hand it back unchanged. */
const VM_NAME = 'tenant."blue"\\web\nü🙂';

function timevalOfTicks(ticks: bigint, ticksPerSecond: bigint): Timeval {
  return { sec: ticks / ticksPerSecond, usec: Number(((ticks % ticksPerSecond) * 1_000_000n) / ticksPerSecond) };
}

/** CPU time and page faults of `pid` from /proc/<pid>/stat (fields after the command name). */
function processStats(pid: number, ticksPerSecond: bigint): Stats['rusage'] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => BigInt(fields[n - 3]!); // man proc: field n, counting from 1 at the pid
  return rusage({
    utime: timevalOfTicks(field(14), ticksPerSecond),
    stime: timevalOfTicks(field(15), ticksPerSecond),
    minflt: field(10),
    majflt: field(12),
  });
}

function loopback(): IfData {
  const read = (name: string) => BigInt(readFileSync(`/sys/class/net/lo/statistics/${name}`, 'utf8').trim());
  return ifdata('lo', {
    input_bytes: read('rx_bytes'), output_bytes: read('tx_bytes'),
    input_packets: read('rx_packets'), output_packets: read('tx_packets'),
  });
}

function childSource(pid: number): MetricsSource {
  const ticksPerSecond = BigInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return {
    snapshot: () => {
      const vm: VmSnapshot = {
        name: VM_NAME,
        stats: { rusage: processStats(pid, ticksPerSecond), ifdata: [loopback()], vmm: [['vm exits "total"', 42n]] },
      };
      return { vms: [vm], self: SELF };
    },
  };
}

function sampleCount(exposition: string): number {
  return exposition.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
}

describe.skipIf(skipReason !== undefined)('a real Prometheus scraping the metrics server', () => {
  const { logger, records } = capturingLogger();
  let burner: ChildProcess;
  let source: MetricsSource;
  let server: MetricsServer;
  let prom: PrometheusServer;

  beforeAll(async () => {
    burner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    source = childSource(burner.pid!);
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger });
    prom = await startPrometheus(prometheus!, `127.0.0.1:${server.address.port}`);
  });

  afterAll(async () => {
    await prom?.stop();
    await server?.close();
    burner?.kill('SIGKILL');
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
    expect(counter?.metric).toMatchObject({ vm: VM_NAME, counter: 'vm exits "total"' });
    expect(counter?.value[1]).toBe('42');
    const [metadata] = await prom.metadata('vmm_stats_vm_cpu_user_seconds');
    expect(metadata).toMatchObject({ type: 'counter', unit: 'seconds' });
  });
});
