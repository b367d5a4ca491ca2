// A growable big-endian writer for the wire's primitives. Every write checks that its value fits its field
// and throws WireError otherwise, so that a frame is either complete and exact or not produced at all.
// Offsets (start, pos, limit) are offsets into the writer's memory, which it may share with other frames
// (see FrameMemory).

import { SHORT_STRING, storeIfAscii } from './ascii.js';
import { MAX_ENCODED_STRING_BYTES, PICOSECONDS_PER_DAY, PTIME_MAX_DAY, PTIME_MIN_DAY, U32_MAX } from './constants.js';
import { WireError } from './errors.js';
import type { Ptime, VmmCounters } from './messages.js';
import { putU64 } from './u64-words.js';

const TWO_POW_32 = 0x1_0000_0000;

function checkString(text: string): void {
  if (typeof text !== 'string') throw new WireError('bad_value', `expected a string, got ${typeof text}`);
}

function checkUtf8Length(length: number): void {
  if (length > MAX_ENCODED_STRING_BYTES) {
    throw new WireError('string_too_long', `a string of ${length} bytes does not fit the wire (at most ${MAX_ENCODED_STRING_BYTES})`);
  }
}

/**
 * Bytes a string takes on the wire if it is ASCII: its u16 length, then a byte per character. Exact for
 * ASCII, the usual case, and a lower bound otherwise (the writer grows), so sizing a frame costs no pass
 * over the characters. A string too long for the wire whatever its encoding is refused here, before
 * anything is written.
 */
export function stringSize(text: string): number {
  checkString(text);
  checkUtf8Length(text.length);
  return 2 + text.length;
}

/** stringSize of a list of strings: int count, then the strings. */
export function stringsSize(list: readonly string[]): number {
  let size = 8;
  for (let i = 0; i < list.length; i++) size += stringSize(list[i]);
  return size;
}

function badValue(what: string, value: unknown): WireError {
  return new WireError('bad_value', `${what} cannot carry ${JSON.stringify(value)}`);
}

// The put* functions (putU64 is in u64-words.ts) write one checked value at an offset of a DataView. They are small on purpose: a block
// of many fields (rusage, interface counters) inlines them all within V8's inlining budget.

function putU16(view: DataView, offset: number, value: number): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff)) throw badValue('a u16', value);
  view.setUint16(offset, value);
}

export function putU32(view: DataView, offset: number, value: number): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= U32_MAX)) throw badValue('a u32', value);
  view.setUint32(offset, value);
}

/** The seed's int: 8 bytes two's complement; only safe integers, so that decoding gives back the same number. */
export function putInt(view: DataView, offset: number, value: number): void {
  if (!Number.isSafeInteger(value)) throw intRange(value);
  const high = Math.floor(value / TWO_POW_32);
  view.setInt32(offset, high);
  view.setUint32(offset + 4, value - high * TWO_POW_32);
}

function intRange(value: number): WireError {
  return new WireError('int_range', `an int must be a safe integer (within ±(2^53−1)), not ${String(value)}`);
}

function exactCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** A Buffer and the views the writer stores through: element stores to a plain Uint8Array are the fastest. */
class Memory {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(readonly node: Buffer) {
    this.bytes = new Uint8Array(node.buffer, node.byteOffset, node.length);
    this.view = new DataView(node.buffer, node.byteOffset, node.length);
  }
}

/**
 * Where an Encoder's writers take their memory: slabs carved into frames, like Buffer.allocUnsafe's pool but
 * larger, since allocating an ArrayBuffer per frame costs more than encoding a whole Stats Data frame. A
 * frame keeps its slab alive while it lives. Claims larger than an eighth of a slab get memory of their own.
 *
 * A caller that knows when its frames are all sent (a daemon, after each tick's writes) can reset() it: the
 * next frames then go into the same memory, grown to hold a whole batch, so that batch after batch
 * allocates nothing.
 */
export class FrameMemory {
  #slabBytes: number;
  #slab: Memory;
  #used = 0;
  /** Slabs filled since the last reset, to size the slab for the next batch. */
  #filledSinceReset = 0;

  constructor(slabBytes = 64 * 1024) {
    this.#slabBytes = slabBytes;
    this.#slab = new Memory(Buffer.allocUnsafeSlow(slabBytes));
  }

  get slabBytes(): number {
    return this.#slabBytes;
  }

  /** Starts over at the start of the slab: every frame written here before must be out of use. */
  reset(): void {
    if (this.#filledSinceReset > 0) {
      // The batch took more than one slab, at most this many: one slab of that size takes the next.
      this.#slabBytes = 2 ** Math.ceil(Math.log2((this.#filledSinceReset + 1) * this.#slabBytes));
      this.#slab = new Memory(Buffer.allocUnsafeSlow(this.#slabBytes));
    }
    this.#used = 0;
    this.#filledSinceReset = 0;
  }

  /** The memory that claim() carved its last claim from. */
  get slab(): Memory {
    return this.#slab;
  }

