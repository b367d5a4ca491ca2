// FrameReader: a socket's stream in arbitrary chunks in, whole frames out; a bad header fails the stream.

import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  DEFAULT_MAX_FRAME_SIZE,
  encodeMessage,
  FrameReader,
  FrameStreamError,
  Tag,
  type Message,
} from '../../src/wire/index.js';
import { thrown } from '../helpers/thrown.js';
import { loadCorpus, Prng } from '../fuzz/wire-fuzz.js';
import { frame, strs } from '../helpers/frames.js';

const corpus = loadCorpus();
const stream = Buffer.concat(corpus.slice(0, 300));
const expected = corpus.slice(0, 300);

function feed(reader: FrameReader, chunks: Iterable<Uint8Array>): Buffer[] {
  const frames: Buffer[] = [];
  for (const chunk of chunks) frames.push(...reader.push(chunk));
  return frames;
}

function* chunksOf(bytes: Buffer, sizes: () => number): Generator<Buffer> {
  for (let offset = 0; offset < bytes.length; ) {
    const size = sizes();
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

const streamError = (run: () => unknown) => thrown(FrameStreamError, run);

const badVersion = (() => {
  const bytes = frame(Tag.StatsRemove, strs(['vm']), 77n);
  bytes.writeUInt16BE(1, 4);
  return bytes;
})();

describe('FrameReader', () => {
  it('yields 300 frames fed one byte at a time, each exactly its bytes', () => {
    const reader = new FrameReader();
    const frames = feed(reader, chunksOf(stream, () => 1));
    expect(frames).toEqual(expected);
    expect(reader.buffered).toBe(0);
  });

  it('yields every frame of one chunk holding them all', () => {
    expect(feed(new FrameReader(), [stream])).toEqual(expected);
  });

  it('handles a header split at every one of its 20 positions', () => {
    const two = Buffer.concat([corpus[0], corpus[1]]);
    for (let cut = corpus[0].length + 1; cut < corpus[0].length + 20; cut++) {
      const reader = new FrameReader();
      expect(reader.push(two.subarray(0, cut))).toEqual([corpus[0]]);
      expect(reader.buffered).toBe(cut - corpus[0].length);
      expect(reader.push(two.subarray(cut))).toEqual([corpus[1]]);
    }
  });

  it('yields the same frames for random chunkings (seeded)', () => {
    const rng = new Prng(0xc0ffee);
    for (let round = 0; round < 20; round++) {
      const limit = rng.pick([3, 25, 300, 5000]);
      expect(feed(new FrameReader(), chunksOf(stream, () => 1 + rng.below(limit)))).toEqual(expected);
    }
  });

  it('returns frames in their own memory, unchanged when the pushed chunk is reused', () => {
    const reader = new FrameReader();
    const chunk = Buffer.from(corpus[5]);
    const [frame5] = reader.push(chunk);
    chunk.fill(0);
    expect(frame5).toEqual(corpus[5]);
  });

  it('accepts Uint8Array chunks as well as Buffers', () => {
    const bytes = new Uint8Array(corpus[7]);
    expect(new FrameReader().push(bytes)).toEqual([corpus[7]]);
  });

  it('yields a frame of exactly the maximum size, and refuses one byte more', () => {
    const fits = frame(Tag.StatsRemove, Buffer.concat([strs(['vm']), Buffer.alloc(100 - 12)]));
    expect(fits.length - 20).toBe(100);
    expect(new FrameReader({ maxFrameSize: 100 }).push(fits)).toEqual([fits]);
    expect(streamError(() => new FrameReader({ maxFrameSize: 99 }).push(fits)).code).toBe('frame_too_large');
  });

  it('refuses a length over the default maximum from the header alone, naming the id, before any body', () => {
    const header = frame(Tag.StatsData, Buffer.alloc(0), 12n, DEFAULT_MAX_FRAME_SIZE + 1);
    const reader = new FrameReader();
    const err = streamError(() => reader.push(header));
    expect(err.code).toBe('frame_too_large');
    expect(err.id).toBe(12n);
    expect(reader.buffered).toBe(0);
  });

  it('fails on a bad version as soon as the header is in, with the id, and stays failed', () => {
    const reader = new FrameReader();
    expect(reader.push(badVersion.subarray(0, 19))).toEqual([]);
    const err = streamError(() => reader.push(badVersion.subarray(19)));
    expect(err.code).toBe('unsupported_version');
    expect(err.id).toBe(77n);
    const again = streamError(() => reader.push(corpus[0]));
    expect([again.code, again.id, again.message]).toEqual([err.code, err.id, err.message]);
    expect(reader.buffered).toBe(0);
  });

  it('hands over the frames that came before a bad header in the same chunk', () => {
    const reader = new FrameReader();
    const err = streamError(() => reader.push(Buffer.concat([corpus[0], corpus[1], badVersion, corpus[2]])));
    expect(err.code).toBe('unsupported_version');
    expect(err.frames).toEqual([corpus[0], corpus[1]]);
    expect(streamError(() => reader.push(corpus[3])).frames).toEqual([]);
  });

  it('an unknown version fails the same way', () => {
    const bytes = Buffer.from(corpus[0]);
    bytes.writeUInt16BE(3, 4);
    expect(streamError(() => new FrameReader().push(bytes)).code).toBe('unknown_version');
  });

  it('frames it yields decode, and a truncated tail stays buffered', () => {
    const message: Message = { kind: 'stats.subscribe', id: 3n, name: ['tenant'] };
    const bytes = encodeMessage(message);
    const reader = new FrameReader();
    const frames = reader.push(Buffer.concat([bytes, bytes.subarray(0, 25)]));
    expect(frames.map((raw) => decodeFrame(raw).message)).toEqual([message]);
    expect(reader.buffered).toBe(25);
  });
});
