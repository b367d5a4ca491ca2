import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixListener } from '../../src/daemon/listener.js';
import { eventually } from '../helpers/processes.js';

let dir: string;
let listener: UnixListener | undefined;
const crowds: ChildProcess[] = [];
const sockets: Socket[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmm-stats-listener-'));
});

afterEach(() => {
  listener?.close();
  listener = undefined;
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const crowd of crowds.splice(0)) crowd.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Blocks this thread, event loop and all, until `path` exists: what the loop would have done meanwhile waits. */
function blockUntilExists(path: string, timeoutMs: number): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear in ${timeoutMs} ms`);
    Atomics.wait(sleeper, 0, 0, 5);
  }
}

/** Another process that opens `count` connections to `socketPath` at once and holds them, then creates `done`. */
function crowd(socketPath: string, count: number, done: string): void {
  const script = `const net = require('node:net'); const fs = require('node:fs');
    const held = []; for (let i = 0; i < ${count}; i++) { const s = net.createConnection(${JSON.stringify(socketPath)}); s.on('error', () => {}); held.push(s); }
    setImmediate(() => fs.writeFileSync(${JSON.stringify(done)}, '')); setInterval(() => {}, 1 << 30);`;
  crowds.push(spawn(process.execPath, ['-e', script], { stdio: 'ignore' }));
}

describe('the daemon\'s listening socket', () => {
  it('takes a crowd\'s connections in turns with another process\'s, so that the crowd does not hold it back', async () => {
    const socketPath = join(dir, 'stats.sock');
    const accepted: Socket[] = [];
    const peers: unknown[] = [];
    let mineAt = -1;
    listener = UnixListener.listen(socketPath, 4096, {
      connection: (socket, peer) => {
        const at = accepted.push(socket) - 1;
        peers.push(peer);
        socket.once('data', () => (mineAt = at));
      },
      error: (err) => { throw err; },
    });
    const crowdSize = 2000;
    const done = join(dir, 'crowd-connected');
    crowd(socketPath, crowdSize, done);
    // With this event loop held, the crowd's connections all wait to be taken before this process connects.
    blockUntilExists(done, 20_000);
    const mine = createConnection(socketPath);
    sockets.push(mine);
    mine.write('me');
    await eventually(() => (mineAt >= 0 ? true : undefined), 10_000, 'this process\'s connection taken');
    // First come, first served would take it last, after the crowd's 2000.
    expect(mineAt).toBeLessThan(100);
    // Who connected, as the kernel recorded it on the accepting thread.
    expect(peers[mineAt]).toEqual({ uid: process.getuid!(), gid: process.getgid!() });
    await eventually(() => (accepted.length === crowdSize + 1 ? true : undefined), 20_000, 'every connection taken');
    for (const socket of accepted) socket.destroy();
  });

  it('refuses a path that is taken, and stops accepting once closed', async () => {
    const socketPath = join(dir, 'stats.sock');
    const events = { connection: (socket: Socket) => socket.destroy(), error: () => {} };
    listener = UnixListener.listen(socketPath, 16, events);
    expect(() => UnixListener.listen(socketPath, 16, events)).toThrow(/EADDRINUSE/);
    listener.close();
    listener = undefined;
    const refused = createConnection(socketPath);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve));
    expect(error.code).toBe('ECONNREFUSED');
  });
});
