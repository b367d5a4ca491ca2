// Encoders and Decoders keep what frames repeat (recent strings, the last vmm section, memory), each for
// itself: two of them in one process never change each other's results or send each other off their fast
// path, and the plain functions keep nothing at all.

import { describe, expect, it } from 'vitest';
import {
  Decoder,
  decodeFrame,
  Encoder,
  encodeMessage,
  encodeStatsData,
  vmmCounters,
  vmmPairs,
  type Stats,
  type VmmCounters,
} from '../../src/wire/index.js';
import { benchStatsData } from '../helpers/bench-frame.js';

const bench = benchStatsData();

/** The bench frame's stats with descriptions of another hypervisor: every one renamed. */
const otherStats: Stats = {
  ...bench.stats,
  vmm: vmmCounters(vmmPairs(bench.stats.vmm).map(([description, value]) => [`other ${description}`, value + 1n])),
};

function vmmOf(decoded: ReturnType<typeof decodeFrame>): VmmCounters {
  if (decoded.message.kind !== 'stats.data') throw new Error(`expected stats.data, got ${decoded.message.kind}`);
  return decoded.message.stats.vmm;
}

describe('two Decoders in one process', () => {
  const frameA = encodeStatsData(['a'], bench.stats, 1n);
  const frameB = encodeStatsData(['b'], otherStats, 2n);

  it('each stays on its fast path while their frames alternate: one frozen descriptions array per decoder', () => {
    const [first, second] = [new Decoder(), new Decoder()];
    const fromFirst: VmmCounters[] = [];
    const fromSecond: VmmCounters[] = [];
    for (let i = 0; i < 5; i++) {
      fromFirst.push(vmmOf(first.decode(frameA)));
      fromSecond.push(vmmOf(second.decode(frameB)));
    }
    for (const vmm of fromFirst) expect(vmm.descriptions).toBe(fromFirst[0]!.descriptions);
    for (const vmm of fromSecond) expect(vmm.descriptions).toBe(fromSecond[0]!.descriptions);
    expect(fromFirst[0]!.descriptions).not.toBe(fromSecond[0]!.descriptions);
  });

  it('give what decodeFrame gives, whatever the other decoded in between', () => {
    const [first, second] = [new Decoder(), new Decoder()];
    for (let i = 0; i < 3; i++) {
      expect(first.decode(frameA)).toEqual(decodeFrame(frameA));
      expect(second.decode(frameB)).toEqual(decodeFrame(frameB));
      expect(second.decode(frameA)).toEqual(decodeFrame(frameA));
    }
  });

  it('decodeFrame keeps nothing: each call makes its own descriptions array', () => {
    expect(vmmOf(decodeFrame(frameA)).descriptions).not.toBe(vmmOf(decodeFrame(frameA)).descriptions);
  });
});

describe('two Encoders in one process', () => {
  it('write the bytes of the plain functions, frames of one interleaved with the other\'s', () => {
    const [first, second] = [new Encoder(), new Encoder()];
    for (let i = 0n; i < 3n; i++) {
      expect(first.encodeStatsData(['a'], bench.stats, i)).toEqual(encodeStatsData(['a'], bench.stats, i));
      expect(second.encodeStatsData(['b'], otherStats, i)).toEqual(encodeStatsData(['b'], otherStats, i));
      expect(second.encodeMessage(bench)).toEqual(encodeMessage(bench));
    }
  });

  it('carve frames from their own memory; the plain functions give each frame memory of its exact size', () => {
    const [first, second] = [new Encoder(), new Encoder()];
    const a = [first.encodeStatsData(['a'], bench.stats), first.encodeStatsData(['a'], bench.stats)];
    const b = second.encodeStatsData(['b'], otherStats);
    expect(a[1]!.buffer).toBe(a[0]!.buffer);
    expect(b.buffer).not.toBe(a[0]!.buffer);
    for (const frame of [encodeStatsData(['a'], bench.stats), encodeMessage(bench), encodeMessage({ kind: 'fail', id: 0n, msg: 'x' })]) {
      expect(frame.buffer.byteLength).toBe(frame.length);
    }
  });
});
