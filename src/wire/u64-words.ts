// u64 <-> bigint through a scratch BigUint64Array: two inlined 32-bit DataView accesses and a typed-array
// element access cost a fraction of DataView's getBigUint64/setBigUint64, which V8 does not inline.

import { endianness } from 'node:os';

const scratch = new BigUint64Array(1);
const words = new Uint32Array(scratch.buffer);
/** Which word of the scratch holds the high 32 bits, in this machine's byte order. */
const HIGH = endianness() === 'LE' ? 1 : 0;
const LOW = 1 - HIGH;

/** Writes `value` (a bigint within u64 range, which the caller has checked) big-endian at `offset`. */
export function setU64(view: DataView, offset: number, value: bigint): void {
  scratch[0] = value;
  view.setUint32(offset, words[HIGH]);
  view.setUint32(offset + 4, words[LOW]);
}

export function getU64(view: DataView, offset: number): bigint {
  words[HIGH] = view.getUint32(offset);
  words[LOW] = view.getUint32(offset + 4);
  return scratch[0];
}
