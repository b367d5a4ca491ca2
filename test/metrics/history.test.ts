// The overview's history: rates from counters, the rings' bound, and which rounds an answer holds.
import { describe, expect, it } from 'vitest';
import { answerOverview, HISTORY_POINTS, OverviewHistory, type Instant, type OverviewVm } from '../../src/metrics/history.js';
import type { VmSnapshot } from '../../src/metrics/exposition.js';
import type { IfData } from '../../src/wire/messages.js';
import { Slicer } from '../../src/loop/slicer.js';
import { ifdata, stats } from './fixtures.js';

/** A VM whose CPU time, peak memory and tap counters are the given numbers. */
function sample(name: string, cpuMs: number, { maxrssKib = 1000, taps = [tap('tap0', 0)] }: { maxrssKib?: number; taps?: IfData[] } = {}): VmSnapshot {
  const utime = { sec: BigInt(Math.floor(cpuMs / 1000)), usec: (cpuMs % 1000) * 1000 };
  return { name, stats: stats(taps, [], { utime, stime: { sec: 0n, usec: 0 }, maxrss: BigInt(maxrssKib) }) };
}

function tap(name: string, traffic: number): IfData {
  return ifdata(name, {
    input_bytes: BigInt(traffic * 10), output_bytes: BigInt(traffic * 20),
    input_packets: BigInt(traffic), output_packets: BigInt(traffic * 2),
  });
}

function at(seconds: number): Instant {
  return { wallMs: 1_700_000_000_000 + seconds * 1000, monotonicMs: seconds * 1000 };
}

function vmOf(history: OverviewHistory, name: string, since = 0): OverviewVm {
  const vm = history.overview(since).vms.find((v) => v.name === name);
  if (vm === undefined) throw new Error(`no ${name} in the overview`);
  return vm;
}

