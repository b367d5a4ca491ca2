// --web-config and --web-max-requests through the CLI, as an operator starts the daemon and the exporter:
// a file that cannot be used refuses the start with a message naming the key or the file, and leaves
// nothing behind; a good one is served over TLS with its users.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashSync } from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { certificateAuthority, issue, openssl, type KeyPair } from '../helpers/certificates.js';
import { curl, curlBinary } from '../helpers/curl.js';
import { freePort, waitFor } from '../helpers/prometheus.js';

const CLI = fileURLToPath(new URL('../../bin/vmm-stats', import.meta.url));
const skipReason = !openssl ? 'openssl is not on PATH (Debian package "openssl")'
  : !curlBinary ? 'curl is not on PATH (Debian package "curl")' : undefined;
if (skipReason) console.warn(`skipping the --web-config CLI tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('vmm-stats daemon and exporter --web-config', () => {
  let dir: string;
  let ca: KeyPair;

  /** A web config file in the test's directory. */
  const configFile = (name: string, config: object | string) => {
    const file = join(dir, name);
    writeFileSync(file, typeof config === 'string' ? config : stringify(config));
    return file;
  };
  const exporter = (...args: string[]) =>
    spawnSync(CLI, ['exporter', '--connect', join(dir, 'none.sock'), '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 20_000 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-web-cli-'));
    ca = await certificateAuthority(dir, 'ca');
    await issue(dir, 'server', ca, { server: ['DNS:localhost', 'IP:127.0.0.1'] });
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['an unknown key', { tls_server_config: { cert_file: 'server.pem', key_file: 'server.key', min_verison: 'TLS13' } },
      'unknown key tls_server_config.min_verison'],
    ['an unknown top-level key', { basic_auth_user: {} }, 'unknown key basic_auth_user'],
    ['a key of the toolkit vmm-stats does not implement', { tls_server_config: {
      cert_file: 'server.pem', key_file: 'server.key', client_auth_type: 'RequireAndVerifyClientCert', client_allowed_sans: ['a'],
    } }, 'tls_server_config.client_allowed_sans is not supported'],
    ['a missing certificate file', { tls_server_config: { cert_file: 'nowhere.pem', key_file: 'server.key' } },
      'tls_server_config.cert_file <dir>/nowhere.pem: ENOENT'],
    ['a key file that holds a certificate', { tls_server_config: { cert_file: 'server.pem', key_file: 'ca.pem' } },
      'tls_server_config.key_file <dir>/ca.pem'],
    ['a certificate and key that do not match', { tls_server_config: { cert_file: 'server.pem', key_file: 'ca.key' } },
      'tls_server_config.cert_file <dir>/server.pem and key_file <dir>/ca.key'],
    ['a client CA file with no certificate', { tls_server_config: {
      cert_file: 'server.pem', key_file: 'server.key', client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: 'server.key',
    } }, 'tls_server_config.client_ca_file <dir>/server.key: holds no PEM certificate'],
    ['an unknown client_auth_type', { tls_server_config: { cert_file: 'server.pem', key_file: 'server.key', client_auth_type: 'Required' } },
      'tls_server_config.client_auth_type takes one of NoClientCert, RequestClientCert'],
    ['an unknown cipher suite', { tls_server_config: { cert_file: 'server.pem', key_file: 'server.key', cipher_suites: ['TLS_MADE_UP'] } },
      'tls_server_config.cipher_suites takes one of'],
    ['a password that is not a bcrypt hash', { basic_auth_users: { alice: 'plain text' } }, 'basic_auth_users.alice is not a bcrypt hash'],
    ['a header the toolkit does not let a file set', { http_server_config: { headers: { 'X-Powered-By': 'me' } } },
      'unknown key http_server_config.headers.X-Powered-By'],
    ['YAML that does not parse', 'tls_server_config: [unclosed\n', 'not valid YAML'],
  ])('exporter refuses to start with %s, naming it', (_, config, message) => {
    const file = configFile('refused.yml', config);
    const run = exporter('--web-config', file);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`vmm-stats exporter: ${file}: ${message.replaceAll('<dir>', dir)}`);
    expect(run.stderr).not.toContain('serving metrics');
  });

  it('exporter refuses a web config file that does not exist, naming it', () => {
    const run = exporter('--web-config', join(dir, 'missing.yml'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${join(dir, 'missing.yml')}: ENOENT`);
  });

  it('refuses --web-max-requests that is not a count, and --web-config without --metrics on the daemon', () => {
    expect(exporter('--web-max-requests', 'many').stderr).toContain('--web-max-requests takes a whole number from 0 to 1000000');
    const run = spawnSync(CLI, ['daemon', '--socket', join(dir, 'stat.sock'), '--state-file', '', '--web-config', join(dir, 'x.yml')],
      { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--web-config applies to --metrics');
  });

  it('daemon refuses a broken web config before its socket exists', () => {
    const socket = join(dir, 'refused.sock');
    const file = configFile('daemon-refused.yml', { tls_server_config: { cert_file: 'gone.pem', key_file: 'server.key' } });
    const run = spawnSync(CLI, ['daemon', '--socket', socket, '--state-file', '', '--metrics', '127.0.0.1:0', '--web-config', file],
      { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`vmm-stats daemon: ${file}: tls_server_config.cert_file ${join(dir, 'gone.pem')}: ENOENT`);
    expect(existsSync(socket)).toBe(false);
  });

  it.each(['daemon', 'exporter'])('%s serves its metrics over TLS to the users of the file', async (command) => {
    const port = await freePort();
    const file = configFile(`${command}.yml`, {
      tls_server_config: { cert_file: 'server.pem', key_file: 'server.key' },
      basic_auth_users: { scraper: hashSync('s3cret', 10) },
    });
    const args = command === 'daemon'
      ? ['daemon', '--socket', join(dir, 'serving.sock'), '--state-file', '', '--metrics', `127.0.0.1:${port}`]
      : ['exporter', '--connect', join(dir, 'none.sock'), '--listen', `127.0.0.1:${port}`];
    const child = spawn(CLI, [...args, '--web-config', file, '--web-max-requests', '5'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
    try {
      await waitFor('the endpoint to be served', async () => (log.includes('"serving metrics"') ? true : undefined));
      expect(log).toContain(`"url":"https://127.0.0.1:${port}/metrics"`);
      const url = `https://127.0.0.1:${port}/metrics`;
      const served = await curl(['--cacert', ca.cert, '-u', 'scraper:s3cret', url]);
      expect(served.status).toBe(200);
      expect(served.body).toContain('vmm_stats_vms ');
      expect((await curl(['--cacert', ca.cert, '-u', 'scraper:guess', url])).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    expect(child.exitCode).toBe(0);
  });
});
