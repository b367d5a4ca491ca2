// The metrics endpoint on a network, as curl finds it: TLS from a web config file (certificates made by
// openssl), client certificates under each policy, basic auth, extra headers, certificates replaced on
// disk, the bound on requests at once, and clients too slow to send a request.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startMetricsServer, type MetricsServer, type MetricsSource } from '../../src/metrics/server.js';
import { WebConfigFile } from '../../src/metrics/web-config-file.js';
import { HANDSHAKE_TIMEOUT_MS, HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../../src/metrics/web-server.js';
import { certificateAuthority, issue, openssl, type KeyPair } from '../helpers/certificates.js';
import { curl, curlBinary } from '../helpers/curl.js';
import { findTool, waitFor } from '../helpers/prometheus.js';
import { capturingLogger, ifdata, renderMetrics, SELF, vm, type LogRecord } from './fixtures.js';

const skipReason = !openssl ? 'openssl is not on PATH (Debian package "openssl")'
  : !curlBinary ? 'curl is not on PATH (Debian package "curl")' : undefined;
if (skipReason) console.warn(`skipping the TLS and auth tests: ${skipReason}`);

const htpasswd = findTool('htpasswd');
if (!htpasswd) console.warn('the basic auth tests hash with bcryptjs: htpasswd is not on PATH (Debian package "apache2-utils")');

/** The server's name in its certificate, which names no IP address: a client must ask for it by name. */
const SERVER_NAME = 'metrics.test';
const PASSWORD = 'correct horse';

const VMS = [vm('tenant.web', [ifdata('tap0')])];
const source: MetricsSource = { snapshot: () => ({ vms: VMS, self: SELF }) };

/** A bcrypt hash as operators make them: with htpasswd (the toolkit's documented way) where it is installed. */
function bcryptHash(password: string): string {
  if (!htpasswd) return hashSync(password, 10);
  const run = spawnSync(htpasswd, ['-nbBC', '10', '', password], { encoding: 'utf8' });
  return run.stdout.replace(/^:/, '').trim();
}

interface Pki {
  dir: string;
  ca: KeyPair;
  otherCa: KeyPair;
  server: KeyPair;
  /** A server certificate from otherCa, to rotate to. */
  nextServer: KeyPair;
  client: KeyPair;
  /** A client certificate from a CA the server does not trust. */
  stranger: KeyPair;
}

async function makePki(): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-web-'));
  const [ca, otherCa] = await Promise.all([certificateAuthority(dir, 'ca'), certificateAuthority(dir, 'other-ca')]);
  const san = { server: [`DNS:${SERVER_NAME}`] };
  const [server, nextServer, client, stranger] = await Promise.all([
    issue(dir, 'server', ca, san), issue(dir, 'next-server', otherCa, san), issue(dir, 'client', ca, 'client'),
    issue(dir, 'stranger', otherCa, 'client'),
  ]);
  return { dir, ca, otherCa, server, nextServer, client, stranger };
}

/** The endpoint's URL by the server's name, and curl's flags that resolve that name to loopback and trust `ca`. */
function tlsArgs(server: MetricsServer, ca: KeyPair, path = '/metrics'): string[] {
  const port = server.address.port;
  return ['--resolve', `${SERVER_NAME}:${port}:127.0.0.1`, '--cacert', ca.cert, `https://${SERVER_NAME}:${port}${path}`];
}

/** The exposition without the scrape-duration family, which changes from one scrape to the next. */
function withoutScrapeDuration(text: string): string {
  return text.split('\n').filter((line) => !line.includes('vmm_stats_scrape_duration_seconds')).join('\n');
}

function withCert(pair: KeyPair): string[] {
  return ['--cert', pair.cert, '--key', pair.key];
}

function reloadFailures(records: LogRecord[]): LogRecord[] {
  return records.filter((r) => r.msg === 'web config not reloaded; the one before stays in force');
}

