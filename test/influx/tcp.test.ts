// `vmm-stats influx --influx tcp://...` against a real TCP listener of the test's (what a telegraf
// socket_listener is to albatross-influx), a real daemon with busy processes and taps behind it. The lines
// are checked whole against albatross-influx's formats, written out here from the Data frames the test
// receives itself; then the listener goes away and comes back, with room for every point and without.
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsSubscription } from '../../src/client/subscription.js';
import { vmNameOf } from '../../src/vm/vm.js';
import type { IfData, Stats } from '../../src/wire/messages.js';
import { InfluxCommand, InfluxHost, TICK_MS } from '../helpers/influx-host.js';
import { tapUnavailableReason } from '../helpers/net.js';
import { eventually } from '../helpers/processes.js';

const WEB = 'tenant.web';
/** Every character line protocol escapes in a tag value. */
const ODD = 'tenant.my vm,a=b';
const ODD_TAG = 'tenant.my\\ vm\\,a\\=b';

const noTaps = tapUnavailableReason();
if (noTaps) console.warn(`skipping vmm-stats influx over TCP: ${noTaps}`);

/** A line protocol listener: every line each connection sends, with when it came. */
class LineListener {
  readonly lines: { line: string; at: number }[] = [];
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  async listen(): Promise<void> {
    const server = createServer((socket) => {
      this.#sockets.add(socket);
      let rest = '';
      socket.setEncoding('utf8').on('data', (text: string) => {
        const parts = (rest + text).split('\n');
        rest = parts.pop()!;
        for (const line of parts) this.lines.push({ line, at: Date.now() });
      });
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Stops listening and cuts every connection, as a listener that dies does. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server!;
    await new Promise((resolve) => server.close(resolve));
  }
}

function timeval({ sec, usec }: { sec: bigint; usec: number }): string {
  return `${sec}.${String(usec).padStart(6, '0')}`;
}

/** What albatross-influx's WV2 formats make of a Data frame, without the timestamp. */
function expectedLines(vmTag: string, stats: Stats): string[] {
  const ru = stats.rusage;
  const resourceUsage =
    `resource_usage,vm=${vmTag} utime=${timeval(ru.utime)},stime=${timeval(ru.stime)},maxrss=${ru.maxrss}i,ixrss=${ru.ixrss}i,` +
    `idrss=${ru.idrss}i,isrss=${ru.isrss}i,minflt=${ru.minflt}i,maxflt=${ru.majflt}i,nswap=${ru.nswap}i,inblock=${ru.inblock}i,` +
    `outblock=${ru.outblock}i,msgsnd=${ru.msgsnd}i,msgrcv=${ru.msgrcv}i,nsignals=${ru.nsignals}i,nvcsw=${ru.nvcsw}i,nivcsw=${ru.nivcsw}i`;
  const vmm = `vmm,vm=${vmTag} ` + stats.vmm.descriptions.map((name, i) => `${name}=${stats.vmm.values[i]}i`).join(',');
  const tap = (i: IfData) =>
    `interface,vm=${vmTag},ifname=${i.name} send_queue_length=${i.send_length}i,max_send_queue_length=${i.max_send_length}i,` +
    `send_queue_drops=${i.send_drops}i,mtu=${i.mtu}i,baudrate=${i.baudrate}i,vm_to_host_packets=${i.input_packets}i,` +
    `vm_to_host_errors=${i.input_errors}i,vm_to_host_bytes=${i.input_bytes}i,vm_to_host_mcast=${i.input_mcast}i,` +
    `vm_to_host_dropped=${i.input_dropped}i,collisions=${i.collisions}i,host_to_vm_packets=${i.output_packets}i,` +
    `host_to_vm_errors=${i.output_errors}i,host_to_vm_bytes=${i.output_bytes}i,host_to_vm_mcast=${i.output_mcast}i,` +
    `host_to_vm_dropped=${i.output_dropped}i`;
  return [resourceUsage, vmm, ...stats.ifdata.map(tap)];
}

/** A line split at its last space: the point, and its timestamp in nanoseconds. */
function split(line: string): { point: string; ns: bigint } {
  const at = line.lastIndexOf(' ');
  return { point: line.slice(0, at), ns: BigInt(line.slice(at + 1)) };
}

/** A line's measurement and tags: everything before its first unescaped space. */
function seriesOf(line: string): string {
  return /^(?:[^ \\]|\\.)*/.exec(line)![0];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(noTaps !== undefined)('vmm-stats influx over TCP', () => {
  let host: InfluxHost;
  let watcher: StatsSubscription;
  /** Every line albatross-influx would write, from the frames the test gets itself. */
  const expected = new Set<string>();
  const listener = new LineListener();
  const commands: InfluxCommand[] = [];

  beforeAll(async () => {
    host = await InfluxHost.start([WEB, ODD]);
    // A subscription of the test's own, that follows the daemon through its restart as the command does.
    const subscribed = new Promise<void>((resolve) => {
      watcher = new StatsSubscription({
        socketPath: host.socketPath,
        logger: pino({ level: 'silent' }),
        maxBackoffMs: 200,
        onData: ({ message }) => {
          if (message.kind !== 'stats.data') return;
          const name = vmNameOf(message.name);
          for (const line of expectedLines(name === ODD ? ODD_TAG : name, message.stats)) expected.add(line);
          resolve();
        },
      });
    });
    watcher.start();
    await subscribed;
    await listener.listen();
  }, 60_000);

  afterAll(async () => {
    for (const command of commands) await command.stop();
    await watcher?.stop();
    await listener.close().catch(() => {});
    await host?.stop();
  });

  function start(args: string[]): InfluxCommand {
    const command = new InfluxCommand(['--connect', host.socketPath, '--influx', `tcp://127.0.0.1:${listener.port}`, ...args]);
    commands.push(command);
    return command;
  }

  it("writes each frame as albatross-influx's lines, each stamped with when it came", async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    start([]);
    await host.vm(WEB).tap.send(5, 200);
    const lines = await eventually(() => {
      const got = listener.lines.map(({ line }) => line);
      const webTaps = got.filter((line) => line.startsWith(`interface,vm=${WEB},`) && !line.includes('vm_to_host_packets=0i'));
      return webTaps.length >= 2 && got.some((line) => line.startsWith(`resource_usage,vm=${ODD_TAG} `)) ? got : undefined;
    }, 20_000, 'lines of both VMs, with traffic');
    const after = BigInt(Date.now()) * 1_000_000n;
    for (const line of lines) {
      const { point, ns } = split(line);
      expect(expected.has(point), line).toBe(true);
      expect(ns).toBeGreaterThanOrEqual(before);
      expect(ns).toBeLessThanOrEqual(after);
    }
    const measurements = new Set(lines.map(seriesOf));
    for (const [vm, tap] of [[WEB, host.vm(WEB).tap.name], [ODD_TAG, host.vm(ODD).tap.name]]) {
      expect(measurements).toContain(`resource_usage,vm=${vm}`);
      expect(measurements).toContain(`vmm,vm=${vm}`);
      expect(measurements).toContain(`interface,vm=${vm},ifname=${tap}`);
    }
    // One frame's lines share their timestamp, and follow each other: resource_usage, vmm, its tap.
    const first = lines.findIndex((line) => line.startsWith(`resource_usage,vm=${WEB} `));
    const frame = lines.slice(first, first + 3);
    expect(frame.map((line) => line.split(',')[0])).toEqual(['resource_usage', 'vmm', 'interface']);
    expect(new Set(frame.map((line) => split(line).ns)).size).toBe(1);
  }, 30_000);

  it('follows the daemon through a restart', async () => {
    const command = commands[0]!;
    await host.restartDaemon();
    const restartedAt = BigInt(Date.now()) * 1_000_000n;
    await command.waitForLog('stats daemon connection lost; reconnecting');
    await eventually(() => (command.logged('subscribed to every VM').length >= 2 ? true : undefined), 20_000, 'a second subscription');
    await eventually(() => {
      const after = listener.lines.filter(({ line }) => line.startsWith(`resource_usage,vm=${WEB} `) && split(line).ns > restartedAt);
      return after.length >= 2 ? after : undefined;
    }, 20_000, "the restarted daemon's points");
  }, 30_000);

  it('holds the points while the listener is away, and delivers them, in order, when it is back', async () => {
    const command = commands[0]!;
    await listener.close();
    const downAt = Date.now();
    await sleep(8 * TICK_MS);
    const upAt = Date.now();
    await listener.listen();
    await command.waitForLog('InfluxDB takes points again');
    const web = () => listener.lines.map(({ line }) => line).filter((line) => line.startsWith(`resource_usage,vm=${WEB} `));
    const held = await eventually(() => {
      const during = web().filter((line) => { const ms = Number(split(line).ns / 1_000_000n); return ms > downAt + TICK_MS && ms < upAt; });
      return during.length >= 4 ? during : undefined;
    }, 10_000, 'the points stamped while the listener was away');
    for (const line of held) expect(expected.has(split(line).point)).toBe(true);
    const stamps = web().map((line) => split(line).ns);
    expect([...stamps].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(stamps);
    expect(command.logged('dropping the oldest')).toEqual([]);
    expect(command.logged('InfluxDB does not take points')).toHaveLength(1);
    expect(await command.stop()).toBe(0);
    expect(command.logged('stopped writing to InfluxDB')[0]).toMatchObject({ dropped: 0, undelivered: 0, rejectedBatches: 0 });
    listener.lines.length = 0;
  }, 30_000);

  it('drops the oldest past --max-buffered, says so once and counts them, and sends the newest', async () => {
    await listener.close();
    listener.lines.length = 0;
    const command = start(['--max-buffered', '4']);
    await command.waitForLog('InfluxDB does not take points');
    await sleep(10 * TICK_MS);
    const upAt = BigInt(Date.now()) * 1_000_000n;
    await listener.listen();
    const recovered = await command.waitForLog('InfluxDB takes points again');
    // Two VMs, three lines each a tick, ten ticks: far more than four.
    expect(recovered.dropped).toBeGreaterThan(20);
    const overflow = command.logged('dropping the oldest');
    expect(overflow).toHaveLength(1);
    expect(overflow[0]!.capacity).toBe(4);
    await eventually(() => (listener.lines.some(({ line }) => split(line).ns > upAt) ? true : undefined), 10_000, 'new points');
    expect(listener.lines.filter(({ line }) => split(line).ns < upAt).length).toBeLessThanOrEqual(4);
    expect(await command.stop()).toBe(0);
    const stopped = command.logged('stopped writing to InfluxDB')[0]!;
    expect(stopped.dropped).toBeGreaterThanOrEqual(recovered.dropped as number);
  }, 30_000);
});
