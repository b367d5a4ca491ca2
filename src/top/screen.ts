// Rendering the `vmm-stats top` view as lines of text: the full screen for a terminal of a given size,
// or one plain block per interval when the output is not a terminal. Also the sort orders and their keys.
import type { VmRow } from './model.js';

export type SortColumn = 'cpu' | 'memory' | 'name' | 'in' | 'out';

export interface SortOrder {
  column: SortColumn;
  /** The opposite of the column's natural order (highest first for numbers, A to Z for names). */
  reversed: boolean;
}

interface SortChoice {
  key: string;
  column: SortColumn;
  /** As the footer names it. */
  label: string;
  value(row: VmRow): number | string | undefined;
}

/** The keys that change the sort column, in the order the footer lists them. */
export const SORT_CHOICES: readonly SortChoice[] = [
  { key: 'c', column: 'cpu', label: 'CPU', value: (row) => row.cpuPercent },
  { key: 'm', column: 'memory', label: 'mem', value: (row) => row.maxrssMiB },
  { key: 'n', column: 'name', label: 'name', value: (row) => row.name },
  { key: 'i', column: 'in', label: 'in', value: (row) => row.traffic?.bytesIn },
  { key: 'o', column: 'out', label: 'out', value: (row) => row.traffic?.bytesOut },
];
const REVERSE_KEY = 'r';
export const DEFAULT_ORDER: SortOrder = { column: 'cpu', reversed: false };

function choiceFor(column: SortColumn): SortChoice {
  return SORT_CHOICES.find((choice) => choice.column === column)!;
}

/** The order after a key press, or undefined when the key does not change the order. */
export function orderAfterKey(order: SortOrder, key: string): SortOrder | undefined {
  if (key === REVERSE_KEY) return { ...order, reversed: !order.reversed };
  const choice = SORT_CHOICES.find((candidate) => candidate.key === key);
  return choice && { column: choice.column, reversed: false };
}

/** Rows in the order asked for; rows without a value yet come last either way, ties go by name. */
export function sortRows(rows: readonly VmRow[], order: SortOrder): VmRow[] {
  const { value } = choiceFor(order.column);
  const naturalSign = order.column === 'name' ? 1 : -1;
  const sign = order.reversed ? -naturalSign : naturalSign;
  const compare = (a: VmRow, b: VmRow): number => {
    const [x, y] = [value(a), value(b)];
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
    if (x === y) return 0;
    return (x < y ? -1 : 1) * sign;
  };
  return [...rows].sort((a, b) => compare(a, b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function describeOrder(order: SortOrder): string {
  const title = columnFor(order.column).title;
  const ascending = (order.column === 'name') !== order.reversed;
  if (order.column === 'name') return `by ${title}, ${ascending ? 'A-Z' : 'Z-A'}`;
  return `by ${title}, ${ascending ? 'low' : 'high'} first`;
}

// ---- text width ----------------------------------------------------------------------------------------

/** Columns a character takes in a terminal: 0 for combining marks, 2 for East Asian wide ones (most). */
function charWidth(char: string): number {
  if (/[\p{Mn}\p{Me}\u200b-\u200f]/u.test(char)) return 0;
  const code = char.codePointAt(0)!;
  const wide =
    (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd);
  return wide ? 2 : 1;
}

function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += charWidth(char);
  return width;
}

/** A VM name may hold any character: control characters would move the cursor, so they show as '?'. */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, '?');
}

/** The text cut to `width` columns, with an ellipsis where it was cut. */
function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let kept = '';
  let used = 0;
  for (const char of text) {
    if (used + charWidth(char) > width - 1) break;
    kept += char;
    used += charWidth(char);
  }
  return kept + '…' + ' '.repeat(Math.max(0, width - 1 - used));
}