describe.skipIf(skipReason !== undefined)('the metrics endpoint behind TLS and basic auth', () => {
  const { logger, records } = capturingLogger();
  let pki: Pki;
  let configPath: string;
  let server: MetricsServer;

  const writeConfig = (config: object) => writeFileSync(configPath, stringify(config));

  beforeAll(async () => {
    pki = await makePki();
    configPath = join(pki.dir, 'web.yml');
    copyFileSync(pki.server.cert, join(pki.dir, 'live.pem'));
    copyFileSync(pki.server.key, join(pki.dir, 'live.key'));
    // Relative paths, as an operator writes them: against the config file's directory.
    writeConfig({
      tls_server_config: { cert_file: 'live.pem', key_file: 'live.key' },
      basic_auth_users: { alice: bcryptHash(PASSWORD) },
      http_server_config: { headers: { 'X-Frame-Options': 'deny', 'Strict-Transport-Security': 'max-age=31536000' } },
    });
    const web = { configFile: WebConfigFile.open(configPath, logger), maxRequests: 40 };
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger, web });
  });
  afterAll(async () => {
    await server?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it('serves a client that trusts the CA and gives the password, with the configured headers', async () => {
    const reply = await curl(['-u', `alice:${PASSWORD}`, ...tlsArgs(server, pki.ca)]);
    expect(reply.exit).toBe(0);
    expect(reply.status).toBe(200);
    expect(reply.headers['x-frame-options']).toBe('deny');
    expect(reply.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(withoutScrapeDuration(reply.body)).toBe(withoutScrapeDuration(renderMetrics(VMS, SELF, 'prometheus')));
    expect(records.find((r) => r.msg === 'serving metrics')?.url).toBe(`https://127.0.0.1:${server.address.port}/metrics`);
  });

  it.each([
    ['a wrong password', ['-u', 'alice:wrong']],
    ['an unknown user', ['-u', `bob:${PASSWORD}`]],
    ['no password', []],
    ['a password that differs only in its last letter', ['-u', `alice:${PASSWORD.slice(0, -1)}x`]],
  ])('answers %s with 401 and WWW-Authenticate, on every path', async (_, auth) => {
    for (const path of ['/metrics', '/', '/nowhere']) {
      const reply = await curl([...auth, ...tlsArgs(server, pki.ca, path)]);
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toMatch(/^Basic realm="vmm-stats"/);
      expect(reply.headers['x-frame-options']).toBe('deny');
      expect(reply.body).not.toContain('vmm_stats_');
    }
  });

  it('lets no wrong password through once the right one is remembered', async () => {
    const statuses: (number | undefined)[] = [];
    for (const password of [PASSWORD, 'wrong', PASSWORD, '', `${PASSWORD} `, PASSWORD]) {
      statuses.push((await curl(['-u', `alice:${password}`, ...tlsArgs(server, pki.ca)])).status);
    }
    expect(statuses).toEqual([200, 401, 200, 401, 401, 200]);
  });

  it('fails the handshake of a client that does not trust the certificate', async () => {
    const reply = await curl(['-u', `alice:${PASSWORD}`, ...tlsArgs(server, pki.otherCa)]);
    expect(reply.exit).toBe(60); // the peer's certificate could not be verified
    expect(reply.status).toBeUndefined();
  });

  it('gives plain HTTP on the TLS port nothing usable', async () => {
    const reply = await curl(['-u', `alice:${PASSWORD}`, `http://127.0.0.1:${server.address.port}/metrics`]);
    expect(reply.exit).toBe(52); // an empty reply
    expect(reply.status).toBeUndefined();
    expect(reply.body).toBe('');
  });

  it('serves a certificate replaced on disk from the next connection; a broken one leaves the old in force, logged once', async () => {
    copyFileSync(pki.nextServer.cert, join(pki.dir, 'live.pem'));
    copyFileSync(pki.nextServer.key, join(pki.dir, 'live.key'));
    expect((await curl(['-u', `alice:${PASSWORD}`, ...tlsArgs(server, pki.otherCa)])).status).toBe(200);
    expect((await curl(['-u', `alice:${PASSWORD}`, ...tlsArgs(server, pki.ca)])).exit).toBe(60);
    expect(records.filter((r) => r.msg === 'web config reloaded')).toHaveLength(1);

    writeFileSync(join(pki.dir, 'live.pem'), '-----BEGIN CERTIFICATE-----\nhalf written\n');
    for (let i = 0; i < 3; i++) expect((await curl(['-u', `alice:${PASSWORD}`, ...tlsArgs(server, pki.otherCa)])).status).toBe(200);
    const [failure, ...more] = reloadFailures(records);
    expect(more).toHaveLength(0);
    expect(failure).toMatchObject({ level: 50, file: configPath });
    expect(failure?.reason).toContain(`tls_server_config.cert_file ${join(pki.dir, 'live.pem')}`);

    copyFileSync(pki.server.cert, join(pki.dir, 'live.pem'));
    copyFileSync(pki.server.key, join(pki.dir, 'live.key'));
    expect((await curl(['-u', `alice:${PASSWORD}`, ...tlsArgs(server, pki.ca)])).status).toBe(200);
  });

  it('keeps the config in force when a new version of the file has an unknown key, and takes a good one after', async () => {
    const before = reloadFailures(records).length;
    writeConfig({ tls_server_config: { cert_file: 'live.pem', key_file: 'live.key', cert_flie: 'typo' } });
    expect((await curl(['-u', `alice:${PASSWORD}`, ...tlsArgs(server, pki.ca)])).status).toBe(200);
    expect((await curl(tlsArgs(server, pki.ca))).status).toBe(401); // the users in force still are
    expect(reloadFailures(records).slice(before)).toMatchObject([{ reason: expect.stringContaining('unknown key tls_server_config.cert_flie') }]);

    writeConfig({ tls_server_config: { cert_file: 'live.pem', key_file: 'live.key' } });
    const open = await curl(tlsArgs(server, pki.ca));
    expect(open.status).toBe(200);
    expect(open.headers['x-frame-options']).toBeUndefined();
  });
});

describe.skipIf(skipReason !== undefined)('client certificates under each client_auth_type', () => {
  const { logger } = capturingLogger();
  let pki: Pki;
  let configPath: string;
  let server: MetricsServer;

  const policy = (clientAuth: string) => writeFileSync(configPath, stringify({
    tls_server_config: {
      cert_file: pki.server.cert, key_file: pki.server.key, client_auth_type: clientAuth, client_ca_file: pki.ca.cert,
    },
  }));
  /** The HTTP status each client gets: with the trusted CA's certificate, with none, with a stranger's. */
  const outcomes = async () => {
    const statuses = [];
    for (const cert of [withCert(pki.client), [], withCert(pki.stranger)]) statuses.push((await curl([...cert, ...tlsArgs(server, pki.ca)])).status);
    return statuses;
  };

  beforeAll(async () => {
    pki = await makePki();
    configPath = join(pki.dir, 'web.yml');
    policy('RequireAndVerifyClientCert');
    const web = { configFile: WebConfigFile.open(configPath, logger), maxRequests: 40 };
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger, web });
  });
  afterAll(async () => {
    await server?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it('RequireAndVerifyClientCert: fails the handshake of a client without a certificate, and of one the CA did not sign', async () => {
    const without = await curl(tlsArgs(server, pki.ca));
    expect(without.status).toBeUndefined();
    expect([35, 56]).toContain(without.exit); // an alert in the handshake (TLS 1.2) or right after it (1.3)
    expect(without.stderr).toMatch(/alert|certificate required/i);
    expect(await outcomes()).toEqual([200, undefined, undefined]);
  });

  it.each([
    ['VerifyClientCertIfGiven', [200, 200, undefined]],
    ['RequireAnyClientCert', [200, undefined, 200]],
    ['RequestClientCert', [200, 200, 200]],
    ['RequireAndVerifyClientCert', [200, undefined, undefined]],
  ])('%s, switched to in the file, applies from the next connection', async (clientAuth, expected) => {
    policy(clientAuth);
    expect(await outcomes()).toEqual(expected);
  });
});

describe.skipIf(skipReason !== undefined)('the bound on requests at once', () => {
  const { logger } = capturingLogger();
  const slow: ChildProcess[] = [];
  let server: MetricsServer;
  // A body well past what the sockets' buffers hold, so that a client reading it slowly keeps its request open.
  const perVm = renderMetrics([vm('tenant.web', [ifdata('tap0')])], SELF, 'prometheus').length;
  const many = Array.from({ length: Math.ceil((24 << 20) / perVm) }, (_, i) => vm(`tenant.vm${i}`, [ifdata('tap0')]));

  beforeAll(async () => {
    server = await startMetricsServer({
      host: '127.0.0.1', port: 0, logger, source: { snapshot: () => ({ vms: many, self: SELF }) },
      web: { configFile: undefined, maxRequests: 2 },
    });
  });
  afterAll(async () => {
    for (const child of slow) child.kill('SIGKILL');
    await server?.close();
  });

  it('answers 503 past --web-max-requests while scrapes are being sent, and serves again once they are done', async () => {
    const url = `http://127.0.0.1:${server.address.port}/metrics`;
    const bodies = mkdtempSync(join(tmpdir(), 'vmm-stats-web-slow-'));
    try {
      for (let i = 0; i < 2; i++) {
        slow.push(spawn(curlBinary!, ['-sS', '-o', join(bodies, `body${i}`), '--limit-rate', '10k', url], { stdio: 'ignore' }));
      }
      // Both slow scrapes hold their slot (their bodies are arriving) before anything else asks: a probe
      // that came first would take one of the two slots and get one of them refused.
      await waitFor('both slow scrapes under way', async () =>
        [0, 1].every((i) => existsSync(join(bodies, `body${i}`)) && statSync(join(bodies, `body${i}`)).size > 0) ? true : undefined);
      await expectRefusedThenServed(url);
    } finally {
      rmSync(bodies, { recursive: true, force: true });
    }
  }, 60_000);

  async function expectRefusedThenServed(url: string): Promise<void> {
    const refused = await waitFor('a request past the bound', async () => {
      const reply = await curl(['--head', url]);
      return reply.status === 503 ? reply : undefined;
    });
    expect(refused.headers['content-type']).toBe('text/plain; charset=utf-8');
    const again = await curl(['--head', url]);
    expect(again.status).toBe(503);
    for (const child of slow) child.kill('SIGKILL');
    const served = await waitFor('a request once the slow ones are gone', async () => {
      const reply = await curl(['--head', url]);
      return reply.status === 200 ? reply : undefined;
    });
    expect(served.status).toBe(200);
  }
});

/**
 * Connects, sends `head` at once and then `trickled` a byte a second; resolves when the server closes the
 * connection, with what it answered, how many bytes of `trickled` had gone, and after how many seconds.
 */
function trickle(port: number, head: string, trickled: string): Promise<{ answer: string; sent: number; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let answer = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < trickled.length && !socket.destroyed) socket.write(trickled[sent++]!);
    }, 1000);
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ answer, sent, seconds: (Date.now() - started) / 1000 });
    });
    socket.on('error', reject);
  });
}

