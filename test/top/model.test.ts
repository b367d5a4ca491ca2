import { describe, expect, it } from 'vitest';
import { MIN_STALE_MS, STALE_INTERVALS } from '../../src/vm/vm.js';
import { TopModel, type VmRow } from '../../src/top/model.js';
import { stats } from './stats.js';

/** A model refreshed after every frame, as top without --delay is when each tick's Data comes alone. */
class RefreshedModel extends TopModel {
  override observe(...args: Parameters<TopModel['observe']>): void {
    super.observe(...args);
    this.refresh();
  }
}

function rowOf(model: TopModel, name: string): VmRow {
  const row = model.rows().find((candidate) => candidate.name === name);
  if (row === undefined) throw new Error(`no row for ${name}`);
  return row;
}

describe('TopModel rates', () => {
  it('has no rates from a single frame, only the memory and the taps', () => {
    const model = new RefreshedModel();
    model.observe(['t', 'web'], stats({ userUs: 5e6, maxrssKiB: 3072, taps: [{ name: 'tap0' }] }), 1000);
    expect(model.rows()).toEqual([{ name: 't.web', cpuPercent: undefined, maxrssMiB: 3, traffic: undefined, taps: 1, exitsPerSecond: undefined }]);
  });

  it('turns the deltas between two frames into CPU %, and per-second traffic summed over the taps', () => {
    const model = new RefreshedModel();
    const before = stats({
      userUs: 1_000_000,
      systemUs: 500_000,
      maxrssKiB: 1024,
      taps: [
        { name: 'tap0', packetsIn: 100, packetsOut: 10, bytesIn: 1000, bytesOut: 100 },
        { name: 'tap1', packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 },
      ],
    });
    // Two seconds later: 2.5 s more user time and 0.5 s more system time, 150% of a core.
    const after = stats({
      userUs: 3_500_000,
      systemUs: 1_000_000,
      maxrssKiB: 2048,
      taps: [
        { name: 'tap0', packetsIn: 300, packetsOut: 50, bytesIn: 5000, bytesOut: 900 },
        { name: 'tap1', packetsIn: 40, packetsOut: 20, bytesIn: 4000, bytesOut: 2000 },
      ],
    });
    model.observe(['vm'], before, 10_000);
    model.observe(['vm'], after, 12_000);
    const row = rowOf(model, 'vm');
    expect(row.cpuPercent).toBeCloseTo(150, 9);
    expect(row.maxrssMiB).toBe(2);
    expect(row.taps).toBe(2);
    expect(row.traffic).toEqual({ packetsIn: 120, packetsOut: 30, bytesIn: 4000, bytesOut: 1400 });
  });

  it('keeps each VM to its own frames', () => {
    const model = new RefreshedModel();
    model.observe(['a'], stats({ userUs: 0 }), 0);
    model.observe(['b'], stats({ userUs: 0 }), 0);
    model.observe(['a'], stats({ userUs: 1e6 }), 1000);
    model.observe(['b'], stats({ userUs: 250_000 }), 1000);
    expect(rowOf(model, 'a').cpuPercent).toBeCloseTo(100, 9);
    expect(rowOf(model, 'b').cpuPercent).toBeCloseTo(25, 9);
  });

  it('shows no rate, never a negative one, when the process restarted and its CPU time went down', () => {
    const model = new RefreshedModel();
    model.observe(['vm'], stats({ userUs: 90e6, maxrssKiB: 4096, taps: [{ name: 'tap0', bytesIn: 1e6 }] }), 0);
    model.observe(['vm'], stats({ userUs: 1e6, maxrssKiB: 4096, taps: [{ name: 'tap0', bytesIn: 2e6 }] }), 1000);
    const row = rowOf(model, 'vm');
    expect(row.cpuPercent).toBeUndefined();
    expect(row.traffic).toBeUndefined();
    // The restarted process is the baseline from now on.
    model.observe(['vm'], stats({ userUs: 1.5e6, maxrssKiB: 4096, taps: [{ name: 'tap0', bytesIn: 2.5e6 }] }), 2000);
    expect(rowOf(model, 'vm').cpuPercent).toBeCloseTo(50, 9);
    expect(rowOf(model, 'vm').traffic?.bytesIn).toBe(500_000);
  });

  it('takes a smaller peak resident set as a new process (a new pid), even when its CPU time is higher', () => {
    const model = new RefreshedModel();
    model.observe(['vm'], stats({ userUs: 1e6, maxrssKiB: 900_000 }), 0);
    model.observe(['vm'], stats({ userUs: 3e6, maxrssKiB: 20_000 }), 1000);
    expect(rowOf(model, 'vm').cpuPercent).toBeUndefined();
  });

  it('leaves out a tap whose counters went down (recreated) and a tap that is new, and counts the rest', () => {
    const model = new RefreshedModel();
    model.observe(
      ['vm'],
      stats({ userUs: 0, taps: [{ name: 'tap0', packetsIn: 500, bytesIn: 50_000 }, { name: 'tap1', packetsIn: 10, bytesIn: 1000 }] }),
      0,
    );
    model.observe(
      ['vm'],
      stats({
        userUs: 0,
        taps: [
          { name: 'tap0', packetsIn: 3, bytesIn: 300 },
          { name: 'tap1', packetsIn: 20, bytesIn: 2000 },
          { name: 'tap2', packetsIn: 1e6, bytesIn: 1e9 },
        ],
      }),
      1000,
    );
    const row = rowOf(model, 'vm');
    expect(row.taps).toBe(3);
    expect(row.traffic).toEqual({ packetsIn: 10, packetsOut: 0, bytesIn: 1000, bytesOut: 0 });
  });

  it('has no traffic rate for a VM without taps', () => {
    const model = new RefreshedModel();
    model.observe(['vm'], stats({ userUs: 0 }), 0);
    model.observe(['vm'], stats({ userUs: 1e5 }), 1000);
    expect(rowOf(model, 'vm')).toMatchObject({ cpuPercent: 10, traffic: undefined, taps: 0 });
  });

  it('takes a label holding a dot and two labels for one VM, as the daemon and the seed do', () => {
    const model = new RefreshedModel();
    model.observe(['a.b'], stats({ userUs: 0 }), 0);
    model.observe(['a', 'b'], stats({ userUs: 0 }), 0);
    expect(model.rows().map((row) => row.name)).toEqual(['a.b']);
  });
});

