import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawPeer } from '../helpers/peer.js';
import { eventually } from '../helpers/processes.js';

const cli = new URL('../../bin/vmm-stats', import.meta.url).pathname;
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-life-'));
  dirs.push(dir);
  return dir;
}

/** The command as installed: run as an executable, so through the node flags of its first line. */
function startCli(args: string[]) {
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, stderr: () => stderr };
}

/** A peer on the daemon's socket, once the daemon answers there. */
function connectWhenUp(socket: string): Promise<RawPeer> {
  return eventually(async () => {
    try {
      return await RawPeer.connect(socket);
    } catch {
      return undefined;
    }
  }, 10_000, 'the daemon on its socket');
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the daemon as a process', () => {
  it('creates the socket directory, applies the mode, and on SIGTERM flushes, removes the socket and exits 0', async () => {
    const socket = join(tempDir(), 'run', 'albatross', 'stat.sock');
    const { child, stderr } = startCli(['daemon', '--socket', socket, '--interval', '0.1', '--socket-mode', '0600', '--state-file', '']);
    await eventually(() => (existsSync(socket) ? true : undefined), 10_000, 'the socket');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=2');
    const peer = await RawPeer.connect(socket);
    peer.send({ kind: 'stats.subscribe', id: 1n, name: [] });
    expect(await peer.reply(1n)).toMatchObject({ kind: 'success' });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(existsSync(socket)).toBe(false);
    await peer.waitFor(() => (peer.ended ? true : undefined));
    expect(peer.ended).toBe(true);
    expect(stderr()).toMatch(/stats daemon listening/);
    expect(stderr()).toMatch(/stats daemon stopped/);
  });

  it('refuses to start where another daemon answers, and replaces a stale socket', async () => {
    const dir = tempDir();
    const socket = join(dir, 'stat.sock');
    const other = createServer().listen(socket);
    await once(other, 'listening');
    const refused = startCli(['daemon', '--socket', socket]);
    const [code] = await once(refused.child, 'exit');
    expect(code).toBe(1);
    expect(refused.stderr()).toMatch(/another daemon is already listening/);
    await new Promise<void>((resolve) => other.close(() => resolve()));

    // A socket file that nobody listens on any more, as a killed daemon leaves it.
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(holder.stdout!, 'data');
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    expect(existsSync(socket)).toBe(true);
    const { child } = startCli(['daemon', '--socket', socket, '--state-file', '']);
    await eventually(async () => {
      try {
        const peer = await RawPeer.connect(socket);
        peer.close();
        return true;
      } catch {
        return undefined;
      }
    }, 10_000, 'the daemon on the stale socket');
    child.kill('SIGTERM');
    expect((await once(child, 'exit'))[0]).toBe(0);
  });

  it('restores its registrations after a SIGKILL, replacing the stale socket, and never tears the state file', async () => {
    const dir = tempDir();
    const socket = join(dir, 'stat.sock');
    const stateFile = join(dir, 'state', 'registrations.json');
    const vmm = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    await once(vmm, 'spawn');
    try {
      const args = ['daemon', '--socket', socket, '--interval', '0.05', '--state-file', stateFile];
      let daemon = startCli(args).child;
      // Registration changes keep the daemon writing the file while it is killed, again and again.
      for (let round = 0; round < 8; round++) {
        const peer = await connectWhenUp(socket);
        let id = 1n;
        const add = (name: string) => peer.send({ kind: 'stats.add', id: id++, name: ['r', name], pid: vmm.pid!, taps: [] });
        add('kept');
        for (let i = 0; i < 200; i++) add(`churn${i % 20}`);
        expect(await peer.reply(id - 1n)).toMatchObject({ kind: 'success' });
        await new Promise((resolve) => setTimeout(resolve, 20 + round * 15));
        daemon.kill('SIGKILL');
        await once(daemon, 'exit');
        peer.close();
        if (existsSync(stateFile)) expect(() => JSON.parse(readFileSync(stateFile, 'utf8'))).not.toThrow();
        daemon = startCli(args).child;
      }
      const peer = await connectWhenUp(socket);
      peer.send({ kind: 'stats.subscribe', id: 1n, name: ['r', 'kept'] });
      await peer.waitFor(() => peer.dataFrames().find((d) => d.name.join('.') === 'r.kept'), 5000);
      peer.close();
      expect(readdirSync(join(dir, 'state')).filter((name) => name.includes('corrupt'))).toEqual([]);
      daemon.kill('SIGTERM');
      expect((await once(daemon, 'exit'))[0]).toBe(0);
    } finally {
      vmm.kill('SIGKILL');
    }
  });

  it('refuses a path that is not a socket, and bad flags, with clear errors', async () => {
    const file = join(tempDir(), 'not-a-socket');
    writeFileSync(file, 'keep me');
    const notSocket = startCli(['daemon', '--socket', file]);
    expect((await once(notSocket.child, 'exit'))[0]).toBe(1);
    expect(notSocket.stderr()).toMatch(/is not a socket/);
    const badInterval = startCli(['daemon', '--interval', 'soon']);
    expect((await once(badInterval.child, 'exit'))[0]).toBe(2);
    expect(badInterval.stderr()).toMatch(/--interval takes seconds/);
  });
});
