// The columns `vmm-stats top` can show besides the VM's name, and the orders it can sort by: one table that
// the screen, the plain blocks, the CSV log, --fields, --sort, the keys and --help all read.
import type { VmRow } from './model.js';

export const FIELD_IDS = ['cpu', 'memory', 'packets-in', 'packets-out', 'in', 'out', 'taps', 'exits'] as const;
export type FieldId = (typeof FIELD_IDS)[number];
/** What the rows can be sorted by: any field, or the name. */
export type SortColumn = FieldId | 'name';

export interface Field {
  id: FieldId;
  /** The column's title on the screen. */
  title: string;
  /** Columns the cell takes (at least the title's). */
  width: number;
  /** The key that sorts by this column, and what the list of those keys calls the column. */
  sortKey: string;
  label: string;
  /** For --help and the fields screen. */
  description: string;
  /** The column's name in a CSV log. */
  csvName: string;
  /** Decimals a CSV cell keeps. */
  csvDecimals: number;
  /** The number shown, sorted by and logged; undefined is not known (yet). */
  value(row: VmRow): number | undefined;
  /** How the screen writes a known value. */
  format(value: number): string;
}

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

type RateField = Pick<Field, 'id' | 'title' | 'sortKey' | 'label' | 'description' | 'csvName' | 'value'>;

function perSecond(field: RateField): Field {
  return { ...field, width: Math.max(8, field.title.length), csvDecimals: 2, format: compactRate };
}

/** Every field, in the default order. */
export const FIELDS: readonly Field[] = [
  {
    id: 'cpu',
    title: 'CPU%',
    width: 6,
    sortKey: 'c',
    label: 'cpu',
    description: 'user + system CPU time over wall-clock time; 100 is one core busy',
    csvName: 'cpu_percent',
    csvDecimals: 2,
    value: (row) => row.cpuPercent,
    format: (value) => value.toFixed(value < 9999.95 ? 1 : 0),
  },
  {
    id: 'memory',
    title: 'MAXRSS MiB',
    width: 10,
    sortKey: 'm',
    label: 'mem',
    description: "the VM process's peak resident set size (getrusage ru_maxrss)",
    csvName: 'maxrss_mib',
    csvDecimals: 1,
    value: (row) => row.maxrssMiB,
    format: (value) => value.toFixed(1),
  },
  perSecond({
    id: 'packets-in',
    title: 'IN pk/s',
    sortKey: 'p',
    label: 'pk-in',
    description: 'packets per second from the VM, summed over its taps',
    csvName: 'packets_in_per_s',
    value: (row) => row.traffic?.packetsIn,
  }),
  perSecond({
    id: 'packets-out',
    title: 'OUT pk/s',
    sortKey: 'P',
    label: 'pk-out',
    description: 'packets per second to the VM, summed over its taps',
    csvName: 'packets_out_per_s',
    value: (row) => row.traffic?.packetsOut,
  }),
  perSecond({
    id: 'in',
    title: 'IN B/s',
    sortKey: 'i',
    label: 'in',
    description: 'bytes per second from the VM, summed over its taps',
    csvName: 'bytes_in_per_s',
    value: (row) => row.traffic?.bytesIn,
  }),
  perSecond({
    id: 'out',
    title: 'OUT B/s',
    sortKey: 'o',
    label: 'out',
    description: 'bytes per second to the VM, summed over its taps',
    csvName: 'bytes_out_per_s',
    value: (row) => row.traffic?.bytesOut,
  }),
  {
    id: 'taps',
    title: 'TAPS',
    width: 4,
    sortKey: 't',
    label: 'taps',
    description: 'the taps in the latest Data',
    csvName: 'taps',
    csvDecimals: 0,
    value: (row) => row.taps,
    format: (value) => String(value),
  },
  perSecond({
    id: 'exits',
    title: 'EXITS/s',
    sortKey: 'e',
    label: 'exits',
    description: "the hypervisor's VM exits per second (KVM exits, bhyve VMEXIT_COUNT)",
    csvName: 'exits_per_s',
    value: (row) => row.exitsPerSecond,
  }),
];

export function fieldOf(id: FieldId): Field {
  return FIELDS.find((field) => field.id === id)!;
}

export const NAME_TITLE = 'VM';
const NAME_SORT_KEY = 'n';
const NAME_LABEL = 'name';

/** The fields --fields names, in its order; throws with every valid name when one is unknown or repeated. */
export function parseFields(text: string): FieldId[] {
  const names = text.split(',').map((name) => name.trim());
  const valid = `valid fields: ${FIELD_IDS.join(', ')}`;
  const unknown = names.find((name) => !(FIELD_IDS as readonly string[]).includes(name));
  if (unknown !== undefined) throw new Error(`unknown field '${unknown}' (${valid}; the VM name is always the first column)`);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) throw new Error(`'${repeated}' is given twice (${valid})`);
  return names as FieldId[];
}

// ---- sorting -------------------------------------------------------------------------------------------

export interface SortOrder {
  column: SortColumn;
  /** The opposite of the column's natural order (highest first for numbers, A to Z for names). */
  reversed: boolean;
}

export const DEFAULT_ORDER: SortOrder = { column: 'cpu', reversed: false };
export const SORT_COLUMNS: readonly SortColumn[] = ['name', ...FIELD_IDS];

export function sortKeyOf(column: SortColumn): string {
  return column === 'name' ? NAME_SORT_KEY : fieldOf(column).sortKey;
}

export function labelOf(column: SortColumn): string {
  return column === 'name' ? NAME_LABEL : fieldOf(column).label;
}

export function titleOf(column: SortColumn): string {
  return column === 'name' ? NAME_TITLE : fieldOf(column).title;
}

function compareNames(a: VmRow, b: VmRow): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Rows in the order asked for; rows without a value yet come last either way, ties go by name. */
export function sortRows(rows: readonly VmRow[], order: SortOrder): VmRow[] {
  if (order.column === 'name') return [...rows].sort((a, b) => compareNames(a, b) * (order.reversed ? -1 : 1));
  const { value } = fieldOf(order.column);
  const sign = order.reversed ? 1 : -1;
  const compare = (a: VmRow, b: VmRow): number => {
    const [x, y] = [value(a), value(b)];
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
    return x === y ? 0 : (x < y ? -1 : 1) * sign;
  };
  return [...rows].sort((a, b) => compare(a, b) || compareNames(a, b));
}

/** "by CPU%, high first", "by VM, A-Z". */
export function describeOrder(order: SortOrder): string {
  const title = titleOf(order.column);
  if (order.column === 'name') return `by ${title}, ${order.reversed ? 'Z-A' : 'A-Z'}`;
  return `by ${title}, ${order.reversed ? 'low' : 'high'} first`;
}
