// Encode and decode throughput of one Stats Data frame (test/fixtures/bench-stats-data.json), side by side
// with the seed's own codec when its oracle is at hand.
//   node --import tsx bench/wire.ts [--json]
// The oracle: $VMM_STATS_ORACLE (a built binary), or built from ../shared/oracle when ocamlfind is installed.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFrame, encodeStatsData, messageFromJson } from '../src/wire/index.js';

const WARMUP_MS = 1000;
const ROUND_MS = 500;
const ROUNDS = 7;
const ORACLE_MESSAGES = 300_000;
const ORACLE_ROUNDS = 3;
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

/** Operations per second of `op`: the median of ROUNDS rounds of ROUND_MS each, after a warm-up. */
function opsPerSecond(op: () => number): number {
  let sink = 0;
  const runFor = (ms: number): number => {
    const start = performance.now();
    let count = 0;
    let elapsed = 0;
    do {
      for (let i = 0; i < 1000; i++) sink += op();
      count += 1000;
      elapsed = performance.now() - start;
    } while (elapsed < ms);
    return (count / elapsed) * 1000;
  };
  runFor(WARMUP_MS);
  const rounds = Array.from({ length: ROUNDS }, () => runFor(ROUND_MS));
  if (sink === 0) throw new Error('the benchmarked operation produced nothing');
  return median(rounds);
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

function runOracle(path: string): OracleRun {
  const runs = Array.from({ length: ORACLE_ROUNDS }, () => {
    const output = execFileSync(path, ['bench', String(ORACLE_MESSAGES)], { encoding: 'utf8' });
    return JSON.parse(output) as { encode_per_s: string; decode_per_s: string; frame_hex: string };
  });
  return {
    encode_per_s: median(runs.map((run) => Number(run.encode_per_s))),
    decode_per_s: median(runs.map((run) => Number(run.decode_per_s))),
    frame_hex: runs[0].frame_hex,
  };
}

function main(): void {
  const asJson = process.argv.includes('--json');
  const { id, name, stats } = benchFixture();
  const frame = encodeStatsData(name, stats, id);
  const ours: Figures = {
    encode_per_s: opsPerSecond(() => encodeStatsData(name, stats, id).length),
    decode_per_s: opsPerSecond(() => decodeFrame(frame).header.length),
  };

  const oracle = findOracle();
  const seed = 'path' in oracle ? runOracle(oracle.path) : undefined;
  if ('cleanup' in oracle) oracle.cleanup?.();
  // The oracle's last frame has id = its message count; ours must be byte for byte the same.
  const sameBytes = seed && encodeStatsData(name, stats, BigInt(ORACLE_MESSAGES)).toString('hex') === seed.frame_hex;
  const ratios = seed && {
    encode_ratio: round2(ours.encode_per_s / seed.encode_per_s),
    decode_ratio: round2(ours.decode_per_s / seed.decode_per_s),
  };

  if (asJson) {
    const line: Record<string, unknown> = { frame_bytes: frame.length, ...mapValues(ours, Math.round) };
    if (seed && ratios) {
      Object.assign(line, {
        oracle_encode_per_s: Math.round(seed.encode_per_s),
        oracle_decode_per_s: Math.round(seed.decode_per_s),
        ...ratios,
        oracle_same_bytes: sameBytes,
      });
    } else if ('missing' in oracle) {
      line.oracle = oracle.missing;
    }
    process.stdout.write(JSON.stringify(line) + '\n');
    return;
  }
  const perSecond = (n: number) => `${Math.round(n).toLocaleString('en-US')} msg/s`;
  const lines = [
    `Stats Data frame: ${frame.length} bytes (${stats.vmm.length} vmm counters, ${stats.ifdata.length} interfaces); ` +
      `median of ${ROUNDS} rounds of ${ROUND_MS} ms after ${WARMUP_MS} ms of warm-up`,
    `  encode (encodeStatsData): ${perSecond(ours.encode_per_s)}`,
    `  decode (decodeFrame):     ${perSecond(ours.decode_per_s)}`,
  ];
  if (seed && ratios) {
    lines.push(
      `  seed (oracle bench ${ORACLE_MESSAGES}, median of ${ORACLE_ROUNDS}): encode ${perSecond(seed.encode_per_s)}, ` +
        `decode ${perSecond(seed.decode_per_s)}; same frame bytes: ${sameBytes ? 'yes' : 'NO'}`,
      `  ratio to the seed: encode ${ratios.encode_ratio}x (goal ${GOAL.encode}x), decode ${ratios.decode_ratio}x (goal ${GOAL.decode}x)`,
    );
  } else if ('missing' in oracle) {
    lines.push(`  seed: not measured (${oracle.missing})`);
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
