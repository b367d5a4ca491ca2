// The web config file's reading, its reloading, and basic auth's checks, on files and hashes of the test's;
// and the TLS settings Node is told to honour, checked against real handshakes by curl.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { basicCredentials, BasicAuthenticator } from '../../src/metrics/basic-auth.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { WebConfigFile } from '../../src/metrics/web-config-file.js';
import { parseWebSettings } from '../../src/metrics/web-config.js';
import { certificateAuthority, issue, openssl, type KeyPair } from '../helpers/certificates.js';
import { curl, curlBinary } from '../helpers/curl.js';
import { capturingLogger, SELF } from './fixtures.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('parseWebSettings', () => {
  it('reads an empty file as no TLS, no users and no headers', () => {
    expect(parseWebSettings('', '/etc/vmm-stats/web.yml')).toEqual({ tls: undefined, users: new Map(), headers: {} });
    expect(parseWebSettings('tls_server_config: {}\n', '/etc/vmm-stats/web.yml').tls).toBeUndefined();
  });

  it('takes the toolkit\'s defaults, and paths relative to the file\'s directory', () => {
    const { tls } = parseWebSettings('tls_server_config:\n  cert_file: certs/a.pem\n  key_file: /abs/a.key\n', '/etc/vmm-stats/web.yml');
    expect(tls).toEqual({
      certFile: '/etc/vmm-stats/certs/a.pem', keyFile: '/abs/a.key', clientCaFile: undefined, clientAuth: 'NoClientCert',
      minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: undefined, honorCipherOrder: true, ecdhCurve: undefined,
    });
  });

  it('names the cipher suites as OpenSSL does, keeping TLS 1.3 on where the list names none of its suites', () => {
    const read = (suites: string[]) => parseWebSettings(stringify({
      tls_server_config: { cert_file: 'a', key_file: 'b', cipher_suites: suites, curve_preferences: ['X25519', 'CurveP256'] },
    }), '/w.yml').tls;
    const tls12Only = read(['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256']);
    expect(tls12Only?.ciphers).toMatch(/^TLS_AES_\S+:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305$/);
    expect(tls12Only?.ecdhCurve).toBe('X25519:P-256');
    expect(read(['TLS_AES_256_GCM_SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA'])?.ciphers).toBe('TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES256-SHA');
  });

  it.each([
    ['tls_server_config: {cert_file: a}', 'tls_server_config.key_file is missing'],
    ['tls_server_config: {cert_file: a, key_file: b, min_version: TLS13, max_version: TLS12}', 'min_version is above max_version'],
    ['tls_server_config: {cert_file: a, key_file: b, min_version: TLS14}', 'min_version takes one of TLS10, TLS11, TLS12, TLS13'],
    ['tls_server_config: {cert_file: a, key_file: b, max_version: constructor}', 'max_version takes one of TLS10'],
    ['toString: 1', 'unknown key toString'],
    ['tls_server_config: {cert_file: a, key_file: b, client_ca_file: c}', 'client_ca_file is given but client_auth_type is NoClientCert'],
    ['tls_server_config: {cert_file: a, key_file: b, curve_preferences: [CurveP224]}', 'curve_preferences takes one of'],
    ['tls_server_config: {cert_file: a, key_file: b, prefer_server_cipher_suites: maybe}', 'must be true or false'],
    ['tls_server_config: {cert: PEM}', 'tls_server_config.cert is not supported'],
    ['rate_limit: {interval: 1s}', 'rate_limit is not supported: use --web-max-requests'],
    ['http_server_config: {http2: false}', 'http_server_config.http2 is not supported'],
    ['http_server_config: {headers: {X-Frame-Options: allow}}', 'X-Frame-Options takes one of deny, sameorigin'],
    ['basic_auth_users: {alice: "$2y$03$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyza"}', 'basic_auth_users.alice is not a bcrypt hash'],
    ['basic_auth_users: [alice]', 'basic_auth_users must be a mapping'],
    ['- a list', 'the file must be a mapping'],
    ['a: 1\na: 2\n', 'not valid YAML'],
  ])('refuses %j', (text, message) => {
    expect(() => parseWebSettings(text, '/w.yml')).toThrow(message);
  });
});

