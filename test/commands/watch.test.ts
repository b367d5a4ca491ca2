// `vmm-stats watch` as a real process, subscribed to a real daemon (in this process) watching a real process.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage, messageFromJson } from '../../src/wire/index.js';
import { startTempDaemon, type TempDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/peer.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const children = new ChildProcesses();
let daemon: TempDaemon;
let socketPath: string;

beforeAll(async () => {
  daemon = await startTempDaemon();
  socketPath = daemon.socketPath;
});

afterAll(async () => {
  await daemon.stop();
  await children.killAll();
});

async function addVm(name: string[]): Promise<void> {
  const vmm = await children.idle();
  const manager = await RawPeer.connect(socketPath);
  try {
    manager.send({ kind: 'stats.add', id: 1n, name, pid: vmm.pid!, taps: [] });
    expect(await manager.reply(1n)).toMatchObject({ kind: 'success' });
  } finally {
    manager.close();
  }
}

/** Runs `vmm-stats watch ARGS` until it has printed `count` lines, then stops it with SIGTERM. */
async function watchLines(args: string[], count: number): Promise<{ lines: string[]; code: number | null }> {
  const watch = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'watch', '--socket', socketPath, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(watch, 'exit');
  let stdout = '';
  watch.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await eventually(() => (stdout.split('\n').length > count ? true : undefined), 20_000, `${count} lines from watch`);
  watch.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return { lines: stdout.split('\n').slice(0, count), code };
}

describe('vmm-stats watch --json', () => {
  it("prints each Data frame as 'vmm-stats wire decode' prints it, escapes included", async () => {
    // \b and \f are where the oracle's escaping differs from JSON.stringify's.
    const name = ['tenant', 'web\b\f'];
    await addVm(name);
    const { lines, code } = await watchLines(['--json', 'tenant'], 2);
    expect(code).toBe(0);
    for (const line of lines) {
      const { header, ...fields } = JSON.parse(line) as { header: { id: string }; name: string[] };
      expect(fields.name).toEqual(name);
      const hex = encodeMessage(messageFromJson({ ...fields, id: header.id })).toString('hex');
      const decoded = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'wire', 'decode'], {
        cwd: repoRoot,
        input: hex,
        encoding: 'utf8',
      });
      expect(decoded.stdout).toBe(line + '\n');
    }
  });
});
