import { describe, expect, it } from 'vitest';
import type { VmRow } from '../../src/top/model.js';
import {
  compactRate,
  DEFAULT_ORDER,
  orderAfterKey,
  renderPlainBlock,
  renderScreen,
  sortRows,
  type SortOrder,
  type View,
} from '../../src/top/screen.js';

function row(name: string, values: Partial<Omit<VmRow, 'name'>> = {}): VmRow {
  return { name, cpuPercent: 0, maxrssMiB: 0, traffic: undefined, taps: 0, ...values };
}

function traffic(bytesIn: number, bytesOut: number) {
  return { packetsIn: bytesIn / 100, packetsOut: bytesOut / 100, bytesIn, bytesOut };
}

const ROWS: VmRow[] = [
  row('tenant.web', { cpuPercent: 12.5, maxrssMiB: 512, traffic: traffic(2e6, 1e3), taps: 1 }),
  row('tenant.db', { cpuPercent: 187.25, maxrssMiB: 4096, traffic: traffic(10, 5e6), taps: 2 }),
  row('batch', { cpuPercent: 55, maxrssMiB: 128, traffic: traffic(3e4, 3e4), taps: 1 }),
  row('fresh', { cpuPercent: undefined, maxrssMiB: 64 }),
];

function names(order: SortOrder): string[] {
  return sortRows(ROWS, order).map((r) => r.name);
}