describe('OverviewHistory', () => {
  it('turns counters into rates over the time between two samples, and shows memory as bytes', async () => {
    const history = new OverviewHistory();
    await history.record([sample('web', 1000, { taps: [tap('tap0', 100)] })], { at: at(0) });
    expect(vmOf(history, 'web')).toMatchObject({ cpu: null, memory: 1000 * 1024, fromVm: null, toVm: null, since: 1, taps: 1 });
    await history.record([sample('web', 2500, { maxrssKib: 3000, taps: [tap('tap0', 300)] })], { at: at(2) });
    expect(vmOf(history, 'web')).toMatchObject({
      cpu: 0.75, memory: 3000 * 1024, fromVm: 1000, toVm: 2000, fromVmPackets: 100, toVmPackets: 200,
      history: { cpu: [null, 0.75], memory: [1000 * 1024, 3000 * 1024], fromVm: [null, 1000], toVm: [null, 2000] },
    });
  });

  it('sums the traffic of every tap, and knows none for a VM without taps', async () => {
    const history = new OverviewHistory();
    await history.record([sample('two', 0, { taps: [tap('a', 0), tap('b', 0)] }), sample('none', 0, { taps: [] })], { at: at(0) });
    await history.record([sample('two', 0, { taps: [tap('a', 10), tap('b', 30)] }), sample('none', 1000, { taps: [] })], { at: at(1) });
    expect(vmOf(history, 'two')).toMatchObject({ fromVm: 400, toVm: 800, taps: 2 });
    expect(vmOf(history, 'none')).toMatchObject({ cpu: 1, fromVm: null, toVm: null, fromVmPackets: null, taps: 0 });
  });

  it('makes no rate of a counter that went back or of taps that changed', async () => {
    const history = new OverviewHistory();
    await history.record([sample('vm', 0, { taps: [tap('tap0', 100)] })], { at: at(0) });
    await history.record([sample('vm', 1000, { taps: [tap('tap0', 50)] })], { at: at(1) });
    expect(vmOf(history, 'vm')).toMatchObject({ cpu: 1, fromVm: null });
    await history.record([sample('vm', 2000, { taps: [tap('tap0', 60), tap('tap1', 1000)] })], { at: at(2) });
    expect(vmOf(history, 'vm')).toMatchObject({ fromVm: null, taps: 2 });
    await history.record([sample('vm', 3000, { taps: [tap('tap0', 70), tap('tap1', 1001)] })], { at: at(3) });
    expect(vmOf(history, 'vm').fromVm).toBe(110);
  });

  it('leaves a gap where a VM had no new sample, and keeps showing its newest values', async () => {
    const history = new OverviewHistory();
    const first = sample('quiet', 0);
    const second = sample('quiet', 500);
    await history.record([first], { at: at(0) });
    await history.record([second], { at: at(1) });
    await history.record([second], { at: at(2) }); // the same Stats: the exporter had no new frame from it
    const vm = vmOf(history, 'quiet');
    expect(vm.history.cpu).toEqual([null, 0.5, null]);
    expect(vm.cpu).toBe(0.5);
    await history.record([sample('quiet', 1500)], { at: at(4) });
    expect(vmOf(history, 'quiet').cpu).toBe(0.333); // over the 3 s since its last sample
  });

  it('forgets a VM absent from a round; one that comes back under its name starts again', async () => {
    const history = new OverviewHistory();
    await history.record([sample('a', 0), sample('b', 0)], { at: at(0) });
    await history.record([sample('a', 100)], { at: at(1) });
    expect(history.overview(0).vms.map((vm) => vm.name)).toEqual(['a']);
    expect(history.size).toBe(1);
    await history.record([sample('a', 200), sample('b', 5000)], { at: at(2) });
    expect(vmOf(history, 'b')).toMatchObject({ since: 3, cpu: null, history: { cpu: [null, null, null] } });
  });

  it('counts a name given twice in a round once, from its first', async () => {
    const history = new OverviewHistory();
    await history.record([sample('dup', 0), sample('dup', 0)], { at: at(0) });
    await history.record([sample('dup', 1000), sample('dup', 9000)], { at: at(1) });
    expect(history.overview(0).vms).toHaveLength(1);
    expect(vmOf(history, 'dup').cpu).toBe(1);
  });

  it('keeps HISTORY_POINTS rounds, however many pass', async () => {
    const history = new OverviewHistory();
    const rounds = HISTORY_POINTS * 2 + 7;
    for (let r = 0; r < rounds; r++) await history.record([sample('vm', r * 250)], { at: at(r) });
    const overview = history.overview(0);
    expect(overview).toMatchObject({ round: rounds, from: rounds - HISTORY_POINTS + 1, points: HISTORY_POINTS, intervalSeconds: 1 });
    expect(overview.times).toHaveLength(HISTORY_POINTS);
    expect(overview.times.at(-1)).toBe(at(rounds - 1).wallMs);
    expect(overview.vms[0]!.history.cpu).toEqual(new Array(HISTORY_POINTS).fill(0.25));
  });

  it('answers only the rounds after `since`, and all it keeps when `since` is not one of them', async () => {
    const history = new OverviewHistory();
    expect(history.overview(0)).toMatchObject({ round: 0, from: 1, times: [], vms: [], intervalSeconds: null });
    for (let r = 0; r < 5; r++) await history.record([sample('vm', r * 1000)], { at: at(r) });
    expect(history.overview(5)).toMatchObject({ round: 5, from: 6, times: [] });
    expect(history.overview(5).vms[0]).toMatchObject({ cpu: 1, history: { cpu: [] } });
    expect(history.overview(3)).toMatchObject({ from: 4, times: [at(3).wallMs, at(4).wallMs] });
    expect(history.overview(3).vms[0]!.history.cpu).toEqual([1, 1]);
    expect(history.overview(99)).toMatchObject({ from: 1 }); // an asker from before a restart starts over
    for (let r = 5; r < HISTORY_POINTS + 10; r++) await history.record([sample('vm', r * 1000)], { at: at(r) });
    expect(history.overview(3).from).toBe(history.round - HISTORY_POINTS + 1); // too far behind
  });

  it('makes its JSON in slices, of the rounds done when it began', async () => {
    const history = new OverviewHistory();
    const fleet = (r: number) => Array.from({ length: 1000 }, (_, i) => sample(`vm${i}`, r * 1000));
    for (let r = 0; r < 3; r++) await history.record(fleet(r), { at: at(r) });
    const expected = history.overview(0);
    const answering = history.overviewJson(0, new Slicer(0));
    await new Promise((resolve) => setImmediate(resolve));
    await history.record(fleet(3), { at: at(3) }); // between two of its slices
    expect(JSON.parse(await answering)).toEqual(expected);
  });

  it('records a round in slices, leaving it out of answers until it is done, one round at a time', async () => {
    const history = new OverviewHistory();
    const fleet = (r: number) => Array.from({ length: 1000 }, (_, i) => sample(`vm${i}`, r * 1000));
    for (let r = 0; r < HISTORY_POINTS; r++) await history.record(fleet(r), { at: at(r) });
    const before = history.overview(0);
    const recording = history.record(fleet(HISTORY_POINTS), { at: at(HISTORY_POINTS), slicer: new Slicer(0) });
    await new Promise((resolve) => setImmediate(resolve)); // the first slice is done, not the round
    expect(history.recording).toBe(true);
    const during = history.overview(0);
    expect(during.round).toBe(HISTORY_POINTS);
    expect(during.times).toEqual(before.times); // the round being written has a slot of its own
    expect(during.vms.every((vm) => vm.history.cpu.length === HISTORY_POINTS && vm.history.cpu.slice(1).every((v) => v === 1))).toBe(true);
    await expect(history.record(fleet(0))).rejects.toThrow('being recorded already');
    await recording;
    expect(history.recording).toBe(false);
    expect(history.overview(HISTORY_POINTS)).toMatchObject({ round: HISTORY_POINTS + 1, times: [at(HISTORY_POINTS).wallMs] });
  });
});

describe('answerOverview', () => {
  it('answers JSON for a round, and refuses a `since` that is not one', async () => {
    const history = new OverviewHistory();
    await history.record([sample('vm', 0)], { at: at(0) });
    await history.record([sample('vm', 1000)], { at: at(1) });
    const answer = await answerOverview(history, new URLSearchParams('since=0'));
    expect(answer.ok && JSON.parse(answer.json)).toEqual(history.overview(0));
    expect(await answerOverview(history, new URLSearchParams(''))).toMatchObject({ ok: true });
    for (const bad of ['-1', 'x', '1e3', '', '9999999999999999']) {
      const refused = await answerOverview(history, new URLSearchParams({ since: bad }));
      expect(refused.ok ? undefined : refused.error).toMatch(/^since takes the round of an earlier answer/);
    }
  });
});
