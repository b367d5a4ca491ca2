// Limits of the wire's primitive types, shared by the reader and the writer.

import { IFDATA_LAYOUT, RUSAGE_LAYOUT, wireBytes } from './layouts.js';

/** The seed asserts `length < 0xFFFF` when it encodes a string; its decoder takes any u16 length. */
export const MAX_ENCODED_STRING_BYTES = 0xfffe;

export const U32_MAX = 0xffffffff;

/** Days since 1970-01-01 of Ptime's first and last days, 0000-01-01 and 9999-12-31. */
export const PTIME_MIN_DAY = -719_528;
export const PTIME_MAX_DAY = 2_932_896;
export const PICOSECONDS_PER_DAY = 86_400_000_000_000_000n;

/** Bytes of the fixed-size blocks of a Stats Data body. */
export const RUSAGE_BYTES = wireBytes(RUSAGE_LAYOUT);
export const IFDATA_COUNTERS_BYTES = wireBytes(IFDATA_LAYOUT);

/** The smallest encodings of list elements: what a list count is checked against before anything is allocated. */
export const MIN_BYTES = {
  string: 2,
  /** string name, u64 value */
  vmmCounter: 2 + 8,
  /** string name, then the counters */
  ifdata: 2 + IFDATA_COUNTERS_BYTES,
  /** strings name, int memory, string cmd, int pid, strings taps */
  vmInfo: 8 + 8 + 2 + 8 + 8,
} as const;
