// The codec's API beyond the vectors: headers, tags and replies, the encoder's checks, the Stats Data hot
// path, list counts, the JSON conventions.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  Decoder,
  decodeFrame,
  decodeHeader,
  Encoder,
  encodeMessage,
  encodeStatsData,
  encodeStatsDataRows,
  failReply,
  FrameMemory,
  FAIL_TAG,
  frameToJson,
  INFO_REPLY_TAG,
  jsonLine,
  messageFromJson,
  messageToJson,
  REPLY_BIT,
  successReply,
  Tag,
  vmmCounters,
  vmmPairs,
  type Message,
  type Stats,
  type VmmCounter,
} from '../../src/wire/index.js';
import { benchStatsData } from '../helpers/bench-frame.js';
import { frame, int, str, strs, u16, wireError } from '../helpers/frames.js';

const benchMessage = benchStatsData();

/** `stats` with its vmm counters made from its own pairs by `change`. */
function withPairs(stats: Stats, change: (pairs: VmmCounter[]) => VmmCounter[]): Stats {
  return { ...stats, vmm: vmmCounters(change(vmmPairs(stats.vmm))) };
}

function statsOf(message: Message): Stats {
  if (message.kind !== 'stats.data') throw new Error(`expected stats.data, got ${message.kind}`);
  return message.stats;
}

describe('decodeHeader', () => {
  const header = frame(Tag.StatsAdd, Buffer.alloc(0), 0x0102030405060708n, 1234);

  it('reads tag, version, id and length, ignoring the padding', () => {
    header.writeUInt16BE(0xbeef, 6);
    expect(decodeHeader(header)).toEqual({ tag: Tag.StatsAdd, version: 2, id: 0x0102030405060708n, length: 1234 });
  });

  it('needs 8 bytes to judge the version and 20 for the rest; the id is reported once it is there', () => {
    expect(wireError(() => decodeHeader(header.subarray(0, 7))).code).toBe('truncated');
    const short = wireError(() => decodeHeader(header.subarray(0, 19)));
    expect([short.code, short.id]).toEqual(['truncated', 0x0102030405060708n]);
    expect(wireError(() => decodeHeader(header.subarray(0, 12))).id).toBeUndefined();
  });

  it.each([
    [0, 'unsupported_version'],
    [1, 'unsupported_version'],
    [3, 'unknown_version'],
    [0xffff, 'unknown_version'],
  ])('version %i is %s, even in 8 bytes', (version, code) => {
    const bytes = Buffer.from(header);
    bytes.writeUInt16BE(version, 4);
    expect(wireError(() => decodeHeader(bytes.subarray(0, 8))).code).toBe(code);
    expect(wireError(() => decodeHeader(bytes)).id).toBe(0x0102030405060708n);
  });

  it('never throws a RangeError on a view into a larger buffer', () => {
    const big = Buffer.concat([Buffer.alloc(100), header]);
    expect(decodeHeader(big.subarray(100)).length).toBe(1234);
    expect(wireError(() => decodeHeader(big.subarray(100, 110))).code).toBe('truncated');
  });
});

describe('tags and replies', () => {
  it('a reply tag other than Info decodes as success with the request tag', () => {
    const bytes = frame((REPLY_BIT | Tag.StatsAdd) >>> 0, str('added'), 9n);
    expect(decodeFrame(bytes).message).toEqual({ kind: 'success', id: 9n, tag: Tag.StatsAdd, msg: 'added' });
  });

  it('an empty reply payload is no message; an empty string is a message', () => {
    expect(decodeFrame(frame(FAIL_TAG, Buffer.alloc(0))).message).toEqual(failReply(0n));
    expect(decodeFrame(frame(FAIL_TAG, str(''))).message).toEqual(failReply(0n, ''));
  });

  it('0x80000402 is the Info reply: a list of VMs, no name', () => {
    expect(decodeFrame(frame(INFO_REPLY_TAG, int(0))).message).toEqual({ kind: 'vm.info_reply', id: 0n, vms: [] });
  });

  it('the builders make messages that encode to the right tags', () => {
    expect(encodeMessage(successReply(5n, Tag.StatsSubscribe)).readUInt32BE(0)).toBe(0x80000202);
    expect(encodeMessage(failReply(5n, 'no such VM')).readUInt32BE(0)).toBe(FAIL_TAG);
    expect(decodeFrame(encodeMessage(successReply(5n, Tag.StatsAdd, 'ok'))).message).toEqual(successReply(5n, Tag.StatsAdd, 'ok'));
  });

  it('refuses success replies that would decode as something else: to Vm Info, and to 0x7FFFFFFF', () => {
    expect(wireError(() => encodeMessage(successReply(1n, Tag.VmInfo))).code).toBe('bad_value');
    expect(wireError(() => encodeMessage(successReply(1n, 0x7fffffff))).code).toBe('bad_value');
    expect(wireError(() => encodeMessage(successReply(1n, REPLY_BIT))).code).toBe('bad_value');
  });

  it.each([0x0000, 0x0103, 0x0204, 0x0302, 0x0403, 0x7ffffffe])('request tag 0x%s is unknown_tag, with the id', (tag) => {
    const err = wireError(() => decodeFrame(frame(tag, strs(['vm']), 4n)));
    expect([err.code, err.id]).toEqual(['unknown_tag', 4n]);
  });
});

