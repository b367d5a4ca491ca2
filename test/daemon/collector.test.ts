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
import { renderMetricsBytes } from '../../src/metrics/exposition.js';
import { decodeFrame, encodeStatsData } from '../../src/wire/index.js';
import { IFDATA_LAYOUT, RUSAGE_LAYOUT } from '../../src/wire/layouts.js';
import type { IfData, Rusage, Stats } from '../../src/wire/messages.js';
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

/** A sample's numbers (views of its rows) copied into plain records, as a decoder makes them. */
function recordOf({ rusage, vmm, ifdata }: Stats): Stats {
  const fields = <T>(layout: readonly { key: string }[], view: T) => Object.fromEntries(layout.map(({ key }) => [key, view[key as keyof T]]));
  return {
    rusage: fields(RUSAGE_LAYOUT, rusage) as Rusage,
    vmm,
    ifdata: ifdata.map((tap) => ({ name: tap.name, ...fields(IFDATA_LAYOUT, tap) }) as IfData),
  };
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
  it('encodes each Data frame from its rows to the bytes its records encode to', async () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo', 'no-such-tap0']), vmOf('t.again', process.pid, ['lo'])]);
    for (let tick = 0; tick < 3; tick++) {
      const { samples } = await collector.tick(targets);
      expect(names(samples)).toEqual(['t.self', 't.again']);
      for (const sample of samples) {
        expect(sample.stats.ifdata.map((ifdata) => ifdata.name)).toEqual(['lo']);
        expect(sample.stats.rusage.utime.sec * 1_000_000n + BigInt(sample.stats.rusage.utime.usec)).toBeGreaterThan(0n);
        expect(sample.dataFrame()).toEqual(encodeStatsData(sample.vm.labels, sample.stats));
        const decoded = decodeFrame(sample.dataFrame()).message;
        expect(decoded).toEqual({ kind: 'stats.data', id: 0n, name: sample.vm.labels, stats: recordOf(sample.stats) });
      }
    }
  });

  it('renders the same exposition from its rows as from records of them', async () => {
    const collector = newCollector();
    const { samples } = await collector.tick(everyOne([vmOf('t.self', process.pid, ['lo']), vmOf('t.two', process.pid, ['lo', 'lo'])]));
    const render = (stats: (sample: (typeof samples)[number]) => Stats) =>
      renderMetricsBytes(samples.map((sample) => ({ name: sample.vm.name, stats: stats(sample) })), { vms: samples.length }, 'openmetrics').toString();
    const fromRecords = render((sample) => recordOf(sample.stats));
    expect(fromRecords).toMatch(/^vmm_stats_tap_from_vm_bytes_total\{vm="t.two",interface="lo"\} \d+$/m);
    expect(render((sample) => sample.stats)).toBe(fromRecords);
  });

  it('reads the overview\'s totals off the rows as the records have them', async () => {
    const collector = newCollector();
    const [sample] = (await collector.tick(everyOne([vmOf('t.self', process.pid, ['lo', 'lo'])]))).samples;
    const { rusage, ifdata } = sample!.stats;
    const seconds = (t: { sec: bigint; usec: number }) => Number(t.sec) + t.usec / 1e6;
    const sum = (field: 'input_bytes' | 'output_bytes' | 'input_packets' | 'output_packets') => ifdata.reduce((total, tap) => total + Number(tap[field]), 0);
    expect(sample!.totals()).toEqual({
      cpuSeconds: seconds(rusage.utime) + seconds(rusage.stime),
      maxrssKiB: Number(rusage.maxrss),
      taps: ['lo', 'lo'],
      fromVmBytes: sum('input_bytes'),
      toVmBytes: sum('output_bytes'),
      fromVmPackets: sum('input_packets'),
      toVmPackets: sum('output_packets'),
    });
    expect(sample!.totals().cpuSeconds).toBeGreaterThan(0);
  });

  it('gives each tick a snapshot of its own: a sample reads the same after later ticks', async () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    const [old] = (await collector.tick(targets)).samples;
    const frame = Buffer.from(old!.dataFrame());
    for (let spin = Date.now(); Date.now() - spin < 30; ); // some CPU time, so that the next tick reads more
    const [next] = (await collector.tick(targets)).samples;
    expect(next!.dataFrame()).not.toEqual(frame);
    expect(old!.dataFrame()).toEqual(frame);
  });

  it('fills the rows of a released snapshot again, and its samples refuse to be read after', async () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    const first = await collector.tick(targets);
    const kept = recordOf(first.samples[0]!.stats); // a copy made before the release is the caller's
    const words = first.samples[0]!.processWords;
    collector.release(first);
    const second = await collector.tick(targets);
    expect(second.samples[0]!.processWords).toBe(words);
    expect(() => first.samples[0]!.dataFrame()).toThrow(/after its snapshot was released/);
    expect(() => first.samples[0]!.stats).toThrow(/after its snapshot was released/);
    expect(kept.ifdata[0]!.name).toBe('lo');
    expect(second.samples[0]!.dataFrame()).toEqual(encodeStatsData(['t', 'self'], second.samples[0]!.stats));
  });

  it('fails a tick once closed', async () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    expect((await collector.tick(targets)).samples).toHaveLength(1);
    collector.close();
    await expect(collector.tick(targets)).rejects.toThrow(/closed/);
  });

  it('reads off the JavaScript thread: timers run during a tick, a second tick is refused', async () => {
    const collector = newCollector();
    // Enough pids that the pass takes a while: the same process many times over.
    const many = Array.from({ length: 3000 }, (_, i) => vmOf(`t.self${i}`, process.pid, ['lo']));
    const targets = everyOne(many);
    let timerRan = false;
    const ticking = collector.tick(targets);
    setImmediate(() => {
      timerRan = true;
    });
    await expect(collector.tick(targets)).rejects.toThrow(/already running/);
    const snapshot = await ticking;
    expect(timerRan).toBe(true);
    expect(snapshot.samples).toHaveLength(3000);
    expect(snapshot.samples[2999]!.stats.ifdata.map((ifdata) => ifdata.name)).toEqual(['lo']);
  });

  it('closes what it holds only once a tick that runs has ended', async () => {
    const collector = newCollector();
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    const ticking = collector.tick(targets);
    collector.close();
    expect((await ticking).samples[0]!.tapNames).toEqual(['lo']);
    await expect(collector.tick(targets)).rejects.toThrow(/closed/);
  });

  it('samples only the wanted VMs, follows new targets, and reports the VMs whose process is gone', async () => {
    const collector = newCollector();
    const child = spawn('sleep', ['60']);
    await once(child, 'spawn');
    const exiting = vmOf('t.child', child.pid!, ['lo']);
    const unwanted = vmOf('t.unwanted', process.pid, ['lo']);
    const self = vmOf('t.self', process.pid, []);
    const first = await collector.tick(everyOne([exiting, self]));
    expect(names(first.samples)).toEqual(['t.child', 't.self']);
    expect(first.gone).toEqual([]);

    const late = vmOf('t.late', process.pid, ['lo']);
    const targets: Targets = { vms: [exiting, self, unwanted, late], wanted: [exiting, self, late] };
    expect(names((await collector.tick(targets)).samples)).toEqual(['t.child', 't.self', 't.late']);

    child.kill('SIGKILL');
    await once(child, 'exit');
    const after = await collector.tick(targets);
    expect(names(after.samples)).toEqual(['t.self', 't.late']);
    expect(after.gone).toEqual([{ vm: exiting, why: 'the process is gone' }]);

    const unwantedExit = await collector.tick({ vms: [self, { ...unwanted, startTime: unwanted.startTime + 1n }], wanted: [self] });
    expect(unwantedExit.gone.map(({ vm, why }) => [vm.name, why])).toEqual([['t.unwanted', 'its pid now belongs to another process']]);
  });

  it('goes on without taps when the netlink socket fails, says so once, and reads them again at the next tick', async () => {
    const { logger, records } = capturingLogger('info');
    const collector = new Collector({ logger, vmmOpenAttempts: 0 });
    collectors.push(collector);
    const targets = everyOne([vmOf('t.self', process.pid, ['lo'])]);
    const before = routeNetlinkSockets();
    expect((await collector.tick(targets)).samples[0]!.tapNames).toEqual(['lo']);
    const opened = [...routeNetlinkSockets()].filter((fd) => !before.has(fd));
    expect(opened).toHaveLength(1);
    closeSync(opened[0]!); // the socket fails under the sampler, as a kernel error would make it
    expect((await collector.tick(targets)).samples.map((sample) => sample.tapNames)).toEqual([[]]);
    expect(records.filter((r) => /interface counters unreadable/.test(String(r.msg)))).toHaveLength(1);
    // The failed socket was dropped; the next tick opens a new one.
    expect((await collector.tick(targets)).samples[0]!.tapNames).toEqual(['lo']);
    expect((await collector.tick(targets)).samples[0]!.tapNames).toEqual(['lo']);
    expect(records.filter((r) => r.msg === 'interface counters readable again')).toHaveLength(1);
  });

  it('opens at most its budget of hypervisor devices a tick, and the rest on the ticks after', async () => {
    const debugfsRoot = mkdtempSync(join(tmpdir(), 'vmm-stats-budget-'));
    try {
      mkdirSync(join(debugfsRoot, `${process.pid}-11`));
      writeFileSync(join(debugfsRoot, `${process.pid}-11`, 'exits'), '7\n');
      const collector = new Collector({ logger: pino({ level: 'silent' }), debugfsRoot, vmmOpensPerTick: 2 });
      collectors.push(collector);
      const targets = everyOne(['a', 'b', 'c', 'd', 'e'].map((name) => vmOf(`t.${name}`, process.pid, [])));
      const withCounters = async () => (await collector.tick(targets)).samples.filter((sample) => sample.vmm.descriptions.length > 0).length;
      const counts: number[] = [];
      const pending: number[] = [];
      for (let tick = 0; tick < 4; tick++) {
        counts.push(await withCounters());
        pending.push(collector.stats.hypervisorOpensPending);
      }
      expect(counts).toEqual([2, 4, 5, 5]);
      expect(pending).toEqual([3, 1, 0, 0]);
    } finally {
      rmSync(debugfsRoot, { recursive: true, force: true });
    }
  });

  it('counts a VM whose counters cannot be opened as pending until its last attempt, within the budget', async () => {
    const debugfsRoot = mkdtempSync(join(tmpdir(), 'vmm-stats-none-'));
    try {
      const collector = new Collector({ logger: pino({ level: 'silent' }), debugfsRoot, vmmOpenAttempts: 2, vmmOpensPerTick: 1 });
      collectors.push(collector);
      const targets = everyOne(['a', 'b'].map((name) => vmOf(`t.${name}`, process.pid, [])));
      const pending: number[] = [];
      for (let tick = 0; tick < 5; tick++) {
        await collector.tick(targets);
        pending.push(collector.stats.hypervisorOpensPending);
      }
      expect(pending).toEqual([2, 2, 1, 0, 0]);
    } finally {
      rmSync(debugfsRoot, { recursive: true, force: true });
    }
  });

  it('refuses targets that want a VM it does not watch', async () => {
    const self = vmOf('t.self', process.pid, []);
    await expect(newCollector().tick({ vms: [], wanted: [self] })).rejects.toThrow(/not among the VMs watched/);
  });
});