describe('TopModel refreshes', () => {
  it('averages over the time between two refreshes, however many frames came between', () => {
    const model = new TopModel();
    model.observe(['vm'], stats({ userUs: 0 }), 0);
    model.refresh();
    // Four frames a second apart, the CPU busy in only one of those seconds: 25% over the four.
    for (const [at, userUs] of [[1000, 0], [2000, 1e6], [3000, 1e6], [4000, 1e6]] as const) model.observe(['vm'], stats({ userUs }), at);
    expect(rowOf(model, 'vm').cpuPercent).toBeUndefined();
    model.refresh();
    expect(rowOf(model, 'vm').cpuPercent).toBeCloseTo(25, 9);
  });

  it('keeps the rates of a VM without a frame since the last refresh, and shows a new VM from its next one', () => {
    const model = new TopModel();
    model.observe(['vm'], stats({ userUs: 0 }), 0);
    model.refresh();
    model.observe(['vm'], stats({ userUs: 500_000 }), 1000);
    model.refresh();
    model.observe(['new'], stats({ userUs: 0 }), 1500);
    expect(model.rows().map((row) => row.name)).toEqual(['vm']);
    model.refresh();
    expect(rowOf(model, 'vm').cpuPercent).toBeCloseTo(50, 9);
    expect(rowOf(model, 'new')).toMatchObject({ cpuPercent: undefined, maxrssMiB: 0 });
  });
});

