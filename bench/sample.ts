// CPU cost of the native sampler per process and per interface, beside its peers (pidusage,
// systeminformation's networkStats) and beside C floors that read the same kernel sources (bench/floor/,
// compiled here with cc into a temporary directory).
//   npm run bench:sample [-- --json]
// As root: taskstats needs CAP_NET_ADMIN, and the interfaces are taps in a private network namespace (so
// that whatever else the host has does not count), measured by this script run again inside it.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import pidusage from 'pidusage';
import si from 'systeminformation';
import { InterfaceSampler, sampleProcesses } from '../src/sampler/sampler.js';

const PROCESSES = 50;
const INTERFACES = 50;
const GOALS = { vsPidusage: 1 / 4, vsSysteminformation: 1 / 20, vsFloor: 1.5 };
/** systeminformation answers from its cache for 500 ms after reading an interface. */
const SYSTEMINFORMATION_CACHE_MS = 500;

const OURS_PROCESSES = 'vmm-stats sampleProcesses';
const PIDUSAGE = 'pidusage (CPU and memory only)';
const FLOOR_PROCESSES = 'C floor: stat pread, taskstats batch';
const OURS_DUMP = 'vmm-stats InterfaceSampler, dump';
const OURS_REQUEST = 'vmm-stats InterfaceSampler, per name';
const SYSTEMINFORMATION = 'systeminformation.networkStats';
const SYSTEMINFORMATION_CHILDREN = 'systeminformation.networkStats + children';
const FLOOR_DUMP = 'C floor: RTM_GETLINK dump';
const FLOOR_REQUEST = 'C floor: RTM_GETLINK per name, batched';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const isRoot = process.getuid?.() === 0;

interface Row {
  label: string;
  /** CPU microseconds per process or interface; null when it could not be measured. */
  micros: number | null;
  note?: string;
}

interface Goal {
  ours: string;
  against: string;
  goal: number;
}

interface Section {
  title: string;
  unit: string;
  rows: Row[];
  /** Ratios wanted: the row `ours` over the row `against`, at most `goal`. */
  goals: Goal[];
  skipped?: string;
}

// --- measuring ---

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

let clockTicksPerSecond: number | undefined;

/** CPU of waited-for children (systeminformation runs cat in a shell), in microseconds. */
function childrenCpuMicros(): number {
  clockTicksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]); // cutime, cstime
  return (ticks * 1e6) / clockTicksPerSecond;
}

/** How many times each figure is taken; the least is kept, since other work on the machine only adds. */
const TRIES = 7;

/** One figure of a table: CPU microseconds per item, or null when it cannot be had here. */
interface Measure {
  label: string;
  note?: string;
  once(): Promise<number | null>;
}

// process.cpuUsage() counts the garbage collector's threads too: one measure's garbage (pidusage makes
// plenty) is collected before the next measure starts, not during it.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** CPU microseconds per item of `round`, which handles `items` items, as the mean over `rounds` rounds. */
async function perItem(items: number, rounds: number, round: () => unknown): Promise<number> {
  const start = cpuMicros();
  for (let i = 0; i < rounds; i++) await round();
  return (cpuMicros() - start) / rounds / items;
}

/**
 * A measure of `round`, after one round untimed: the first time, so that descriptors are open and code is
 * compiled; every time, because a floor was forked in between, and the first write to each page after a
 * fork faults (copy-on-write protection) whether or not the child still shares it.
 */
function jsMeasure(label: string, items: number, rounds: number, round: () => unknown, note?: string): Measure {
  return {
    label,
    note,
    async once() {
      collectGarbage();
      await round();
      return perItem(items, rounds, round);
    },
  };
}

/** A measure of a C floor, which prints its own CPU microseconds per item. */
function floorMeasure(label: string, binary: string | undefined, args: string[], note?: string): Measure {
  return {
    label,
    note,
    async once() {
      if (binary === undefined) return null;
      const result = spawnSync(binary, args, { encoding: 'utf8' });
      if (result.status === 0) return Number(result.stdout.trim());
      process.stderr.write(`bench: ${binary} ${args[0]} failed: ${result.stderr.trim()}\n`);
      return null;
    },
  };
}

/** Takes every measure TRIES times, in turn, so that a burst of load elsewhere falls on all of them alike. */
async function interleaved(measures: Measure[]): Promise<Row[]> {
  const least: (number | null)[] = measures.map(() => Infinity);
  for (let t = 0; t < TRIES; t++) {
    for (const [i, measure] of measures.entries()) {
      const value = least[i] === null ? null : await measure.once();
      least[i] = value === null ? null : Math.min(least[i]!, value);
    }
  }
  return measures.map((measure, i) => ({ label: measure.label, micros: least[i]!, note: measure.note }));
}

