// The two fixed-size records of a Stats Data body, each declared here and nowhere else: a process's rusage
// and an interface's counters, their fields in the wire's order with the wire's types. Derived from them:
// the record types (messages.ts), the wire's writers and readers (stats.ts, through layout-code.ts), the JSON
// names (json.ts), the sampler's rows (sampler.ts, which checks them against the names the addon exports
// from native/sampler.h), the `sample` command's lines and the metric families.

/**
 * A field's type on the wire: u32 (4 bytes), u64 (8 bytes, a bigint), int (8 bytes, a safe integer) or a
 * timeval (a u64 of seconds, then an int of microseconds).
 */
export type FieldKind = 'u32' | 'u64' | 'int' | 'timeval';

export interface LayoutField {
  readonly key: string;
  readonly kind: FieldKind;
}

export interface Timeval {
  sec: bigint;
  usec: number;
}

type ValueOf<K extends FieldKind> = K extends 'u64' ? bigint : K extends 'timeval' ? Timeval : number;

/** The record a layout describes: a property per field, of its kind's type. */
export type RecordOf<F extends readonly LayoutField[]> = { [Field in F[number] as Field['key']]: ValueOf<Field['kind']> };

export const RUSAGE_LAYOUT = [
  { key: 'utime', kind: 'timeval' },
  { key: 'stime', kind: 'timeval' },
  { key: 'maxrss', kind: 'u64' },
  { key: 'ixrss', kind: 'u64' },
  { key: 'idrss', kind: 'u64' },
  { key: 'isrss', kind: 'u64' },
  { key: 'minflt', kind: 'u64' },
  { key: 'majflt', kind: 'u64' },
  { key: 'nswap', kind: 'u64' },
  { key: 'inblock', kind: 'u64' },
  { key: 'outblock', kind: 'u64' },
  { key: 'msgsnd', kind: 'u64' },
  { key: 'msgrcv', kind: 'u64' },
  { key: 'nsignals', kind: 'u64' },
  { key: 'nvcsw', kind: 'u64' },
  { key: 'nivcsw', kind: 'u64' },
] as const satisfies readonly LayoutField[];

/** An interface's counters, without its name (a string before them on the wire). */
export const IFDATA_LAYOUT = [
  { key: 'flags', kind: 'u32' },
  { key: 'send_length', kind: 'u32' },
  { key: 'max_send_length', kind: 'u32' },
  { key: 'send_drops', kind: 'u32' },
  { key: 'mtu', kind: 'u32' },
  { key: 'baudrate', kind: 'u64' },
  { key: 'input_packets', kind: 'u64' },
  { key: 'input_errors', kind: 'u64' },
  { key: 'output_packets', kind: 'u64' },
  { key: 'output_errors', kind: 'u64' },
  { key: 'collisions', kind: 'u64' },
  { key: 'input_bytes', kind: 'u64' },
  { key: 'output_bytes', kind: 'u64' },
  { key: 'input_mcast', kind: 'u64' },
  { key: 'output_mcast', kind: 'u64' },
  { key: 'input_dropped', kind: 'u64' },
  { key: 'output_dropped', kind: 'u64' },
] as const satisfies readonly LayoutField[];

export type RusageField = (typeof RUSAGE_LAYOUT)[number]['key'];
export type IfDataField = (typeof IFDATA_LAYOUT)[number]['key'];

const WIRE_BYTES: Record<FieldKind, number> = { u32: 4, u64: 8, int: 8, timeval: 16 };

/** Bytes the record takes on the wire. */
export function wireBytes(layout: readonly LayoutField[]): number {
  return layout.reduce((bytes, field) => bytes + WIRE_BYTES[field.kind], 0);
}

/**
 * One number of a record as the sampler's rows and the wire's blocks hold it: a timeval is two, its seconds
 * and its microseconds (`utime_sec`, `utime_usec`, as native/sampler.h names them).
 */
export interface Scalar {
  /** How the record reaches it: ['maxrss'], or ['utime', 'sec']. */
  readonly path: readonly string[];
  readonly kind: Exclude<FieldKind, 'timeval'>;
  /** Its name in a sampler row. */
  readonly rowName: string;
  /** Where it is in the wire's block. */
  readonly offset: number;
  /** Its field in a sampler row, from the row's start: a row holds a u64 per scalar, in this order. */
  readonly rowField: number;
}

export function scalarsOf(layout: readonly LayoutField[]): Scalar[] {
  const scalars: Scalar[] = [];
  let offset = 0;
  const add = (path: string[], kind: Scalar['kind']) => {
    scalars.push({ path, kind, rowName: path.join('_'), offset, rowField: scalars.length });
    offset += WIRE_BYTES[kind];
  };
  for (const { key, kind } of layout) {
    if (kind !== 'timeval') {
      add([key], kind);
    } else {
      add([key, 'sec'], 'u64');
      add([key, 'usec'], 'int');
    }
  }
  return scalars;
}
