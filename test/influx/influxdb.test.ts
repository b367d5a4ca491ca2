// `vmm-stats influx` into a real InfluxDB 1.x (Debian's influxd, started here on loopback ports with a
// config of its own), from a real daemon with busy processes, taps and hypervisor counters: InfluxQL over
// its HTTP API finds albatross-influx's measurements, fields and types for each VM, odd names intact;
// points stamped while InfluxDB was down arrive once it is back; a batch InfluxDB refuses is said and
// dropped, not sent for ever.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxDbServer, influxdbMissing } from '../helpers/influxdb.js';
import { InfluxCommand, InfluxHost, TICK_MS } from '../helpers/influx-host.js';
import { tapUnavailableReason } from '../helpers/net.js';
import { findTool } from '../helpers/prometheus.js';
import { eventually } from '../helpers/processes.js';

const DB = 'vmm';
const WEB = 'tenant.web';
const ODD = 'tenant.my vm,a=b';

const WHAT = 'vmm-stats influx into InfluxDB';
const noTaps = tapUnavailableReason();
if (noTaps) console.warn(`skipping ${WHAT}: ${noTaps}`);
const skipReason = noTaps ?? influxdbMissing(WHAT);
const noOpenssl = findTool('openssl') === undefined ? "no 'openssl' (Debian package openssl) to make InfluxDB's certificate" : undefined;
if (skipReason === undefined && noOpenssl !== undefined) console.warn(`skipping ${WHAT} over HTTPS: ${noOpenssl}`);

