// Rendering the `vmm-stats top` view as lines of text: the full screen for a terminal of a given size (the
// VMs, the fields to choose from, or one VM's counters), or one plain block per refresh when the output is
// not a terminal or --batch asks for it.
import { compactRate, describeOrder, fieldOf, labelOf, NAME_TITLE, sortKeyOf, sortRows, type FieldId } from './fields.js';
import { KEYS, selectedName, shownFields, toggleKeyOf, type TopState } from './interaction.js';
import type { CounterRate, VmRow } from './model.js';
import { displayWidth, fit, lineWithHighlight, padEnd, printable, reversed, truncate } from './text.js';

const MISSING = '-';

function optional(value: number | undefined, format: (value: number) => string): string {
  return value === undefined ? MISSING : format(value);
}

// ---- columns -------------------------------------------------------------------------------------------

interface Column {
  id: FieldId;
  title: string;
  width: number;
  cell(row: VmRow): string;
}

function columnOf(id: FieldId): Column {
  const field = fieldOf(id);
  return { id, title: field.title, width: field.width, cell: (row) => optional(field.value(row), field.format) };
}

const NAME_MIN_WIDTH = 6;

function widthOf(numbers: readonly Column[]): number {
  return numbers.reduce((sum, column) => sum + 1 + column.width, 0);
}

/** Left out, in this order, when a terminal is too narrow for them and a readable name column. */
const DROPPED_WHEN_NARROW: readonly FieldId[][] = [['packets-in', 'packets-out'], ['taps'], ['exits']];
const READABLE_NAME_WIDTH = 16;

interface Layout {
  vmWidth: number;
  numbers: readonly Column[];
}

/**
 * The name column takes what the numbers leave, up to the longest name. In a narrow terminal the least
 * needed numbers give way first; narrower still, lines are cut.
 */
function layout(rows: readonly VmRow[], fields: readonly FieldId[], columns: number): Layout {
  const longest = Math.max(NAME_TITLE.length, ...rows.map((row) => displayWidth(printable(row.name))));
  const wanted = Math.min(longest, READABLE_NAME_WIDTH);
  let numbers = fields.map(columnOf);
  for (const ids of DROPPED_WHEN_NARROW) {
    if (columns - widthOf(numbers) >= wanted) break;
    numbers = numbers.filter((column) => !ids.includes(column.id));
  }
  return { vmWidth: Math.max(NAME_MIN_WIDTH, Math.min(longest, columns - widthOf(numbers))), numbers };
}

function titleParts({ vmWidth, numbers }: Layout): string[] {
  return [padEnd(NAME_TITLE, vmWidth), ...numbers.map((column) => ' ' + column.title.padStart(column.width))];
}

/** The column titles, the sorted one in reverse video when it is wholly visible. */
function titleLine(shape: Layout, state: TopState, columns: number): string {
  const active = state.order.column === 'name' ? 0 : 1 + shape.numbers.findIndex((column) => column.id === state.order.column);
  return lineWithHighlight(titleParts(shape), active, columns);
}

function rowLine(row: VmRow, { vmWidth, numbers }: Layout): string {
  const name = padEnd(truncate(printable(row.name), vmWidth), vmWidth);
  return name + numbers.map((column) => ' ' + column.cell(row).padStart(column.width)).join('');
}

// ---- the lines every screen has ------------------------------------------------------------------------

export interface View {
  rows: readonly VmRow[];
  state: TopState;
  now: Date;
  /** The host's cores: 100% each. */
  cores: number;
  /** The selected VM's counters, for the counters screen; undefined when that VM has gone. */
  counters?: CounterRate[] | undefined;
}

interface Size {
  columns: number;
  rows: number;
}

function sum(values: (number | undefined)[]): number | undefined {
  const known = values.filter((value) => value !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0);
}

function bytesPerSecond(value: number): string {
  return `${compactRate(value)}B/s`;
}

/** The totals line: time, VMs, their CPU together (out of the host's), their traffic together. */
function summaryLine(view: View): string {
  const { rows } = view;
  const cpu = sum(rows.map((row) => row.cpuPercent));
  const bytesIn = sum(rows.map((row) => row.traffic?.bytesIn));
  const bytesOut = sum(rows.map((row) => row.traffic?.bytesOut));
  return [
    `vmm-stats top ${view.now.toTimeString().slice(0, 8)}`,
    `${rows.length} VM${rows.length === 1 ? '' : 's'}`,
    `CPU ${optional(cpu, (v) => v.toFixed(1) + '%')} of ${view.cores * 100}%`,
    `IN ${optional(bytesIn, bytesPerSecond)}`,
    `OUT ${optional(bytesOut, bytesPerSecond)}`,
  ].join('  ');
}

/**
 * A screen of `size`: `head` lines, then as many `body` lines (each fitted already) as fit, the last of the
 * room saying how many were left out when not all do, blank lines, then `foot` lines.
 */
function framed(size: Size, head: string[], body: { lines: string[]; more: (hidden: number) => string }, foot: string[]): string[] {
  const room = Math.max(0, size.rows - head.length - foot.length);
  const { lines } = body;
  const kept = lines.length <= room ? lines : lines.slice(0, Math.max(0, room - 1));
  const hidden = lines.length - kept.length;
  const shown = hidden > 0 && room > 0 ? [...kept, fit(body.more(hidden), size.columns)] : kept;
  const blank = Array<string>(Math.max(0, room - shown.length)).fill('');
  return [...head, ...shown, ...blank, ...foot].slice(0, size.rows);
}

// ---- the VMs -------------------------------------------------------------------------------------------