describe('basic auth', () => {
  it('reads the credentials of an Authorization header, a password with colons whole', () => {
    expect(basicCredentials(basic('alice', 'a:b:c'))).toEqual({ user: 'alice', password: 'a:b:c' });
    expect(basicCredentials(`basic  ${Buffer.from('ü:🙂').toString('base64')}`)).toEqual({ user: 'ü', password: '🙂' });
    for (const header of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`]) {
      expect(basicCredentials(header)).toBeUndefined();
    }
  });

  it('accepts only the password of the hash in force, whatever it remembers', async () => {
    const auth = new BasicAuthenticator();
    const first = new Map([['alice', hashSync('first', 4)]]);
    const second = new Map([['alice', hashSync('second', 4)]]);
    const outcomes = [];
    for (const [users, password] of [[first, 'first'], [first, 'first'], [first, 'second'], [second, 'first'], [second, 'second'],
      [first, 'first'], [new Map<string, string>(), 'first']] as const) {
      outcomes.push(await auth.verify(users, basic('alice', password)));
    }
    expect(outcomes).toEqual([true, true, false, false, true, true, false]);
    expect(await auth.verify(first, basic('bob', 'first'))).toBe(false);
  });
});

describe('WebConfigFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-web-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('follows the file, keeps the version in force when a new one is broken, and logs each broken version once', () => {
    const { logger, records } = capturingLogger();
    const file = join(dir, 'users.yml');
    writeFileSync(file, stringify({ basic_auth_users: { alice: hashSync('a', 4) } }));
    const config = WebConfigFile.open(file, logger);
    expect([...config.current().users.keys()]).toEqual(['alice']);
    writeFileSync(file, stringify({ basic_auth_users: { bob: hashSync('b', 4) } }));
    expect([...config.current().users.keys()]).toEqual(['bob']);
    writeFileSync(file, 'basic_auth_users: {carol: not-a-hash}\n');
    for (let i = 0; i < 5; i++) expect([...config.current().users.keys()]).toEqual(['bob']);
    writeFileSync(file, stringify({ tls_server_config: { cert_file: 'a.pem', key_file: 'a.key' } }));
    expect([...config.current().users.keys()]).toEqual(['bob']);
    rmSync(file);
    expect([...config.current().users.keys()]).toEqual(['bob']);
    expect(records.filter((r) => r.msg === 'web config reloaded')).toHaveLength(1);
    expect(records.filter((r) => r.level === 50).map((r) => r.reason)).toEqual([
      `${file}: basic_auth_users.carol is not a bcrypt hash (such as htpasswd -nBC 10 "" prints)`,
      `${file}: tls_server_config.cert_file ${join(dir, 'a.pem')}: ENOENT: no such file or directory, stat '${join(dir, 'a.pem')}'`,
      `${file}: ENOENT: no such file or directory, stat '${file}'`,
    ]);
  });

  it('refuses a file larger than any web config, without reading it', () => {
    const file = join(dir, 'huge.yml');
    writeFileSync(file, `# ${'x'.repeat(2 << 20)}\n`);
    expect(() => WebConfigFile.open(file, capturingLogger().logger)).toThrow(`${file}: larger than 1048576 bytes`);
  });

  it.skipIf(!openssl)('tries again when a file the broken version named appears, and refuses to turn TLS off', async () => {
    const { logger, records } = capturingLogger();
    const ca = await certificateAuthority(dir, 'appearing-ca');
    const pair = await issue(dir, 'appearing', ca, { server: ['DNS:localhost'] });
    const file = join(dir, 'tls.yml');
    writeFileSync(file, stringify({ tls_server_config: { cert_file: pair.cert, key_file: pair.key } }));
    const config = WebConfigFile.open(file, logger);
    const first = config.current().tls;
    writeFileSync(file, stringify({ tls_server_config: { cert_file: join(dir, 'later.pem'), key_file: pair.key } }));
    expect(config.current().tls).toBe(first);
    copyFileSync(pair.cert, join(dir, 'later.pem'));
    expect(config.current().tls).not.toBe(first);
    writeFileSync(file, '');
    expect(config.current().tls).toBeDefined();
    expect(records.filter((r) => r.level === 50).map((r) => r.reason)).toEqual([
      expect.stringContaining(`later.pem: ENOENT`),
      `${file}: turning TLS on or off takes a restart`,
    ]);
  });
});

describe.skipIf(!openssl || !curlBinary)('TLS versions and cipher suites, as a real handshake finds them', () => {
  const { logger } = capturingLogger();
  let dir: string;
  let ca: KeyPair;
  let pair: KeyPair;
  const servers: MetricsServer[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-web-tls-'));
    ca = await certificateAuthority(dir, 'ca');
    pair = await issue(dir, 'server', ca, { server: ['IP:127.0.0.1'] });
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Whether curl, with `args`, completes a request to a server with these tls_server_config settings. */
  async function handshakes(settings: object, ...args: string[][]): Promise<boolean[]> {
    const file = join(dir, `web-${servers.length}.yml`);
    writeFileSync(file, stringify({ tls_server_config: { cert_file: pair.cert, key_file: pair.key, ...settings } }));
    const server = await startMetricsServer({
      host: '127.0.0.1', port: 0, logger, source: { snapshot: () => ({ vms: [], self: SELF }) },
      web: { configFile: WebConfigFile.open(file, logger), maxRequests: 40 },
    });
    servers.push(server);
    const url = `https://127.0.0.1:${server.address.port}/metrics`;
    return Promise.all(args.map(async (extra) => (await curl(['--cacert', ca.cert, ...extra, url])).status === 200));
  }

  it('min_version TLS13 refuses a client of at most TLS 1.2, and max_version TLS12 one of at least TLS 1.3', async () => {
    expect(await handshakes({ min_version: 'TLS13' }, ['--tls-max', '1.2'], ['--tlsv1.3'])).toEqual([false, true]);
    expect(await handshakes({ max_version: 'TLS12' }, ['--tlsv1.3'], ['--tls-max', '1.2'])).toEqual([false, true]);
  });

  it('cipher_suites limits TLS 1.2 to the suites it lists, and leaves TLS 1.3 on', async () => {
    const outcomes = await handshakes({ cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] },
      ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
      ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
      ['--tlsv1.3']);
    expect(outcomes).toEqual([true, false, true]);
  });
});
