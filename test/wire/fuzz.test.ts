// The decoder's contract on damaged input, as a property over seeded random cases (the long run, a million
// cases, is bench/fuzz-wire.ts). A failure names the seed, the case and its bytes, so it reproduces.

import { describe, expect, it } from 'vitest';
import { checkDecode, checkFrameReader, loadCorpus, makeCase, MUTATION_NAMES, newCoders, Prng } from '../fuzz/wire-fuzz.js';

const SEED = 20_240_601;
const CASES = 30_000;
const corpus = loadCorpus();

describe(`fuzzing decodeFrame (seed ${SEED})`, () => {
  it(`${CASES} mutated frames: each a frame that round-trips within 3 bytes per input byte, or a WireError`, () => {
    const rng = new Prng(SEED);
    const coders = newCoders();
    const verdicts = new Map<string, number>();
    const mutations = new Set<string>();
    for (let n = 1; n <= CASES; n++) {
      const { bytes, how } = makeCase(rng, corpus);
      for (const name of how.split('+')) mutations.add(name);
      let verdict: string;
      try {
        verdict = checkDecode(bytes, coders);
      } catch (err) {
        throw new Error(`case ${n} (${how}): ${(err as Error).message}; hex ${bytes.toString('hex')}`, { cause: err });
      }
      verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
    }
    expect([...mutations].sort()).toEqual([...MUTATION_NAMES].sort());
    // The cases reach deep into the decoder: whole frames, and failures of every kind of check.
    expect(verdicts.get('ok')).toBeGreaterThan(CASES / 10);
    for (const code of ['truncated', 'bad_count', 'int_range', 'bad_ptime', 'length_mismatch', 'unknown_tag']) {
      expect(verdicts.get(code), code).toBeGreaterThan(0);
    }
  });

  it('streams of mutated frames in random chunks: FrameReader yields their exact bytes or one FrameStreamError', () => {
    const rng = new Prng(SEED + 1);
    for (let n = 0; n < 300; n++) {
      const stream = Buffer.concat(Array.from({ length: 1 + rng.below(30) }, () => makeCase(rng, corpus).bytes));
      checkFrameReader(rng, stream);
    }
  });

  it('streams of valid frames in random chunks come out whole', () => {
    const rng = new Prng(SEED + 2);
    for (let n = 0; n < 100; n++) {
      const stream = Buffer.concat(corpus.slice(n * 20, n * 20 + 20));
      expect(checkFrameReader(rng, stream)).toBe(stream.length);
    }
  });
});
