// The wire decoder's fuzzing engine, shared by the property test (test/wire/fuzz.test.ts, thousands of
// cases in `npm test`) and the long run (bench/fuzz-wire.ts, a million). Cases come from a seeded PRNG, so a
// failure names its seed and case number and reproduces.

import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import {
  Decoder,
  decodeFrame,
  Encoder,
  encodeMessage,
  FAIL_TAG,
  FrameReader,
  FrameStreamError,
  INFO_REPLY_TAG,
  REPLY_BIT,
  Tag,
  WireError,
} from '../../src/wire/index.js';

/** xorshift32: tiny, fast, and the same sequence everywhere for a seed. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  below(n: number): number {
    return this.next() % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** Every frame of the valid vectors: the starting points of the mutations. */
export function loadCorpus(): Buffer[] {
  const text = readFileSync(new URL('../fixtures/valid.jsonl', import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Buffer.from((JSON.parse(line) as { hex: string }).hex, 'hex'));
}

const TAGS = [...Object.values(Tag), FAIL_TAG, INFO_REPLY_TAG, (REPLY_BIT | Tag.StatsAdd) >>> 0, 0x0500, 0x7fffffff];
/** 64-bit patterns that stress counts, ints and sizes: signs, 2^31, 2^32, 2^53, 2^62, 2^63 and neighbours. */
const INT64_PATTERNS = [
  0n, 1n, 2n, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x100000006n,
  2n ** 53n - 1n, 2n ** 53n, 2n ** 62n - 1n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - 2n,
  2n ** 64n - 2n ** 53n, 2n ** 64n - 2n ** 53n + 1n,
];
const U16_PATTERNS = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff];

type Mutation = (rng: Prng, frame: Buffer, corpus: readonly Buffer[]) => Buffer;

function withLength(frame: Buffer, length: number): Buffer {
  if (frame.length >= 20) frame.writeUInt32BE(length >>> 0, 16);
  return frame;
}

const mutations: Record<string, Mutation> = {
  random: (rng) => rng.bytes(rng.below(80)),
  randomBody: (rng) => {
    const body = rng.bytes(rng.below(200));
    const header = Buffer.alloc(20);
    header.writeUInt32BE(rng.pick(TAGS), 0);
    header.writeUInt16BE(2, 4);
    header.writeUInt32BE(rng.next(), 12);
    header.writeUInt32BE(body.length, 16);
    return Buffer.concat([header, body]);
  },
  truncate: (rng, frame) => frame.subarray(0, rng.below(frame.length + 1)),
  truncateBody: (rng, frame) => {
    const cut = Buffer.from(frame.subarray(0, 20 + rng.below(Math.max(1, frame.length - 19))));
    return withLength(cut, cut.length - 20);
  },
  flip: (rng, frame) => {
    const out = Buffer.from(frame);
    for (let n = 1 + rng.below(4); n > 0 && out.length > 0; n--) out[rng.below(out.length)] ^= 1 << rng.below(8);
    return out;
  },
  byte: (rng, frame) => {
    const out = Buffer.from(frame);
    if (out.length > 0) out[rng.below(out.length)] = rng.pick([0, 0x7f, 0x80, 0xff, rng.below(256)]);
    return out;
  },
  int64: (rng, frame) => {
    const out = Buffer.from(frame);
    if (out.length >= 28) out.writeBigUInt64BE(rng.pick(INT64_PATTERNS), 20 + rng.below(out.length - 27));
    return out;
  },
  u16: (rng, frame) => {
    const out = Buffer.from(frame);
    if (out.length >= 22) out.writeUInt16BE(rng.pick(U16_PATTERNS), 20 + rng.below(out.length - 21));
    return out;
  },
  length: (rng, frame) => {
    const out = Buffer.from(frame);
    const delta = rng.pick([-8, -2, -1, 1, 2, 8]);
    const length = rng.pick([out.length - 20 + delta, rng.next(), 0xffffffff, 0x7fffffff, 0]);
    return withLength(out, length < 0 ? 0 : length);
  },
  extend: (rng, frame) => Buffer.concat([frame, rng.bytes(1 + rng.below(40))]),
  retag: (rng, frame) => {
    const out = Buffer.from(frame);
    if (out.length >= 4) out.writeUInt32BE(rng.pick(TAGS), 0);
    return out;
  },
  splice: (rng, frame, corpus) => {
    const other = rng.pick(corpus);
    const out = Buffer.concat([frame.subarray(0, rng.below(frame.length + 1)), other.subarray(rng.below(other.length + 1))]);
    return rng.below(2) === 0 ? withLength(out, out.length - 20) : out;
  },
};
export const MUTATION_NAMES = Object.keys(mutations);

