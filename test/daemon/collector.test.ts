// The collector on its own: real processes and the loopback interface, sampled a tick at a time.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, type Targets } from '../../src/collector/collector.js';
import { sampleProcess } from '../../src/sampler/sampler.js';
import { vmLabels, type RegisteredVm } from '../../src/vm/vm.js';
import { decodeFrame, encodeStatsData } from '../../src/wire/index.js';
import { capturingLogger } from '../metrics/fixtures.js';

const collectors: Collector[] = [];
afterEach(() => collectors.splice(0).forEach((collector) => collector.close()));

function newCollector(): Collector {
  const collector = new Collector({ logger: pino({ level: 'silent' }), vmmOpenAttempts: 0 });
  collectors.push(collector);
  return collector;
}

function vmOf(name: string, pid: number, taps: string[]): RegisteredVm {
  return { name, labels: vmLabels(name), pid, startTime: sampleProcess(pid).startTime, taps };
}

function everyOne(vms: RegisteredVm[]): Targets {
  return { vms, wanted: vms };
}

/** This process's NETLINK_ROUTE sockets, by descriptor. */
function routeNetlinkSockets(): Set<number> {
  const rows = readFileSync('/proc/self/net/netlink', 'utf8').trim().split('\n').slice(1).map((line) => line.trim().split(/\s+/));
  const routeInodes = new Set(rows.filter((fields) => fields[1] === '0').map((fields) => fields.at(-1)));
  const fds = readdirSync('/proc/self/fd').map(Number).filter((fd) => {
    try {
      return routeInodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1]);
    } catch {
      return false;
    }
  });
  return new Set(fds);
}

const names = (samples: readonly { vm: RegisteredVm }[]) => samples.map((sample) => sample.vm.name);

