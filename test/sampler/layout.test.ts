// The addon's rows (native/sampler.h) and the layouts (src/wire/layouts.ts) declare the same fields: the
// addon exports its rows' field names, and the sampler refuses an addon whose names differ.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkAddonRows, ifDataAt, ifDataViewAt, processSampleAt, rusageViewAt, SampleRows, START_TIME_FIELD } from '../../src/sampler/sampler.js';
import { IFDATA_LAYOUT, RUSAGE_LAYOUT } from '../../src/wire/layouts.js';

interface RowNames {
  processFieldNames: string[];
  interfaceFieldNames: string[];
}

const addon = createRequire(import.meta.url)('node-gyp-build')(fileURLToPath(new URL('../..', import.meta.url))) as RowNames;

describe('the addon rows and the layouts', () => {
  it("the built addon's rows are the layouts' fields, in order", () => {
    expect(() => checkAddonRows(addon)).not.toThrow();
    expect(addon.processFieldNames[START_TIME_FIELD]).toBe('start_time');
    expect(addon.interfaceFieldNames).toEqual(IFDATA_LAYOUT.map((field) => field.key));
  });

  it('an addon whose rows drifted is refused, naming both orders', () => {
    const swapped = [...addon.interfaceFieldNames];
    [swapped[5], swapped[6]] = [swapped[6]!, swapped[5]!];
    expect(() => checkAddonRows({ ...addon, interfaceFieldNames: swapped })).toThrow(/interface rows .*input_packets, baudrate/);
    const shorter = addon.processFieldNames.slice(0, -1);
    expect(() => checkAddonRows({ ...addon, processFieldNames: shorter })).toThrow(/process rows/);
  });

  it('reads each row field into the record field of its name', () => {
    const rows = new SampleRows().fit(1, addon.processFieldNames.length);
    addon.processFieldNames.forEach((_, i) => (rows.rows[i] = BigInt(100 + i)));
    const { rusage, startTime } = processSampleAt(rows, 0, 1);
    const byName = new Map(addon.processFieldNames.map((name, i) => [name, BigInt(100 + i)]));
    expect(rusage.utime).toEqual({ sec: byName.get('utime_sec'), usec: Number(byName.get('utime_usec')) });
    expect(rusage.nivcsw).toBe(byName.get('nivcsw'));
    expect(startTime).toBe(byName.get('start_time'));
    expect(Object.keys(rusage)).toEqual(RUSAGE_LAYOUT.map((field) => field.key));

    const taps = new SampleRows().fit(1, addon.interfaceFieldNames.length);
    addon.interfaceFieldNames.forEach((_, i) => (taps.rows[i] = BigInt(200 + i)));
    const ifdata = ifDataAt(taps, 0, 'tap0');
    addon.interfaceFieldNames.forEach((name, i) => expect(BigInt(ifdata[name as keyof typeof ifdata] as number | bigint)).toBe(BigInt(200 + i)));
  });

  it("views of a row read each field as the row's record has it, and what the row holds when read", () => {
    const rows = new SampleRows().fit(2, addon.processFieldNames.length);
    addon.processFieldNames.forEach((_, i) => (rows.rows[rows.fields + i] = BigInt(300 + i)));
    const view = rusageViewAt(rows, rows.fields);
    for (const { key } of RUSAGE_LAYOUT) expect(view[key]).toEqual(processSampleAt(rows, rows.fields, 1).rusage[key]);
    rows.rows[rows.fields + addon.processFieldNames.indexOf('maxrss')] = 2n ** 60n;
    expect(view.maxrss).toBe(2n ** 60n);

    const taps = new SampleRows().fit(1, addon.interfaceFieldNames.length);
    addon.interfaceFieldNames.forEach((_, i) => (taps.rows[i] = BigInt(400 + i) + (i % 2 === 0 ? 2n ** 40n : 0n)));
    const ifdata = ifDataViewAt(taps, 0, 'tap1');
    expect(ifdata.name).toBe('tap1');
    for (const { key } of IFDATA_LAYOUT) expect(ifdata[key]).toEqual(ifDataAt(taps, 0, 'tap1')[key]);
  });
});

describe('SampleRows', () => {
  it('keeps its arrays while the rows asked for fit, and gives them back when a quarter would do', () => {
    const rows = new SampleRows().fit(100_000, 4);
    const peak = rows.rows;
    expect(peak.length).toBeGreaterThanOrEqual(400_000);
    // Tick after tick at the same size, or somewhat fewer: the same memory, nothing allocated.
    expect(rows.fit(100_000, 4).rows).toBe(peak);
    expect(rows.fit(30_000, 4).rows).toBe(peak);
    // The burst of VMs is gone: the arrays shrink, with room to grow again before reallocating.
    rows.fit(1000, 4);
    expect(rows.rows.length).toBe(2000 * 4);
    expect(rows.errors.length).toBe(2000);
    expect(rows.pids.length).toBe(2000);
    expect(rows.words.buffer).toBe(rows.rows.buffer);
    expect(rows.fit(1500, 4).rows.length).toBe(2000 * 4);
  });
});
