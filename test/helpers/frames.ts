import { WireError } from '../../src/wire/index.js';
import { thrown } from './thrown.js';
// Hand-built frames for the wire tests: each piece in the layout PROTOCOL.md gives, written independently
// of the codec under test.

/** A frame: 20-byte header (version 2, `length` defaulting to the payload's), then the payload. */
export function frame(tag: number, payload: Buffer, id = 0n, length = payload.length): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt32BE(tag >>> 0, 0);
  header.writeUInt16BE(2, 4);
  header.writeBigUInt64BE(id, 8);
  header.writeUInt32BE(length, 16);
  return Buffer.concat([header, payload]);
}

/** The seed's int: 8 bytes, two's complement; takes any 64-bit value. */
export function int(value: bigint | number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigInt64BE(BigInt.asIntN(64, BigInt(value)));
  return out;
}

export function u64(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return out;
}

/** A string from raw bytes: u16 length, then the bytes. */
export function str(bytes: Buffer | string): Buffer {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const out = Buffer.alloc(2 + data.length);
  out.writeUInt16BE(data.length);
  data.copy(out, 2);
  return out;
}

export function strs(list: string[]): Buffer {
  return Buffer.concat([int(list.length), ...list.map((item) => str(item))]);
}

export function ptime(d: bigint | number, ps: bigint): Buffer {
  return Buffer.concat([int(d), u64(ps)]);
}

export function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

/** The WireError that `run` throws; fails the test if it throws nothing or anything else. */
export function wireError(run: () => unknown): WireError {
  return thrown(WireError, run);
}