describe('the encoder refuses what a field cannot carry, before returning anything', () => {
  const stats = (): Stats => structuredClone(benchMessage.stats);

  it.each<[string, (s: Stats) => void, string]>([
    ['a negative u64', (s) => (s.rusage.maxrss = -1n), 'bad_value'],
    ['a u64 of 2^64', (s) => ((s.vmm.values as bigint[])[0] = 2n ** 64n), 'bad_value'],
    ['fewer values than descriptions', (s) => (s.vmm = { ...s.vmm, values: s.vmm.values.slice(1) }), 'bad_value'],
    ['a number where a u64 goes', (s) => (s.rusage.nswap = 5 as unknown as bigint), 'bad_value'],
    ['a u32 of 2^32', (s) => (s.ifdata[0].mtu = 2 ** 32), 'bad_value'],
    ['a negative u32', (s) => (s.ifdata[1].flags = -1), 'bad_value'],
    ['a usec that is not an integer', (s) => (s.rusage.utime.usec = 0.5), 'int_range'],
    ['a name that is not a string', (s) => (s.ifdata[0].name = 7 as unknown as string), 'bad_value'],
  ])('%s', (_what, spoil, code) => {
    const spoilt = stats();
    spoil(spoilt);
    expect(wireError(() => encodeStatsData(['vm'], spoilt)).code).toBe(code);
    expect(wireError(() => encodeMessage({ kind: 'stats.data', id: 0n, name: ['vm'], stats: spoilt })).code).toBe(code);
  });

  it('an unknown vmtype, exit status, log event or IPv4 address', () => {
    const config = { cpuid: 0, memory: 1, block: null, network: [], vmtype: 3, image: new Uint8Array(0), argv: null };
    expect(wireError(() => encodeMessage({ kind: 'vm.create', id: 0n, name: [], config })).code).toBe('unknown_vmtype');
    const log = (event: unknown): Message => ({ kind: 'log.log', id: 0n, name: [], ts: { d: 0, ps: 0n }, event } as Message);
    expect(wireError(() => encodeMessage(log({ type: 'vm_stop', pid: 1, status: 'crash', code: 0 }))).code).toBe('bad_exit_status');
    expect(wireError(() => encodeMessage(log({ type: 'reboot' }))).code).toBe('unknown_event');
    expect(wireError(() => encodeMessage(log({ type: 'login', ip: '10.0.0.256', port: 22 }))).code).toBe('bad_value');
    expect(wireError(() => encodeMessage(log({ type: 'login', ip: '10.0.0.1', port: 65536 }))).code).toBe('bad_value');
  });
});

describe('the writer', () => {
  it('grows frames correctly wherever they start in its shared memory', () => {
    // Every vector, encoded over and over at shifting positions, so that frames growing past their first
    // guess of 256 bytes meet the end of a slab and move to new memory in the middle of every kind of field.
    const messages = readFileSync(new URL('../fixtures/valid.jsonl', import.meta.url), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => [messageFromJson(JSON.parse(line)), (JSON.parse(line) as { hex: string }).hex] as const);
    const wrong: string[] = [];
    const encoder = new Encoder();
    for (let round = 0; round < 12; round++) {
      encoder.encodeMessage({ kind: 'fail', id: 0n, msg: 'x'.repeat(round * 7) });
      for (const [message, hex] of messages) if (encoder.encodeMessage(message).toString('hex') !== hex) wrong.push(hex);
    }
    expect(wrong).toEqual([]);
  });
});

