// The endpoint's overview routes over real HTTP: the page and its headers, /api/overview fed by the
// source's rounds (not by requests), its errors, and the listener let go on close.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { hashSync } from 'bcryptjs';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMetricsServer, type MetricsServer, type MetricsSource } from '../../src/metrics/server.js';
import { WebConfigFile } from '../../src/metrics/web-config-file.js';
import type { VmSnapshot } from '../../src/metrics/exposition.js';
import { capturingLogger, SELF, stats } from './fixtures.js';

/** A source whose rounds the test makes: `tick` changes the VM's CPU time and tells the listeners. */
class TickingSource implements MetricsSource {
  readonly listeners = new Set<() => void>();
  cpuSeconds = 0n;
  #vms: VmSnapshot[] = [];
  snapshots = 0;
  /** Snapshots handed back: each must be, or the daemon's would hold its tick's rows for ever. */
  done = 0;

  snapshot() {
    this.snapshots += 1;
    return { vms: this.#vms, self: SELF, done: () => void (this.done += 1) };
  }

  onSamples(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  tick(): void {
    this.cpuSeconds += 1n;
    this.#vms = [{ name: 'tenant.web', stats: stats([], [], { utime: { sec: this.cpuSeconds, usec: 0 } }) }];
    for (const listener of this.listeners) listener();
  }
}

const source = new TickingSource();
let server: MetricsServer;
let base: string;

beforeAll(async () => {
  server = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger: capturingLogger().logger });
  base = `http://127.0.0.1:${server.address.port}`;
});

afterAll(async () => {
  await server.close();
});

/** A GET with node's own client, which (unlike fetch) leaves a gzipped body as it came. */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

describe('GET /', () => {
  it('is the overview page, allowed to run its own script and style only', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = page.body.toString();
    expect(html).toContain('api/overview');
    expect(html).not.toMatch(/<(?:script|link|img)[^>]+(?:src|href)="(?!data:)/); // nothing loaded from elsewhere
    const policy = String(page.headers['content-security-policy']);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'/);
    expect(policy).not.toContain('unsafe-inline');
  });
});

describe('GET /api/overview', () => {
  it('holds a round per tick of the source, whatever the requests', async () => {
    source.tick();
    source.tick();
    const before = source.snapshots;
    for (let i = 0; i < 3; i++) await get('/api/overview');
    expect(source.snapshots).toBe(before);
    expect(source.done).toBe(source.snapshots);
    const overview = JSON.parse((await get('/api/overview?since=0')).body.toString());
    expect(overview).toMatchObject({ round: 2, from: 1, vms: [{ name: 'tenant.web', history: { cpu: [null, expect.any(Number)] } }] });
    expect(overview.vms[0].cpu).toBeGreaterThan(0);
    source.tick();
    const next = JSON.parse((await get(`/api/overview?since=${overview.round}`)).body.toString());
    expect(next).toMatchObject({ round: 3, from: 3, times: [expect.any(Number)], vms: [{ history: { cpu: [expect.any(Number)] } }] });
  });

  it('is compressed for a client that takes gzip, and never cached', async () => {
    const answer = await get('/api/overview', { 'accept-encoding': 'gzip' });
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(gunzipSync(answer.body).toString())).toMatchObject({ points: expect.any(Number) });
  });

  it('refuses a since that is not a round, saying so', async () => {
    const answer = await get('/api/overview?since=%3Cscript%3E');
    expect(answer.status).toBe(400);
    expect(answer.body.toString()).toBe('since takes the round of an earlier answer, a whole number, not "<script>"\n');
    expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('takes GET and HEAD only', async () => {
    const answer = await fetch(`${base}/api/overview`, { method: 'POST' });
    expect(answer.status).toBe(405);
    expect((await fetch(`${base}/api/overview`, { method: 'HEAD' })).status).toBe(200);
  });
});

it('logs a round it could not record and goes on; lets go of the source once closed', async () => {
  const other = new TickingSource();
  const { logger, records } = capturingLogger();
  const closing = await startMetricsServer({ host: '127.0.0.1', port: 0, source: other, logger });
  other.snapshot = () => {
    throw new Error('no snapshot now');
  };
  other.tick();
  expect(records.find((r) => r.msg === "could not record the overview's history")).toMatchObject({ err: { message: 'no snapshot now' } });
  expect((await fetch(`http://127.0.0.1:${closing.address.port}/api/overview`)).status).toBe(200);
  expect(other.listeners.size).toBe(1);
  await closing.close();
  expect(other.listeners.size).toBe(0);
});

it('is behind the basic auth of a web config, as /metrics is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-overview-auth-'));
  const configPath = join(dir, 'web.yml');
  writeFileSync(configPath, stringify({ basic_auth_users: { alice: hashSync('correct horse', 4) } }));
  const { logger } = capturingLogger();
  const guarded = await startMetricsServer({
    host: '127.0.0.1', port: 0, source: new TickingSource(), logger, web: { configFile: WebConfigFile.open(configPath, logger), maxRequests: 40 },
  });
  try {
    const url = (path: string) => `http://127.0.0.1:${guarded.address.port}${path}`;
    const alice = { authorization: `Basic ${Buffer.from('alice:correct horse').toString('base64')}` };
    for (const path of ['/', '/api/overview', '/metrics']) {
      expect((await fetch(url(path))).status).toBe(401);
      expect((await fetch(url(path), { headers: alice })).status).toBe(200);
    }
  } finally {
    await guarded.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
