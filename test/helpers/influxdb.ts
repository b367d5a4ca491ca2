// A real InfluxDB 1.x server for tests (Debian's influxd): its own config, meta, data and WAL directories in a
// temporary directory; HTTP on a free loopback port (HTTPS with a certificate made by openssl, if asked),
// its RPC listener on another; reporting, its own monitoring and every other listener off. It can be
// stopped and started again on the same port and data.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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

/** A self-signed certificate for localhost and 127.0.0.1, and its key, made with openssl in `dir`. */
function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

function config(dir: string, httpPort: number, rpcPort: number, tls: { cert: string; key: string } | undefined): string {
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
  https-enabled = ${tls !== undefined}
  https-certificate = "${tls?.cert ?? ''}"
  https-private-key = "${tls?.key ?? ''}"
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
  /** With HTTPS: the certificate's file, for a client to trust. */
  readonly certificate: string | undefined;
  readonly #configPath: string;
  #process: ChildProcess | undefined;
  #log = '';

  private constructor(dir: string, port: number, certificate: string | undefined) {
    this.dir = dir;
    this.port = port;
    this.certificate = certificate;
    this.#configPath = join(dir, 'influxdb.conf');
  }

  /** Starts influxd; with `https`, its API is HTTPS only, on a certificate for localhost. */
  static async start({ https = false } = {}): Promise<InfluxDbServer> {
    const dir = await mkdtemp(join(tmpdir(), 'vmm-stats-influxdb-'));
    const tls = https ? makeCertificate(dir) : undefined;
    const server = new InfluxDbServer(dir, await freePort(), tls?.cert);
    await writeFile(server.#configPath, config(dir, server.port, await freePort(), tls));
    await server.resume();
    return server;
  }

  get baseUrl(): string {
    return this.certificate === undefined ? `http://127.0.0.1:${this.port}` : `https://localhost:${this.port}`;
  }

  /** A request to the API, trusting the server's own certificate: the status and body. */
  request(method: 'GET' | 'POST', path: string, body?: string, contentType = 'text/plain'): Promise<{ status: number; body: string }> {
    const ca = this.certificate === undefined ? undefined : readFileSync(this.certificate);
    const send = this.certificate === undefined ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(`${this.baseUrl}${path}`, { method, ca, headers: { 'content-type': contentType } }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Starts influxd (again), resolving once it answers /ping. */
  async resume(): Promise<void> {
    const child = spawn(findTool('influxd')!, ['-config', this.#configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#process = child;
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.#log += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.#log += text));
    await waitFor('influxd to answer /ping', async () => {
      if (child.exitCode !== null) throw new Error(`influxd exited with ${child.exitCode}: ${this.#log}`);
      const response = await this.request('GET', '/ping');
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
    const response = await this.request('POST', '/query', params.toString(), 'application/x-www-form-urlencoded');
    const body = JSON.parse(response.body) as { error?: string; results?: { error?: string; series?: QuerySeries[] }[] };
    const error = body.error ?? body.results?.find((result) => result.error !== undefined)?.error;
    if (response.status !== 200 || error !== undefined) throw new Error(`InfluxQL ${q}: HTTP ${response.status} ${error ?? ''}`);
    return body.results?.[0]?.series ?? [];
  }

  /** The rows of the first series a query returns, each as an object by column name. */
  async rows(q: string, db: string): Promise<Record<string, unknown>[]> {
    const [series] = await this.query(q, db);
    return (series?.values ?? []).map((row) => Object.fromEntries(series!.columns.map((column, i) => [column, row[i]])));
  }
}