function compileFloors(directory: string): { process?: string; links?: string; reason?: string } {
  const compile = (name: string): string => {
    const output = join(directory, `${name}-floor`);
    execFileSync('cc', ['-O2', '-o', output, join(repoRoot, 'bench', 'floor', `${name}.c`)], { stdio: 'pipe' });
    return output;
  };
  try {
    return { process: compile('process'), links: compile('links') };
  } catch (err) {
    return { reason: `no C floors: cc failed (${(err as Error).message.split('\n')[0]})` };
  }
}

// --- processes ---

/** Children asleep in sleep(1), once they have all got there (a child still starting costs more to read). */
async function spawnIdleChildren(count: number): Promise<ChildProcess[]> {
  const children = Array.from({ length: count }, () => spawn('sleep', ['3600'], { stdio: 'ignore' }));
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('spawn', resolve))));
  await new Promise((resolve) => setTimeout(resolve, 500));
  return children;
}

/** Why taskstats cannot be used here (so that the figures say what they measured), or undefined. */
function taskstatsProblem(): string | undefined {
  process.env.VMM_STATS_PROCESS_SOURCE = 'taskstats';
  try {
    const [self] = sampleProcesses([process.pid]);
    return self!.ok ? undefined : `no taskstats (${self!.error.code}): /proc only`;
  } finally {
    delete process.env.VMM_STATS_PROCESS_SOURCE;
  }
}

async function measureProcesses(floor: string | undefined, floorReason: string | undefined): Promise<Section> {
  const noTaskstats = taskstatsProblem();
  const children = await spawnIdleChildren(PROCESSES);
  try {
    const pids = children.map((child) => child.pid!);
    const procfsOnly = () => {
      process.env.VMM_STATS_PROCESS_SOURCE = 'procfs';
      try {
        return sampleProcesses(pids);
      } finally {
        delete process.env.VMM_STATS_PROCESS_SOURCE;
      }
    };
    const args = (mode: string, rounds: number) => [mode, String(rounds), ...pids.map(String)];
    const rows = await interleaved([
      jsMeasure(OURS_PROCESSES, pids.length, 1000, () => sampleProcesses(pids), noTaskstats),
      jsMeasure('vmm-stats, /proc only (fallback)', pids.length, 400, procfsOnly),
      jsMeasure(PIDUSAGE, pids.length, 150, () => pidusage(pids)),
      floorMeasure(FLOOR_PROCESSES, noTaskstats ? undefined : floor, args('ours', 1000), floorReason ?? noTaskstats),
      floorMeasure('C floor: open stat, status, io', floor, args('procfs', 400), floorReason),
    ]);
    pidusage.clear();
    return {
      title: `processes (${PROCESSES} idle children)`,
      unit: 'µs/pid',
      rows,
      goals: [
        { ours: OURS_PROCESSES, against: PIDUSAGE, goal: GOALS.vsPidusage },
        { ours: OURS_PROCESSES, against: FLOOR_PROCESSES, goal: GOALS.vsFloor },
      ],
    };
  } finally {
    for (const child of children) child.kill();
  }
}

// --- interfaces: run inside a private network namespace ---

const tapName = (i: number): string => `vsb${i}`;

async function measureInterfacesHere(floor: string | undefined): Promise<Row[]> {
  const names = Array.from({ length: INTERFACES }, (_, i) => tapName(i));
  const sampler = (strategy: string): InterfaceSampler => {
    process.env.VMM_STATS_LINK_STRATEGY = strategy;
    const opened = new InterfaceSampler();
    opened.sample(names); // the strategy is read when the socket opens, on the first call
    delete process.env.VMM_STATS_LINK_STRATEGY;
    return opened;
  };
  const byDump = sampler('dump');
  const byRequest = sampler('request');
  const args = (mode: string) => [mode, '3000', ...names];
  const rows = await interleaved([
    jsMeasure(OURS_DUMP, names.length, 3000, () => byDump.sample(names)),
    jsMeasure(OURS_REQUEST, names.length, 3000, () => byRequest.sample(names)),
    floorMeasure(FLOOR_DUMP, floor, args('dump')),
    floorMeasure(FLOOR_REQUEST, floor, args('request')),
  ]);
  byDump.close();
  byRequest.close();
  const peer = await systeminformationCost(names);
  rows.push({ label: SYSTEMINFORMATION, micros: peer.own, note: 'its own CPU' });
  rows.push({ label: SYSTEMINFORMATION_CHILDREN, micros: peer.withChildren, note: 'shells and cats included' });
  return rows;
}

