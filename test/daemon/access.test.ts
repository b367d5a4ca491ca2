// Who may do what on the socket, with real users: the peer's uid and gid come from the kernel.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatsDaemon } from '../../src/daemon/daemon.js';
import { decodeFrame, encodeMessage, FrameReader } from '../../src/wire/index.js';
import type { Message } from '../../src/wire/messages.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { capturingLogger } from '../metrics/fixtures.js';
import { rootWithCommandMissing } from '../helpers/processes.js';

const MANAGER = `vmmstats-mgr${process.pid % 100000}`;

const reason = rootWithCommandMissing('the access control tests', 'the test creates a user and runs clients as other users', 'useradd', 'passwd');

/** A client in a process of its own, as `uid`: sends the frames and prints every reply, as hex lines. */
const CLIENT = `
const net = require('net');
const [path, ...frames] = process.argv.slice(1);
const socket = net.createConnection(path, () => socket.write(Buffer.concat(frames.map((f) => Buffer.from(f, 'hex')))));
const replies = [];
socket.on('data', (chunk) => replies.push(chunk));
setTimeout(() => { process.stdout.write(Buffer.concat(replies).toString('hex')); socket.destroy(); }, 500);
`;

async function askAs(uid: number, gid: number, socketPath: string, requests: Message[]): Promise<Message[]> {
  const child = spawn(process.execPath, ['-e', CLIENT, socketPath, ...requests.map((m) => encodeMessage(m).toString('hex'))], {
    uid, gid, stdio: ['ignore', 'pipe', 'inherit'], cwd: '/',
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await once(child, 'exit');
  return new FrameReader().push(Buffer.from(out, 'hex')).map((frame) => decodeFrame(frame).message);
}

const idOf = (what: 'u' | 'g', user: string) => Number(execFileSync('id', [`-${what}`, user], { encoding: 'utf8' }).trim());

describe.skipIf(reason !== undefined)('--manager-user', () => {
  let daemon: StatsDaemon;
  let dir: string;
  let socketPath: string;
  const { logger, records } = capturingLogger('info');

  beforeAll(async () => {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', MANAGER]);
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-access-'));
    chmodSync(dir, 0o755);
    socketPath = join(dir, 'stat.sock');
    daemon = await startTestDaemon(socketPath, { socketMode: 0o666, managerUsers: [MANAGER], logger });
  });

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
    execFileSync('userdel', [MANAGER], { stdio: 'ignore' });
  });

  const add = (id: bigint, name: string): Message => ({ kind: 'stats.add', id, name: [name], pid: process.pid, taps: [] });

  it('lets the manager Add and Remove', async () => {
    const replies = await askAs(idOf('u', MANAGER), idOf('g', MANAGER), socketPath, [add(1n, 'by-manager'), add(2n, 'gone'), { kind: 'stats.remove', id: 3n, name: ['gone'] }]);
    expect(replies.map((m) => [m.kind, m.id])).toEqual([['success', 1n], ['success', 2n], ['success', 3n]]);
    expect(daemon.registry.get('by-manager')).toBeDefined();
    expect(daemon.registry.get('gone')).toBeUndefined();
  });

  it('lets another user Subscribe, and refuses its Add and Remove, logging its uid', async () => {
    const nobody = idOf('u', 'nobody');
    const replies = await askAs(nobody, idOf('g', 'nobody'), socketPath, [
      { kind: 'stats.subscribe', id: 1n, name: [] }, add(2n, 'intruder'), { kind: 'stats.remove', id: 3n, name: ['by-manager'] },
    ]);
    const answers = replies.filter((m) => m.kind !== 'stats.data');
    expect(answers.map((m) => [m.kind, m.id])).toEqual([['success', 1n], ['fail', 2n], ['fail', 3n]]);
    expect(answers[1]).toMatchObject({ msg: expect.stringMatching(new RegExp(`^not permitted: .*uid ${nobody}`)) });
    expect(replies.some((m) => m.kind === 'stats.data' && m.name.join('.') === 'by-manager')).toBe(true);
    expect(daemon.registry.get('intruder')).toBeUndefined();
    expect(daemon.registry.get('by-manager')).toBeDefined();
    expect(records.filter((r) => /refused a registration change/.test(String(r.msg))).map((r) => r.uid)).toEqual([nobody, nobody]);
  });

  it('lets root do everything', async () => {
    const replies = await askAs(0, 0, socketPath, [add(1n, 'by-root'), { kind: 'stats.remove', id: 2n, name: ['by-root'] }]);
    expect(replies.filter((m) => m.kind !== 'stats.data').map((m) => m.kind)).toEqual(['success', 'success']);
  });
});