function padEnd(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

// ---- columns -------------------------------------------------------------------------------------------

/** A count per second in at most four characters: 0, 7.5, 512, 1.2k, 34k, 5.6M... */
export function compactRate(value: number): string {
  if (value === 0) return '0';
  const units = ['', 'k', 'M', 'G', 'T', 'P'];
  let scaled = value;
  let unit = 0;
  while (unit < units.length - 1 && Math.round(scaled) >= 1000) {
    scaled /= 1000;
    unit++;
  }
  const digits = scaled < 9.95 ? scaled.toFixed(1) : Math.round(scaled).toString();
  return digits + units[unit];
}

const MISSING = '-';

function optional(value: number | undefined, format: (value: number) => string): string {
  return value === undefined ? MISSING : format(value);
}

interface Column {
  title: string;
  width: number;
  sort?: SortColumn;
  cell(row: VmRow): string;
}

const NAME_COLUMN = { title: 'VM', minWidth: 6 };

const NUMBER_COLUMNS: readonly Column[] = [
  { title: 'CPU%', width: 6, sort: 'cpu', cell: (row) => optional(row.cpuPercent, (v) => v.toFixed(v < 9999.95 ? 1 : 0)) },
  { title: 'MAXRSS MiB', width: 10, sort: 'memory', cell: (row) => row.maxrssMiB.toFixed(1) },
  { title: 'IN pk/s', width: 8, cell: (row) => optional(row.traffic?.packetsIn, compactRate) },
  { title: 'OUT pk/s', width: 8, cell: (row) => optional(row.traffic?.packetsOut, compactRate) },
  { title: 'IN B/s', width: 8, sort: 'in', cell: (row) => optional(row.traffic?.bytesIn, compactRate) },
  { title: 'OUT B/s', width: 8, sort: 'out', cell: (row) => optional(row.traffic?.bytesOut, compactRate) },
  { title: 'TAPS', width: 4, cell: (row) => String(row.taps) },
];

function widthOf(numbers: readonly Column[]): number {
  return numbers.reduce((sum, column) => sum + 1 + column.width, 0);
}

function columnFor(sort: SortColumn): { title: string } {
  return sort === 'name' ? NAME_COLUMN : NUMBER_COLUMNS.find((column) => column.sort === sort)!;
}

/** Left out, in this order, when a terminal is too narrow for them and a readable name column. */
const DROPPED_WHEN_NARROW = [['IN pk/s', 'OUT pk/s'], ['TAPS']];
const READABLE_NAME_WIDTH = 16;

interface Layout {
  vmWidth: number;
  numbers: readonly Column[];
}

/**
 * The name column takes what the numbers leave, up to the longest name. In a narrow terminal the least
 * needed numbers give way first; narrower still, lines are cut.
 */
function layout(rows: readonly VmRow[], columns: number): Layout {
  const longest = Math.max(NAME_COLUMN.title.length, ...rows.map((row) => displayWidth(printable(row.name))));
  const wanted = Math.min(longest, READABLE_NAME_WIDTH);
  let numbers = NUMBER_COLUMNS;
  for (const titles of DROPPED_WHEN_NARROW) {
    if (columns - widthOf(numbers) >= wanted) break;
    numbers = numbers.filter((column) => !titles.includes(column.title));
  }
  return { vmWidth: Math.max(NAME_COLUMN.minWidth, Math.min(longest, columns - widthOf(numbers))), numbers };
}

function titleCells({ vmWidth, numbers }: Layout): { text: string; sort: SortColumn | undefined }[] {
  return [
    { text: padEnd(NAME_COLUMN.title, vmWidth), sort: 'name' },
    ...numbers.map((column) => ({ text: ' ' + column.title.padStart(column.width), sort: column.sort })),
  ];
}

function rowLine(row: VmRow, { vmWidth, numbers }: Layout): string {
  const name = padEnd(truncate(printable(row.name), vmWidth), vmWidth);
  return name + numbers.map((column) => ' ' + column.cell(row).padStart(column.width)).join('');
}

// ---- screens -------------------------------------------------------------------------------------------

export interface View {
  rows: readonly VmRow[];
  order: SortOrder;
  now: Date;
  /** The host's cores: 100% each. */
  cores: number;
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

const LEGEND = 'IN: traffic from the VM   MAXRSS: peak resident set (getrusage ru_maxrss)';

function footerLine(order: SortOrder): string {
  const keys = SORT_CHOICES.map((choice) => `${choice.key} ${choice.label}`);
  return [...keys, `${REVERSE_KEY} reverse`, 'q quit'].join('  ') + `   ${describeOrder(order)}`;
}

/** Cuts a line of plain text to the terminal's width. */
function fit(line: string, columns: number): string {
  return displayWidth(line) <= columns ? line : truncate(line, columns);
}

const REVERSE_VIDEO = '\x1b[7m';
const NORMAL_VIDEO = '\x1b[27m';

/** The column titles, the sorted one in reverse video when it is wholly visible. */
function titleLine(shape: Layout, order: SortOrder, columns: number): string {
  const cells = titleCells(shape);
  const full = cells.map((cell) => cell.text).join('');
  const plain = fit(full, columns);
  // Titles are ASCII: string offsets are columns. A cut line ends in an ellipsis, which hides a column.
  const visible = plain === full ? full.length : columns - 1;
  const index = cells.findIndex((cell) => cell.sort === order.column);
  const end = cells.slice(0, index + 1).reduce((width, cell) => width + cell.text.length, 0);
  const title = cells[index]!.text.trim();
  const start = index === 0 ? 0 : end - title.length;
  if (end > visible) return plain;
  return plain.slice(0, start) + REVERSE_VIDEO + title + NORMAL_VIDEO + plain.slice(start + title.length);
}

/**
 * The whole terminal screen: totals, column titles, as many VMs as fit, a legend and the keys. Lines
 * are at most `columns` wide; the title line holds the only escape codes (the sorted column's highlight).
 */
export function renderScreen(view: View, size: { columns: number; rows: number }): string[] {
  const sorted = sortRows(view.rows, view.order);
  const shape = layout(sorted, size.columns);
  const fixedLines = 4;
  const room = Math.max(0, size.rows - fixedLines);
  // When the VMs do not all fit, the last line of the room says how many are left out.
  const visibleRows = sorted.length <= room ? sorted : sorted.slice(0, Math.max(0, room - 1));
  const shown = visibleRows.map((row) => fit(rowLine(row, shape), size.columns));
  const hidden = sorted.length - visibleRows.length;
  if (hidden > 0 && room > 0) shown.push(fit(`... ${hidden} more VMs: make the terminal taller to see them`, size.columns));
  const blank = Array<string>(Math.max(0, room - shown.length)).fill('');
  const lines = [
    fit(summaryLine(view), size.columns),
    titleLine(shape, view.order, size.columns),
    ...shown,
    ...blank,
    fit(LEGEND, size.columns),
    fit(footerLine(view.order), size.columns),
  ];
  return lines.slice(0, size.rows);
}

/** One interval's block for output that is not a terminal: plain text, every VM, names never cut. */
export function renderPlainBlock(view: View): string[] {
  const sorted = sortRows(view.rows, view.order);
  const shape = layout(sorted, Infinity);
  return [
    `${summaryLine(view)}   ${describeOrder(view.order)}`,
    titleCells(shape).map((cell) => cell.text).join(''),
    ...sorted.map((row) => rowLine(row, shape)),
    '',
  ];
}
