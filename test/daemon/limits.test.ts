// The daemon's bounds: connections, registrations, and peers that stall in the middle of a frame.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonOptions, StatsDaemon } from '../../src/daemon/daemon.js';
import { encodeMessage } from '../../src/wire/index.js';
import type { Message, Unsent } from '../../src/wire/messages.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { frame } from '../helpers/frames.js';
import { RawPeer } from '../helpers/peer.js';
import { capturingLogger } from '../metrics/fixtures.js';

let daemon: StatsDaemon;
let dir: string;
const peers: RawPeer[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(overrides: Partial<DaemonOptions>): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'vmm-stats-limits-'));
  const socketPath = join(dir, 'stat.sock');
  daemon = await startTestDaemon(socketPath, overrides);
  return socketPath;
}

async function connect(socketPath: string): Promise<RawPeer> {
  const peer = await RawPeer.connect(socketPath);
  peers.push(peer);
  return peer;
}

let nextId = 1n;
async function ask(peer: RawPeer, request: Unsent): Promise<Message | undefined> {
  const id = nextId++;
  peer.send({ ...request, id } as Message);
  return peer.reply(id);
}

const ended = (peer: RawPeer) => peer.waitFor(() => (peer.ended ? true : undefined), 3000);

describe('--max-connections', () => {
  it('refuses the connections past the limit with a failure frame, logged once, and serves the others', async () => {
    const { logger, records } = capturingLogger('info');
    const socketPath = await start({ maxConnections: 3, logger });
    const admitted = await Promise.all([0, 1, 2].map(() => connect(socketPath)));
    for (const peer of admitted) expect(await ask(peer, { kind: 'stats.subscribe', name: [] })).toMatchObject({ kind: 'success' });
    const refused = await Promise.all([0, 1, 2, 3].map(() => connect(socketPath)));
    for (const peer of refused) {
      await ended(peer);
      expect(peer.frames.map((f) => f.message)).toEqual([{ kind: 'fail', id: 0n, msg: expect.stringMatching(/too many connections \(the daemon's limit is 3\)/) }]);
    }
    expect(records.filter((r) => /too many connections/.test(String(r.msg)))).toHaveLength(1);
    for (const peer of admitted) expect(await ask(peer, { kind: 'stats.subscribe', name: ['t'] })).toMatchObject({ kind: 'success' });

    admitted[0]!.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await connect(socketPath);
    expect(await ask(again, { kind: 'stats.subscribe', name: [] })).toMatchObject({ kind: 'success' });
    expect(records.some((r) => r.msg === 'accepting connections again' && r.refused === 4)).toBe(true);
  });
});

describe('--max-vms', () => {
  it('refuses an Add of a new name past the limit, and still takes one of a name registered', async () => {
    const socketPath = await start({ maxVms: 2 });
    const peer = await connect(socketPath);
    for (const name of ['a', 'b']) expect(await ask(peer, { kind: 'stats.add', name: [name], pid: process.pid, taps: [] })).toMatchObject({ kind: 'success' });
    const refused = await ask(peer, { kind: 'stats.add', name: ['c'], pid: process.pid, taps: [] });
    expect(refused).toMatchObject({ kind: 'fail', msg: expect.stringMatching(/too many VMs/) });
    expect(await ask(peer, { kind: 'stats.add', name: ['a'], pid: process.pid, taps: ['lo'] })).toMatchObject({ kind: 'success' });
    expect(daemon.registry.size).toBe(2);
  });
});

describe('--idle-timeout', () => {
  const partialFrame = () => encodeMessage({ kind: 'stats.subscribe', id: 7n, name: ['tenant'] }).subarray(0, 25);

  it('closes a peer that stalls in the middle of a frame, and only such a peer', async () => {
    const socketPath = await start({ idleTimeoutMs: 300 });
    const stalled = await connect(socketPath);
    const quiet = await connect(socketPath);
    const subscriber = await connect(socketPath);
    expect(await ask(subscriber, { kind: 'stats.subscribe', name: [] })).toMatchObject({ kind: 'success' });
    stalled.send(partialFrame());
    subscriber.send(partialFrame());
    await ended(stalled);
    expect(stalled.ended).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(quiet.ended).toBe(false);
    expect(subscriber.ended).toBe(false);
    expect(await ask(quiet, { kind: 'stats.subscribe', name: [] })).toMatchObject({ kind: 'success' });
  });

  it('leaves a peer that finishes its frame in time', async () => {
    const socketPath = await start({ idleTimeoutMs: 300 });
    const slow = await connect(socketPath);
    const whole = encodeMessage({ kind: 'stats.subscribe', id: 9n, name: [] });
    slow.send(whole.subarray(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 150));
    slow.send(whole.subarray(10));
    expect(await slow.reply(9n)).toMatchObject({ kind: 'success' });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(slow.ended).toBe(false);
  });
});

describe('a flood of requests that do not decode', () => {
  it('answers each with a failure reply, and logs the first, not one line per request', async () => {
    const { logger, records } = capturingLogger('info');
    const socketPath = await start({ logger });
    const peer = await connect(socketPath);
    const bad = (id: number) => frame(0x0200, Buffer.from('000000000000000100', 'hex'), BigInt(id));
    peer.send(Buffer.concat(Array.from({ length: 500 }, (_, i) => bad(1 + i))));
    await peer.waitFor(() => (peer.frames.length >= 500 ? true : undefined), 10_000);
    expect(peer.frames.map((f) => [f.message.kind, Number(f.header.id)])).toEqual(Array.from({ length: 500 }, (_, i) => ['fail', 1 + i]));
    expect(records.filter((r) => /request that does not decode/.test(String(r.msg)))).toHaveLength(1);
  });
});