  /** Where in `slab` the claim of `bytes` starts; -1 when the claim is too large for slabs. */
  claim(bytes: number): number {
    if (bytes > this.#slabBytes / 8) return -1;
    if (this.#used + bytes > this.#slabBytes) {
      this.#slab = new Memory(Buffer.allocUnsafeSlow(this.#slabBytes));
      this.#used = 0;
      this.#filledSinceReset += 1;
    }
    const start = this.#used;
    this.#used += bytes;
    return start;
  }

  /** Moves the end of the latest claim, `end` in `memory`, to `newEnd`, if it can; says whether it did. */
  resize(memory: Memory, end: number, newEnd: number): boolean {
    if (memory !== this.#slab || this.#used !== end || newEnd > this.#slabBytes) return false;
    this.#used = newEnd;
    return true;
  }
}

/** The vmm section an Encoder wrote last (vmm-section.ts): a section is sized and written through it, to reuse it. */
export interface SectionWriter {
  size(vmm: VmmCounters): number;
  write(w: Writer, vmm: VmmCounters): void;
}

export class Writer {
  private memory: Memory;
  /** An Encoder's, whose slabs the writer claims its memory from; else the writer has memory of its own. */
  private readonly frameMemory: FrameMemory | undefined;
  /** An Encoder's, or none: every vmm section is then written in full (vmm-section.ts). */
  readonly lastSection: SectionWriter | undefined;
  /** Where this writer's bytes start in its memory. */
  private start: number;
  private pos: number;
  private limit: number;

  /** With the exact size of what will be written, the writer never copies. */
  constructor(capacity = 256, frameMemory?: FrameMemory, lastSection?: SectionWriter) {
    this.frameMemory = frameMemory;
    this.lastSection = lastSection;
    const start = frameMemory === undefined ? -1 : frameMemory.claim(capacity);
    if (start >= 0) {
      this.memory = frameMemory!.slab;
      this.start = start;
    } else {
      this.memory = new Memory(Buffer.allocUnsafeSlow(capacity));
      this.start = 0;
    }
    this.pos = this.start;
    this.limit = this.start + capacity;
  }

  get length(): number {
    return this.pos - this.start;
  }

  /**
   * The bytes written, as a Buffer of their own length; the writer is done with. Memory of the writer's
   * own is the result's alone: it is copied to the bytes' exact size when it was made larger.
   */
  finish(): Buffer {
    const written = this.memory.node.subarray(this.start, this.pos);
    if (this.frameMemory === undefined) return this.pos === this.limit ? written : exactCopy(written);
    // Hand the unused tail of the claim back, when nothing was claimed after it.
    this.frameMemory.resize(this.memory, this.limit, this.pos);
    return written;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.limit) return;
    const length = this.pos - this.start;
    const capacity = Math.max(2 * (this.limit - this.start), length + bytes);
    // The latest claim can grow in place.
    if (this.frameMemory?.resize(this.memory, this.limit, this.start + capacity)) {
      this.limit = this.start + capacity;
      return;
    }
    const grown = new Memory(Buffer.allocUnsafeSlow(capacity));
    grown.bytes.set(this.memory.bytes.subarray(this.start, this.pos));
    this.memory = grown;
    this.start = 0;
    this.pos = length;
    this.limit = capacity;
  }

  /** The writer's memory, valid until the next write: for blocks written at offsets given by block(). */
  get view(): DataView {
    return this.memory.view;
  }

  /** Claims the next `bytes` bytes and returns their offset in `view`, for blocks of fixed layout. */
  block(bytes: number): number {
    this.ensure(bytes);
    const at = this.pos;
    this.pos = at + bytes;
    return at;
  }

  // block() may move the writer to new memory: the view is read after it.

  u16(value: number): void {
    const at = this.block(2);
    putU16(this.memory.view, at, value);
  }

  u32(value: number): void {
    const at = this.block(4);
    putU32(this.memory.view, at, value);
  }

  /** Overwrites a u32 already written at `offset` from the start, e.g. a header's length once known. */
  patchU32(offset: number, value: number): void {
    putU32(this.memory.view, this.start + offset, value);
  }

  u64(value: bigint): void {
    const at = this.block(8);
    putU64(this.memory.view, at, value);
  }

  int(value: number): void {
    const at = this.block(8);
    putInt(this.memory.view, at, value);
  }

  /** A list's element count. */
  count(length: number): void {
    this.int(length);
  }

  /** A u16 length, then the UTF-8 bytes (lone surrogates become U+FFFD, as Buffer writes them). */
  string(text: string): void {
    checkString(text);
    if (text.length < SHORT_STRING && this.asciiString(text)) return;
    const length = Buffer.byteLength(text, 'utf8');
    checkUtf8Length(length);
    this.ensure(2 + length);
    this.memory.view.setUint16(this.pos, length);
    this.memory.node.write(text, this.pos + 2, length, 'utf8');
    this.pos += 2 + length;
  }

  /** Writes `text` if it is ASCII and says whether it did; on false nothing counts as written. */
  private asciiString(text: string): boolean {
    const length = text.length;
    this.ensure(2 + length);
    if (!storeIfAscii(text, this.memory.bytes, this.pos + 2)) return false;
    this.memory.view.setUint16(this.pos, length);
    this.pos += 2 + length;
    return true;
  }

  strings(list: readonly string[]): void {
    this.count(list.length);
    for (let i = 0; i < list.length; i++) this.string(list[i]);
  }

  /** Copies `data` in and returns its offset in `view`. */
  bytes(data: Uint8Array): number {
    const at = this.block(data.length);
    this.memory.bytes.set(data, at);
    return at;
  }

  /** The bytes written since `from` (an offset from the start, as `length` gives), valid until the next write. */
  writtenSince(from: number): Uint8Array {
    return this.memory.bytes.subarray(this.start + from, this.pos);
  }

  /** Days as an int, then picoseconds within the day as a u64; only what the seed's Ptime accepts. */
  ptime(ts: Ptime): void {
    const { d, ps } = ts;
    const dayOk = Number.isInteger(d) && d >= PTIME_MIN_DAY && d <= PTIME_MAX_DAY;
    if (!dayOk || typeof ps !== 'bigint' || ps < 0n || ps >= PICOSECONDS_PER_DAY) {
      throw new WireError('bad_ptime', `not a time Ptime can hold: d=${String(d)}, ps=${String(ps)}`);
    }
    this.int(d);
    this.u64(ps);
  }
}
