import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvCell, csvHeader, csvLines, CsvLog } from '../../src/top/csv.js';
import type { VmRow } from '../../src/top/model.js';
import { readCsv } from './read-csv.js';

function row(name: string, values: Partial<Omit<VmRow, 'name'>> = {}): VmRow {
  return { name, cpuPercent: undefined, maxrssMiB: 0, traffic: undefined, taps: 0, exitsPerSecond: undefined, ...values };
}

const AT = new Date(Date.UTC(2026, 11, 2, 8, 0, 0, 250));

describe('CSV lines', () => {
  it('quotes a cell only when it must, doubling its quotes', () => {
    expect(csvCell('tenant.web')).toBe('tenant.web');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(' padded')).toBe('" padded"');
  });

  it('writes a header and one line per VM with the time, the name and the chosen fields; unknown is empty', () => {
    expect(csvHeader(['cpu', 'exits', 'in'])).toBe('time,vm,cpu_percent,exits_per_s,bytes_in_per_s\n');
    const rows = [
      row('tenant.web', { cpuPercent: 12.3456, exitsPerSecond: 1500.125, traffic: { packetsIn: 1, packetsOut: 2, bytesIn: 3000, bytesOut: 4 } }),
      row('odd, "quoted"\nname'),
    ];
    const text = csvLines(rows, ['cpu', 'exits', 'in'], AT);
    expect(readCsv(text)).toEqual([
      ['2026-12-02T08:00:00.250Z', 'tenant.web', '12.35', '1500.13', '3000'],
      ['2026-12-02T08:00:00.250Z', 'odd, "quoted"\nname', '', '', ''],
    ]);
  });
});

describe('the CSV log file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-csv-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a new file with the header, and appends to one that has it, keeping what was there', () => {
    const path = join(dir, 'top.csv');
    const first = new CsvLog(path, ['cpu']);
    first.append(csvLines([row('a', { cpuPercent: 1 })], ['cpu'], AT));
    first.close();
    const second = new CsvLog(path, ['cpu']);
    second.append(csvLines([row('b', { cpuPercent: 2 })], ['cpu'], AT));
    second.close();
    expect(readCsv(readFileSync(path, 'utf8')).map((record) => record.slice(1))).toEqual([
      ['vm', 'cpu_percent'],
      ['a', '1'],
      ['b', '2'],
    ]);
  });

  it('ends a line left cut (top killed mid-write) before appending, so that no line is glued to it', () => {
    const path = join(dir, 'cut.csv');
    writeFileSync(path, `time,vm,taps\n${AT.toISOString()},a,1\n${AT.toISOString()},b`);
    const log = new CsvLog(path, ['taps']);
    log.append(csvLines([row('c', { taps: 3 })], ['taps'], AT));
    log.close();
    expect(readCsv(readFileSync(path, 'utf8')).map((record) => record.slice(1))).toEqual([['vm', 'taps'], ['a', '1'], ['b'], ['c', '3']]);
  });

  it('refuses a file with other columns, and leaves it alone', () => {
    const path = join(dir, 'other.csv');
    writeFileSync(path, 'time,vm,cpu_percent\nx,y,1\n');
    expect(() => new CsvLog(path, ['cpu', 'exits'])).toThrow(`${path} holds other columns (time,vm,cpu_percent): give another file, or move that one away`);
    expect(readFileSync(path, 'utf8')).toBe('time,vm,cpu_percent\nx,y,1\n');
  });

  it('says which file cannot be opened', () => {
    expect(() => new CsvLog(join(dir, 'no', 'such', 'dir.csv'), ['cpu'])).toThrow(/^cannot open .*no\/such\/dir\.csv: ENOENT/);
  });

  it('opens the path again on reopen: after a rename, a new file with a header; the old one keeps its lines', () => {
    const path = join(dir, 'top.csv');
    const log = new CsvLog(path, ['taps']);
    log.append(csvLines([row('a', { taps: 1 })], ['taps'], AT));
    renameSync(path, `${path}.1`);
    log.append(csvLines([row('b', { taps: 2 })], ['taps'], AT));
    log.reopen();
    log.append(csvLines([row('c', { taps: 3 })], ['taps'], AT));
    log.close();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe(`time,vm,taps\n${AT.toISOString()},a,1\n${AT.toISOString()},b,2\n`);
    expect(readFileSync(path, 'utf8')).toBe(`time,vm,taps\n${AT.toISOString()},c,3\n`);
  });
});
