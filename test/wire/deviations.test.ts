// PROTOCOL.md's "Where the seed goes wrong" table: one describe per row, each showing what this project does.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeMessage,
  FrameReader,
  FrameStreamError,
  INFO_REPLY_TAG,
  messageFromJson,
  Tag,
  type Message,
  type VmInfo,
  vmmCounters,
  vmmPairs,
} from '../../src/wire/index.js';
import { frame, int, ptime, str, strs, wireError } from '../helpers/frames.js';

const PS_PER_DAY = 86_400_000_000_000_000n;

describe("Vm.decode_vm's consumed length is 8 bytes short: Info replies are decoded by the layout", () => {
  const vms: VmInfo[] = [
    { name: ['tenant', 'web'], memory: 512, cmd: "'solo5-hvt' '--mem=512'", pid: 4242, taps: ['tap0', 'tap1'] },
    { name: ['tenant', 'db'], memory: 1024, cmd: "'solo5-hvt'", pid: 4343, taps: [] },
    { name: ['x'], memory: 0, cmd: '', pid: -1, taps: ['é'] },
  ];

  it('decodes a reply with three VMs to what was encoded', () => {
    const bytes = encodeMessage({ kind: 'vm.info_reply', id: 7n, vms });
    expect(bytes.readUInt32BE(0)).toBe(INFO_REPLY_TAG);
    expect(decodeFrame(bytes).message).toEqual({ kind: 'vm.info_reply', id: 7n, vms });
  });

  it("decodes the seed's own multi-VM replies (which the seed itself misreads) to their fields", () => {
    const lines = readFileSync(new URL('../fixtures/valid.jsonl', import.meta.url), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"vm.info_reply"'))
      .map((line) => JSON.parse(line) as { hex: string; vms: unknown[] });
    const multi = lines.filter((line) => line.vms.length >= 2);
    expect(multi.length).toBeGreaterThan(10);
    for (const line of multi) expect(decodeFrame(Buffer.from(line.hex, 'hex')).message).toEqual(messageFromJson(line));
  });
});

describe('decode_ptime raises on picoseconds outside the day or days out of range: a decode error', () => {
  const consoleData = (d: bigint | number, ps: bigint) =>
    frame(Tag.ConsoleData, Buffer.concat([strs(['vm']), ptime(d, ps), str('line')]));

  it.each([
    ['picoseconds = one whole day', 0, PS_PER_DAY],
    ['picoseconds = 2^64 - 1 (negative for the seed)', 0, 2n ** 64n - 1n],
    ['the day before 0000-01-01', -719_529, 0n],
    ['the day after 9999-12-31', 2_932_897, 0n],
  ])('%s is bad_ptime', (_what, d, ps) => {
    expect(wireError(() => decodeFrame(consoleData(d, ps))).code).toBe('bad_ptime');
  });

  it('days beyond a safe integer are int_range', () => {
    expect(wireError(() => decodeFrame(consoleData(2n ** 60n, 0n))).code).toBe('int_range');
  });

  it('accepts the first and the last picosecond Ptime can hold', () => {
    expect(decodeFrame(consoleData(-719_528, 0n)).message).toMatchObject({ ts: { d: -719_528, ps: 0n } });
    expect(decodeFrame(consoleData(2_932_896, PS_PER_DAY - 1n)).message).toMatchObject({
      ts: { d: 2_932_896, ps: PS_PER_DAY - 1n },
    });
  });

  it('refuses to encode a time Ptime cannot hold', () => {
    const message = (d: number, ps: bigint): Message => ({ kind: 'console.data', id: 0n, name: [], ts: { d, ps }, msg: '' });
    expect(wireError(() => encodeMessage(message(0, PS_PER_DAY))).code).toBe('bad_ptime');
    expect(wireError(() => encodeMessage(message(2_932_897, 0n))).code).toBe('bad_ptime');
    expect(wireError(() => encodeMessage(message(0, -1n))).code).toBe('bad_ptime');
  });
});

describe('decode_vm_config raises when the image size points past the end, and truncates it to 32 bits: a decode error', () => {
  const create = (size: bigint | number, image: Buffer) =>
    frame(
      Tag.VmCreate,
      Buffer.concat([strs(['vm']), int(1), int(512), str(''), strs([]), int(0), int(size), image, strs([])]),
    );

  it('decodes an image that fits', () => {
    const config = (decodeFrame(create(4, Buffer.from('cafebabe', 'hex'))).message as Extract<Message, { kind: 'vm.create' }>)
      .config;
    expect(Buffer.from(config.image).toString('hex')).toBe('cafebabe');
  });

  it.each([
    ['past the end of the frame', 100n],
    ['2^32 + 4, which the seed truncates to 4', 2n ** 32n + 4n],
    ['negative', -1n],
  ])('a size %s is bad_image_size', (_what, size) => {
    expect(wireError(() => decodeFrame(create(size, Buffer.from('cafebabe', 'hex')))).code).toBe('bad_image_size');
  });
});

describe('encode_string aborts on strings of 0xFFFF bytes or more: a clear error before anything is written', () => {
  const named = (name: string): Message => ({ kind: 'stats.remove', id: 1n, name: [name] });

  it('refuses 0xFFFF ASCII bytes with string_too_long', () => {
    const err = wireError(() => encodeMessage(named('a'.repeat(0xffff))));
    expect(err.code).toBe('string_too_long');
    expect(err.message).toMatch(/65535 bytes/);
  });

  it('counts UTF-8 bytes, not characters: 0x5555 × "é" is 0xAAAA bytes, 0x8000 × "é" is too long', () => {
    expect(decodeFrame(encodeMessage(named('é'.repeat(0x5555)))).message).toEqual(named('é'.repeat(0x5555)));
    expect(wireError(() => encodeMessage(named('é'.repeat(0x8000)))).code).toBe('string_too_long');
  });

  it('encodes 0xFFFE bytes, the longest the seed writes', () => {
    const bytes = encodeMessage(named('b'.repeat(0xfffe)));
    expect(bytes.readUInt16BE(20 + 8)).toBe(0xfffe);
    expect(decodeFrame(bytes).message).toEqual(named('b'.repeat(0xfffe)));
  });

  it('decodes 0xFFFF bytes, as the seed does', () => {
    const bytes = frame(Tag.StatsRemove, Buffer.concat([int(1), str('c'.repeat(0xffff))]), 1n);
    expect(decodeFrame(bytes).message).toEqual(named('c'.repeat(0xffff)));
  });

  it('the Stats Data hot path refuses it too', () => {
    const bytes = encodeMessage(
      messageFromJson(JSON.parse(readFileSync(new URL('../fixtures/bench-stats-data.json', import.meta.url), 'utf8'))),
    );
    const message = decodeFrame(bytes).message as Extract<Message, { kind: 'stats.data' }>;
    message.stats.vmm = vmmCounters(vmmPairs(message.stats.vmm).map((pair, i) => (i === 3 ? ['x'.repeat(0x10000), 1n] : pair)));
    expect(wireError(() => encodeMessage(message)).code).toBe('string_too_long');
  });
});

describe("nothing bounds a frame's length: a maximum frame size, checked before allocating", () => {
  const huge = frame(Tag.StatsData, Buffer.alloc(0), 99n, 0xffffffff);

  it('decodeFrame refuses a frame over maxFrameSize, naming its id', () => {
    const err = wireError(() => decodeFrame(huge, { maxFrameSize: 1 << 20 }));
    expect(err.code).toBe('frame_too_large');
    expect(err.id).toBe(99n);
  });

  it('a FrameReader refuses it from its 20 header bytes, without buffering anything', () => {
    const reader = new FrameReader();
    expect(reader.push(huge.subarray(0, 19))).toEqual([]);
    const err = wireError(() => reader.push(huge.subarray(19, 20)));
    expect(err).toBeInstanceOf(FrameStreamError);
    expect(err.code).toBe('frame_too_large');
    expect(reader.buffered).toBe(0);
  });
});

describe('ints are 63-bit: ints outside ±(2^53−1) are a decode error, u64 fields are exact', () => {
  const statsAdd = (pid: bigint) => frame(Tag.StatsAdd, Buffer.concat([strs(['vm']), int(pid), strs([])]));

  it.each([2n ** 53n, -(2n ** 53n), 2n ** 62n - 1n, -(2n ** 62n), 2n ** 63n - 1n])('int %s is int_range', (pid) => {
    expect(wireError(() => decodeFrame(statsAdd(pid))).code).toBe('int_range');
  });

  it.each([2n ** 53n - 1n, -(2n ** 53n - 1n), 0n, -1n])('int %s decodes exactly', (pid) => {
    expect(decodeFrame(statsAdd(pid)).message).toMatchObject({ pid: Number(pid) });
  });

  it.each([2 ** 53, -(2 ** 53), 1.5, Number.NaN, Infinity])('the encoder refuses int %s', (pid) => {
    expect(wireError(() => encodeMessage({ kind: 'stats.add', id: 0n, name: [], pid, taps: [] })).code).toBe('int_range');
  });

  it('u64 fields keep all 64 bits', () => {
    const max = 2n ** 64n - 1n;
    const bytes = frame(Tag.ConsoleData, Buffer.concat([strs([]), ptime(0, 1n), str('')]), max);
    expect(decodeFrame(bytes).header.id).toBe(max);
    expect(encodeMessage({ kind: 'stats.remove', id: max, name: [] }).readBigUInt64BE(8)).toBe(max);
  });
});

describe('strings are bytes: here they are UTF-8 text, invalid sequences decode to U+FFFD as Buffer#toString does', () => {
  const name = (bytes: Buffer) => (decodeFrame(frame(Tag.StatsRemove, Buffer.concat([int(1), str(bytes)]))).message as { name: string[] }).name[0];

  it.each([
    ['lone continuation bytes', 'ff fe 72', '\ufffd\ufffdr'],
    ['a sequence cut short', 'e6 97', '\ufffd'],
    ['an overlong encoding', 'c0 af', '\ufffd\ufffd'],
    ['a NUL and a high byte mixed in ASCII', '62 80 00 5f', 'b\ufffd\u0000_'],
  ])('%s', (_what, hex, text) => {
    expect(name(Buffer.from(hex.replaceAll(' ', ''), 'hex'))).toBe(text);
  });

  it('valid multi-byte UTF-8 decodes as text', () => {
    expect(name(Buffer.from('日本🦊é', 'utf8'))).toBe('日本🦊é');
  });
});

describe('trailing bytes after a complete structure are ignored, as the seed ignores them', () => {
  it('inside the frame (after the body) and after the frame (beyond its length)', () => {
    const inside = frame(Tag.StatsRemove, Buffer.concat([strs(['vm']), Buffer.from('junk')]));
    const after = Buffer.concat([frame(Tag.StatsRemove, strs(['vm'])), Buffer.from('junk')]);
    expect(decodeFrame(inside).message).toEqual({ kind: 'stats.remove', id: 0n, name: ['vm'] });
    expect(decodeFrame(after).message).toEqual({ kind: 'stats.remove', id: 0n, name: ['vm'] });
  });

  it("but a frame shorter than its header's length is length_mismatch", () => {
    const short = frame(Tag.StatsRemove, strs(['vm']), 5n, 20);
    const err = wireError(() => decodeFrame(short));
    expect(err.code).toBe('length_mismatch');
    expect(err.id).toBe(5n);
  });

  it('and a body that needs bytes beyond the length is truncated, even when the bytes are there', () => {
    const body = strs(['vm']);
    expect(wireError(() => decodeFrame(frame(Tag.StatsRemove, body, 0n, body.length - 1))).code).toBe('truncated');
  });
});
