// Registrations that survive a restart of the daemon: the state file, written as registrations change and
// read at start, with real processes standing in for the VMs.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DaemonOptions, StatsDaemon } from '../../src/daemon/daemon.js';
import { stateText } from '../../src/daemon/state-file.js';
import { sampleProcess } from '../../src/sampler/sampler.js';
import { vmLabels, type RegisteredVm } from '../../src/vm/vm.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/peer.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';

const children = new ChildProcesses();
const daemons: StatsDaemon[] = [];
let dir: string;

afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop()));
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => children.killAll());

function paths() {
  dir = mkdtempSync(join(tmpdir(), 'vmm-stats-state-'));
  return { socketPath: join(dir, 'stat.sock'), stateFile: join(dir, 'state', 'registrations.json') };
}

async function start(overrides: Partial<DaemonOptions>): Promise<StatsDaemon> {
  const daemon = await startTestDaemon(overrides.socketPath!, overrides);
  daemons.push(daemon);
  return daemon;
}

async function stop(daemon: StatsDaemon): Promise<void> {
  daemons.splice(daemons.indexOf(daemon), 1);
  await daemon.stop();
}

function vmOf(name: string, pid: number, startTime = sampleProcess(pid).startTime): RegisteredVm {
  return { name, labels: vmLabels(name), pid, startTime, taps: ['lo'] };
}

const registered = (daemon: StatsDaemon) => [...daemon.registry.all()].map((vm) => vm.name).sort();

describe('the state file', () => {
  it('brings every registration back after a restart, and the VMs\' Data within one interval', async () => {
    const { socketPath, stateFile } = paths();
    const first = await start({ socketPath, stateFile });
    const vmms = await Promise.all([children.idle(), children.idle(), children.idle()]);
    const peer = await RawPeer.connect(socketPath);
    for (const [i, vmm] of vmms.entries()) {
      peer.send({ kind: 'stats.add', id: BigInt(i + 1), name: ['t', `vm${i}`], pid: vmm.pid!, taps: ['lo'] });
      expect(await peer.reply(BigInt(i + 1))).toMatchObject({ kind: 'success' });
    }
    peer.close();
    await eventually(() => (existsSync(stateFile) && readFileSync(stateFile, 'utf8').includes('vm2') ? true : undefined), 5000, 'the state file');
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    await stop(first);

    const second = await start({ socketPath, stateFile });
    expect(registered(second)).toEqual(['t.vm0', 't.vm1', 't.vm2']);
    expect(second.registry.get('t.vm1')).toMatchObject({ pid: vmms[1]!.pid, taps: ['lo'], startTime: sampleProcess(vmms[1]!.pid!).startTime });
    const subscriber = await RawPeer.connect(socketPath);
    subscriber.send({ kind: 'stats.subscribe', id: 1n, name: ['t'] });
    const started = Date.now();
    await subscriber.waitFor(() => (new Set(subscriber.dataFrames().map((d) => d.name.join('.'))).size === 3 ? true : undefined));
    expect(Date.now() - started).toBeLessThan(1000);
    subscriber.close();
  });

  it('is not written again when the manager repeats an Add, only when the registration changes', async () => {
    const { socketPath, stateFile } = paths();
    const daemon = await start({ socketPath, stateFile });
    const vmm = await children.idle();
    const peer = await RawPeer.connect(socketPath);
    const add = async (id: bigint, taps: string[]) => {
      peer.send({ kind: 'stats.add', id, name: ['t', 'vm'], pid: vmm.pid!, taps });
      expect(await peer.reply(id)).toMatchObject({ kind: 'success' });
    };
    await add(1n, ['lo']);
    await eventually(() => (existsSync(stateFile) && readFileSync(stateFile, 'utf8').includes('"vm"') ? true : undefined), 5000, 'the VM in the state file');
    const written = statSync(stateFile).ino;
    const generation = daemon.registry.generation;
    for (let id = 2n; id < 12n; id++) await add(id, ['lo']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(daemon.registry.generation).toBe(generation);
    expect(statSync(stateFile).ino).toBe(written);
    await add(12n, ['lo', 'tap-new']);
    await eventually(() => (readFileSync(stateFile, 'utf8').includes('tap-new') ? true : undefined), 5000, 'the new taps in the state file');
    expect(daemon.registry.generation).toBeGreaterThan(generation);
    peer.close();
  });

  it('leaves out a VM whose process exited, and one whose pid now belongs to another process', async () => {
    const { socketPath, stateFile } = paths();
    const [alive, exited] = await Promise.all([children.idle(), children.idle()]);
    const before = [vmOf('alive', alive.pid!), vmOf('exited', exited.pid!), vmOf('reused', alive.pid!, sampleProcess(alive.pid!).startTime - 1n)];
    await children.kill(exited);
    await start({ socketPath, stateFile: writeState(stateFile, await stateText(before)) });
    const daemon = daemons[0]!;
    expect(registered(daemon)).toEqual(['alive']);
    await eventually(() => (readFileSync(stateFile, 'utf8').includes('reused') ? undefined : true), 5000, 'the file without the dropped VMs');
  });

  it.each([
    ['a file that is not JSON', () => '{"version":1,"vms":[{"name":["a"],"pid":'],
    ['a file of another version', () => '{"version":9,"vms":[]}'],
  ])('sets aside %s and starts with nothing', async (_what, text) => {
    const { socketPath, stateFile } = paths();
    const daemon = await start({ socketPath, stateFile: writeState(stateFile, text()) });
    expect(daemon.registry.size).toBe(0);
    const aside = readdirSync(join(dir, 'state')).filter((name) => name.startsWith('registrations.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, 'state', aside[0]!), 'utf8')).toBe(text());
  });

  it('keeps every entry that validates from a file with some that do not, and sets the file aside', async () => {
    const { socketPath, stateFile } = paths();
    const good = JSON.parse(await stateText([vmOf('good', process.pid)])).vms[0];
    const text = JSON.stringify({ version: 1, vms: [good, { ...good, name: ['a.b'] }, { ...good, name: ['c'], pid: -1 }, 'junk'] });
    const daemon = await start({ socketPath, stateFile: writeState(stateFile, text) });
    expect(registered(daemon)).toEqual(['good']);
    expect(readdirSync(join(dir, 'state')).some((name) => name.startsWith('registrations.json.corrupt-'))).toBe(true);
  });

  it('restores 1000 VMs and serves them all from the first tick', async () => {
    const { socketPath, stateFile } = paths();
    const vms = Array.from({ length: 1000 }, (_, i) => vmOf(`bulk.vm${i}`, process.pid));
    const daemon = await start({ socketPath, stateFile: writeState(stateFile, await stateText(vms)), intervalMs: 200 });
    expect(daemon.registry.size).toBe(1000);
    const source = daemon.serveMetrics();
    const served = await eventually(() => {
      const count = [...source.snapshot().vms].length;
      return count > 0 ? count : undefined;
    }, 2000, 'the first tick');
    expect(served).toBe(1000);
  });
});

/** Lays a state file as an earlier daemon would have left it. */
function writeState(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}
