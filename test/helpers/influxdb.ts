// A real InfluxDB 1.x server for tests (Debian's influxd): its own config, meta, data and WAL directories in a
// temporary directory; HTTP on a free loopback port, its RPC listener on another; reporting, its own
// monitoring and every other listener off. It can be stopped and started again on the same port and data.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool, freePort, waitFor } from './prometheus.js';

/** Why InfluxDB tests cannot run here, printed once; undefined when they can. */
export function influxdbMissing(what: string): string | undefined {
  if (findTool('influxd') !== undefined) return undefined;
  const reason = "no 'influxd' on PATH (Debian package influxdb)";
  console.warn(`skipping ${what}: ${reason}`);
  return reason;
}

/** One series of an InfluxQL result: its tags (with GROUP BY) and rows, by column name. */
export interface QuerySeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

function config(dir: string, httpPort: number, rpcPort: number): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  pprof-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[subscriber]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
`;
}

export class InfluxDbServer {
  readonly dir: string;
  readonly port: number;
  readonly #configPath: string;
  #process: ChildProcess | undefined;
  #log = '';

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    this.#configPath = join(dir, 'influxdb.conf');
  }

  static async start(): Promise<InfluxDbServer> {
    const dir = await mkdtemp(join(tmpdir(), 'vmm-stats-influxdb-'));
    const server = new InfluxDbServer(dir, await freePort());
    await writeFile(server.#configPath, config(dir, server.port, await freePort()));
    await server.resume();
    return server;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts influxd (again), resolving once it answers /ping. */
  async resume(): Promise<void> {
    const child = spawn(findTool('influxd')!, ['-config', this.#configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#process = child;
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.#log += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.#log += text));
    await waitFor('influxd to answer /ping', async () => {
      if (child.exitCode !== null) throw new Error(`influxd exited with ${child.exitCode}: ${this.#log}`);
      const response = await fetch(`${this.baseUrl}/ping`);
      return response.status === 204 ? true : undefined;
    });
  }

  /** Stops influxd, keeping its data for resume(). */
  async pause(): Promise<void> {
    const child = this.#process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  async stop(): Promise<void> {
    await this.pause();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Runs InfluxQL; rejects on an HTTP or query error. */
  async query(q: string, db?: string): Promise<QuerySeries[]> {
    const params = new URLSearchParams({ q, epoch: 'ms', ...(db === undefined ? {} : { db }) });
    const response = await fetch(`${this.baseUrl}/query`, { method: 'POST', body: params });
    const body = (await response.json()) as { error?: string; results?: { error?: string; series?: QuerySeries[] }[] };
    const error = body.error ?? body.results?.find((result) => result.error !== undefined)?.error;
    if (!response.ok || error !== undefined) throw new Error(`InfluxQL ${q}: HTTP ${response.status} ${error ?? ''}`);
    return body.results?.[0]?.series ?? [];
  }

  /** The rows of the first series a query returns, each as an object by column name. */
  async rows(q: string, db: string): Promise<Record<string, unknown>[]> {
    const [series] = await this.query(q, db);
    return (series?.values ?? []).map((row) => Object.fromEntries(series!.columns.map((column, i) => [column, row[i]])));
  }
}
