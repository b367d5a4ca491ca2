import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, parseListenAddress, startMetricsServer, type MetricsServer,
  type MetricsSource,
} from '../../src/metrics/server.js';
import { capturingLogger, ifdata, SELF, vm, renderMetrics } from './fixtures.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function fetchRaw(
  server: MetricsServer,
  path: string,
  options: { method?: string; headers?: Record<string, string>; agent?: Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.address.port, path, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes and returns whatever the server answers before it closes the connection. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

const VMS = [vm('tenant.web', [ifdata('tap0')], [['exits', 3n]]), vm('ünï"🙂')];
const source: MetricsSource = { snapshot: () => ({ vms: VMS, self: SELF }) };

/** The exposition without the scrape-duration family, which changes from one scrape to the next. */
function withoutScrapeDuration(text: string): string {
  return text.split('\n').filter((l) => !l.includes('vmm_stats_scrape_duration_seconds')).join('\n');
}

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:9100', { host: '127.0.0.1', port: 9100 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:9947', { host: '::1', port: 9947 }],
    ['[::]:80', { host: '::', port: 80 }],
    [':9100', { host: '0.0.0.0', port: 9100 }],
    ['metrics.example', { host: 'metrics.example', port: DEFAULT_METRICS_PORT }],
    ['[fe80::1%eth0]', { host: 'fe80::1%eth0', port: DEFAULT_METRICS_PORT }],
  ])('reads %j', (text, address) => {
    expect(parseListenAddress(text)).toEqual(address);
  });

  it.each(['', ':', 'host:', 'host:port', 'host:65536', '::1:9100', '[::1', 'a:1:2', 'host:-1'])('refuses %j', (text) => {
    expect(() => parseListenAddress(text)).toThrow(`expected HOST:PORT, [IPV6]:PORT or :PORT, not ${JSON.stringify(text)}`);
  });

  it('defaults to loopback', () => {
    expect(DEFAULT_METRICS_HOST).toBe('127.0.0.1');
  });
});