describe('encodeStatsData, the hot path', () => {
  it('writes the same bytes as encodeMessage, for the bench frame and with non-ASCII names', () => {
    const { name, stats, id } = benchMessage;
    expect(encodeStatsData(name, stats, id)).toEqual(encodeMessage(benchMessage));
    const wide = withPairs(stats, (pairs) => pairs.map(([d, v], i) => [i % 3 ? d : `${d} é日本🦊`, v]));
    const bytes = encodeStatsData(['tenant', 'vm-é'], wide, 42n);
    expect(bytes).toEqual(encodeMessage({ kind: 'stats.data', id: 42n, name: ['tenant', 'vm-é'], stats: wide }));
    expect(decodeFrame(bytes).message).toEqual({ kind: 'stats.data', id: 42n, name: ['tenant', 'vm-é'], stats: wide });
  });

  it('uses id 0 by default, as unsolicited data does', () => {
    expect(encodeStatsData(['vm'], benchMessage.stats).readBigUInt64BE(8)).toBe(0n);
  });

  it('returns frames that stay intact while many more are encoded', () => {
    const encoder = new Encoder();
    const first = encoder.encodeStatsData(['a'], benchMessage.stats, 1n);
    const copy = Buffer.from(first);
    for (let i = 0; i < 200; i++) encoder.encodeStatsData(['b'], benchMessage.stats, BigInt(i));
    expect(first).toEqual(copy);
  });

  it('rewrites the vmm counters from scratch whenever a description differs from the last frame', () => {
    const base = benchMessage.stats;
    const variants: Stats[] = [
      base,
      withPairs(base, (pairs) => pairs.map(([d, v]) => [d, v + 1n])),
      withPairs(base, (pairs) => pairs.map(([d, v], i) => [i === 17 ? `${d}!` : d, v])),
      withPairs(base, (pairs) => pairs.slice(0, 39)),
      withPairs(base, (pairs) => pairs.map(([d, v], i) => [i === 3 ? 'dé' : d, v])),
      withPairs(base, () => []),
      withPairs(base, (pairs) => pairs.map(([d, v]) => [Buffer.from(d).toString('latin1'), v])),
    ];
    const encoder = new Encoder();
    for (const stats of [...variants, ...variants.reverse(), base, base]) {
      const bytes = encoder.encodeStatsData(['vm'], stats, 1n);
      expect(decodeFrame(bytes).message).toEqual({ kind: 'stats.data', id: 1n, name: ['vm'], stats });
    }
  });

  it('writes a changed description although the array holding it is the one written before', () => {
    const descriptions = [...benchMessage.stats.vmm.descriptions];
    const stats: Stats = { ...benchMessage.stats, vmm: { descriptions, values: benchMessage.stats.vmm.values } };
    const encoder = new Encoder();
    encoder.encodeStatsData(['vm'], withPairs(stats, () => []));
    encoder.encodeStatsData(['vm'], stats); // now the last descriptions written
    descriptions[9] = 'changed in place';
    expect(statsOf(decodeFrame(encoder.encodeStatsData(['vm'], stats)).message).vmm.descriptions[9]).toBe('changed in place');
  });

  it('checks every counter value when the descriptions are those of the last frame', () => {
    const encoder = new Encoder();
    encoder.encodeStatsData(['vm'], benchMessage.stats);
    const spoilt = withPairs(benchMessage.stats, (pairs) => pairs.map(([d, v], i) => [d, i === 20 ? -v - 1n : v]));
    expect(wireError(() => encoder.encodeStatsData(['vm'], spoilt)).code).toBe('bad_value');
  });

  it('encodes frames larger than its slabs', () => {
    const many = withPairs(benchMessage.stats, () => Array.from({ length: 5000 }, (_, i) => [`counter ${i}`, BigInt(i)]));
    const bytes = encodeStatsData(['big'], many);
    expect(bytes.readUInt32BE(16)).toBe(bytes.length - 20);
    expect(decodeFrame(bytes).message).toEqual({ kind: 'stats.data', id: 0n, name: ['big'], stats: many });
  });
});