/** The sort keys of the shown columns, the active one in reverse video. */
function sortKeysLine(state: TopState, columns: number): string {
  const sortable = ['name' as const, ...shownFields(state)];
  const parts = ['sort: ', ...sortable.map((column, i) => `${i === 0 ? '' : '  '}${sortKeyOf(column)} ${labelOf(column)}`)];
  return lineWithHighlight(parts, 1 + sortable.indexOf(state.order.column), columns);
}

function vmsFooter(state: TopState): string {
  const keys = [`${KEYS.reverse} reverse`, '< > column', `${KEYS.fields} fields`, `${KEYS.expand} expand`, 'q quit'];
  return `${keys.join('  ')}   ${describeOrder(state.order)}`;
}

/** The sorted rows from the first that keeps the selected one in a room of `room` lines. */
function scrolled(rows: VmRow[], selected: number, room: number): VmRow[] {
  if (rows.length <= room) return rows;
  const visible = Math.max(1, room - 1);
  const first = Math.max(0, Math.min(selected - visible + 1, rows.length - visible));
  return rows.slice(first);
}

function vmsScreen(view: View, size: Size): string[] {
  const sorted = sortRows(view.rows, view.state.order);
  const shape = layout(sorted, shownFields(view.state), size.columns);
  const selected = selectedName(view.state, sorted.map((row) => row.name));
  const head = [fit(summaryLine(view), size.columns), titleLine(shape, view.state, size.columns)];
  const foot = [sortKeysLine(view.state, size.columns), fit(vmsFooter(view.state), size.columns)];
  const room = size.rows - head.length - foot.length;
  const start = scrolled(sorted, sorted.findIndex((row) => row.name === selected), room);
  const lines = start.map((row) => {
    const line = fit(rowLine(row, shape), size.columns);
    return row.name === selected ? reversed(line) : line;
  });
  const more = (hidden: number) => `... ${hidden} more VMs: arrow keys scroll, or make the terminal taller`;
  return framed(size, head, { lines, more }, foot);
}

// ---- the fields ----------------------------------------------------------------------------------------

function fieldsScreen(view: View, size: Size): string[] {
  const { state } = view;
  const width = Math.max(...state.fieldOrder.map((id) => fieldOf(id).title.length));
  const lines = state.fieldOrder.map((id, i) => {
    const field = fieldOf(id);
    const mark = state.shown.has(id) ? '[x]' : '[ ]';
    return fit(`  ${toggleKeyOf(i)}  ${mark}  ${field.title.padEnd(width)}  ${field.sortKey}     ${field.description}`, size.columns);
  });
  const head = [
    fit(summaryLine(view), size.columns),
    fit(`fields: ${toggleKeyOf(0)}-${toggleKeyOf(state.fieldOrder.length - 1)} show or hide a column`, size.columns),
    fit(`KEY SHOWN ${'COLUMN'.padEnd(width)}  SORT  WHAT`, size.columns),
  ];
  const foot = [fit(`${KEYS.fields} or Esc back  q quit`, size.columns)];
  return framed(size, head, { lines, more: (hidden) => `... ${hidden} more fields` }, foot);
}

// ---- one VM's counters ---------------------------------------------------------------------------------

const TOTAL_WIDTH = 20;
const RATE_WIDTH = 8;

function counterLines(counters: readonly CounterRate[], columns: number): string[] {
  const nameWidth = Math.max(NAME_MIN_WIDTH, columns - TOTAL_WIDTH - RATE_WIDTH - 2);
  return counters.map((counter) => {
    const name = padEnd(truncate(printable(counter.name), nameWidth), nameWidth);
    const line = `${name} ${String(counter.total).padStart(TOTAL_WIDTH)} ${optional(counter.perSecond, compactRate).padStart(RATE_WIDTH)}`;
    return fit(line, columns);
  });
}

function countersScreen(view: View, size: Size): string[] {
  const name = view.state.selected ?? '';
  const { counters } = view;
  const nameWidth = Math.max(NAME_MIN_WIDTH, size.columns - TOTAL_WIDTH - RATE_WIDTH - 2);
  const head = [
    fit(summaryLine(view), size.columns),
    fit(`${printable(name)}: hypervisor counters, fastest first`, size.columns),
    fit(`${'COUNTER'.padEnd(nameWidth)} ${'TOTAL'.padStart(TOTAL_WIDTH)} ${'PER SEC'.padStart(RATE_WIDTH)}`, size.columns),
  ];
  const lines =
    counters === undefined
      ? [fit(`${printable(name)} has left the view`, size.columns)]
      : counters.length === 0
        ? [fit("no hypervisor counters in this VM's Data (not a KVM or bhyve VM, or the daemon cannot read them)", size.columns)]
        : counterLines(counters, size.columns);
  const foot = [fit(`${KEYS.expand} or Esc back  q quit`, size.columns)];
  return framed(size, head, { lines, more: (hidden) => `... ${hidden} more counters: make the terminal taller` }, foot);
}

/**
 * The whole terminal screen, exactly `size.rows` lines of at most `size.columns` columns each. Escape
 * codes are only those of reverse video: the sorted column, the active sort key, the selected VM.
 */
export function renderScreen(view: View, size: Size): string[] {
  switch (view.state.mode) {
    case 'vms':
      return vmsScreen(view, size);
    case 'fields':
      return fieldsScreen(view, size);
    case 'counters':
      return countersScreen(view, size);
  }
}

/** One refresh's block for output that is not a terminal: plain text, every VM, names never cut. */
export function renderPlainBlock(view: View): string[] {
  const sorted = sortRows(view.rows, view.state.order);
  const shape = layout(sorted, shownFields(view.state), Infinity);
  return [
    `${summaryLine(view)}   ${describeOrder(view.state.order)}`,
    titleParts(shape).join(''),
    ...sorted.map((row) => rowLine(row, shape)),
    '',
  ];
}
