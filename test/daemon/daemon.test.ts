import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonOptions, StatsDaemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { sampleProcess } from '../../src/sampler/sampler.js';
import { encodeMessage, jsonLine, messageToJson, vmmCounters } from '../../src/wire/index.js';
import type { Message, Rusage, Unsent } from '../../src/wire/messages.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';
import { RawPeer } from '../helpers/peer.js';
import { frame } from '../helpers/frames.js';
import { TapVmm, tapUnavailableReason, uniqueInterfaceName } from '../helpers/net.js';

const children = new ChildProcesses();
const dirs: string[] = [];
let daemon: StatsDaemon;
let socketPath: string;
const peers: RawPeer[] = [];

async function startDaemon(overrides: Partial<DaemonOptions> = {}): Promise<StatsDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-daemon-'));
  dirs.push(dir);
  socketPath = join(dir, 'stat.sock');
  daemon = await startTestDaemon(socketPath, overrides);
  return daemon;
}

async function peer(): Promise<RawPeer> {
  const p = await RawPeer.connect(socketPath);
  peers.push(p);
  return p;
}

let nextId = 100n;
/** Sends a request on `p` and waits for its reply. */
async function ask(p: RawPeer, request: Unsent) {
  const id = nextId++;
  p.send({ ...request, id } as Message);
  const reply = await p.reply(id);
  if (reply === undefined) throw new Error('the daemon closed the connection instead of replying');
  return reply;
}

function cpuMicros(rusage: Rusage): bigint {
  return (rusage.utime.sec + rusage.stime.sec) * 1_000_000n + BigInt(rusage.utime.usec + rusage.stime.usec);
}

beforeEach(async () => {
  await startDaemon();
});

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await daemon.stop();
});