/** What a terminal shows of a line: without the highlight's escape codes, CJK characters two columns wide. */
function visibleWidth(line: string): number {
  const text = line.replace(/\x1b\[\d*m/g, ''); // eslint-disable-line no-control-regex
  return [...text].reduce((width, char) => width + (/[\u3000-\u9fff]/.test(char) ? 2 : 1), 0);
}

function view(rows: VmRow[], order: SortOrder = DEFAULT_ORDER): View {
  return { rows, order, now: new Date(2024, 0, 2, 3, 4, 5), cores: 2 };
}

const ODD_ROWS: VmRow[] = [
  ...ROWS,
  row('a-very-long-tenant-name.with-an-even-longer-vm-name-that-cannot-fit', { cpuPercent: 99999.9, maxrssMiB: 1e6 }),
  row('租户.网络服务器.数据库实例', { cpuPercent: 3 }),
  row('evil\x1b[2J\x07name', { cpuPercent: 1 }),
];

describe('sorting', () => {
  it('sorts by CPU, highest first, by default, with rows that have no rate yet at the end', () => {
    expect(names(DEFAULT_ORDER)).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
  });

  it('sorts by memory, name and traffic, and reverses with r (rows without a value stay last)', () => {
    expect(names({ column: 'memory', reversed: false })).toEqual(['tenant.db', 'tenant.web', 'batch', 'fresh']);
    expect(names({ column: 'name', reversed: false })).toEqual(['batch', 'fresh', 'tenant.db', 'tenant.web']);
    expect(names({ column: 'name', reversed: true })).toEqual(['tenant.web', 'tenant.db', 'fresh', 'batch']);
    expect(names({ column: 'in', reversed: false })).toEqual(['tenant.web', 'batch', 'tenant.db', 'fresh']);
    expect(names({ column: 'out', reversed: false })).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
    expect(names({ column: 'cpu', reversed: true })).toEqual(['tenant.web', 'batch', 'tenant.db', 'fresh']);
  });

  it('maps keys to orders: c m n i o choose a column, r reverses, other keys change nothing', () => {
    expect(orderAfterKey(DEFAULT_ORDER, 'm')).toEqual({ column: 'memory', reversed: false });
    expect(orderAfterKey({ column: 'memory', reversed: false }, 'r')).toEqual({ column: 'memory', reversed: true });
    expect(orderAfterKey({ column: 'memory', reversed: true }, 'n')).toEqual({ column: 'name', reversed: false });
    expect(orderAfterKey(DEFAULT_ORDER, 'i')).toEqual({ column: 'in', reversed: false });
    expect(orderAfterKey(DEFAULT_ORDER, 'o')).toEqual({ column: 'out', reversed: false });
    expect(orderAfterKey({ column: 'out', reversed: false }, 'c')).toEqual(DEFAULT_ORDER);
    expect(orderAfterKey(DEFAULT_ORDER, 'x')).toBeUndefined();
  });
});

describe('the terminal screen', () => {
  it('fills an 80x24 terminal without a line wider than 80 columns', () => {
    const lines = renderScreen(view(ODD_ROWS), { columns: 80, rows: 24 });
    expect(lines).toHaveLength(24);
    for (const line of lines) expect(visibleWidth(line), line).toBeLessThanOrEqual(80);
  });

  it('cuts long names with an ellipsis, and shows control characters in names as ?', () => {
    const lines = renderScreen(view(ODD_ROWS), { columns: 80, rows: 24 });
    expect(lines.some((line) => line.startsWith('a-very-long-tenant-n… '))).toBe(true);
    expect(lines.some((line) => line.startsWith('租户.网络服务器') && line.includes('…'))).toBe(true);
    expect(lines.some((line) => line.startsWith('evil?[2J?name'))).toBe(true);
    const escapes = lines.join('\n').replace(/\x1b\[7m|\x1b\[27m/g, ''); // eslint-disable-line no-control-regex
    expect(escapes).not.toContain('\x1b');
  });

  it('shows the rows in the chosen order, highlights the sorted column and says the order in the footer', () => {
    const byCpu = renderScreen(view(ROWS), { columns: 80, rows: 24 });
    expect(byCpu[0]).toMatch(/^vmm-stats top 03:04:05 +4 VMs +CPU 254\.8% of 200% {2}IN 2\.0MB\/s +OUT 5\.0MB\/s$/);
    expect(byCpu[1]).toContain('\x1b[7mCPU%\x1b[27m');
    expect(byCpu.slice(2, 6).map((line) => line.split(/ +/)[0])).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
    expect(byCpu[2]).toMatch(/^tenant\.db +187\.3 +4096\.0 +0\.1 +50k +10 +5\.0M +2$/);
    expect(byCpu[5]).toMatch(/^fresh +- +64\.0 +- +- +- +- +0$/);
    expect(byCpu[23]).toMatch(/by CPU%, high first$/);

    const byName = renderScreen(view(ROWS, { column: 'name', reversed: true }), { columns: 80, rows: 24 });
    expect(byName[1]).toMatch(/^\x1b\[7mVM\x1b\[27m/); // eslint-disable-line no-control-regex
    expect(byName.slice(2, 6).map((line) => line.split(/ +/)[0])).toEqual(['tenant.web', 'tenant.db', 'fresh', 'batch']);
    expect(byName[23]).toMatch(/by VM, Z-A$/);
  });

  it('says how many VMs do not fit when the terminal is too short for all', () => {
    const many = Array.from({ length: 30 }, (_, i) => row(`vm${String(i).padStart(2, '0')}`, { cpuPercent: 30 - i }));
    const lines = renderScreen(view(many), { columns: 80, rows: 24 });
    expect(lines).toHaveLength(24);
    expect(lines[2]).toMatch(/^vm00 /);
    expect(lines[20]).toMatch(/^vm18 /);
    expect(lines[21]).toBe('... 11 more VMs: make the terminal taller to see them');
  });

  it('leaves out the packet columns, then the taps, before cutting names to nothing in a narrow terminal', () => {
    const at = (columns: number) => renderScreen(view(ROWS), { columns, rows: 10 });
    expect(at(80)[1]).toContain('IN pk/s');
    const narrow = at(55);
    expect(narrow[1]).toMatch(/^VM +\x1b\[7mCPU%\x1b\[27m +MAXRSS MiB +IN B\/s +OUT B\/s +TAPS$/); // eslint-disable-line no-control-regex
    expect(narrow.slice(2, 6).map((line) => line.split(/ +/)[0])).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
    expect(at(48)[1]).toMatch(/ OUT B\/s$/);
  });

  it('stays within narrow and tiny terminals', () => {
    for (const size of [
      { columns: 40, rows: 10 },
      { columns: 20, rows: 3 },
      { columns: 132, rows: 50 },
    ]) {
      const lines = renderScreen(view(ODD_ROWS, { column: 'out', reversed: false }), size);
      expect(lines).toHaveLength(size.rows);
      for (const line of lines) expect(visibleWidth(line), `${size.columns}: ${line}`).toBeLessThanOrEqual(size.columns);
    }
  });
});

describe('plain blocks (output that is not a terminal)', () => {
  it('prints every VM with its whole name and no escape codes', () => {
    const lines = renderPlainBlock(view(ODD_ROWS));
    expect(lines.join('\n')).not.toContain('\x1b');
    expect(lines[0]).toMatch(/^vmm-stats top 03:04:05 +7 VMs .* by CPU%, high first$/);
    expect(lines[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN pk\/s +OUT pk\/s +IN B\/s +OUT B\/s +TAPS$/);
    expect(lines.slice(2, -1)).toHaveLength(ODD_ROWS.length);
    expect(lines.some((line) => line.startsWith('a-very-long-tenant-name.with-an-even-longer-vm-name-that-cannot-fit '))).toBe(true);
    expect(lines.at(-1)).toBe('');
  });
});

describe('compactRate', () => {
  it('writes a rate in at most four characters', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [0.04, '0.0'],
      [7.5, '7.5'],
      [12.4, '12'],
      [999.4, '999'],
      [999.6, '1.0k'],
      [12_345, '12k'],
      [1.5e6, '1.5M'],
      [2.5e9, '2.5G'],
    ];
    for (const [value, text] of cases) expect(compactRate(value), String(value)).toBe(text);
  });
});