describe("TopModel's hypervisor counters", () => {
  it("takes KVM's exits and bhyve's total number of vm exits as the exits per second", () => {
    const model = new RefreshedModel();
    model.observe(['kvm'], stats({ userUs: 0, vmm: [['halt_exits', 5], ['exits', 100]] }), 0);
    model.observe(['bhyve'], stats({ userUs: 0, vmm: [['total number of vm exits', 7], ['vm exits due to external interrupt', 1]] }), 0);
    model.observe(['solo5'], stats({ userUs: 0, vmm: [['pages_4k', 3]] }), 0);
    model.observe(['kvm'], stats({ userUs: 0, vmm: [['halt_exits', 50], ['exits', 2100]] }), 2000);
    model.observe(['bhyve'], stats({ userUs: 0, vmm: [['total number of vm exits', 307], ['vm exits due to external interrupt', 9]] }), 2000);
    model.observe(['solo5'], stats({ userUs: 0, vmm: [['pages_4k', 3]] }), 2000);
    expect(rowOf(model, 'kvm').exitsPerSecond).toBe(1000);
    expect(rowOf(model, 'bhyve').exitsPerSecond).toBe(150);
    expect(rowOf(model, 'solo5').exitsPerSecond).toBeUndefined();
  });

  it('has no exit rate when the counter went down', () => {
    const model = new RefreshedModel();
    model.observe(['vm'], stats({ userUs: 0, vmm: [['exits', 900]] }), 0);
    model.observe(['vm'], stats({ userUs: 1000, vmm: [['exits', 10]] }), 1000);
    expect(rowOf(model, 'vm').exitsPerSecond).toBeUndefined();
  });

  it("gives a VM's counters with totals and rates, fastest first, those without a rate last", () => {
    const model = new RefreshedModel();
    model.observe(['vm'], stats({ userUs: 0, vmm: [['exits', 100], ['io_exits', 10], ['halt_exits', 0], ['pages_4k', 500]] }), 0);
    expect(model.counters('vm')!.map((counter) => counter.perSecond)).toEqual([undefined, undefined, undefined, undefined]);
    model.observe(['vm'], stats({ userUs: 0, vmm: [['exits', 400], ['io_exits', 230], ['halt_exits', 200], ['pages_4k', 400], ['new', 1]] }), 2000);
    // By rate, not by name: io_exits before halt_exits.
    expect(model.counters('vm')).toEqual([
      { name: 'exits', total: 400n, perSecond: 150 },
      { name: 'io_exits', total: 230n, perSecond: 110 },
      { name: 'halt_exits', total: 200n, perSecond: 100 },
      { name: 'new', total: 1n, perSecond: undefined },
      { name: 'pages_4k', total: 400n, perSecond: undefined },
    ]);
    expect(model.counters('nobody')).toBeUndefined();
  });
});

describe('TopModel expiry', () => {
  it(`drops a VM after ${STALE_INTERVALS} intervals without Data (at least ${MIN_STALE_MS} ms), keeps the others`, () => {
    const model = new RefreshedModel();
    const intervalMs = 500;
    for (let tick = 0; tick <= 10; tick++) {
      const at = tick * intervalMs;
      model.observe(['alive'], stats({ userUs: tick }), at);
      if (tick <= 2) model.observe(['gone'], stats({ userUs: tick }), at);
      model.expire(at);
      const names = model.rows().map((row) => row.name);
      const silentFor = at - 2 * intervalMs;
      expect(names.includes('gone'), `at ${at} ms`).toBe(silentFor <= STALE_INTERVALS * intervalMs);
      expect(names).toContain('alive');
    }
  });

  it('keeps every VM while the interval is still unknown (one frame each)', () => {
    const model = new RefreshedModel();
    model.observe(['once'], stats({ userUs: 0 }), 0);
    model.expire(3_600_000);
    expect(model.rows()).toHaveLength(1);
  });

  it('waits at least the minimum before dropping, however short the interval', () => {
    const model = new RefreshedModel();
    model.observe(['vm'], stats({ userUs: 0 }), 0);
    model.observe(['vm'], stats({ userUs: 0 }), 10);
    model.expire(10 + MIN_STALE_MS);
    expect(model.rows()).toHaveLength(1);
    model.expire(11 + MIN_STALE_MS);
    expect(model.rows()).toHaveLength(0);
  });
});
