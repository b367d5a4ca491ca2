// Encode and decode throughput of one Stats Data frame (test/fixtures/bench-stats-data.json), side by side
// with the seed's own codec when its oracle is at hand.
//   node --import tsx bench/wire.ts [--json]
// The oracle: $VMM_STATS_ORACLE (a built binary), or built from ../shared/oracle when ocamlfind is installed.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Decoder, Encoder, encodeStatsData, messageFromJson } from '../src/wire/index.js';

const WARMUP_MS = 1000;
/**
 * Warm-up rounds, each way in turn as the measured rounds go. V8 takes several seconds of this mix to
 * settle its compiled code and the young generation's size: after one round each way, encode rounds
 * measured 350k-770k/s and settled at 700k-800k/s only after three.
 */
const WARMUP_ROUNDS = 3;
/**
 * Short rounds, many of them, each ours and the seed's back to back: these machines change speed by as
 * much as twofold from one second to the next (other jobs), so a ratio is only fair within a round.
 */
const ROUND_MS = 200;
const ROUNDS = 21;
const GOAL = { encode: 5, decode: 2 };

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Figures {
  encode_per_s: number;
  decode_per_s: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Operations per second of `op` over `ms` milliseconds. */
function opsPerSecond(op: () => number, ms: number): number {
  let sink = 0;
  const start = performance.now();
  let count = 0;
  let elapsed = 0;
  do {
    for (let i = 0; i < 1000; i++) sink += op();
    count += 1000;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  if (sink === 0) throw new Error('the benchmarked operation produced nothing');
  return (count / elapsed) * 1000;
}

function benchFixture() {
  const path = join(repoRoot, 'test/fixtures/bench-stats-data.json');
  const message = messageFromJson(JSON.parse(readFileSync(path, 'utf8')));
  if (message.kind !== 'stats.data') throw new Error(`${path} is not a stats.data message`);
  return message;
}

/** A runnable oracle binary and where it came from, or why there is none. */
function findOracle(): { path: string; cleanup?: () => void } | { missing: string } {
  const fromEnv = process.env.VMM_STATS_ORACLE;
  if (fromEnv) return existsSync(fromEnv) ? { path: fromEnv } : { missing: `VMM_STATS_ORACLE=${fromEnv} does not exist` };
  const buildScript = join(repoRoot, '../shared/oracle/build.sh');
  if (!existsSync(buildScript)) return { missing: 'no VMM_STATS_ORACLE and no ../shared/oracle/build.sh' };
  if (spawnSync('ocamlfind', ['list'], { stdio: 'ignore' }).status !== 0) {
    return { missing: 'ocamlfind is not installed, so the oracle cannot be built' };
  }
  const out = mkdtempSync(join(tmpdir(), 'vmm-stats-oracle-'));
  const cleanup = () => rmSync(out, { recursive: true, force: true });
  const build = spawnSync('bash', [buildScript], { env: { ...process.env, OUT: out }, encoding: 'utf8' });
  const path = join(out, 'oracle');
  if (build.status !== 0 || !existsSync(path)) {
    cleanup();
    return { missing: `building the oracle failed: ${(build.stderr || build.stdout).trim().slice(0, 500)}` };
  }
  return { path, cleanup };
}

interface OracleRun extends Figures {
  frame_hex: string;
}

function runOracle(path: string, messages: number): OracleRun {
  const output = execFileSync(path, ['bench', String(messages)], { encoding: 'utf8' });
  const run = JSON.parse(output) as { encode_per_s: string; decode_per_s: string; frame_hex: string };
  return { encode_per_s: Number(run.encode_per_s), decode_per_s: Number(run.decode_per_s), frame_hex: run.frame_hex };
}

interface Oracle {
  path: string;
  /** Messages per run: its encoding, the slower way, takes about a round. */
  messages: number;
}

function calibrate(path: string): Oracle {
  const probe = runOracle(path, 5000);
  return { path, messages: Math.max(5000, Math.round((probe.encode_per_s * ROUND_MS) / 1000)) };
}

interface Round {
  ours: Figures;
  seed: OracleRun | undefined;
}

/** Ours and the seed's, back to back; which goes first alternates, so that neither always follows the other. */
function measureRound(encode: () => number, decode: () => number, oracle: Oracle | undefined, seedFirst: boolean): Round {
  const seedRun = () => (oracle === undefined ? undefined : runOracle(oracle.path, oracle.messages));
  const seedBefore = seedFirst ? seedRun() : undefined;
  const ours = { encode_per_s: opsPerSecond(encode, ROUND_MS), decode_per_s: opsPerSecond(decode, ROUND_MS) };
  return { ours, seed: seedFirst ? seedBefore : seedRun() };
}

/** The middle half of `values`: its first and third quartiles. */
function quartiles(values: number[]): [number, number] {
  const sorted = [...values].sort((x, y) => x - y);
  return [sorted[Math.floor((sorted.length - 1) / 4)], sorted[Math.ceil((3 * (sorted.length - 1)) / 4)]];
}

/** Medians of the rounds, and of the ratios taken within each round (with their quartiles). */
function summarise(rounds: Round[]) {
  const ours: Figures = {
    encode_per_s: median(rounds.map((round) => round.ours.encode_per_s)),
    decode_per_s: median(rounds.map((round) => round.ours.decode_per_s)),
  };
  const paired = rounds.flatMap(({ ours, seed }) => (seed === undefined ? [] : [{ ours, seed }]));
  if (paired.length === 0) return { ours, seed: undefined, ratios: undefined };
  const seed: OracleRun = {
    encode_per_s: median(paired.map((round) => round.seed.encode_per_s)),
    decode_per_s: median(paired.map((round) => round.seed.decode_per_s)),
    frame_hex: paired[0].seed.frame_hex,
  };
  const ratiosOf = (way: keyof Figures) => paired.map((round) => round.ours[way] / round.seed[way]);
  const encode = ratiosOf('encode_per_s');
  const decode = ratiosOf('decode_per_s');
  const ratios = {
    encode_ratio: round2(median(encode)),
    decode_ratio: round2(median(decode)),
    encode_ratio_quartiles: quartiles(encode).map(round2),
    decode_ratio_quartiles: quartiles(decode).map(round2),
  };
  return { ours, seed, ratios };
}

function measure(encode: () => number, decode: () => number, oracle: Oracle | undefined) {
  for (let round = 0; round < WARMUP_ROUNDS; round++) {
    opsPerSecond(encode, WARMUP_MS);
    opsPerSecond(decode, WARMUP_MS);
  }
  return summarise(Array.from({ length: ROUNDS }, (_, round) => measureRound(encode, decode, oracle, round % 2 === 1)));
}

function main(): void {
  const asJson = process.argv.includes('--json');
  const { id, name, stats } = benchFixture();
  const frame = encodeStatsData(name, stats, id);
  // A daemon encodes with one Encoder and a subscriber decodes with one Decoder: so do the rounds.
  const encoder = new Encoder();
  const decoder = new Decoder();
  const found = findOracle();
  let measured;
  let oracle: Oracle | undefined;
  try {
    oracle = 'path' in found ? calibrate(found.path) : undefined;
    measured = measure(
      () => encoder.encodeStatsData(name, stats, id).length,
      () => decoder.decode(frame).header.length,
      oracle,
    );
  } finally {
    if ('cleanup' in found) found.cleanup?.();
  }
  const { ours, seed, ratios } = measured;
  // The oracle's last frame has id = its message count; ours must be byte for byte the same.
  const sameBytes = seed && oracle && encodeStatsData(name, stats, BigInt(oracle.messages)).toString('hex') === seed.frame_hex;

  if (asJson) {
    const line: Record<string, unknown> = { frame_bytes: frame.length, rounds: ROUNDS, ...mapValues(ours, Math.round) };
    if (seed && ratios) {
      Object.assign(line, {
        oracle_encode_per_s: Math.round(seed.encode_per_s),
        oracle_decode_per_s: Math.round(seed.decode_per_s),
        ...ratios,
        oracle_same_bytes: sameBytes,
      });
    } else if ('missing' in found) {
      line.oracle = found.missing;
    }
    process.stdout.write(JSON.stringify(line) + '\n');
    return;
  }
  const perSecond = (n: number) => `${Math.round(n).toLocaleString('en-US')} msg/s`;
  const lines = [
    `Stats Data frame: ${frame.length} bytes (${stats.vmm.values.length} vmm counters, ${stats.ifdata.length} interfaces); ` +
      `medians of ${ROUNDS} rounds (${ROUND_MS} ms each way, after ${WARMUP_ROUNDS} warm-up rounds of ${WARMUP_MS} ms each way)`,
    `  encode (Encoder.encodeStatsData): ${perSecond(ours.encode_per_s)}`,
    `  decode (Decoder.decode):          ${perSecond(ours.decode_per_s)}`,
  ];
  if (seed && ratios && oracle) {
    const spread = ([low, high]: number[]) => `middle half ${low}-${high}x`;
    lines.push(
      `  seed (oracle bench ${oracle.messages}, one run per round): encode ${perSecond(seed.encode_per_s)}, ` +
        `decode ${perSecond(seed.decode_per_s)}; same frame bytes: ${sameBytes ? 'yes' : 'NO'}`,
      `  ratio to the seed, median of the rounds' own: encode ${ratios.encode_ratio}x (${spread(ratios.encode_ratio_quartiles)}, ` +
        `goal ${GOAL.encode}x), decode ${ratios.decode_ratio}x (${spread(ratios.decode_ratio_quartiles)}, goal ${GOAL.decode}x)`,
    );
  } else if ('missing' in found) {
    lines.push(`  seed: not measured (${found.missing})`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function mapValues<T extends object>(object: T, f: (value: number) => number): Record<keyof T, number> {
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [key, f(value as number)])) as Record<keyof T, number>;
}

main();
