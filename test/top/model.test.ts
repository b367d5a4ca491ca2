import { describe, expect, it } from 'vitest';
import { MIN_STALE_MS, STALE_INTERVALS } from '../../src/vm/vm.js';
import { TopModel, type VmRow } from '../../src/top/model.js';
import { stats } from './stats.js';

function rowOf(model: TopModel, name: string): VmRow {
  const row = model.rows().find((candidate) => candidate.name === name);
  if (row === undefined) throw new Error(`no row for ${name}`);
  return row;
}

describe('TopModel rates', () => {
  it('has no rates from a single frame, only the memory and the taps', () => {
    const model = new TopModel();
    model.observe(['t', 'web'], stats({ userUs: 5e6, maxrssKiB: 3072, taps: [{ name: 'tap0' }] }), 1000);
    expect(model.rows()).toEqual([{ name: 't.web', cpuPercent: undefined, maxrssMiB: 3, traffic: undefined, taps: 1 }]);
  });

  it('turns the deltas between two frames into CPU %, and per-second traffic summed over the taps', () => {
    const model = new TopModel();
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
    const model = new TopModel();
    model.observe(['a'], stats({ userUs: 0 }), 0);
    model.observe(['b'], stats({ userUs: 0 }), 0);
    model.observe(['a'], stats({ userUs: 1e6 }), 1000);
    model.observe(['b'], stats({ userUs: 250_000 }), 1000);
    expect(rowOf(model, 'a').cpuPercent).toBeCloseTo(100, 9);
    expect(rowOf(model, 'b').cpuPercent).toBeCloseTo(25, 9);
  });

  it('shows no rate, never a negative one, when the process restarted and its CPU time went down', () => {
    const model = new TopModel();
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
    const model = new TopModel();
    model.observe(['vm'], stats({ userUs: 1e6, maxrssKiB: 900_000 }), 0);
    model.observe(['vm'], stats({ userUs: 3e6, maxrssKiB: 20_000 }), 1000);
    expect(rowOf(model, 'vm').cpuPercent).toBeUndefined();
  });

  it('leaves out a tap whose counters went down (recreated) and a tap that is new, and counts the rest', () => {
    const model = new TopModel();
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
    const model = new TopModel();
    model.observe(['vm'], stats({ userUs: 0 }), 0);
    model.observe(['vm'], stats({ userUs: 1e5 }), 1000);
    expect(rowOf(model, 'vm')).toMatchObject({ cpuPercent: 10, traffic: undefined, taps: 0 });
  });

  it('takes a label holding a dot and two labels for one VM, as the daemon and the seed do', () => {
    const model = new TopModel();
    model.observe(['a.b'], stats({ userUs: 0 }), 0);
    model.observe(['a', 'b'], stats({ userUs: 0 }), 0);
    expect(model.rows().map((row) => row.name)).toEqual(['a.b']);
  });
});

describe('TopModel expiry', () => {
  it(`drops a VM after ${STALE_INTERVALS} intervals without Data (at least ${MIN_STALE_MS} ms), keeps the others`, () => {
    const model = new TopModel();
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
    const model = new TopModel();
    model.observe(['once'], stats({ userUs: 0 }), 0);
    model.expire(3_600_000);
    expect(model.rows()).toHaveLength(1);
  });

  it('waits at least the minimum before dropping, however short the interval', () => {
    const model = new TopModel();
    model.observe(['vm'], stats({ userUs: 0 }), 0);
    model.observe(['vm'], stats({ userUs: 0 }), 10);
    model.expire(10 + MIN_STALE_MS);
    expect(model.rows()).toHaveLength(1);
    model.expire(11 + MIN_STALE_MS);
    expect(model.rows()).toHaveLength(0);
  });
});