describe('startMetricsServer', () => {
  const { logger, records } = capturingLogger();
  let server: MetricsServer;

  beforeAll(async () => {
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger });
  });
  afterAll(() => server.close());

  it('documents a default port in the exporters range', () => {
    expect(DEFAULT_METRICS_PORT).toBeGreaterThanOrEqual(9100);
    expect(DEFAULT_METRICS_PORT).toBeLessThanOrEqual(9999);
  });

  it('listens on the port it reports, and logs the address at info', () => {
    expect(server.address.host).toBe('127.0.0.1');
    expect(server.address.port).toBeGreaterThan(0);
    const line = records.find((r) => r.msg === 'serving metrics');
    expect(line).toMatchObject({
      level: 30, host: '127.0.0.1', port: server.address.port,
      url: `http://127.0.0.1:${server.address.port}/metrics`,
    });
  });

  it('serves the Prometheus text format by default', async () => {
    const reply = await fetchRaw(server, '/metrics');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(reply.headers['content-encoding']).toBeUndefined();
    expect(Number(reply.headers['content-length'])).toBe(reply.body.length);
    expect(withoutScrapeDuration(reply.body.toString()))
      .toBe(withoutScrapeDuration(renderMetrics(VMS, SELF, 'prometheus', 1)));
  });

  it('serves OpenMetrics when the scraper asks for it, and ignores a query string', async () => {
    const reply = await fetchRaw(server, '/metrics?debug=1', {
      headers: { Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(reply.headers.vary).toBe('Accept, Accept-Encoding');
    const body = reply.body.toString();
    expect(body).toContain('vmm_stats_vm_cpu_user_seconds_total{vm="ünï\\"🙂"} 12.500000\n');
    expect(body.endsWith('# EOF\n')).toBe(true);
  });

  it('reports the previous scrape duration from the second scrape on', async () => {
    const reply = await fetchRaw(server, '/metrics');
    expect(reply.body.toString()).toMatch(/^vmm_stats_scrape_duration_seconds \d+(\.\d+)?(e-\d+)?$/m);
  });

  it('compresses with gzip when asked', async () => {
    const reply = await fetchRaw(server, '/metrics', { headers: { 'Accept-Encoding': 'gzip, deflate' } });
    expect(reply.headers['content-encoding']).toBe('gzip');
    expect(Number(reply.headers['content-length'])).toBe(reply.body.length);
    expect(withoutScrapeDuration(gunzipSync(reply.body).toString()))
      .toBe(withoutScrapeDuration(renderMetrics(VMS, SELF, 'prometheus', 1)));
    const refused = await fetchRaw(server, '/metrics', { headers: { 'Accept-Encoding': 'gzip;q=0' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
  });

  it('renders each gzip scrape right while it reuses the memory of the one before', async () => {
    for (const format of ['prometheus', 'openmetrics', 'prometheus'] as const) {
      const accept = format === 'openmetrics' ? 'application/openmetrics-text;version=1.0.0' : 'text/plain';
      const reply = await fetchRaw(server, '/metrics', { headers: { 'Accept-Encoding': 'gzip', Accept: accept } });
      expect(withoutScrapeDuration(gunzipSync(reply.body).toString()))
        .toBe(withoutScrapeDuration(renderMetrics(VMS, SELF, format, 1)));
    }
  });

  it('answers HEAD with the headers only', async () => {
    const reply = await fetchRaw(server, '/metrics', { method: 'HEAD' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(Number(reply.headers['content-length'])).toBeGreaterThan(1000);
    expect(reply.body.length).toBe(0);
  });

  it('serves a page at / that links /metrics', async () => {
    const reply = await fetchRaw(server, '/');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(reply.body.toString()).toContain('<a href="metrics">'); // relative, so that it works behind a proxy's prefix too
  });

  it.each(['/metric', '/metrics/', '/favicon.ico', '/../metrics', '/%zz', '*'])('answers 404 for %j', async (path) => {
    const reply = await fetchRaw(server, path);
    expect(reply.status).toBe(404);
  });

  it.each(['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'])('answers 405 to %s, naming the allowed methods', async (m) => {
    const reply = await fetchRaw(server, '/metrics', { method: m });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD');
  });

  it('answers garbage with 400 and keeps serving', async () => {
    expect(await rawExchange(server.address.port, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    const hugeHeader = `GET /metrics HTTP/1.1\r\nHost: x\r\nX: ${'y'.repeat(20_000)}\r\n\r\n`;
    expect(await rawExchange(server.address.port, hugeHeader)).toMatch(/^HTTP\/1\.1 431 /);
    expect((await fetchRaw(server, '/metrics')).status).toBe(200);
  });
});

describe('startMetricsServer failures', () => {
  it('answers 500 when the source throws, logs it, and serves again once the source recovers', async () => {
    const { logger, records } = capturingLogger();
    let broken = true;
    const flaky: MetricsSource = {
      snapshot: () => {
        if (broken) throw new Error('collector exploded');
        return source.snapshot();
      },
    };
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, source: flaky, logger });
    try {
      const failed = await fetchRaw(server, '/metrics', { headers: { 'Accept-Encoding': 'gzip' } });
      expect(failed.status).toBe(500);
      expect(failed.headers['content-encoding']).toBeUndefined();
      expect(records.find((r) => r.level === 50)).toMatchObject({
        msg: 'metrics request failed', err: { message: 'collector exploded' },
      });
      broken = false;
      expect((await fetchRaw(server, '/metrics')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('rejects when the port is taken', async () => {
    const { logger } = capturingLogger();
    const first = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger });
    try {
      await expect(startMetricsServer({ host: '127.0.0.1', port: first.address.port, source, logger }))
        .rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await first.close();
    }
  });

  it('closes while a scraper holds a keep-alive connection open', async () => {
    const { logger } = capturingLogger();
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger });
    const agent = new Agent({ keepAlive: true });
    try {
      expect((await fetchRaw(server, '/metrics', { agent })).headers.connection).toBe('keep-alive');
      await server.close();
      await expect(fetchRaw(server, '/metrics')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      agent.destroy();
    }
  });

  it('serves on IPv6 loopback and logs a bracketed URL', async () => {
    const { logger, records } = capturingLogger();
    const server = await startMetricsServer({ host: '::1', port: 0, source, logger }).catch(() => undefined);
    if (!server) {
      console.warn('skipping the IPv6 check: cannot listen on ::1 here');
      return;
    }
    try {
      expect(server.address.host).toBe('::1');
      expect(records.find((r) => r.msg === 'serving metrics')?.url).toBe(`http://[::1]:${server.address.port}/metrics`);
    } finally {
      await server.close();
    }
  });
});

describe('startMetricsServer, an exposition of many chunks', () => {
  const many = Array.from({ length: 4000 }, (_, i) => vm(`tenant.vm${i}`, [ifdata(`tap${i}`), ifdata(`tap${i}b`)], [['exits', BigInt(i)]]));
  let snapshots = 0;
  let released = 0;
  const counted: MetricsSource = {
    snapshot: () => {
      snapshots++;
      return { vms: many, self: SELF, done: () => released++ };
    },
  };
  const { logger, records } = capturingLogger();
  let server: MetricsServer;

  beforeAll(async () => {
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, source: counted, logger });
  });
  afterAll(() => server.close());

  it('streams it, plain or through gzip, without a length, and the bytes are the whole exposition', async () => {
    const expected = withoutScrapeDuration(renderMetrics(many, SELF, 'prometheus', 1));
    expect(Buffer.byteLength(expected)).toBeGreaterThan(4 * 1024 * 1024);
    const plain = await fetchRaw(server, '/metrics');
    const compressed = await fetchRaw(server, '/metrics', { headers: { 'Accept-Encoding': 'gzip' } });
    for (const reply of [plain, compressed]) {
      expect(reply.status).toBe(200);
      expect(reply.headers['transfer-encoding']).toBe('chunked');
      expect(reply.headers['content-length']).toBeUndefined();
    }
    expect(compressed.headers['content-encoding']).toBe('gzip');
    expect(withoutScrapeDuration(plain.body.toString())).toBe(expected);
    expect(withoutScrapeDuration(gunzipSync(compressed.body).toString())).toBe(expected);
    expect(released).toBe(snapshots);
  });

  it('stops rendering for a scraper that went away, releases its snapshot, and serves the next', async () => {
    const before = released;
    await new Promise<void>((resolve, reject) => {
      // The scraper reads the headers and leaves while the body is still being made.
      const req = request({ host: '127.0.0.1', port: server.address.port, path: '/metrics' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    await expect.poll(() => records.some((r) => r.msg === 'metrics scrape abandoned by the scraper'), { timeout: 5000 }).toBe(true);
    const abandoned = records.find((r) => r.msg === 'metrics scrape abandoned by the scraper')!;
    expect(abandoned.bytesSent).toBeLessThan(Buffer.byteLength(renderMetrics(many, SELF, 'prometheus', 1)) / 2);
    expect(released).toBe(before + 1);
    const next = await fetchRaw(server, '/metrics', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gunzipSync(next.body).toString()).toContain('vmm_stats_tap_from_vm_bytes_total{vm="tenant.vm3999",interface="tap3999b"}');
  });
});