/** An InfluxQL string literal. */
const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skipReason !== undefined)('vmm-stats influx into a real InfluxDB', () => {
  let influxdb: InfluxDbServer;
  let host: InfluxHost;
  const commands: InfluxCommand[] = [];

  beforeAll(async () => {
    influxdb = await InfluxDbServer.start();
    await influxdb.query(`CREATE DATABASE ${DB}`);
    host = await InfluxHost.start([WEB, ODD]);
    commands.push(new InfluxCommand(['--connect', host.socketPath, '--influx', `${influxdb.baseUrl}/write?db=${DB}`]));
  }, 60_000);

  afterAll(async () => {
    for (const command of commands) await command.stop();
    await host?.stop();
    await influxdb?.stop();
  });

  /** The rows of `select` for one VM, once there are at least `count`. */
  function rowsOf(select: string, vm: string, count: number, more = ''): Promise<Record<string, unknown>[]> {
    return eventually(async () => {
      const rows = await influxdb.rows(`${select} WHERE vm = ${literal(vm)}${more} ORDER BY time`, DB);
      return rows.length >= count ? rows : undefined;
    }, 20_000, `${count} rows of ${select} for ${vm}`);
  }

  it('holds resource_usage for each VM, with utime rising', async () => {
    for (const vm of [WEB, ODD]) {
      const rows = await rowsOf('SELECT utime, stime, maxrss, maxflt FROM resource_usage', vm, 5);
      const utime = rows.map((row) => row.utime as number);
      for (let i = 1; i < utime.length; i++) expect(utime[i]).toBeGreaterThanOrEqual(utime[i - 1]!);
      expect(utime.at(-1)!).toBeGreaterThan(utime[0]!);
      expect(rows.at(-1)!.maxrss as number).toBeGreaterThan(0);
    }
  }, 30_000);

  it('holds vmm with the hypervisor counters, and interface with the tap traffic each way', async () => {
    const exits = await rowsOf('SELECT exits, io_exits FROM vmm', WEB, 3);
    expect(exits.at(-1)!.exits as number).toBeGreaterThan(exits[0]!.exits as number);
    expect(exits.at(-1)!.io_exits).toBe((exits.at(-1)!.exits as number) / 2);
    for (const vm of [WEB, ODD]) {
      const tap = host.vm(vm).tap;
      await tap.send(10, 300);
      const rows = await eventually(async () => {
        const got = await rowsOf('SELECT * FROM interface', vm, 1, ` AND ifname = ${literal(tap.name)}`);
        return (got.at(-1)!.vm_to_host_bytes as number) >= 3000 ? got : undefined;
      }, 20_000, `${vm}'s traffic`);
      expect(rows.at(-1)).toMatchObject({ vm, ifname: tap.name, vm_to_host_packets: expect.any(Number), host_to_vm_bytes: expect.any(Number), mtu: 1500 });
      expect(rows.at(-1)!.vm_to_host_packets as number).toBeGreaterThanOrEqual(10);
    }
  }, 60_000);

  it("types the fields as albatross-influx's formats do, and keeps the names whole", async () => {
    const fields = new Map((await influxdb.rows('SHOW FIELD KEYS FROM resource_usage', DB)).map((row) => [row.fieldKey, row.fieldType]));
    expect(fields.get('utime')).toBe('float');
    expect(fields.get('stime')).toBe('float');
    expect(fields.get('maxrss')).toBe('integer');
    expect(fields.get('maxflt')).toBe('integer');
    expect(fields.get('majflt')).toBeUndefined();
    const interfaceFields = new Map((await influxdb.rows('SHOW FIELD KEYS FROM interface', DB)).map((row) => [row.fieldKey, row.fieldType]));
    expect(interfaceFields.get('vm_to_host_bytes')).toBe('integer');
    expect(interfaceFields.size).toBe(16);
    const vms = (await influxdb.rows('SHOW TAG VALUES FROM resource_usage WITH KEY = "vm"', DB)).map((row) => row.value);
    expect(vms.sort()).toEqual([ODD, WEB].sort());
  });

  it('delivers the points stamped while InfluxDB was down, once it is back', async () => {
    const command = commands[0]!;
    await influxdb.pause();
    const downAt = Date.now();
    await command.waitForLog('InfluxDB does not take points');
    await sleep(10 * TICK_MS);
    const upAt = Date.now();
    await influxdb.resume();
    await command.waitForLog('InfluxDB takes points again', 30_000);
    const held = await rowsOf('SELECT utime FROM resource_usage', WEB, 5, ` AND time > ${downAt + TICK_MS}ms AND time < ${upAt}ms`);
    const utime = held.map((row) => row.utime as number);
    for (let i = 1; i < utime.length; i++) expect(utime[i]).toBeGreaterThanOrEqual(utime[i - 1]!);
    expect(command.logged('dropping the oldest')).toEqual([]);
  }, 60_000);

  it.skipIf(noOpenssl !== undefined)('writes over HTTPS to a server whose CA it trusts, and says why it cannot to one it does not', async () => {
    const secure = await InfluxDbServer.start({ https: true });
    try {
      await secure.query(`CREATE DATABASE ${DB}`);
      const url = `${secure.baseUrl}/write?db=${DB}`;
      const trusting = new InfluxCommand(['--connect', host.socketPath, '--influx', url], { ...process.env, NODE_EXTRA_CA_CERTS: secure.certificate });
      const untrusting = new InfluxCommand(['--connect', host.socketPath, '--influx', url]);
      commands.push(trusting, untrusting);
      await eventually(async () => {
        const rows = await secure.rows(`SELECT utime FROM resource_usage WHERE vm = ${literal(WEB)}`, DB);
        return rows.length >= 3 ? rows : undefined;
      }, 20_000, 'points over HTTPS');
      const refused = await untrusting.waitForLog('InfluxDB does not take points');
      expect(refused.reason).toMatch(/self[- ]signed certificate/);
      expect(untrusting.logged('InfluxDB takes points again')).toEqual([]);
      expect(trusting.logged('InfluxDB does not take points')).toEqual([]);
      expect(await trusting.stop()).toBe(0);
      expect(await untrusting.stop()).toBe(0);
    } finally {
      await secure.stop();
    }
  }, 60_000);

  it('says so when InfluxDB refuses a batch, and does not send it again', async () => {
    // A field of another type than ours in another database: every batch of ours there is refused.
    await influxdb.query('CREATE DATABASE clash');
    const clash = await influxdb.request('POST', '/write?db=clash', `resource_usage,vm=${WEB} utime="a string"\n`);
    expect(clash.status).toBe(204);
    const command = new InfluxCommand(['--connect', host.socketPath, '--influx', `${influxdb.baseUrl}/write?db=clash`]);
    commands.push(command);
    const refused = await command.waitForLog('InfluxDB refused points of a batch');
    expect(refused.reason).toMatch(/^HTTP 400: .*field type conflict/);
    await sleep(5 * TICK_MS);
    expect(command.logged('InfluxDB does not take points')).toEqual([]);
    expect(await command.stop()).toBe(0);
    expect(command.logged('stopped writing to InfluxDB')[0]).toMatchObject({ undelivered: 0, rejectedBatches: expect.any(Number) });
    expect(command.logged('stopped writing to InfluxDB')[0]!.rejectedBatches as number).toBeGreaterThan(1);
  }, 30_000);
});