/** One case: a mutated frame (sometimes two mutations deep), and what made it. */
export function makeCase(rng: Prng, corpus: readonly Buffer[]): { bytes: Buffer; how: string } {
  let bytes = rng.pick(corpus);
  const hows: string[] = [];
  for (let depth = 1 + rng.below(2); depth > 0; depth--) {
    const name = rng.pick(MUTATION_NAMES);
    hows.push(name);
    bytes = mutations[name](rng, bytes, corpus);
  }
  return { bytes, how: hows.join('+') };
}

/** An Encoder and a Decoder kept from case to case, as a connection keeps them from frame to frame. */
export interface Coders {
  encoder: Encoder;
  decoder: Decoder;
}

export function newCoders(): Coders {
  return { encoder: new Encoder(), decoder: new Decoder() };
}

/** What `run` gives, or the code of the WireError it throws. */
function outcome<T>(run: () => T): { value: T } | { code: WireError['code'] } {
  try {
    return { value: run() };
  } catch (err) {
    if (err instanceof WireError) return { code: err.code };
    throw err;
  }
}

/**
 * `coders`, which keep what earlier cases repeated, give what the plain functions give: the same frame or
 * the same error from the Decoder, the same bytes or the same error from the Encoder.
 */
function checkCoders(bytes: Buffer, coders: Coders): void {
  const plain = outcome(() => decodeFrame(bytes));
  const kept = outcome(() => coders.decoder.decode(bytes));
  if (!isDeepStrictEqual(kept, plain)) throw new Error('a Decoder decodes otherwise than decodeFrame');
  if (!('value' in plain)) return;
  const message = plain.value.message;
  const encoded = outcome(() => coders.encoder.encodeMessage(message));
  const expected = outcome(() => encodeMessage(message));
  if (!isDeepStrictEqual(encoded, expected)) throw new Error('an Encoder encodes otherwise than encodeMessage');
}

/**
 * The decoder's contract on any bytes: a frame or a WireError, nothing else. A frame must also survive a
 * round trip (encode what was decoded, decode again: the same message), and re-encode to at most 3 bytes
 * per input byte (an invalid UTF-8 byte becomes U+FFFD, 3 bytes): what was decoded is linear in the input,
 * never sized by a count or length field. `coders` must agree with the plain functions. Returns the
 * verdict; throws an Error on a broken contract.
 */
export function checkDecode(bytes: Buffer, coders: Coders): 'ok' | WireError['code'] {
  checkCoders(bytes, coders);
  let frame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    if (err instanceof WireError) return err.code;
    throw new Error(`decodeFrame threw something else than WireError: ${String(err)}`, { cause: err });
  }
  let again: Buffer;
  try {
    again = encodeMessage(frame.message);
  } catch (err) {
    // Strings widened by U+FFFD can outgrow the u16 length; nothing else may fail to re-encode.
    if (err instanceof WireError && err.code === 'string_too_long') return 'ok';
    throw new Error(`a decoded message does not encode: ${String(err)}`, { cause: err });
  }
  if (again.length > 20 + 3 * frame.header.length) {
    throw new Error(`${frame.header.length} payload bytes decoded to a message of ${again.length} bytes`);
  }
  const back = decodeFrame(again).message;
  if (!isDeepStrictEqual(back, frame.message)) throw new Error('the message does not survive encode then decode');
  return 'ok';
}

/**
 * The frame reader's contract on a stream of arbitrary bytes cut into arbitrary chunks: frames, or one
 * FrameStreamError after which it stays failed; every frame it returns is exactly the bytes of the stream.
 * Returns how many bytes of the stream came out as frames.
 */
export function checkFrameReader(rng: Prng, stream: Buffer): number {
  const reader = new FrameReader();
  const frames: Buffer[] = [];
  let failed: FrameStreamError | undefined;
  for (let offset = 0; offset < stream.length && failed === undefined; ) {
    const size = 1 + rng.below(rng.pick([4, 64, 4096]));
    try {
      frames.push(...reader.push(stream.subarray(offset, offset + size)));
    } catch (err) {
      if (!(err instanceof FrameStreamError)) throw new Error(`FrameReader threw ${String(err)}`, { cause: err });
      frames.push(...err.frames);
      failed = err;
    }
    offset += size;
  }
  if (failed !== undefined) {
    try {
      reader.push(Buffer.alloc(1));
      throw new Error('a failed FrameReader accepted more bytes');
    } catch (err) {
      if (!(err instanceof FrameStreamError) || err.code !== failed.code) throw err;
    }
  }
  const joined = Buffer.concat(frames);
  if (!joined.equals(stream.subarray(0, joined.length))) throw new Error('FrameReader frames differ from the stream');
  return joined.length;
}