describe('Collector', () => {
  it('encodes each Data frame from its rows to the bytes its records encode to', () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo', 'no-such-tap0']), vmOf('t.again', process.pid, ['lo'])]);
    for (let tick = 0; tick < 3; tick++) {
      const { samples } = collector.tick(targets);
      expect(names(samples)).toEqual(['t.self', 't.again']);
      for (const sample of samples) {
        expect(sample.stats.ifdata.map((ifdata) => ifdata.name)).toEqual(['lo']);
        expect(sample.stats.rusage.utime.sec * 1_000_000n + BigInt(sample.stats.rusage.utime.usec)).toBeGreaterThan(0n);
        expect(sample.dataFrame()).toEqual(encodeStatsData(sample.vm.labels, sample.stats));
        const decoded = decodeFrame(sample.dataFrame()).message;
        expect(decoded).toEqual({ kind: 'stats.data', id: 0n, name: sample.vm.labels, stats: sample.stats });
      }
    }
  });

  it('gives each tick a snapshot of its own: a sample reads the same after later ticks', () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    const [old] = collector.tick(targets).samples;
    const frame = Buffer.from(old!.dataFrame());
    for (let spin = Date.now(); Date.now() - spin < 30; ); // some CPU time, so that the next tick reads more
    const [next] = collector.tick(targets).samples;
    expect(next!.dataFrame()).not.toEqual(frame);
    expect(old!.dataFrame()).toEqual(frame);
  });

  it('fills the rows of a released snapshot again, and its samples refuse to be read after', () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    const first = collector.tick(targets);
    const kept = first.samples[0]!.stats; // a record made before the release is the caller's
    const words = first.samples[0]!.processWords;
    collector.release(first);
    const second = collector.tick(targets);
    expect(second.samples[0]!.processWords).toBe(words);
    expect(() => first.samples[0]!.dataFrame()).toThrow(/after its snapshot was released/);
    expect(kept.ifdata[0]!.name).toBe('lo');
    expect(second.samples[0]!.dataFrame()).toEqual(encodeStatsData(['t', 'self'], second.samples[0]!.stats));
  });

  it('fails a tick once closed', () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    expect(collector.tick(targets).samples).toHaveLength(1);
    collector.close(); // closes the interface sampler: the next tick fails after reading the processes
    expect(() => collector.tick(targets)).toThrow(/closed/);
  });

  it('samples only the wanted VMs, follows new targets, and reports the VMs whose process is gone', async () => {
    const collector = newCollector();
    const child = spawn('sleep', ['60']);
    await once(child, 'spawn');
    const exiting = vmOf('t.child', child.pid!, ['lo']);
    const unwanted = vmOf('t.unwanted', process.pid, ['lo']);
    const self = vmOf('t.self', process.pid, []);
    const first = collector.tick(everyOne([exiting, self]));
    expect(names(first.samples)).toEqual(['t.child', 't.self']);
    expect(first.gone).toEqual([]);

    const late = vmOf('t.late', process.pid, ['lo']);
    const targets: Targets = { vms: [exiting, self, unwanted, late], wanted: [exiting, self, late] };
    expect(names(collector.tick(targets).samples)).toEqual(['t.child', 't.self', 't.late']);

    child.kill('SIGKILL');
    await once(child, 'exit');
    const after = collector.tick(targets);
    expect(names(after.samples)).toEqual(['t.self', 't.late']);
    expect(after.gone).toEqual([{ vm: exiting, why: 'the process is gone' }]);

    const unwantedExit = collector.tick({ vms: [self, { ...unwanted, startTime: unwanted.startTime + 1n }], wanted: [self] });
    expect(unwantedExit.gone.map(({ vm, why }) => [vm.name, why])).toEqual([['t.unwanted', 'its pid now belongs to another process']]);
  });

  it('goes on without taps when the netlink socket fails, says so once, and reads them again at the next tick', () => {
    const { logger, records } = capturingLogger('info');
    const collector = new Collector({ logger, vmmOpenAttempts: 0 });
    collectors.push(collector);
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    const before = routeNetlinkSockets();
    expect(collector.tick(targets).samples[0]!.tapNames).toEqual(['lo']);
    const opened = [...routeNetlinkSockets()].filter((fd) => !before.has(fd));
    expect(opened).toHaveLength(1);
    closeSync(opened[0]!); // the socket fails under the sampler, as a kernel error would make it
    expect(collector.tick(targets).samples.map((sample) => sample.tapNames)).toEqual([[]]);
    expect(records.filter((r) => /interface counters unreadable/.test(String(r.msg)))).toHaveLength(1);
    // The failed socket was dropped; the next tick opens a new one.
    expect(collector.tick(targets).samples[0]!.tapNames).toEqual(['lo']);
    expect(collector.tick(targets).samples[0]!.tapNames).toEqual(['lo']);
    expect(records.filter((r) => r.msg === 'interface counters readable again')).toHaveLength(1);
  });

  it('opens at most its budget of hypervisor devices a tick, and the rest on the ticks after', () => {
    const debugfsRoot = mkdtempSync(join(tmpdir(), 'vmm-stats-budget-'));
    try {
      mkdirSync(join(debugfsRoot, `${process.pid}-11`));
      writeFileSync(join(debugfsRoot, `${process.pid}-11`, 'exits'), '7\n');
      const collector = new Collector({ logger: pino({ level: 'silent' }), debugfsRoot, vmmOpensPerTick: 2 });
      collectors.push(collector);
      const targets = everyOne(['a', 'b', 'c', 'd', 'e'].map((name) => vmOf(`t.${name}`, process.pid, [])));
      const withCounters = () => collector.tick(targets).samples.filter((sample) => sample.vmm.descriptions.length > 0).length;
      expect([withCounters(), withCounters(), withCounters(), withCounters()]).toEqual([2, 4, 5, 5]);
    } finally {
      rmSync(debugfsRoot, { recursive: true, force: true });
    }
  });

  it('refuses targets that want a VM it does not watch', () => {
    const self = vmOf('t.self', process.pid, []);
    expect(() => newCollector().tick({ vms: [], wanted: [self] })).toThrow(/not among the VMs watched/);
  });
});
