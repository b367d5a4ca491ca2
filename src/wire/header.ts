// The 20-byte frame header: tag u32, version u16, padding u16, id u64, length u32.

import { Reader } from './buffer-reader.js';
import { putU32, type Writer } from './buffer-writer.js';
import { WireError } from './errors.js';
import type { Header } from './messages.js';
import { putU64 } from './u64-words.js';

export const HEADER_SIZE = 20;
/** The only version spoken; 0 and 1 are refused as unsupported, anything else as unknown. */
const WIRE_VERSION = 2;

/** The header at the start of `bytes`; trailing bytes are not looked at. Throws WireError. */
export function decodeHeader(bytes: Uint8Array): Header {
  return readHeader(new Reader(bytes));
}

/** Reads a header at the reader's position, as the seed does: the version first (8 bytes), then the rest. */
export function readHeader(r: Reader): Header {
  const start = r.pos;
  const available = r.remaining;
  // The seed needs 8 bytes to judge the version; the id is worth reporting whenever it is there.
  const id = available >= 16 ? r.u64At(start + 8) : undefined;
  if (available < 8) {
    throw new WireError('truncated', `a header needs ${HEADER_SIZE} bytes, got ${available}`, id);
  }
  const version = r.u16At(start + 4);
  if (version !== WIRE_VERSION) {
    const code = version === 0 || version === 1 ? 'unsupported_version' : 'unknown_version';
    throw new WireError(code, `wire version ${version} is not spoken (only ${WIRE_VERSION})`, id);
  }
  if (available < HEADER_SIZE) {
    throw new WireError('truncated', `a header needs ${HEADER_SIZE} bytes, got ${available}`, id);
  }
  r.pos = start + HEADER_SIZE;
  return { tag: r.u32At(start), version, id: id as bigint, length: r.u32At(start + 16) };
}

/** Writes a header; `length` may be a placeholder that the caller patches at `offset + 16`. */
export function writeHeader(w: Writer, tag: number, id: bigint, length: number): void {
  const at = w.block(HEADER_SIZE);
  const view = w.view;
  putU32(view, at, tag);
  view.setUint16(at + 4, WIRE_VERSION);
  view.setUint16(at + 6, 0);
  putU64(view, at + 8, id);
  putU32(view, at + 16, length);
}
