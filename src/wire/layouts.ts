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

/** A record's fields and their kinds, in the wire's order: an object's string keys keep the order written. */
type Fields = Readonly<Record<string, FieldKind>>;

/** The record a declaration describes: a property per field, of its kind's type. */
type RecordOf<F extends Fields> = { -readonly [K in keyof F]: ValueOf<F[K]> };

/** The fields as a list, in their order, each with its key's and kind's literal types. */
function listOf<const F extends Fields>(fields: F): { [K in keyof F & string]: { key: K; kind: F[K] } }[keyof F & string][] {
  return Object.entries(fields).map(([key, kind]) => ({ key, kind })) as never;
}

/** A process's resource usage (the seed's rusage). */
const RUSAGE = {
  utime: 'timeval', stime: 'timeval',
  maxrss: 'u64', ixrss: 'u64', idrss: 'u64', isrss: 'u64', minflt: 'u64', majflt: 'u64', nswap: 'u64',
  inblock: 'u64', outblock: 'u64', msgsnd: 'u64', msgrcv: 'u64', nsignals: 'u64', nvcsw: 'u64', nivcsw: 'u64',
} as const;

/** An interface's counters, without its name (a string before them on the wire). */
const IFDATA = {
  flags: 'u32', send_length: 'u32', max_send_length: 'u32', send_drops: 'u32', mtu: 'u32',
  baudrate: 'u64', input_packets: 'u64', input_errors: 'u64', output_packets: 'u64', output_errors: 'u64',
  collisions: 'u64', input_bytes: 'u64', output_bytes: 'u64', input_mcast: 'u64', output_mcast: 'u64',
  input_dropped: 'u64', output_dropped: 'u64',
} as const;

export const RUSAGE_LAYOUT = listOf(RUSAGE);
export const IFDATA_LAYOUT = listOf(IFDATA);
export type RusageRecord = RecordOf<typeof RUSAGE>;
export type IfDataCounters = RecordOf<typeof IFDATA>;
export type RusageField = keyof typeof RUSAGE;
export type IfDataField = keyof typeof IFDATA;

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
