// The daemon on a host that withholds something: here, taskstats (no CAP_NET_ADMIN).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawPeer } from '../helpers/peer.js';
import { ChildProcesses, eventually, rootWithCommandMissing } from '../helpers/processes.js';

const cli = new URL('../../bin/vmm-stats', import.meta.url).pathname;
/** Runs a command without CAP_NET_ADMIN, which taskstats needs: neither it nor what it runs can regain it. */
const WITHOUT_NET_ADMIN = ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', '--'];

const reason = rootWithCommandMissing('the taskstats fault test', 'there is no CAP_NET_ADMIN to take away', 'setpriv', 'util-linux');

const children = new ChildProcesses();
const dirs: string[] = [];
afterAll(async () => {
  await children.killAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(reason !== undefined)('without CAP_NET_ADMIN', () => {
  it('cannot have taskstats: a sample that insists on it fails', () => {
    const sample = spawnSync(WITHOUT_NET_ADMIN[0]!, [...WITHOUT_NET_ADMIN.slice(1), cli, 'sample', '--pid', String(process.pid)], {
      env: { ...process.env, VMM_STATS_PROCESS_SOURCE: 'taskstats' }, encoding: 'utf8',
    });
    expect(sample.status).toBe(1);
  });

  it('samples every process field from /proc, with no error on any tick', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-faults-'));
    dirs.push(dir);
    const socket = join(dir, 'stat.sock');
    const daemon = spawn(WITHOUT_NET_ADMIN[0]!, [...WITHOUT_NET_ADMIN.slice(1), cli, 'daemon', '--socket', socket, '--interval', '0.1', '--state-file', ''], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    daemon.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const vmm = await children.busy();
      const peer = await eventually(async () => RawPeer.connect(socket).catch(() => undefined), 10_000, 'the daemon');
      peer.send({ kind: 'stats.add', id: 1n, name: ['no', 'taskstats'], pid: vmm.pid!, taps: [] });
      expect(await peer.reply(1n)).toMatchObject({ kind: 'success' });
      peer.send({ kind: 'stats.subscribe', id: 2n, name: [] });
      const frames = await peer.waitFor(() => (peer.dataFrames().length >= 10 ? peer.dataFrames() : undefined), 10_000);
      peer.close();
      const last = frames!.at(-1)!.stats.rusage;
      expect(last.maxrss).toBeGreaterThan(1000n); // VmHWM of /proc/<pid>/status, in KiB
      expect(last.nvcsw + last.nivcsw).toBeGreaterThan(0n); // summed over /proc/<pid>/task/*/status
      expect(last.utime.sec * 1_000_000n + BigInt(last.utime.usec)).toBeGreaterThan(0n);
      const complaints = stderr.split('\n').filter((line) => line !== '' && (JSON.parse(line) as { level: number }).level >= 40);
      expect(complaints).toEqual([]);
    } finally {
      daemon.kill('SIGTERM');
      await once(daemon, 'exit');
    }
  });
});
