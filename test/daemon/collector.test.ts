// The collector on its own: real processes and the loopback interface, sampled a tick at a time.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector/collector.js';
import { Registry, type RegisteredVm } from '../../src/daemon/registry.js';
import { sampleProcess } from '../../src/sampler/sampler.js';
import { decodeFrame, encodeStatsData } from '../../src/wire/index.js';

const collectors: Collector[] = [];
afterEach(() => collectors.splice(0).forEach((collector) => collector.stop()));

function collectorOf(vms: RegisteredVm[], wants: (vm: RegisteredVm) => boolean = () => true) {
  const registry = new Registry();
  for (const vm of vms) registry.register(vm);
  const collector = new Collector(registry, { intervalMs: 1000, logger: pino({ level: 'silent' }), wants, vmmOpenAttempts: 0 }, () => {});
  collectors.push(collector);
  return { registry, collector };
}

function vmOf(name: string, pid: number, taps: string[]): RegisteredVm {
  return { name, labels: name.split('.'), pid, startTime: sampleProcess(pid).startTime, taps };
}

describe('Collector', () => {
  it('encodes each Data frame from its rows to the bytes its records encode to', () => {
    const { collector } = collectorOf([vmOf('t.self', process.pid, ['lo', 'no-such-tap0']), vmOf('t.again', process.pid, ['lo'])]);
    for (let tick = 0; tick < 3; tick++) {
      const { samples } = collector.tick();
      expect(samples.map((sample) => sample.vm.name)).toEqual(['t.self', 't.again']);
      for (const sample of samples) {
        expect(sample.stats.ifdata.map((ifdata) => ifdata.name)).toEqual(['lo']);
        expect(sample.stats.rusage.utime.sec * 1_000_000n + BigInt(sample.stats.rusage.utime.usec)).toBeGreaterThan(0n);
        expect(sample.dataFrame()).toEqual(encodeStatsData(sample.vm.labels, sample.stats));
        const decoded = decodeFrame(sample.dataFrame()).message;
        expect(decoded).toEqual({ kind: 'stats.data', id: 0n, name: sample.vm.labels, stats: sample.stats });
      }
    }
  });

  it('refuses to read a sample after a later tick has refilled its rows', () => {
    const { collector } = collectorOf([vmOf('t.self', process.pid, ['lo'])]);
    const [old] = collector.tick().samples;
    const kept = old!.stats; // made while current, and kept
    collector.tick();
    expect(() => old!.dataFrame()).toThrow(/after a later tick/);
    expect(kept.ifdata[0]!.name).toBe('lo');
  });

  it('keeps no sample of a tick that failed half way, rather than samples whose rows changed', () => {
    const { collector } = collectorOf([vmOf('t.self', process.pid, ['lo'])]);
    expect(collector.tick().samples).toHaveLength(1);
    collector.stop(); // closes the interface sampler: the next tick fails after reading the processes
    expect(() => collector.tick()).toThrow(/closed/);
    expect([...collector.latest()]).toEqual([]);
  });

  it('samples only the wanted VMs, follows registry changes, and unregisters a VM whose process is gone', async () => {
    const child = spawn('sleep', ['60']);
    await once(child, 'spawn');
    const gone = vmOf('t.child', child.pid!, ['lo']);
    const { registry, collector } = collectorOf([gone, vmOf('t.self', process.pid, [])], (vm) => vm.name !== 't.unwanted');
    expect(collector.tick().samples.map((sample) => sample.vm.name)).toEqual(['t.child', 't.self']);

    registry.register(vmOf('t.unwanted', process.pid, ['lo']));
    registry.register(vmOf('t.late', process.pid, ['lo']));
    expect(collector.tick().samples.map((sample) => sample.vm.name)).toEqual(['t.child', 't.self', 't.late']);

    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(collector.tick().samples.map((sample) => sample.vm.name)).toEqual(['t.self', 't.late']);
    expect(registry.get('t.child')).toBeUndefined();
    expect([...collector.latest()].map((sample) => sample.vm.name)).toEqual(['t.self', 't.late']);

    collector.forget(registry.remove('t.late')!);
    expect([...collector.latest()].map((sample) => sample.vm.name)).toEqual(['t.self']);
  });
});
