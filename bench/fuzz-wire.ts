// The long fuzz run of the wire decoder: N mutated frames (default a million) through decodeFrame, and
// streams of them through FrameReader in random chunks, checking the contracts in test/fuzz/wire-fuzz.ts.
//   node --import tsx bench/fuzz-wire.ts [N] [SEED]
// A broken contract prints the seed, the case number and the bytes, and exits 1.

import { checkDecode, checkFrameReader, loadCorpus, makeCase, newCoders, Prng } from '../test/fuzz/wire-fuzz.js';

/** Every this many cases, the last ones also go through a FrameReader as one stream. */
const STREAM_EVERY = 64;

function main(): number {
  const cases = Number(process.argv[2] ?? 1_000_000);
  const seed = Number(process.argv[3] ?? Date.now() % 0xffffffff);
  if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed)) {
    process.stderr.write('usage: node --import tsx bench/fuzz-wire.ts [N] [SEED]\n');
    return 2;
  }
  const corpus = loadCorpus();
  const rng = new Prng(seed);
  const coders = newCoders();
  const verdicts = new Map<string, number>();
  const recent: Buffer[] = [];
  let streams = 0;
  const started = performance.now();
  for (let n = 1; n <= cases; n++) {
    const { bytes, how } = makeCase(rng, corpus);
    try {
      const verdict = checkDecode(bytes, coders);
      verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
      recent.push(bytes);
      if (recent.length === STREAM_EVERY) {
        checkFrameReader(rng, Buffer.concat(recent));
        recent.length = 0;
        streams++;
      }
    } catch (err) {
      process.stderr.write(`FAILED at case ${n} of seed ${seed} (${how}): ${(err as Error).message}\n  hex: ${bytes.toString('hex')}\n`);
      return 1;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const summary = [...verdicts].sort((a, b) => b[1] - a[1]).map(([verdict, count]) => `${verdict} ${count}`);
  process.stdout.write(
    `${cases} cases (seed ${seed}) in ${seconds.toFixed(1)} s, ${Math.round(cases / seconds)} cases/s; ` +
      `${streams} streams through FrameReader; every contract held\n  verdicts: ${summary.join(', ')}\n`,
  );
  return 0;
}

process.exitCode = main();
