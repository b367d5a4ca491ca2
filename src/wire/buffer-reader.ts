// A bounds-checked big-endian reader over a window of bytes. Every read checks the window first and throws
// WireError; nothing reaches Buffer's or DataView's own range checks, so no RangeError escapes.

import { PICOSECONDS_PER_DAY, PTIME_MAX_DAY, PTIME_MIN_DAY } from './constants.js';
import { WireError } from './errors.js';
import type { Ptime, VmmCounters } from './messages.js';
import { MAX_RECENT_BYTES, RecentStrings } from './recent-strings.js';
import { getU64 } from './u64-words.js';

const TWO_POW_32 = 0x1_0000_0000;
/** The high word of 2^53−1 and of −2^53: ints are decoded only within ±(2^53−1). */
const SAFE_HIGH_MAX = 0x1f_ffff;
const SAFE_HIGH_MIN = -0x20_0000;

/** Views of one whole ArrayBuffer; reads go to `base` + offsets into the bytes being read. */
interface Views {
  buffer: ArrayBufferLike;
  data: DataView;
  node: Buffer;
}

function viewsOf(buffer: ArrayBufferLike): Views {
  return { buffer, data: new DataView(buffer), node: Buffer.from(buffer) };
}

/** The vmm section a Decoder read last (vmm-section.ts): a section is read through it, to reuse what it can. */
export interface SectionReader {
  read(r: Reader): VmmCounters;
}

/**
 * What a Decoder keeps from frame to frame, for the Readers it makes: the recent strings, the last vmm
 * section (vmm-section.ts), and the views of the last frame's ArrayBuffer. Frames read one after the other
 * often share an ArrayBuffer (a FrameReader's or a Writer's slab, Node's Buffer pool), and keeping its
 * views spares two allocations per frame.
 */
export class ReaderCache {
  readonly strings = new RecentStrings();
  readonly lastSection: SectionReader;
  #views: Views | undefined;

  constructor(lastSection: SectionReader) {
    this.lastSection = lastSection;
  }

  viewsOf(buffer: ArrayBufferLike): Views {
    if (this.#views?.buffer !== buffer) this.#views = viewsOf(buffer);
    return this.#views;
  }
}

export class Reader {
  /** A view of the input's whole ArrayBuffer: input offset `at` is `data` offset `base + at`. */
  readonly data: DataView;
  readonly base: number;
  private readonly node: Buffer;
  /** A Decoder's, or none: every string is then decoded anew. */
  private readonly recentStrings: RecentStrings | undefined;
  /** A Decoder's, or none: every vmm section is then read in full. */
  readonly lastSection: SectionReader | undefined;
  pos: number;
  end: number;

  /** Reads input[start, end) with `cache` when given. Offsets, in errors too, are offsets into `input`. */
  constructor(input: Uint8Array, start = 0, end = input.length, cache?: ReaderCache) {
    const views = cache === undefined ? viewsOf(input.buffer) : cache.viewsOf(input.buffer);
    this.data = views.data;
    this.node = views.node;
    this.recentStrings = cache?.strings;
    this.lastSection = cache?.lastSection;
    this.base = input.byteOffset;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Claims the next `bytes` bytes and returns their offset, for blocks read at fixed offsets. */
  take(bytes: number, what = 'a field'): number {
    const at = this.pos;
    if (this.end - at < bytes) throw truncated(what, bytes, at, this.end - at);
    this.pos = at + bytes;
    return at;
  }

  u16(): number {
    return this.u16At(this.take(2));
  }

  u32(): number {
    return this.u32At(this.take(4));
  }

  u64(): bigint {
    return getU64(this.data, this.base + this.take(8));
  }

  int(): number {
    return this.intAt(this.take(8));
  }

  // The ...At readers read at input offsets already claimed with take(). Blocks of many fields read
  // `data` at `base` + offset directly, so that V8 inlines every read.

  u16At(offset: number): number {
    return this.data.getUint16(this.base + offset);
  }

  u32At(offset: number): number {
    return this.data.getUint32(this.base + offset);
  }

  u64At(offset: number): bigint {
    return getU64(this.data, this.base + offset);
  }

  intAt(offset: number): number {
    const high = this.data.getInt32(this.base + offset);
    const low = this.data.getUint32(this.base + offset + 4);
    if (high > SAFE_HIGH_MAX || high < SAFE_HIGH_MIN || (high === SAFE_HIGH_MIN && low === 0)) {
      throw outOfIntRange(this.data.getBigInt64(this.base + offset), offset);
    }
    return high * TWO_POW_32 + low;
  }

  /**
   * A list's element count, checked against the bytes left before the caller allocates anything:
   * `count` elements of at least `minElementBytes` each must fit.
   */
  count(minElementBytes: number): number {
    const at = this.take(8, 'a list count');
    const high = this.u32At(at);
    const low = this.u32At(at + 4);
    if (high !== 0 || low * minElementBytes > this.end - this.pos) {
      throw badCount(this.data.getBigInt64(this.base + at), at, this.end - this.pos);
    }
    return low;
  }

  /** A u16 length, then that many bytes as UTF-8 (invalid sequences become U+FFFD). */
  string(): string {
    const length = this.u16();
    const start = this.take(length, 'a string');
    return this.text(start, start + length);
  }

  strings(): string[] {
    const list = new Array<string>(this.count(2));
    for (let i = 0; i < list.length; i++) list[i] = this.string();
    return list;
  }

  /** UTF-8 text of input[start, end); short ASCII strings, the usual names and descriptions, from `recentStrings`. */
  private text(start: number, end: number): string {
    const from = this.base + start;
    const to = this.base + end;
    const strings = this.recentStrings;
    const recent = strings !== undefined && end - start <= MAX_RECENT_BYTES ? strings.ascii(this.node, from, to) : undefined;
    return recent ?? this.node.toString('utf8', from, to);
  }

  /** A copy of the next `length` bytes, so that the result does not pin the frame's memory. */
  bytesCopy(length: number): Buffer {
    const start = this.take(length, 'a byte block');
    return this.copyOf(start, start + length);
  }

  /** A copy of input[start, end), bytes already read. */
  copyOf(start: number, end: number): Buffer {
    return Buffer.from(this.node.subarray(this.base + start, this.base + end));
  }

  /** Whether the next bytes are those of `expected`; nothing is claimed. */
  nextBytesAre(expected: Uint8Array): boolean {
    const start = this.base + this.pos;
    const length = expected.length;
    return this.end - this.pos >= length && this.node.compare(expected, 0, length, start, start + length) === 0;
  }

  ptime(): Ptime {
    const at = this.take(16, 'a timestamp');
    const d = this.intAt(at);
    const ps = this.u64At(at + 8);
    if (d < PTIME_MIN_DAY || d > PTIME_MAX_DAY || ps >= PICOSECONDS_PER_DAY) {
      throw new WireError('bad_ptime', `timestamp at offset ${at} is not a time: d=${d}, ps=${ps}`);
    }
    return { d, ps };
  }
}

// The errors are made out of line: their messages' bytecode would count against V8's budget for inlining
// the readers into their callers.

function truncated(what: string, bytes: number, at: number, left: number): WireError {
  return new WireError('truncated', `${what} needs ${bytes} bytes at offset ${at}, only ${left} left`);
}

function outOfIntRange(value: bigint, offset: number): WireError {
  return new WireError('int_range', `int ${value} at offset ${offset} is outside ±(2^53−1)`);
}

function badCount(count: bigint, at: number, left: number): WireError {
  return new WireError('bad_count', `list count ${count} at offset ${at} does not fit the ${left} bytes left`);
}
