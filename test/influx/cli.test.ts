// `vmm-stats influx` as an operator meets it: its mistakes said plainly, and the token of InfluxDB 2.x's
// API. No InfluxDB 2.x is packaged for Debian, so an HTTP server of the test's stands where it would be and
// records what arrives: the path and query the URL gave, the token from a file or from $INFLUX_TOKEN,
// line protocol in the body; and it answers as 2.x does to a bad token (401), which is tried again.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsClient } from '../../src/client/client.js';
import { startTempDaemon, type TempDaemon } from '../helpers/daemon.js';
import { InfluxCommand } from '../helpers/influx-host.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';

const CLI = fileURLToPath(new URL('../../bin/vmm-stats', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-influx-cli-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 's3cret-token\n');

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const { INFLUX_TOKEN: _unset, ...inherited } = process.env;
  const child = spawnSync(process.execPath, [CLI, 'influx', ...args], { encoding: 'utf8', env: { ...inherited, ...env }, timeout: 10_000 });
  return { status: child.status, stderr: child.stderr, stdout: child.stdout };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mistakes', () => {
  it.each([
    [[], /--influx is required: tcp:\/\/HOST:PORT/],
    [['--influx', 'localhost:8086'], /--influx: 'localhost:8086' names no scheme .*the forms/],
    [['--influx', 'http://127.0.0.1:8086/query?db=x'], /neither InfluxDB's \/write nor its \/api\/v2\/write/],
    [['--influx', 'tcp://127.0.0.1:8094', '--token-file', tokenFile], /a tcp:\/\/ listener takes no token/],
    [['--influx', 'http://127.0.0.1:8086/api/v2/write?org=a&bucket=b'], /needs a token: --token-file FILE, or \$INFLUX_TOKEN/],
    [['--influx', 'tcp://127.0.0.1:8094', '--max-buffered', '0'], /--max-buffered takes a whole number from 1/],
    [['--influx', 'tcp://127.0.0.1:8094', '--bogus'], /Unknown option '--bogus'/],
  ])('refuses %j with exit 2 and why', (args, why) => {
    const { status, stderr } = run(args);
    expect(stderr).toMatch(why);
    expect(stderr).toContain("Run 'vmm-stats influx --help' for usage.");
    expect(status).toBe(2);
  });

  it('refuses a token file it cannot read, or one that holds more than a token, with exit 1 naming it', () => {
    const missing = run(['--influx', 'http://127.0.0.1:8086/write?db=x', '--token-file', join(dir, 'absent')]);
    expect(missing.stderr).toMatch(/--token-file .*absent: ENOENT/);
    expect(missing.status).toBe(1);
    const twoLines = join(dir, 'two-lines');
    writeFileSync(twoLines, 'one\ntwo\n');
    const bad = run(['--influx', 'http://127.0.0.1:8086/write?db=x', '--token-file', twoLines]);
    expect(bad.stderr).toMatch(/must hold the token alone, on one line/);
    expect(bad.status).toBe(1);
  });

  it('has --help with every flag', () => {
    const { status, stdout } = run(['--help']);
    expect(status).toBe(0);
    for (const flag of ['--connect SOCKET', '--influx URL', '--token-file FILE', '--max-buffered POINTS', '--log-level LEVEL']) expect(stdout).toContain(flag);
    expect(stdout).toContain('/api/v2/write?org=O&bucket=B');
  });
});

interface Received {
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

describe("InfluxDB 2.x's write API", () => {
  const children = new ChildProcesses();
  const received: Received[] = [];
  let daemon: TempDaemon;
  let server: Server;
  let port: number;
  /** What the server answers next: 204 as InfluxDB does to a write, or 401 as to a wrong token. */
  let status = 204;

  beforeAll(async () => {
    daemon = await startTempDaemon({ intervalMs: 200 });
    const vm = await children.busy();
    const client = await StatsClient.connect(daemon.socketPath);
    expect((await client.request({ kind: 'stats.add', name: ['tenant', 'web'], pid: vm.pid!, taps: [] })).kind).toBe('success');
    client.close();
    server = createServer(async (request: IncomingMessage, response) => {
      let body = '';
      for await (const chunk of request) body += chunk;
      received.push({ url: request.url!, authorization: request.headers.authorization, contentType: request.headers['content-type'], body });
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(status === 204 ? undefined : '{"code":"unauthorized","message":"unauthorized access"}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await daemon.stop();
    await children.killAll();
  });

  async function writes(args: string[], env: NodeJS.ProcessEnv): Promise<{ command: InfluxCommand; got: Received[] }> {
    received.length = 0;
    const url = `http://127.0.0.1:${port}/api/v2/write?org=acme&bucket=vms`;
    const { INFLUX_TOKEN: _unset, ...inherited } = process.env;
    const command = new InfluxCommand(['--connect', daemon.socketPath, '--influx', url, ...args], { ...inherited, ...env });
    const got = await eventually(() => (received.length >= 2 ? [...received] : undefined), 15_000, 'two writes');
    return { command, got };
  }

  it('POSTs line protocol to the URL given, with the token from --token-file', async () => {
    const { command, got } = await writes(['--token-file', tokenFile], { INFLUX_TOKEN: 'not-this-one' });
    for (const write of got) {
      expect(write).toMatchObject({ url: '/api/v2/write?org=acme&bucket=vms', authorization: 'Token s3cret-token', contentType: 'text/plain; charset=utf-8' });
      expect(write.body).toMatch(/^resource_usage,vm=tenant\.web utime=\d+\.\d{6},stime=.* \d{19}\n$/);
    }
    expect(await command.stop()).toBe(0);
  });

  it('takes the token from $INFLUX_TOKEN, and tries again, holding the points, while it is refused', async () => {
    status = 401;
    const { command, got } = await writes([], { INFLUX_TOKEN: 'from-env' });
    expect(got[0]!.authorization).toBe('Token from-env');
    const refused = await command.waitForLog('InfluxDB does not take points');
    expect(refused.reason).toBe('HTTP 401: {"code":"unauthorized","message":"unauthorized access"}');
    // The same oldest point, again: it was held, not dropped.
    expect(got[1]!.body.split('\n')[0]).toBe(got[0]!.body.split('\n')[0]);
    status = 204;
    const recovered = await command.waitForLog('InfluxDB takes points again');
    expect(recovered.dropped).toBe(0);
    expect(await command.stop()).toBe(0);
  });
});
