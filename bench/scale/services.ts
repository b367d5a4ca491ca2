// The long-running processes under measurement: our daemon and the two peer exporters, each a child of
// the harness on a free loopback port, stopped by the cleanup.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StatsClient } from '../../src/client/client.js';
import type { Cleanup } from './cleanup.js';
import { MARKER, STAND_IN_ARGV0 } from './fleet.js';
import { Scraper } from './scrape.js';

const VMM_STATS_BIN = fileURLToPath(new URL('../../bin/vmm-stats', import.meta.url));

/** The node flags on the command's `#!/usr/bin/env -S node ...` line: how the installed daemon runs. */
function shebangFlags(path: string): string[] {
  const first = readFileSync(path, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\S*env -S node\b(.*)$/.exec(first);
  return match ? match[1]!.trim().split(/\s+/).filter(Boolean) : [];
}
const STOP_GRACE_MS = 10_000;

export interface Service {
  name: string;
  pid: number;
  scraper: Scraper;
  logPath: string;
  /** SIGTERM, and SIGKILL if it has not exited after a grace period. */
  stop(): Promise<void>;
}

export interface DaemonService extends Service {
  socketPath: string;
  /** Where `--cpu-prof` writes, when profiling. */
  profileDir: string | undefined;
}

export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Polls `ready` until it resolves true; fails with the log's tail when the process exits or time runs out. */
async function waitUntilReady(child: ChildProcess, what: string, logPath: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tail = readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n');
  throw new Error(`${what} did not come up (exit ${child.exitCode ?? child.signalCode ?? 'none'}); its log:\n${tail}`);
}

export async function startService(
  spec: { name: string; command: string; args: string[]; port: number; dir: string },
  cleanup: Cleanup,
  ready?: () => Promise<boolean>,
): Promise<Service> {
  const logPath = join(spec.dir, `${spec.name}.log`);
  const log = openSync(logPath, 'a');
  const child = spawn(spec.command, spec.args, { stdio: ['ignore', log, log] });
  closeSync(log);
  await once(child, 'spawn');
  cleanup.defer(`stopping ${spec.name}`, () => stop(child));
  const scraper = new Scraper(`http://127.0.0.1:${spec.port}/metrics`);
  cleanup.defer(`closing the scraper of ${spec.name}`, () => scraper.close());
  const answers = async () => (await scraper.scrape(), true);
  await waitUntilReady(child, spec.name, logPath, async () => (await (ready?.() ?? true)) && answers());
  return { name: spec.name, pid: child.pid!, scraper, logPath, stop: () => stop(child) };
}


export async function startDaemon(
  dir: string,
  node: { profile: boolean; options: string[] },
  cleanup: Cleanup,
  /** More daemon flags, after the harness's own (a later flag wins). */
  flags: string[] = [],
): Promise<DaemonService> {
  const port = await freeLoopbackPort();
  const socketPath = join(dir, 'stats.sock');
  const profileDir = node.profile ? join(dir, 'profile') : undefined;
  const nodeFlags = [
    ...shebangFlags(VMM_STATS_BIN),
    ...node.options,
    ...(profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir]),
  ];
  const args = [...nodeFlags, VMM_STATS_BIN, 'daemon', '--socket', socketPath, '--interval', '1', '--state-file', join(dir, 'registrations.json'),
    '--metrics', `127.0.0.1:${port}`, '--log-level', 'warn', ...flags];
  const socketAnswers = async () => {
    const client = await StatsClient.connect(socketPath);
    client.close();
    return true;
  };
  const service = await startService({ name: 'vmm-stats', command: process.execPath, args, port, dir }, cleanup, socketAnswers);
  return { ...service, socketPath, profileDir };
}

/**
 * process-exporter as the issue sets it up: one group per stand-in (`{{.Comm}}-{{.PID}}`), matched by
 * their argv[0]; otherwise Debian's defaults (per-thread metrics and smaps on, as shipped).
 */
export async function startProcessExporter(dir: string, cleanup: Cleanup): Promise<Service> {
  const port = await freeLoopbackPort();
  const configPath = join(dir, 'process-exporter.yml');
  writeFileSync(configPath, [
    'process_names:',
    '  - name: "{{.Comm}}-{{.PID}}"',
    '    cmdline:',
    `      - '^${STAND_IN_ARGV0}\\b'`,
    '',
  ].join('\n'));
  const args = ['-config.path', configPath, '-web.listen-address', `127.0.0.1:${port}`];
  return startService({ name: 'process-exporter', command: 'prometheus-process-exporter', args, port, dir }, cleanup);
}

/** node_exporter with its netdev collector alone, reporting our taps only (the filter names MARKER). */
export async function startNodeExporter(dir: string, cleanup: Cleanup): Promise<Service> {
  const port = await freeLoopbackPort();
  const args = ['--collector.disable-defaults', '--collector.netdev', `--collector.netdev.device-include=^${MARKER}`, '--collector.netdev.device-exclude=',
    `--web.listen-address=127.0.0.1:${port}`];
  return startService({ name: 'node-exporter', command: 'prometheus-node-exporter', args, port, dir }, cleanup);
}