describe('clients too slow to send a request', () => {
  const { logger } = capturingLogger();
  let plain: MetricsServer;
  let tls: MetricsServer | undefined;
  let pki: Pki | undefined;

  beforeAll(async () => {
    plain = await startMetricsServer({ host: '127.0.0.1', port: 0, source, logger });
    if (skipReason !== undefined) return;
    pki = await makePki();
    const configPath = join(pki.dir, 'web.yml');
    writeFileSync(configPath, stringify({ tls_server_config: { cert_file: pki.server.cert, key_file: pki.server.key } }));
    tls = await startMetricsServer({
      host: '127.0.0.1', port: 0, source, logger, web: { configFile: WebConfigFile.open(configPath, logger), maxRequests: 40 },
    });
  });
  afterAll(async () => {
    await Promise.all([plain?.close(), tls?.close()]);
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it('drops a client that sends its header or its body a byte a second, and one that never does its TLS handshake', async () => {
    const header = 'GET /metrics HTTP/1.1\r\nHost: metrics.test\r\nUser-Agent: a byte a second\r\n\r\n';
    const body = 'x'.repeat(100);
    const [slowHeader, slowBody, silentTls] = await Promise.all([
      trickle(plain.address.port, '', header),
      trickle(plain.address.port, `POST /metrics HTTP/1.1\r\nHost: metrics.test\r\nContent-Length: ${body.length}\r\n\r\n`, body),
      tls && trickle(tls.address.port, '', ''),
    ]);
    expect(slowHeader.sent).toBeLessThan(header.length);
    expect(slowHeader.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(slowHeader.seconds).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS / 1000 - 0.5);
    expect(slowHeader.seconds).toBeLessThan(HEADERS_TIMEOUT_MS / 1000 + 3);
    // Answered at once (405: a scrape is a GET), then dropped once the request has taken too long.
    expect(slowBody.sent).toBeLessThan(body.length);
    expect(slowBody.answer).toMatch(/^HTTP\/1\.1 405 [^]*HTTP\/1\.1 408 /);
    expect(slowBody.seconds).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS / 1000 - 0.5);
    expect(slowBody.seconds).toBeLessThan(REQUEST_TIMEOUT_MS / 1000 + 3);
    if (silentTls === undefined) {
      console.warn(`skipping the TLS handshake timeout check: ${skipReason}`);
      return;
    }
    expect(silentTls.answer).toBe('');
    expect(silentTls.seconds).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS / 1000 - 0.5);
    expect(silentTls.seconds).toBeLessThan(HANDSHAKE_TIMEOUT_MS / 1000 + 3);
  }, REQUEST_TIMEOUT_MS + 20_000);
});
