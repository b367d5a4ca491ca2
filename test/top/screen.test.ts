import { describe, expect, it } from 'vitest';
import type { VmRow } from '../../src/top/model.js';
import { DEFAULT_ORDER, FIELD_IDS, type FieldId, type SortOrder } from '../../src/top/fields.js';
import { initialState, type TopState } from '../../src/top/interaction.js';
import { renderPlainBlock, renderScreen, type View } from '../../src/top/screen.js';
import { row, traffic } from './rows.js';

const ROWS: VmRow[] = [
  row('tenant.web', { cpuPercent: 12.5, maxrssMiB: 512, traffic: traffic(2e6, 1e3), taps: 1, exitsPerSecond: 20 }),
  row('tenant.db', { cpuPercent: 187.25, maxrssMiB: 4096, traffic: traffic(10, 5e6), taps: 2, exitsPerSecond: 300 }),
  row('batch', { cpuPercent: 55, maxrssMiB: 128, traffic: traffic(3e4, 3e4), taps: 1, exitsPerSecond: 0 }),
  row('fresh', { cpuPercent: undefined, maxrssMiB: 64 }),
];

/** What a terminal shows of a line: without the highlight's escape codes, CJK characters two columns wide. */
function visibleWidth(line: string): number {
  const text = line.replace(/\x1b\[\d*m/g, ''); // eslint-disable-line no-control-regex
  return [...text].reduce((width, char) => width + (/[\u3000-\u9fff]/.test(char) ? 2 : 1), 0);
}

function state(order: SortOrder = DEFAULT_ORDER, fields: readonly FieldId[] = FIELD_IDS, changes: Partial<TopState> = {}): TopState {
  return { ...initialState(order, fields), ...changes };
}

function view(rows: VmRow[], order: SortOrder = DEFAULT_ORDER, changes: Partial<View> = {}): View {
  return { rows, state: state(order), now: new Date(2024, 0, 2, 3, 4, 5), cores: 2, ...changes };
}

const ODD_ROWS: VmRow[] = [
  ...ROWS,
  row('a-very-long-tenant-name.with-an-even-longer-vm-name-that-cannot-fit', { cpuPercent: 99999.9, maxrssMiB: 1e6 }),
  row('租户.网络服务器.数据库实例', { cpuPercent: 3 }),
  row('evil\x1b[2J\x07name', { cpuPercent: 1 }),
];

/** A line as `tmux capture-pane -p` shows it: without the reverse video's escape codes. */
function plain(line: string): string {
  return line.replace(/\x1b\[7m|\x1b\[27m/g, ''); // eslint-disable-line no-control-regex
}

function plainScreen(v: View, size = { columns: 80, rows: 24 }): string[] {
  return renderScreen(v, size).map(plain);
}

const firstWords = (lines: string[]) => lines.map((line) => line.split(/ +/)[0]);

describe('the terminal screen', () => {
  it('fills an 80x24 terminal without a line wider than 80 columns', () => {
    const lines = renderScreen(view(ODD_ROWS), { columns: 80, rows: 24 });
    expect(lines).toHaveLength(24);
    for (const line of lines) expect(visibleWidth(line), line).toBeLessThanOrEqual(80);
  });

  it('cuts long names with an ellipsis, and shows control characters in names as ?', () => {
    const lines = renderScreen(view(ODD_ROWS), { columns: 80, rows: 24 });
    const shown = lines.map(plain);
    expect(shown.some((line) => /^a-very-long-tenant-name\.with-… /.test(line))).toBe(true);
    expect(shown.some((line) => line.startsWith('租户.网络服务器.数据库实例 '))).toBe(true);
    const narrow = plainScreen(view(ODD_ROWS), { columns: 50, rows: 24 });
    expect(narrow.some((line) => line.startsWith('租户.网络') && line.includes('…'))).toBe(true);
    expect(shown.some((line) => line.startsWith('evil?[2J?name'))).toBe(true);
    expect(plain(lines.join('\n'))).not.toContain('\x1b');
  });

  it('shows the rows in the chosen order, highlights the sorted column, its key and the selected VM, and says the order', () => {
    const byCpu = renderScreen(view(ROWS), { columns: 80, rows: 24 });
    expect(byCpu[0]).toMatch(/^vmm-stats top 03:04:05 +4 VMs +CPU 254\.8% of 200% {2}IN 2\.0MB\/s +OUT 5\.0MB\/s$/);
    expect(byCpu[1]).toContain('\x1b[7mCPU%\x1b[27m');
    expect(plain(byCpu[1]!)).toMatch(/^VM +CPU% +MAXRSS MiB +IN pk\/s +OUT pk\/s +IN B\/s +OUT B\/s +TAPS +EXITS\/s$/);
    expect(firstWords(byCpu.slice(2, 6).map(plain))).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
    // The first row is the selected one until another is chosen.
    expect(byCpu[2]).toMatch(/^\x1b\[7mtenant\.db .*\x1b\[27m$/); // eslint-disable-line no-control-regex
    expect(plain(byCpu[2]!)).toMatch(/^tenant\.db +187\.3 +4096\.0 +0\.1 +50k +10 +5\.0M +2 +300$/);
    expect(byCpu[5]).toMatch(/^fresh +- +64\.0 +- +- +- +- +0 +-$/);
    expect(byCpu[22]).toMatch(/^sort: n name {2}\x1b\[7mc cpu\x1b\[27m {2}m mem {2}p pk-in/); // eslint-disable-line no-control-regex
    expect(byCpu[23]).toMatch(/^r reverse {2}< > column {2}f fields {2}x expand {2}q quit +by CPU%, high first$/);

    const byName = renderScreen(view(ROWS, { column: 'name', reversed: true }), { columns: 80, rows: 24 });
    expect(byName[1]).toMatch(/^\x1b\[7mVM\x1b\[27m/); // eslint-disable-line no-control-regex
    expect(byName[22]).toMatch(/^sort: \x1b\[7mn name\x1b\[27m/); // eslint-disable-line no-control-regex
    expect(firstWords(byName.slice(2, 6).map(plain))).toEqual(['tenant.web', 'tenant.db', 'fresh', 'batch']);
    expect(byName[23]).toMatch(/by VM, Z-A$/);
  });

  it('shows the chosen fields in the chosen order, and sort keys for those only', () => {
    const chosen = { ...view(ROWS), state: state({ column: 'exits', reversed: false }, ['exits', 'cpu']) };
    const lines = renderScreen(chosen, { columns: 80, rows: 10 });
    expect(plain(lines[1]!)).toMatch(/^VM +EXITS\/s +CPU%$/);
    expect(lines[1]).toContain('\x1b[7mEXITS/s\x1b[27m');
    expect(firstWords(lines.slice(2, 6).map(plain))).toEqual(['tenant.db', 'tenant.web', 'batch', 'fresh']);
    expect(plain(lines[8]!)).toBe('sort: n name  e exits  c cpu');
  });

  it('says how many VMs do not fit, and scrolls to keep the selected VM on the screen', () => {
    const many = Array.from({ length: 30 }, (_, i) => row(`vm${String(i).padStart(2, '0')}`, { cpuPercent: 30 - i }));
    const lines = plainScreen(view(many));
    expect(lines).toHaveLength(24);
    expect(lines[2]).toMatch(/^vm00 /);
    expect(lines[20]).toMatch(/^vm18 /);
    expect(lines[21]).toBe('... 11 more VMs: arrow keys scroll, or make the terminal taller');
    const scrolled = renderScreen({ ...view(many), state: state(DEFAULT_ORDER, FIELD_IDS, { selected: 'vm25' }) }, { columns: 80, rows: 24 });
    expect(plain(scrolled[2]!)).toMatch(/^vm07 /);
    expect(scrolled[20]).toMatch(/^\x1b\[7mvm25 /); // eslint-disable-line no-control-regex
  });

  it('leaves out the packet columns, then the taps, then the exits, before cutting names to nothing in a narrow terminal', () => {
    const at = (columns: number) => plainScreen(view(ROWS), { columns, rows: 10 });
    expect(at(80)[1]).toContain('IN pk/s');
    const narrow = at(60);
    expect(narrow[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN B\/s +OUT B\/s +TAPS +EXITS\/s$/);
    expect(firstWords(narrow.slice(2, 6))).toEqual(['tenant.db', 'batch', 'tenant.web', 'fresh']);
    expect(at(55)[1]).toMatch(/ OUT B\/s +EXITS\/s$/);
    const longNames = (columns: number) => plainScreen(view(ODD_ROWS), { columns, rows: 10 });
    expect(longNames(50)[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN B\/s +OUT B\/s$/);
  });

  it('stays within narrow and tiny terminals, on every screen', () => {
    for (const mode of ['vms', 'fields', 'counters'] as const) {
      for (const size of [
        { columns: 40, rows: 10 },
        { columns: 20, rows: 3 },
        { columns: 132, rows: 50 },
      ]) {
        const changes = { mode, selected: ODD_ROWS[4]!.name };
        const counters = [{ name: 'a counter with a long name that cannot fit in a narrow terminal', total: 12345678901234567890n, perSecond: 5 }];
        const lines = renderScreen({ ...view(ODD_ROWS), state: state({ column: 'out', reversed: false }, FIELD_IDS, changes), counters }, size);
        expect(lines).toHaveLength(size.rows);
        for (const line of lines) expect(visibleWidth(line), `${mode} ${size.columns}: ${line}`).toBeLessThanOrEqual(size.columns);
      }
    }
  });
});

describe('the fields screen', () => {
  it('lists every field with its toggle key, whether it is shown, its sort key and what it is', () => {
    const fields = state(DEFAULT_ORDER, ['cpu', 'exits'], { mode: 'fields' });
    const lines = plainScreen({ ...view(ROWS), state: fields });
    expect(lines[1]).toBe('fields: 1-8 show or hide a column');
    expect(lines[3]).toMatch(/^ {2}1 {2}\[x\] {2}CPU% +c +user \+ system CPU time/);
    expect(lines[4]).toMatch(/^ {2}2 {2}\[x\] {2}EXITS\/s +e +the hypervisor's VM exits per second/);
    expect(lines[5]).toMatch(/^ {2}3 {2}\[ \] {2}MAXRSS MiB +m /);
    expect(lines.filter((line) => /^ {2}\d {2}\[/.test(line))).toHaveLength(8);
    expect(lines[23]).toBe('f or Esc back  q quit');
  });
});

describe("one VM's counters (x)", () => {
  const counters = [
    { name: 'exits', total: 4000n, perSecond: 1500 },
    { name: 'io_exits', total: 300n, perSecond: 10 },
    { name: 'pages_4k', total: 512n, perSecond: undefined },
  ];
  const expanded = (changes: Partial<View>) => plainScreen({ ...view(ROWS), state: state(DEFAULT_ORDER, FIELD_IDS, { mode: 'counters', selected: 'tenant.db' }), ...changes });

  it('shows each counter with its total and its rate, in the order given (the fastest first)', () => {
    const lines = expanded({ counters });
    expect(lines[1]).toBe('tenant.db: hypervisor counters, fastest first');
    expect(lines[2]).toMatch(/^COUNTER +TOTAL +PER SEC$/);
    expect(lines.slice(3, 6).map((line) => line.split(/ +/))).toEqual([
      ['exits', '4000', '1.5k'],
      ['io_exits', '300', '10'],
      ['pages_4k', '512', '-'],
    ]);
    expect(lines[23]).toBe('x or Esc back  q quit');
  });

  it('says when the VM has no counters, or has gone', () => {
    expect(expanded({ counters: [] })[3]).toMatch(/^no hypervisor counters in this VM's Data/);
    expect(expanded({ counters: undefined })[3]).toBe('tenant.db has left the view');
  });
});

describe('plain blocks (output that is not a terminal)', () => {
  it('prints every VM with its whole name and no escape codes', () => {
    const lines = renderPlainBlock(view(ODD_ROWS));
    expect(lines.join('\n')).not.toContain('\x1b');
    expect(lines[0]).toMatch(/^vmm-stats top 03:04:05 +7 VMs .* by CPU%, high first$/);
    expect(lines[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN pk\/s +OUT pk\/s +IN B\/s +OUT B\/s +TAPS +EXITS\/s$/);
    expect(lines.slice(2, -1)).toHaveLength(ODD_ROWS.length);
    expect(lines.some((line) => line.startsWith('a-very-long-tenant-name.with-an-even-longer-vm-name-that-cannot-fit '))).toBe(true);
    expect(lines.at(-1)).toBe('');
  });

  it('prints the chosen fields only', () => {
    const lines = renderPlainBlock({ ...view(ROWS), state: state(DEFAULT_ORDER, ['memory']) });
    expect(lines[1]).toMatch(/^VM +MAXRSS MiB$/);
    expect(lines[2]).toMatch(/^tenant\.db +4096\.0$/);
  });
});
