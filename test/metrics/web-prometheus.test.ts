// A real Prometheus scrapes the endpoint the way one on another machine would: over TLS, checking the
// certificate against its CA and the server's name, with basic auth; and another with a client certificate.
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

  /** Serves `config` (a web config) on a loopback port, and a Prometheus scraping it with `scrape`. */
  async function scrapedBy(name: string, config: object, scrape: (server: MetricsServer) => string[]) {
    const file = join(dir, `${name}.yml`);
    writeFileSync(file, stringify(config));
    const server = await startMetricsServer({
      host: '127.0.0.1', port: 0, source, logger, web: { configFile: WebConfigFile.open(file, logger), maxRequests: 40 },
    });
    servers.push(server);
    const prom = await startPrometheus(prometheus!, `127.0.0.1:${server.address.port}`, { scrape: scrape(server) });
    proms.push(prom);
    return prom;
  }

  let withPassword: PrometheusServer;
  let withClientCert: PrometheusServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-web-prom-'));
    const ca = await certificateAuthority(dir, 'ca');
    const [server, client]: KeyPair[] = await Promise.all([
      issue(dir, 'server', ca, { server: [`DNS:${SERVER_NAME}`] }), issue(dir, 'prometheus', ca, 'client'),
    ]);
    const tlsConfig = `tls_config: {ca_file: '${ca.cert}', server_name: '${SERVER_NAME}'`;
    [withPassword, withClientCert] = await Promise.all([
      scrapedBy('password', {
        tls_server_config: { cert_file: server.cert, key_file: server.key },
        basic_auth_users: { prometheus: hashSync(PASSWORD, 10) },
      }, () => ['scheme: https', `basic_auth: {username: prometheus, password: '${PASSWORD}'}`, `${tlsConfig}}`]),
      scrapedBy('client-cert', {
        tls_server_config: {
          cert_file: server.cert, key_file: server.key, client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: ca.cert,
        },
      }, () => ['scheme: https', `${tlsConfig}, cert_file: '${client.cert}', key_file: '${client.key}'}`]),
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
});