afterAll(async () => {
  await children.killAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('Add, Subscribe, Data, Remove', () => {
  it('sends a Data frame per interval with growing CPU time, and none after Remove', async () => {
    const vmm = await children.busy();
    const p = await peer();
    const added = await ask(p, { kind: 'stats.add', name: ['tenant', 'web'], pid: vmm.pid!, taps: [] });
    expect(added).toMatchObject({ kind: 'success' });
    expect((added as { msg: string }).msg).toContain('tenant.web');
    expect(await ask(p, { kind: 'stats.subscribe', name: ['tenant', 'web'] })).toMatchObject({ kind: 'success' });

    const data = await p.waitFor(() => (p.dataFrames().length >= 4 ? p.dataFrames() : undefined), 10_000);
    expect(data!.every((d) => d.id === 0n && d.name.join('.') === 'tenant.web')).toBe(true);
    const cpu = data!.map((d) => cpuMicros(d.stats.rusage));
    expect(cpu.at(-1)!).toBeGreaterThan(cpu[0]!);
    expect(data!.at(-1)!.stats.rusage.maxrss).toBeGreaterThan(0n);

    expect(await ask(p, { kind: 'stats.remove', name: ['tenant', 'web'] })).toMatchObject({ kind: 'success' });
    const seen = p.dataFrames().length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(p.dataFrames().length).toBeLessThanOrEqual(seen + 1);
  });

  it('matches a subscription to the VMs below its name, and the empty name to all', async () => {
    const vmm = await children.idle();
    const manager = await peer();
    for (const name of [['t', 'web'], ['t', 'db'], ['u', 'x']]) {
      expect(await ask(manager, { kind: 'stats.add', name, pid: vmm.pid!, taps: [] })).toMatchObject({ kind: 'success' });
    }
    const tenant = await peer();
    const everyone = await peer();
    const alsoTenant = await peer();
    await ask(tenant, { kind: 'stats.subscribe', name: ['t'] });
    await ask(everyone, { kind: 'stats.subscribe', name: [] });
    await ask(alsoTenant, { kind: 'stats.subscribe', name: ['t', 'web'] });
    const namesOf = (p: RawPeer) => new Set(p.dataFrames().map((d) => d.name.join('.')));
    await everyone.waitFor(() => (namesOf(everyone).size === 3 ? true : undefined), 5000);
    await tenant.waitFor(() => (namesOf(tenant).size >= 2 ? true : undefined), 5000);
    await alsoTenant.waitFor(() => (namesOf(alsoTenant).size >= 1 ? true : undefined), 5000);
    expect([...namesOf(everyone)].sort()).toEqual(['t.db', 't.web', 'u.x']);
    expect([...namesOf(tenant)].sort()).toEqual(['t.db', 't.web']);
    expect([...namesOf(alsoTenant)]).toEqual(['t.web']);
  });

  it('treats the same name and pid again as success, and another pid as a replacement', async () => {
    const first = await children.idle();
    const second = await children.idle();
    const p = await peer();
    const add = (pid: number) => ask(p, { kind: 'stats.add', name: ['vm'], pid, taps: ['tap-later0'] });
    expect(await add(first.pid!)).toMatchObject({ kind: 'success' });
    expect(await add(first.pid!)).toMatchObject({ kind: 'success' });
    expect(daemon.registry.size).toBe(1);
    const replaced = await add(second.pid!);
    expect(replaced).toMatchObject({ kind: 'success' });
    expect((replaced as { msg: string }).msg).toMatch(/replaced/);
    expect((replaced as { msg: string }).msg).toMatch(/not present yet.*tap-later0/);
    expect(daemon.registry.get('vm')?.pid).toBe(second.pid);
  });
});

const noTaps = tapUnavailableReason();
if (noTaps) console.warn(`skipping the daemon's tap tests: ${noTaps}`);

describe.skipIf(noTaps !== undefined)('taps (as root)', () => {
  const taps: TapVmm[] = [];
  afterAll(async () => {
    for (const tap of taps) await tap.destroy();
  });

  it('reports a tap that appears after Add, with input rising by exactly what the VM sent', async () => {
    const name = uniqueInterfaceName('vsd');
    const p = await peer();
    const holder = await children.idle();
    const added = await ask(p, { kind: 'stats.add', name: ['net', 'vm'], pid: holder.pid!, taps: [name] });
    expect((added as { msg: string }).msg).toMatch(new RegExp(`not present yet.*${name}`));
    await ask(p, { kind: 'stats.subscribe', name: ['net'] });
    await p.waitFor(() => (p.dataFrames().length > 0 ? true : undefined));
    expect(p.dataFrames()[0]!.stats.ifdata).toEqual([]);

    const tap = await TapVmm.create(name);
    taps.push(tap);
    const tapOf = (i: number) => p.dataFrames()[i]?.stats.ifdata.find((f) => f.name === name);
    const firstWithTap = await p.waitFor(() => {
      const i = p.dataFrames().findIndex((d) => d.stats.ifdata.length > 0);
      return i >= 0 ? i : undefined;
    });
    const before = tapOf(firstWithTap!)!;
    await tap.send(25, 200);
    // The next frame may come from a tick that read the tap mid-burst; the one after cannot.
    const sent = p.dataFrames().length;
    const after = await p.waitFor(() => tapOf(sent + 1));
    expect(after!.input_packets - before.input_packets).toBe(25n);
    expect(after!.input_bytes - before.input_bytes).toBe(25n * 200n);
    expect(after!.output_packets).toBe(before.output_packets);
  });

  it('follows a tap deleted and made again under its name: its counters start over, its Data goes on', async () => {
    const name = uniqueInterfaceName('vsr');
    const first = await TapVmm.create(name);
    const p = await peer();
    const holder = await children.idle();
    await ask(p, { kind: 'stats.add', name: ['again', 'vm'], pid: holder.pid!, taps: [name] });
    await ask(p, { kind: 'stats.subscribe', name: ['again'] });
    await first.send(40, 300);
    const tapIn = (frame: { stats: { ifdata: { name: string; input_packets: bigint }[] } } | undefined) =>
      frame?.stats.ifdata.find((f) => f.name === name);
    const latest = () => p.dataFrames().at(-1);
    await p.waitFor(() => ((tapIn(latest())?.input_packets ?? 0n) >= 40n ? true : undefined));
    await first.destroy();
    await p.waitFor(() => (latest() !== undefined && tapIn(latest()) === undefined ? true : undefined));

    const second = await TapVmm.create(name);
    taps.push(second);
    await second.send(3, 300);
    const restarted = await p.waitFor(() => {
      const tap = tapIn(latest());
      return tap !== undefined && tap.input_packets >= 3n ? tap : undefined;
    });
    expect(restarted!.input_packets).toBe(3n);
    expect(daemon.registry.get('again.vm')?.taps).toEqual([name]);
  });
});

describe('failure replies carry the request id and leave the connection usable', () => {
  const failures: [string, Unsent | ((id: bigint) => Buffer)][] = [
    ['a pid that does not exist', { kind: 'stats.add', name: ['ghost'], pid: 2 ** 22 + 12345, taps: [] }],
    ['Remove of an unknown name', { kind: 'stats.remove', name: ['nobody'] }],
    ['a Data frame sent to the daemon', { kind: 'stats.data', name: ['x'], stats: zeroStats() }],
    ['another channel', { kind: 'vm.info', name: ['x'] }],
    ['an unknown tag', (id) => frame(0x0209, Buffer.alloc(8), id)],
    ['a body that does not decode', (id) => frame(0x0200, Buffer.from('000000000000000100', 'hex'), id)],
    ['a list count larger than the frame', (id) => frame(0x0202, Buffer.from('00000000ffffffff', 'hex'), id)],
  ];

  it.each(failures)('%s gets a failure reply', async (_what, request) => {
    const p = await peer();
    const id = nextId++;
    p.send(typeof request === 'function' ? request(id) : ({ ...request, id } as Message));
    const reply = await p.reply(id);
    expect(reply).toMatchObject({ kind: 'fail', id });
    expect((reply as { msg: string }).msg.length).toBeGreaterThan(0);
    expect(await ask(p, { kind: 'stats.subscribe', name: [] })).toMatchObject({ kind: 'success' });
  });

  it.each([
    ['an unsupported version', (id: bigint) => withVersion(frame(0x0202, Buffer.alloc(8), id), 1)],
    ['an unknown version', (id: bigint) => withVersion(frame(0x0202, Buffer.alloc(8), id), 7)],
    ['a frame over the maximum size', (id: bigint) => frame(0x0200, Buffer.alloc(0), id, 0x7fffffff)],
  ])('%s in a header gets a failure reply, then the connection closes', async (_what, make) => {
    const p = await peer();
    const id = nextId++;
    p.send(make(id));
    expect(await p.reply(id)).toMatchObject({ kind: 'fail', id });
    await p.waitFor(() => (p.ended ? true : undefined));
    expect(p.ended).toBe(true);
    const other = await peer();
    expect(await ask(other, { kind: 'stats.subscribe', name: [] })).toMatchObject({ kind: 'success' });
  });
});

describe('names that cannot survive the dotted form', () => {
  it.each([
    ['a label holding a dot', ['a.b'], /holds a '\.'/],
    ['an empty label', ['tenant', ''], /is empty/],
    ['no name at all', [], /needs a name/],
  ])('refuses %s in Add, and registers nothing', async (_what, name, why) => {
    const p = await peer();
    const reply = await ask(p, { kind: 'stats.add', name, pid: process.pid, taps: [] });
    expect(reply).toMatchObject({ kind: 'fail' });
    expect((reply as { msg: string }).msg).toMatch(why);
    expect(daemon.registry.size).toBe(0);
  });

  it('refuses a dotted label in Subscribe and Remove, where ["a", "b"] is served', async () => {
    const p = await peer();
    expect(await ask(p, { kind: 'stats.add', name: ['a', 'b'], pid: process.pid, taps: [] })).toMatchObject({ kind: 'success' });
    for (const kind of ['stats.subscribe', 'stats.remove'] as const) {
      const reply = await ask(p, { kind, name: ['a.b'] });
      expect(reply).toMatchObject({ kind: 'fail' });
      expect((reply as { msg: string }).msg).toMatch(/holds a '\.'/);
    }
    expect(daemon.registry.get('a.b')).toBeDefined();
    expect(await ask(p, { kind: 'stats.subscribe', name: [] })).toMatchObject({ kind: 'success' });
  });
});

describe('requests in the same chunk as a header that cannot be read', () => {
  it('are answered before the failure reply and the close', async () => {
    const p = await peer();
    const first = nextId++;
    const second = nextId++;
    const bad = nextId++;
    p.send(Buffer.concat([
      encodeMessage({ kind: 'stats.subscribe', id: first, name: [] }),
      encodeMessage({ kind: 'stats.add', id: second, name: ['ghost'], pid: 2 ** 22 + 12345, taps: [] }),
      withVersion(frame(0x0202, Buffer.alloc(8), bad), 7),
    ]));
    await p.waitFor(() => (p.ended ? true : undefined));
    const replies = p.frames.map((f) => [f.message.kind, f.header.id]);
    expect(replies).toEqual([['success', first], ['fail', second], ['fail', bad]]);
  });
});

describe('VM processes that exit', () => {
  it('unregisters a VM whose process exits', async () => {
    const vmm = await children.idle();
    const p = await peer();
    await ask(p, { kind: 'stats.add', name: ['short'], pid: vmm.pid!, taps: [] });
    await ask(p, { kind: 'stats.subscribe', name: ['short'] });
    await children.kill(vmm);
    await eventually(() => (daemon.registry.get('short') === undefined ? true : undefined), 5000, 'unregistration');
    expect(await ask(p, { kind: 'stats.remove', name: ['short'] })).toMatchObject({ kind: 'fail' });
  });

  it('does not attribute a reused pid to the old VM', async () => {
    const vmm = await children.idle();
    const { startTime } = sampleProcess(vmm.pid!);
    // The registration as it would stand had this pid belonged to an earlier process.
    daemon.registry.register({ name: 'old', labels: ['old'], pid: vmm.pid!, startTime: startTime - 1n, taps: [] });
    const p = await peer();
    await ask(p, { kind: 'stats.subscribe', name: [] });
    await eventually(() => (daemon.registry.get('old') === undefined ? true : undefined), 5000, 'unregistration');
    expect(p.dataFrames().filter((d) => d.name.join('.') === 'old')).toEqual([]);
  });
});

describe('slow subscribers', () => {
  it('drops the oldest Data of a subscriber that never reads, and does not delay another', async () => {
    await daemon.stop();
    await startDaemon({ intervalMs: 20, maxQueuedBytes: 64 * 1024 });
    const vmm = await children.idle();
    const manager = await peer();
    for (let i = 0; i < 100; i++) {
      await ask(manager, { kind: 'stats.add', name: ['many', `vm${i}`], pid: vmm.pid!, taps: [] });
    }
    const stuck = await peer();
    stuck.socket.pause();
    stuck.send(encodeMessage({ kind: 'stats.subscribe', id: 1n, name: [] }));
    const reader = await peer();
    await ask(reader, { kind: 'stats.subscribe', name: ['many', 'vm0'] });

    await eventually(() => (daemon.droppedDataFrames > 500 ? true : undefined), 20_000, 'dropped frames');
    const before = reader.dataFrames().length;
    const heapBefore = process.memoryUsage().heapUsed;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const received = reader.dataFrames().length - before;
    // 1 s at a 20 ms interval is 50 ticks; a reader delayed by the stuck one would get far fewer.
    expect(received).toBeGreaterThan(25);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    expect(daemon.queuedDataBytes).toBeLessThanOrEqual(64 * 1024);
  });
});

describe('a manager that sends many requests before reading the replies', () => {
  it('is paused until it reads, answered in full, and costs one listener, not one per reply', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const manager = await peer();
      manager.socket.pause();
      const vmm = await children.idle();
      const bytes = Buffer.concat(Array.from({ length: 3000 }, (_, i) =>
        encodeMessage({ kind: 'stats.add', id: BigInt(10_000 + i), name: ['piped', `vm-with-a-long-name-${i}`], pid: vmm.pid!, taps: [] })));
      manager.send(bytes);
      await new Promise((resolve) => setTimeout(resolve, 300));
      manager.socket.resume();
      await manager.waitFor(() => (manager.frames.length >= 3000 ? true : undefined), 20_000);
      expect(manager.frames.filter((f) => f.message.kind === 'success')).toHaveLength(3000);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('a client that pipelines thousands of requests', () => {
  it('answers another connection in between, and every one of its own, in order', async () => {
    const vmm = await children.idle();
    const bulk = await peer();
    const other = await peer();
    const adds = 10_000;
    // Some 600 kB: more than the socket holds, so that the daemon reads thousands of them at once.
    const bytes = Buffer.concat(Array.from({ length: adds }, (_, i) =>
      encodeMessage({ kind: 'stats.add', id: BigInt(1 + i), name: ['bulk', `vm-${i}`], pid: vmm.pid!, taps: [] })));
    bulk.send(bytes);
    other.send(encodeMessage({ kind: 'stats.subscribe', id: 99_999n, name: ['elsewhere'] }));
    let registeredWhenAnswered = Number.NaN;
    other.socket.once('data', () => (registeredWhenAnswered = daemon.registry.size));
    expect((await other.reply(99_999n))?.kind).toBe('success');
    // Answered while the bulk's Adds were being served, not after every Add read with them.
    expect(registeredWhenAnswered).toBeLessThan(1000);
    await bulk.waitFor(() => (bulk.frames.length >= adds ? true : undefined), 30_000);
    expect(bulk.frames.map((f) => f.message.kind === 'success' ? Number(f.header.id) : -1)).toEqual(Array.from({ length: adds }, (_, i) => 1 + i));
  });
});

describe('frame memory reused from tick to tick', () => {
  // The daemon writes each tick's frames into memory it reuses once every connection has sent them all. A
  // reader that falls behind by more than its socket holds must still get its frames as they were: had
  // their memory been reused early, it would get later ticks' numbers (or, names differing in length,
  // frames that do not decode).
  it('gives a reader that falls behind the same frames as one that keeps up', async () => {
    await daemon.stop();
    await startDaemon({ intervalMs: 20, maxQueuedBytes: 16 * 1024 * 1024 });
    const manager = await peer();
    const names = Array.from({ length: 100 }, (_, i) => ['late', 'x'.repeat(1 + (i % 7)) + i]);
    // The daemon's own process: its context switches change from tick to tick.
    for (const name of names) await ask(manager, { kind: 'stats.add', name, pid: process.pid, taps: [] });
    const late = await peer();
    late.socket.pause();
    late.send(encodeMessage({ kind: 'stats.subscribe', id: 1n, name: ['late'] }));
    const keeping = await peer();
    await ask(keeping, { kind: 'stats.subscribe', name: ['late'] });
    // 75 ticks of 100 frames of about 300 bytes: more than the socket's buffers hold.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    late.socket.resume();
    await eventually(() => (late.dataFrames().length >= keeping.dataFrames().length ? true : undefined), 10_000, 'the late reader catching up');
    expect(daemon.droppedDataFrames).toBe(0);

    const sequence = (p: RawPeer, vm: string) => p.dataFrames().filter((m) => m.name.join('.') === vm).map((m) => jsonLine(messageToJson(m)));
    for (const name of [names[0]!, names[57]!]) {
      const ofLate = sequence(late, name.join('.'));
      const ofKeeping = sequence(keeping, name.join('.'));
      expect(ofKeeping.length).toBeGreaterThan(10);
      expect(new Set(ofKeeping).size).toBeGreaterThan(ofKeeping.length / 2); // the numbers do change
      // The late reader subscribed first: it may have a tick or two more at the start.
      const shift = ofLate.indexOf(ofKeeping[0]!);
      expect(shift).toBeGreaterThanOrEqual(0);
      expect(ofLate.slice(shift, shift + ofKeeping.length - 1)).toEqual(ofKeeping.slice(0, -1));
    }
  });
});

function zeroStats() {
  const tv = { sec: 0n, usec: 0 };
  const rusage = {
    utime: tv, stime: tv, maxrss: 0n, ixrss: 0n, idrss: 0n, isrss: 0n, minflt: 0n, majflt: 0n, nswap: 0n,
    inblock: 0n, outblock: 0n, msgsnd: 0n, msgrcv: 0n, nsignals: 0n, nvcsw: 0n, nivcsw: 0n,
  };
  return { rusage, vmm: vmmCounters([]), ifdata: [] };
}

function withVersion(bytes: Buffer, version: number): Buffer {
  bytes.writeUInt16BE(version, 4);
  return bytes;
}
