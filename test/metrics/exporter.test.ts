// The standalone exporter against a real daemon process that is stopped and started again under it.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { StatsClient } from '../../src/client/client.js';
import { Exporter } from '../../src/exporter/exporter.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';

const cli = new URL('../../bin/vmm-stats', import.meta.url).pathname;
const children = new ChildProcesses();
let dir: string;
let socketPath: string;
let daemon: ChildProcess | undefined;
let exporter: Exporter;
let server: MetricsServer;

async function startDaemon(): Promise<void> {
  daemon = spawn(process.execPath, [cli, 'daemon', '--socket', socketPath, '--interval', '0.2', '--state-file', ''], { stdio: 'ignore' });
  await eventually(() => (existsSync(socketPath) ? true : undefined), 10_000, 'the daemon socket');
}

async function stopDaemon(): Promise<void> {
  const exited = once(daemon!, 'exit');
  daemon!.kill('SIGTERM');
  await exited;
}

async function register(name: string, pid: number): Promise<void> {
  const client = await StatsClient.connect(socketPath);
  const reply = await client.request({ kind: 'stats.add', name: name.split('.'), pid, taps: [] });
  client.close();
  expect(reply.kind).toBe('success');
}

async function scrape(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.address.port}/metrics`);
  return response.text();
}

/** Waits until a scrape satisfies `accept`, and returns it. */
function scrapeUntil(accept: (text: string) => boolean, what: string): Promise<string> {
  return eventually(async () => {
    const text = await scrape();
    return accept(text) ? text : undefined;
  }, 15_000, what);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmm-stats-exporter-'));
  socketPath = join(dir, 'stat.sock');
  const logger = pino({ level: 'silent' });
  exporter = new Exporter({ socketPath, logger, staleAfterMs: 5000, maxBackoffMs: 400 });
  server = await startMetricsServer({ host: '127.0.0.1', port: 0, source: exporter.metricsSource, logger });
  exporter.start();
});

afterAll(async () => {
  await exporter.stop();
  await server.close();
  if (daemon?.exitCode === null) await stopDaemon();
  await children.killAll();
  rmSync(dir, { recursive: true, force: true });
});

it('waits for a daemon that is not there yet, and serves its VMs once it is', async () => {
  expect(await scrape()).toContain('vmm_stats_exporter_upstream_up 0');
  await startDaemon();
  const vm = await children.busy();
  await register('tenant.web', vm.pid!);
  const text = await scrapeUntil((t) => t.includes('vmm_stats_vm_cpu_user_seconds_total{vm="tenant.web"}'), 'the VM');
  expect(text).toContain('vmm_stats_exporter_upstream_up 1');
});

it('survives the daemon restarting, and resumes', async () => {
  await stopDaemon();
  await scrapeUntil((t) => t.includes('vmm_stats_exporter_upstream_up 0'), 'the exporter to notice');
  await startDaemon();
  const vm = await children.busy();
  await register('tenant.db', vm.pid!);
  const text = await scrapeUntil((t) => t.includes('{vm="tenant.db"}'), 'the VM after the restart');
  expect(text).toContain('vmm_stats_exporter_upstream_up 1');
});

it("drops a VM's series once it has sent nothing for a few intervals", async () => {
  const client = await StatsClient.connect(socketPath);
  expect((await client.request({ kind: 'stats.remove', name: ['tenant', 'db'] })).kind).toBe('success');
  client.close();
  // tenant.web was registered with the daemon that was stopped: it is gone too.
  const text = await scrapeUntil((t) => !t.includes('{vm="tenant.db"}'), 'the removed VM to go');
  expect(text).not.toContain('{vm="tenant.web"}');
  expect(text).toContain('vmm_stats_vms 0');
});

it("makes one round of its overview per tick of the daemon's, from the burst of Data frames the tick sends", async () => {
  const overview = async () => (await fetch(`http://127.0.0.1:${server.address.port}/api/overview`)).json() as Promise<{
    round: number; vms: { name: string; cpu: number | null }[];
  }>;
  const names = ['burst.a', 'burst.b', 'burst.c'];
  for (const name of names) await register(name, (await children.busy()).pid!);
  const first = await eventually(async () => {
    const answer = await overview();
    return names.every((name) => (answer.vms.find((vm) => vm.name === name)?.cpu ?? 0) > 0) ? answer : undefined;
  }, 15_000, 'the VMs to show CPU in the overview');
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const rounds = (await overview()).round - first.round;
  const ticks = (Date.now() - started) / 200; // the daemon's --interval 0.2
  // A round per frame would be three per tick; a tick's frames arrive within milliseconds of each other.
  expect(rounds).toBeGreaterThan(ticks * 0.6);
  expect(rounds).toBeLessThan(ticks * 1.4);
});
