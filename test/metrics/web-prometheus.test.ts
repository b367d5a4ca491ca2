// A real Prometheus scrapes the endpoint the way one on another machine would: over TLS, checking the
// certificate against its CA and the server's name, with basic auth; another with a client certificate; and
// one with a wrong password, which the endpoint turns away.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startMetricsServer, type MetricsServer, type MetricsSource } from '../../src/metrics/server.js';
import { WebConfigFile } from '../../src/metrics/web-config-file.js';
import { certificateAuthority, issue, openssl, type KeyPair } from '../helpers/certificates.js';
import { findTool, startPrometheus, waitFor, type InstantSample, type PrometheusServer } from '../helpers/prometheus.js';
import { capturingLogger, ifdata, SELF, vm } from './fixtures.js';

const prometheus = findTool('prometheus');
const skipReason = !prometheus ? 'prometheus is not on PATH (Debian package "prometheus")'
  : !openssl ? 'openssl is not on PATH (Debian package "openssl")' : undefined;
if (skipReason) console.warn(`skipping the real Prometheus over TLS test: ${skipReason}`);

/** In the certificate, which names no IP address: Prometheus must check it against its server_name. */
const SERVER_NAME = 'metrics.test';
const PASSWORD = 'prometheus password';
const VMS = [vm('tenant.web', [ifdata('tap0')])];
const source: MetricsSource = { snapshot: () => ({ vms: VMS, self: SELF }) };

describe.skipIf(skipReason !== undefined)('a real Prometheus scraping the endpoint over TLS', () => {
  const { logger } = capturingLogger('info');
  let dir: string;
  let servers: MetricsServer[] = [];
  let proms: PrometheusServer[] = [];

  /** Serves `config` (a web config) on a loopback port. */
  async function serving(name: string, config: object): Promise<MetricsServer> {
    const file = join(dir, `${name}.yml`);
    writeFileSync(file, stringify(config));
    const server = await startMetricsServer({
      host: '127.0.0.1', port: 0, source, logger, web: { configFile: WebConfigFile.open(file, logger), maxRequests: 40 },
    });
    servers.push(server);
    return server;
  }

  /** A Prometheus scraping `server` over https with these lines of scrape config more. */
  async function scraping(server: MetricsServer, scrape: string[]): Promise<PrometheusServer> {
    const prom = await startPrometheus(prometheus!, `127.0.0.1:${server.address.port}`, { scrape: ['scheme: https', ...scrape] });
    proms.push(prom);
    return prom;
  }

  let withPassword: PrometheusServer;
  let withClientCert: PrometheusServer;
  let withWrongPassword: PrometheusServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-web-prom-'));
    const ca = await certificateAuthority(dir, 'ca');
    const [server, client]: KeyPair[] = await Promise.all([
      issue(dir, 'server', ca, { server: [`DNS:${SERVER_NAME}`] }), issue(dir, 'prometheus', ca, 'client'),
    ]);
    const [passwordServer, clientCertServer] = await Promise.all([
      serving('password', {
        tls_server_config: { cert_file: server.cert, key_file: server.key },
        basic_auth_users: { prometheus: hashSync(PASSWORD, 10) },
      }),
      serving('client-cert', {
        tls_server_config: {
          cert_file: server.cert, key_file: server.key, client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: ca.cert,
        },
      }),
    ]);
    const tlsConfig = `tls_config: {ca_file: '${ca.cert}', server_name: '${SERVER_NAME}'`;
    [withPassword, withClientCert, withWrongPassword] = await Promise.all([
      scraping(passwordServer, [`basic_auth: {username: prometheus, password: '${PASSWORD}'}`, `${tlsConfig}}`]),
      scraping(clientCertServer, [`${tlsConfig}, cert_file: '${client.cert}', key_file: '${client.key}'}`]),
      scraping(passwordServer, ["basic_auth: {username: prometheus, password: 'guessed'}", `${tlsConfig}}`]),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(proms.map((prom) => prom.stop()));
    await Promise.all(servers.map((server) => server.close()));
    servers = [];
    proms = [];
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['with basic_auth and tls_config (CA, server name)', () => withPassword],
    ['with a client certificate', () => withClientCert],
  ])('scrapes %s, and stores the VM\'s series', async (_, prom) => {
    const [target] = await waitFor('the target to be up', async () => {
      const targets = await prom().targets();
      return targets[0]?.health === 'up' ? targets : undefined;
    });
    expect(target?.scrapeUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(target?.lastError).toBe('');
    const [cpu] = await prom().query<InstantSample>('vmm_stats_vm_cpu_user_seconds_total');
    expect(cpu?.metric.vm).toBe('tenant.web');
    expect(Number(cpu?.value[1])).toBe(12.5);
  });

  it('sees the target down, with 401, when its password is wrong', async () => {
    const [target] = await waitFor('a failed scrape', async () => {
      const targets = await withWrongPassword.targets();
      return targets[0]?.health === 'down' ? targets : undefined;
    });
    expect(target?.lastError).toContain('401');
    expect(await withWrongPassword.query('vmm_stats_vm_cpu_user_seconds_total')).toEqual([]);
  });
});
