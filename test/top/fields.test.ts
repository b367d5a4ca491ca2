import { describe, expect, it } from 'vitest';
import { DEFAULT_ORDER, describeOrder, FIELD_IDS, FIELDS, parseFields, sortRows, type SortOrder } from '../../src/top/fields.js';
import type { VmRow } from '../../src/top/model.js';
import { row, traffic } from './rows.js';

const trafficOut10 = (bytesIn: number, bytesOut: number) => traffic(bytesIn, bytesOut, 10);

const ROWS: VmRow[] = [
  row('tenant.web', { cpuPercent: 12.5, maxrssMiB: 512, traffic: trafficOut10(2e6, 1e3), taps: 1, exitsPerSecond: 5 }),
  row('tenant.db', { cpuPercent: 187.25, maxrssMiB: 4096, traffic: trafficOut10(10, 5e6), taps: 2, exitsPerSecond: 9e3 }),
  row('batch', { cpuPercent: 55, maxrssMiB: 128, traffic: trafficOut10(3e4, 3e4), taps: 3 }),
  row('fresh', { cpuPercent: undefined, maxrssMiB: 64 }),
];

function names(order: SortOrder): string[] {
  return sortRows(ROWS, order).map((r) => r.name);
}

describe('sorting', () => {
  it('sorts by CPU, highest first, by default, with rows that have no rate yet at the end', () => {
    expect(names(DEFAULT_ORDER)).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
  });

  it('sorts by every field and by name, and reverses (rows without a value stay last)', () => {
    const by = (column: SortOrder['column'], reversed = false) => names({ column, reversed });
    expect(by('memory')).toEqual(['tenant.db', 'tenant.web', 'batch', 'fresh']);
    expect(by('name')).toEqual(['batch', 'fresh', 'tenant.db', 'tenant.web']);
    expect(by('name', true)).toEqual(['tenant.web', 'tenant.db', 'fresh', 'batch']);
    expect(by('in')).toEqual(['tenant.web', 'batch', 'tenant.db', 'fresh']);
    expect(by('out')).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
    expect(by('packets-in')).toEqual(['tenant.web', 'batch', 'tenant.db', 'fresh']);
    expect(by('packets-out')).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
    expect(by('taps')).toEqual(['batch', 'tenant.db', 'tenant.web', 'fresh']);
    expect(by('exits')).toEqual(['tenant.db', 'tenant.web', 'batch', 'fresh']);
    expect(by('exits', true)).toEqual(['tenant.web', 'tenant.db', 'batch', 'fresh']);
    expect(by('cpu', true)).toEqual(['tenant.web', 'batch', 'tenant.db', 'fresh']);
  });

  it('says the order in words', () => {
    expect(describeOrder(DEFAULT_ORDER)).toBe('by CPU%, high first');
    expect(describeOrder({ column: 'exits', reversed: true })).toBe('by EXITS/s, low first');
    expect(describeOrder({ column: 'name', reversed: false })).toBe('by VM, A-Z');
  });

  it('gives every field its own sort key, and none the keys that do something else', () => {
    const keys = FIELDS.map((field) => field.sortKey);
    expect(new Set([...keys, 'n']).size).toBe(keys.length + 1);
    for (const taken of ['q', 'r', 'f', 'x', 'j', 'k', '<', '>']) expect(keys).not.toContain(taken);
  });
});

describe('--fields', () => {
  it('takes field names separated by commas, in the order given', () => {
    expect(parseFields('exits,cpu')).toEqual(['exits', 'cpu']);
    expect(parseFields(' in , out ')).toEqual(['in', 'out']);
    expect(parseFields(FIELD_IDS.join(','))).toEqual([...FIELD_IDS]);
  });

  it('refuses an unknown field, listing the valid ones, and a field given twice', () => {
    expect(() => parseFields('cpu,colour')).toThrow(
      "unknown field 'colour' (valid fields: cpu, memory, packets-in, packets-out, in, out, taps, exits; the VM name is always the first column)",
    );
    expect(() => parseFields('name,cpu')).toThrow(/unknown field 'name' .*the VM name is always the first column/);
    expect(() => parseFields('')).toThrow(/unknown field ''/);
    expect(() => parseFields('cpu,,in')).toThrow(/unknown field ''/);
    expect(() => parseFields('cpu,in,cpu')).toThrow("'cpu' is given twice (valid fields: cpu, memory, packets-in, packets-out, in, out, taps, exits)");
  });
});
