// A real Prometheus server for tests: its own config and storage in a temporary directory, on a free
// loopback port (or inside a network namespace of the test's, on its loopback), scraping one target every
// second, and evaluating the rules it is given every second.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { NetworkNamespace } from './netns.js';

/** The full path of an executable on PATH, or undefined. */
export function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface ScrapeTarget {
  health: string;
  lastError: string;
  scrapeUrl: string;
}

export interface MetricMetadata {
  type: string;
  help: string;
  unit: string;
}

export interface PrometheusServer {
  url: string;
  /** Instant query; a range selector (`metric[30s]`) yields RangeSeries. */
  query<T = InstantSample>(promql: string): Promise<T[]>;
  targets(): Promise<ScrapeTarget[]>;
  metadata(metric: string): Promise<MetricMetadata[]>;
  /** The `data` of any other GET of the HTTP API, such as `/api/v1/rules`. */
  get<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export const SCRAPE_JOB = 'vmm-stats';

function config(target: string, ruleFile: string | undefined, scrape: string[]): string {
  return [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    ...(ruleFile === undefined ? [] : ['rule_files:', `  - '${ruleFile}'`]),
    'scrape_configs:',
    `  - job_name: ${SCRAPE_JOB}`,
    ...scrape.map((line) => `    ${line}`),
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n');
}

/** An HTTP GET's body; rejects unless the status is 2xx. */
type Get = (url: string) => Promise<string>;

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

async function apiGet<T>(get: Get, base: string, path: string): Promise<T> {
  const body = JSON.parse(await get(`${base}${path}`)) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? body.status}`);
  return body.data;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `prometheus` scraping `target` (host:port) every second, evaluating `rules` (the text of a rule
 * file, copied into Prometheus' own directory) when given; resolves once it reports ready. In `netns`, it
 * and everything asked of it stay inside that namespace. `scrape`: more lines of the scrape job's config
 * (`scheme: https`, `basic_auth:` ...), as YAML at the job's level.
 */
export async function startPrometheus(
  binary: string,
  target: string,
  { netns, rules, scrape = [] }: { netns?: NetworkNamespace; rules?: string; scrape?: string[] } = {},
): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'vmm-stats-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  let ruleFile: string | undefined;
  if (rules !== undefined) {
    ruleFile = join(dir, 'rules.yml');
    await writeFile(ruleFile, rules);
  }
  await writeFile(configFile, config(target, ruleFile, scrape));
  // Nothing else listens in a namespace of the test's own.
  const port = netns === undefined ? await freePort() : 9090;
  const url = `http://127.0.0.1:${port}`;
  const args = [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`];
  const stdio: ['ignore', 'ignore', 'pipe'] = ['ignore', 'ignore', 'pipe'];
  const child = netns === undefined ? spawn(binary, args, { stdio }) : netns.spawn(binary, args, { stdio });
  const get: Get = netns === undefined ? fetchText : (address) => netns.get(address);
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000); // the tail, for the error message if it fails
  });
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited(child);
    clearTimeout(killer);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('Prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
      return (await get(`${url}/-/ready`), true);
    }, 30_000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return {
    url,
    query: async <T>(promql: string) =>
      (await apiGet<{ result: T[] }>(get, url, `/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    targets: async () => (await apiGet<{ activeTargets: ScrapeTarget[] }>(get, url, '/api/v1/targets')).activeTargets,
    metadata: async (metric) =>
      (await apiGet<Record<string, MetricMetadata[]>>(get, url, `/api/v1/metadata?metric=${encodeURIComponent(metric)}`))[
        metric] ?? [],
    get: (path) => apiGet(get, url, path),
    stop,
  };
}
