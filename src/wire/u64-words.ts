// u64 <-> bigint from two inlined 32-bit DataView accesses, a fraction of the cost of DataView's
// getBigUint64/setBigUint64, which V8 does not inline. The functions are kept small, for V8 to inline them
// into the blocks that read and write many u64 fields.
// - Reading joins the words by arithmetic: V8 compiles BigInt.asUintN(64, …) of BigInt(u32) shifts and ORs
//   to plain 64-bit integer operations, so the result's allocation is all that is left. Joining them in a
//   scratch BigUint64Array, as writing does, would make every read wait on two 32-bit stores feeding one
//   64-bit load (a store-forwarding stall; BENCHMARKS.md, "Wire codec").
// - Writing stores the bigint into a scratch BigUint64Array and loads its two words back: a wide store read
//   by narrower loads within it forwards without that stall.

import { endianness } from 'node:os';
import { WireError } from './errors.js';

// Module-wide but no shared state: putU64 stores into it and reads it back within one call, so nothing left
// in it is ever read by another call, another Encoder or another frame. One per call would cost an
// allocation per u64 written.
const scratch = new BigUint64Array(1);
const words = new Uint32Array(scratch.buffer);
/** Which word of the scratch holds the high 32 bits, in this machine's byte order. */
const HIGH = endianness() === 'LE' ? 1 : 0;
const LOW = 1 - HIGH;

export function getU64(view: DataView, offset: number): bigint {
  // Written out here and in copyU64: through one helper that both called, decode was markedly slower
  // (BENCHMARKS.md, "Wire codec").
  return BigInt.asUintN(64, (BigInt(view.getUint32(offset)) << 32n) | BigInt(view.getUint32(offset + 4)));
}

/** The u64 at `offset` of `from`, copied to `toOffset` of `to` on the way. */
export function copyU64(from: DataView, offset: number, to: DataView, toOffset: number): bigint {
  const high = from.getUint32(offset);
  const low = from.getUint32(offset + 4);
  to.setUint32(toOffset, high);
  to.setUint32(toOffset + 4, low);
  return BigInt.asUintN(64, (BigInt(high) << 32n) | BigInt(low));
}

/** Writes `value` big-endian at `offset`; WireError unless it is a bigint within u64 range. */
export function putU64(view: DataView, offset: number, value: bigint): void {
  // Within u64 range exactly when wrapping to 64 bits changes nothing: cheaper than two comparisons.
  if (typeof value !== 'bigint' || BigInt.asUintN(64, value) !== value) throw notU64(value);
  scratch[0] = value;
  view.setUint32(offset, words[HIGH]);
  view.setUint32(offset + 4, words[LOW]);
}

// Rows of u64 fields as a BigUint64Array fills them, seen through a Uint32Array: field f is words 2f and
// 2f + 1, in this machine's order. Reading them as words makes no bigint.

/** Writes field `field` of `words` big-endian at `offset`. */
export function putU64Word(view: DataView, offset: number, words: Uint32Array, field: number): void {
  view.setUint32(offset, words[2 * field + HIGH]);
  view.setUint32(offset + 4, words[2 * field + LOW]);
}

/** The low 32 bits of field `field` of `words`. */
export function lowWord(words: Uint32Array, field: number): number {
  return words[2 * field + LOW];
}

function notU64(value: unknown): WireError {
  return new WireError('bad_value', `a u64 cannot carry ${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value)}`);
}