describe('FrameMemory', () => {
  const frames = (memory: FrameMemory, count: number) =>
    Array.from({ length: count }, (_, i) => encodeStatsDataRowsOf(['vm', `${i}`], memory));
  /** A Data frame written into `memory`, through the rows encoder the daemon uses. */
  function encodeStatsDataRowsOf(name: string[], memory: FrameMemory): Buffer {
    const words = new Uint32Array(2 * 18);
    words.fill(7);
    return encodeStatsDataRows(name, { processWords: words, processField: 0, vmm: vmmCounters([]), tapNames: [], tapWords: words, tapFields: [] }, 0n, memory);
  }

  it('writes frames back to back, and the same memory again after a reset', () => {
    const memory = new FrameMemory(64 * 1024);
    const first = frames(memory, 10);
    expect(new Set(first.map((f) => f.buffer)).size).toBe(1);
    first.slice(1).forEach((frame, i) => expect(frame.byteOffset).toBe(first[i]!.byteOffset + first[i]!.length));
    const copy = first.map((f) => Buffer.from(f));
    expect(first.map((f) => decodeFrame(f).message)).toEqual(copy.map((f) => decodeFrame(f).message));
    memory.reset();
    const second = frames(memory, 10);
    expect(second[0]!.buffer).toBe(first[0]!.buffer);
    expect(second[0]!.byteOffset).toBe(first[0]!.byteOffset);
  });

  it('grows at a reset to hold the whole of the batch before it', () => {
    const memory = new FrameMemory(4096);
    const batch = frames(memory, 100); // some 21 kB: several slabs of 4 kB
    expect(new Set(batch.map((f) => f.buffer)).size).toBeGreaterThan(1);
    memory.reset();
    expect(memory.slabBytes).toBeGreaterThanOrEqual(batch.reduce((sum, f) => sum + f.length, 0));
    expect(new Set(frames(memory, 100).map((f) => f.buffer)).size).toBe(1);
  });
});

describe('decoding Stats Data through the last vmm section read', () => {
  const { name, stats } = benchMessage;
  const base = encodeStatsData(name, stats, 7n);
  /** Where description `index` of the bench frame starts: header, name list, rusage, count, then the pairs. */
  const descriptionAt = (index: number) => {
    let at = 20 + 8 + name.reduce((sum, label) => sum + 2 + label.length, 0) + 144 + 8;
    for (let i = 0; i < index; i++) at += 2 + stats.vmm.descriptions[i]!.length + 8;
    return at;
  };

  it('reads a changed byte in one description, and values that change from frame to frame', () => {
    const decoder = new Decoder();
    const decodeFrame = (bytes: Buffer) => decoder.decode(bytes);
    decodeFrame(base);
    const patched = Buffer.from(base);
    patched[descriptionAt(17) + 2 + 4] = 'X'.charCodeAt(0);
    patched.writeBigUInt64BE(0xfedcba9876543210n, descriptionAt(30) + 2 + stats.vmm.descriptions[30]!.length);
    const vmm = vmmPairs(statsOf(decodeFrame(patched).message).vmm);
    expect(vmm[17]![0]).toBe('vmm Xounter number 17');
    expect(vmm[30]![1]).toBe(0xfedcba9876543210n);
    expect(vmm.filter((_, i) => i !== 17 && i !== 30)).toEqual(vmmPairs(stats.vmm).filter((_, i) => i !== 17 && i !== 30));
    expect(decodeFrame(base).message).toEqual({ kind: 'stats.data', id: 7n, name, stats });
  });

  it('gives frames with the same descriptions one frozen array of them', () => {
    const decoder = new Decoder();
    const decodeFrame = (bytes: Buffer) => decoder.decode(bytes);
    const first = statsOf(decodeFrame(base).message).vmm;
    const next = statsOf(decodeFrame(encodeStatsData(name, withPairs(stats, (pairs) => pairs.map(([d, v]) => [d, v + 5n])), 8n)).message).vmm;
    expect(next.descriptions).toBe(first.descriptions);
    expect(Object.isFrozen(first.descriptions)).toBe(true);
    expect(next.values).toEqual(stats.vmm.values.map((v) => v + 5n));
  });

  it('tells a frame cut inside the section, or with a longer description, from the last one', () => {
    const decoder = new Decoder();
    const decodeFrame = (bytes: Buffer) => decoder.decode(bytes);
    decodeFrame(base);
    const cut = Buffer.from(base.subarray(0, descriptionAt(39) + 5));
    cut.writeUInt32BE(cut.length - 20, 16);
    expect(wireError(() => decodeFrame(cut)).code).toBe('truncated');
    // Description 5 one byte longer: its length and every later offset move, and nothing may be read as before.
    const at = descriptionAt(5);
    const longer = Buffer.concat([base.subarray(0, at), u16(22), base.subarray(at + 2, at + 23), Buffer.from('!'), base.subarray(at + 23)]);
    longer.writeUInt32BE(longer.length - 20, 16);
    const vmm = vmmPairs(statsOf(decodeFrame(longer).message).vmm);
    expect(vmm[5]).toEqual(['vmm counter number 05!', stats.vmm.values[5]]);
    expect(vmm.filter((_, i) => i !== 5)).toEqual(vmmPairs(stats.vmm).filter((_, i) => i !== 5));
  });
});

