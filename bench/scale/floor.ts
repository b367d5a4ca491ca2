// The C floor (floor.c): built into the run's directory, run on the fleet's pids and taps at the daemon's
// pace while the daemon ticks, so both read the same processes and interfaces under the same load.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VmStandIn } from './fleet.js';
import type { FloorResult } from './report.js';

const SOURCE = fileURLToPath(new URL('./floor.c', import.meta.url));
const INTERVAL_MS = 1000;

interface FloorOutput {
  ticks: number;
  cpu_ns_per_tick: number;
  wall_ns_per_tick: number;
  vms: number;
  pids_read: number;
  taps: number;
  taps_found: number;
  taps_found_by_stats: number;
  parts_ns_per_tick: { proc: number; taskstats: number; links: number; getstats: number };
}

/** Compiles the floor program; returns its path. */
export function buildFloor(dir: string): string {
  const program = join(dir, 'floor');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', program, SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
  return program;
}

/** Runs `ticks` measured ticks (plus one that opens the files) a second apart; resolves with its figures. */
export async function startFloor(program: string, fleet: VmStandIn[], ticks: number): Promise<FloorResult> {
  const child = spawn(program, [String(ticks), String(INTERVAL_MS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(fleet.map((vm) => `${vm.pid} ${vm.taps.join(' ')}\n`).join(''));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the floor program failed (exit ${code})`);
  const result = JSON.parse(output) as FloorOutput;
  // A floor that skipped work would flatter nobody but would compare nothing.
  if (result.pids_read !== result.vms || result.taps_found !== result.taps || result.taps_found_by_stats !== result.taps) {
    throw new Error(`the floor read ${result.pids_read}/${result.vms} pids and ${result.taps_found}/${result.taps} taps `
      + `(${result.taps_found_by_stats} by RTM_GETSTATS)`);
  }
  const parts = result.parts_ns_per_tick;
  return {
    label: 'C floor: /proc stat, taskstats, RTM_GETLINK dump',
    ticks: result.ticks,
    cpuSecondsPerTick: result.cpu_ns_per_tick / 1e9,
    wallSecondsPerTick: result.wall_ns_per_tick / 1e9,
    partsSecondsPerTick: { proc: parts.proc / 1e9, taskstats: parts.taskstats / 1e9, links: parts.links / 1e9, getstats: parts.getstats / 1e9 },
  };
}