/** Per interface: systeminformation's own CPU, and that plus its children's (it runs cat in a shell). */
async function systeminformationCost(names: string[]): Promise<{ own: number; withChildren: number }> {
  const list = names.join(',');
  const rounds = 8;
  await si.networkStats(list);
  let own = 0;
  let children = 0;
  for (let i = 0; i < rounds; i++) {
    await new Promise((resolve) => setTimeout(resolve, SYSTEMINFORMATION_CACHE_MS + 100));
    const ownBefore = cpuMicros();
    const childrenBefore = childrenCpuMicros();
    await si.networkStats(list);
    own += cpuMicros() - ownBefore;
    children += childrenCpuMicros() - childrenBefore;
  }
  return { own: own / rounds / names.length, withChildren: (own + children) / rounds / names.length };
}

function ip(args: string[], input?: string): void {
  execFileSync('ip', args, { input, stdio: ['pipe', 'ignore', 'pipe'] });
}

async function measureInterfaces(floor: string | undefined): Promise<Section> {
  const section: Omit<Section, 'rows'> = {
    title: `interfaces (${INTERFACES} taps in a private network namespace)`,
    unit: 'µs/if',
    goals: [
      { ours: OURS_DUMP, against: SYSTEMINFORMATION, goal: GOALS.vsSysteminformation },
      { ours: OURS_REQUEST, against: SYSTEMINFORMATION, goal: GOALS.vsSysteminformation },
      { ours: OURS_DUMP, against: FLOOR_DUMP, goal: GOALS.vsFloor },
      { ours: OURS_REQUEST, against: FLOOR_REQUEST, goal: GOALS.vsFloor },
    ],
  };
  if (!isRoot) return { ...section, rows: [], skipped: 'not root: creating taps and a network namespace needs CAP_NET_ADMIN' };
  const namespace = `vstbench${process.pid}`;
  ip(['netns', 'add', namespace]);
  try {
    const taps = Array.from({ length: INTERFACES }, (_, i) => `tuntap add mode tap name ${tapName(i)}\n`).join('');
    ip(['-n', namespace, '-batch', '-'], taps);
    const child = spawnSync(
      'ip',
      ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--inside-namespace', floor ?? ''],
      { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    if (child.status !== 0) return { ...section, rows: [], skipped: `the measurement inside ${namespace} failed` };
    return { ...section, rows: JSON.parse(child.stdout) as Row[] };
  } finally {
    ip(['netns', 'del', namespace]);
  }
}

// --- output ---

function ratioRows(section: Section): (Goal & { ratio: number | null; met: boolean | null })[] {
  const micros = (label: string) => section.rows.find((row) => row.label === label)?.micros ?? null;
  return section.goals.map((goal) => {
    const ours = micros(goal.ours);
    const against = micros(goal.against);
    const ratio = ours !== null && against !== null && against > 0 ? ours / against : null;
    return { ...goal, ratio, met: ratio === null ? null : ratio <= goal.goal };
  });
}

function printSection(section: Section): void {
  process.stdout.write(`\n${section.title}\n`);
  if (section.skipped !== undefined) {
    process.stdout.write(`  skipped: ${section.skipped}\n`);
    return;
  }
  const width = Math.max(...section.rows.map((row) => row.label.length));
  for (const row of section.rows) {
    const value = row.micros === null ? '—' : row.micros.toFixed(2);
    const note = row.note !== undefined ? `  (${row.note})` : '';
    process.stdout.write(`  ${row.label.padEnd(width)}  ${value.padStart(9)} ${section.unit}${note}\n`);
  }
  for (const { ours, against, goal, ratio, met } of ratioRows(section)) {
    const verdict = met === null ? 'not measured' : met ? 'met' : 'MISSED';
    const shown = ratio === null ? '—' : ratio < 0.001 ? ratio.toExponential(1) : ratio.toFixed(3);
    process.stdout.write(`  ${ours} / ${against}: ${shown} (goal ≤ ${goal.toFixed(3)}) ${verdict}\n`);
  }
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--inside-namespace') {
    const floor = argv[1] !== '' ? argv[1] : undefined;
    process.stdout.write(JSON.stringify(await measureInterfacesHere(floor)));
    return;
  }
  const json = argv.includes('--json');
  const directory = mkdtempSync(join(tmpdir(), 'vmm-stats-floor-'));
  try {
    const floors = compileFloors(directory);
    const sections = [
      await measureProcesses(floors.process, floors.reason),
      await measureInterfaces(floors.links),
    ];
    if (json) {
      const report = sections.map(({ goals: _goals, ...section }) => ({ ...section, ratios: ratioRows({ goals: _goals, ...section }) }));
      process.stdout.write(JSON.stringify({ root: isRoot, sections: report }, null, 2) + '\n');
    } else {
      if (!isRoot) process.stdout.write('not root: no taskstats (it needs CAP_NET_ADMIN) and no taps; run as root for every figure\n');
      sections.forEach(printSection);
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