describe('list counts are checked against the bytes left before anything is allocated', () => {
  it.each([
    ['2^31 names', 2n ** 31n],
    ['2^53 - 1 names', 2n ** 53n - 1n],
    ['a negative count', -1n],
    ['7 names in 12 bytes (each takes at least 2)', 7n],
  ])('%s is bad_count', (_what, count) => {
    const bytes = frame(Tag.StatsRemove, Buffer.concat([int(count), str('a'), str('b'), str('c'), str('d')]));
    expect(wireError(() => decodeFrame(bytes)).code).toBe('bad_count');
  });

  it('an Info reply claiming 2^32 - 1 VMs in 40 bytes fails at once', () => {
    const started = performance.now();
    expect(wireError(() => decodeFrame(frame(INFO_REPLY_TAG, Buffer.concat([int(0xffffffffn), Buffer.alloc(32)])))).code).toBe(
      'bad_count',
    );
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('a count that fits the bytes but whose elements run out is truncated', () => {
    const bytes = frame(Tag.StatsRemove, Buffer.concat([int(2), str('abcdef')]));
    expect(wireError(() => decodeFrame(bytes)).code).toBe('truncated');
  });
});

describe('log events', () => {
  const log = (event: Buffer) => frame(Tag.LogLog, Buffer.concat([strs(['vm']), int(1), int(2), event]));

  it.each([
    [5, 'unknown_event'],
    [0x8000, 'unknown_event'],
  ])('event type %i is %s', (type, code) => {
    expect(wireError(() => decodeFrame(log(u16(type)))).code).toBe(code);
  });

  it('a vm_stop with exit status 3 is bad_exit_status', () => {
    expect(wireError(() => decodeFrame(log(Buffer.concat([u16(4), int(10), int(3), int(0)])))).code).toBe('bad_exit_status');
  });

  it('login addresses are dotted quads; vm_start reads pid, block, taps in that order', () => {
    const login = Buffer.concat([u16(1), Buffer.from([192, 168, 0, 1]), u16(22)]);
    expect(decodeFrame(log(login)).message).toMatchObject({ event: { type: 'login', ip: '192.168.0.1', port: 22 } });
    const start = Buffer.concat([u16(3), int(99), str(''), strs(['tap0'])]);
    expect(decodeFrame(log(start)).message).toMatchObject({ event: { type: 'vm_start', pid: 99, block: null, taps: ['tap0'] } });
  });
});

describe('JSON', () => {
  it("frameToJson gives the oracle's shape: kind, header, then the fields", () => {
    const json = frameToJson(decodeFrame(encodeMessage({ kind: 'stats.add', id: 3n, name: ['a', 'b'], pid: 10, taps: ['t'] })));
    expect(JSON.stringify(json)).toBe(
      '{"kind":"stats.add","header":{"tag":512,"version":2,"id":"3","length":33},"name":["a","b"],"pid":10,"taps":["t"]}',
    );
  });

  it('messageToJson and messageFromJson round-trip every kind of the vectors', () => {
    const lines = readFileSync(new URL('../fixtures/valid.jsonl', import.meta.url), 'utf8').split('\n').filter(Boolean);
    const firstOfEachKind = new Map(lines.map((line) => [JSON.parse(line).kind as string, JSON.parse(line) as unknown]));
    expect(firstOfEachKind.size).toBe(15);
    for (const json of firstOfEachKind.values()) {
      const message = messageFromJson(json);
      expect(messageFromJson(JSON.parse(JSON.stringify(messageToJson(message))))).toEqual(message);
    }
  });

  it.each([
    ['not an object', 'stats.remove'],
    ['an unknown kind', { kind: 'stats.explode', id: '1', name: [] }],
    ['a u64 as a JSON number with a fraction', { kind: 'stats.remove', id: 1.5, name: [] }],
    ['a u64 that is not decimal', { kind: 'stats.remove', id: '0x10', name: [] }],
    ['a name that is not a list of strings', { kind: 'stats.remove', id: '1', name: ['a', 2] }],
    ['an image that is not hex', { kind: 'vm.create', id: '1', name: [], config: { image: 'xyz' } }],
    ['a vmm entry that is not a pair', { kind: 'stats.data', id: '1', vm: 'a', stats: { rusage: {}, vmm: [['x']], ifdata: [] } }],
  ])('messageFromJson refuses %s with bad_json', (_what, json) => {
    expect(wireError(() => messageFromJson(json)).code).toBe('bad_json');
  });

  it('jsonLine escapes as the oracle does: control characters as \\u00XX, \\b and \\f included', () => {
    expect(jsonLine({ s: 'a\b\f\n\t"\\b\u0001é' })).toBe('{"s":"a\\u0008\\u000c\\n\\t\\"\\\\b\\u0001é"}');
  });
});
