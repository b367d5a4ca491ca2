// vmm-stats at scale, against process-exporter and node_exporter on the same processes and taps.
//   npm run bench:scale -- --vms N [--seconds S] [--json] [--profile]      (as root; --help for more)
// Progress goes to stderr; the table (or with --json one JSON line) to stdout.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, release, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withCleanup, type Cleanup } from './scale/cleanup.js';
import { countLinks, createFleet, MARKER, sweepLeftovers, tenantPrefix, type VmStandIn } from './scale/fleet.js';
import { buildFloor, startFloor } from './scale/floor.js';
import { hypervisorOpensSettled, runPhase, type PhaseResult, type Targets } from './scale/measure.js';
import { FanOut } from './scale/fan-out.js';
import { commandLine, parseOptions, PHASES, TENANTS, usage, type Options } from './scale/options.js';
import { ResponsivenessProbe, type Responsiveness } from './scale/responsiveness.js';
import { formatProfile, summariseProfile } from './scale/profile.js';
import { formatSummary, summarise, type FloorResult, type Phases, type RunInfo } from './scale/report.js';
import { startDaemon, startNodeExporter, startProcessExporter } from './scale/services.js';
import { Subscriber } from './scale/subscriber.js';
import { TickClock } from './scale/tick-clock.js';

const TAPS_PER_VM = 2;
/** Debian's packages of the peers, named as their commands are. */
const PEERS = ['prometheus-process-exporter', 'prometheus-node-exporter'];

const log = (line: string) => process.stderr.write(`bench:scale: ${line}\n`);
const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

function machine(): Record<string, string> {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const memory = /^MemTotal:\s*(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  // Debian builds print an empty version: ask the package manager instead.
  const version = (pkg: string) => execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return {
    cpus: `${availableParallelism()} x ${cpu}`,
    memory: `${(Number(memory) / 2 ** 20).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    'process-exporter': version('prometheus-process-exporter'),
    'node-exporter': version('prometheus-node-exporter'),
    'vmm-stats': sourceVersion(),
  };
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time of the files ending in `suffix` under `dir`, other platforms' sources left
 * out; 0 when there are none. */
function newestChange(dir: string, suffix: string): number {
  if (!existsSync(join(repoRoot, dir))) return 0;
  const otherPlatform = process.platform === 'linux' ? '_freebsd.' : '_linux.';
  const entries = readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })
    .filter((entry) => entry.endsWith(suffix) && !entry.includes(otherPlatform));
  return Math.max(0, ...entries.map((entry) => statSync(join(repoRoot, dir, entry)).mtimeMs));
}

/** What the daemon runs is the build (dist/ and the addon): say so when the sources are newer. */
function staleBuilds(): string[] {
  const stale: string[] = [];
  if (newestChange('src', '.ts') > newestChange('dist', '.js')) stale.push('dist/ is older than src/ (npx tsc -p tsconfig.build.json)');
  if (Math.max(newestChange('native', '.cc'), newestChange('native', '.h')) > newestChange('build/Release', '.node')) stale.push('the addon is older than native/ (npx node-gyp rebuild)');
  return stale;
}

function sourceVersion(): string {
  const git = (...args: string[]) => execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8' }).trim();
  const dirty = git('status', '--porcelain', '--', 'src', 'native') !== '';
  return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in src/ or native/' : ''}`;
}

function slowTickLines(logPath: string): number {
  return readFileSync(logPath, 'utf8').split('\n').filter((line) => line.includes('slow tick')).length;
}

/** Registers the fleet on a connection of its own (registrations outlive it); resolves with the seconds it took. */
async function register(socketPath: string, fleet: VmStandIn[]): Promise<number> {
  const registrar = await Subscriber.connect(socketPath);
  try {
    return await registrar.register(fleet);
  } finally {
    await registrar.close();
  }
}

/** Runs `during` with a connection subscribed to every VM, closed afterwards. */
async function withSubscriber<T>(socketPath: string, clock: TickClock, during: (subscriber: Subscriber) => Promise<T>): Promise<T> {
  const subscriber = await Subscriber.connect(socketPath, clock);
  try {
    await subscriber.subscribeAll();
    return await during(subscriber);
  } finally {
    await subscriber.close();
  }
}

async function run(options: Options, cleanup: Cleanup): Promise<void> {
  for (const warning of staleBuilds()) log(`warning: ${warning}: the daemon measured is the build`);
  const swept = await sweepLeftovers();
  if (swept.length > 0) log(`leftovers of an earlier run: ${swept.join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), `${MARKER}-`));
  cleanup.defer('removing the temporary directory', () => rmSync(dir, { recursive: true, force: true }));
  const floorProgram = buildFloor(dir);

  log(`creating ${options.vms} VM stand-ins and ${options.vms * TAPS_PER_VM} taps`);
  const fleet = await createFleet(options.vms, TENANTS, cleanup);
  const daemon = await startDaemon(dir, { profile: options.profile, options: options.nodeOptions }, cleanup, ['--interval', String(options.interval)]);
  // Kept out of the temporary directory, for whatever the run ends in.
  const keptLog = join(tmpdir(), `vmm-stats-scale-${options.vms}.log`);
  cleanup.defer(`keeping the daemon's log as ${keptLog}`, () => copyFileSync(daemon.logPath, keptLog));
  const peers = [await startProcessExporter(dir, cleanup), await startNodeExporter(dir, cleanup)];
  const registerSeconds = await register(daemon.socketPath, fleet);
  log(`registered ${options.vms} VMs in ${registerSeconds.toFixed(2)} s; warming up, subscribed: at least ${options.warmupSeconds} s, `
    + 'and until the daemon has tried every VM\'s hypervisor counters');
  const tickClock = new TickClock(options.interval * 1000);
  await withSubscriber(daemon.socketPath, tickClock, async () => {
    await sleep(options.warmupSeconds);
    await hypervisorOpensSettled(daemon, options.interval * 1000, (pending) => log(`${pending} VMs' hypervisor counters still being tried`));
  });

  const links = countLinks();
  const phaseSeconds = Math.floor(options.seconds / (PHASES * options.rounds));
  const phases: Phases = { subscribed: [], fanOut: [], scraped: [], peers: [] };
  const targets: Omit<Targets, 'dataFrames'> = { daemon, peers, origin: performance.now(), tickClock };
  const probe = options.probeEveryMs === 0 ? undefined : await ResponsivenessProbe.start(daemon.socketPath, options.probeEveryMs);
  const tenants = Array.from({ length: Math.min(TENANTS, options.vms) }, (_, t) => tenantPrefix(t));
  const floors: FloorResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const of = `round ${round}/${options.rounds}, phase`;
    // The floor answers no requests: the probe runs only in the phases whose ticks are compared neither with
    // the floor's nor with each other's (BENCHMARKS.md says what answering it costs).
    probe?.pause();
    log(`${of} 1/4, ${phaseSeconds} s: subscribed to every VM, no scrapes; the C floor reads the same pids and taps meanwhile`);
    await withSubscriber(daemon.socketPath, tickClock, async (subscriber) => {
      let floor: Promise<FloorResult> | undefined;
      const startFloorRun = () => {
        floor = startFloor(floorProgram, fleet, phaseSeconds - 1);
        // Awaited once the phase is over; until then a failure must not count as unhandled.
        floor.catch(() => {});
      };
      phases.subscribed.push(await runPhase({ name: 'subscribed', seconds: phaseSeconds, scrape: [], onWindowOpen: startFloorRun },
        { ...targets, dataFrames: () => subscriber.dataFrames }));
      floors.push(await floor!);
    });
    log(`${of} 2/4, ${phaseSeconds} s: fan-out, ${options.subscribers} connections each subscribed to one of ${tenants.length} tenants`);
    const fanOut = await FanOut.open(daemon.socketPath, tenants, options.subscribers);
    try {
      phases.fanOut.push(await runPhase({ name: 'fan-out', seconds: phaseSeconds, scrape: [] }, { ...targets, dataFrames: () => fanOut.dataFrames }));
    } finally {
      await fanOut.close();
    }
    probe?.resume();
    const unsubscribed = { ...targets, dataFrames: () => 0 };
    log(`${of} 3/4, ${phaseSeconds} s: nobody subscribed, our /metrics scraped once a second`);
    phases.scraped.push(await runPhase({ name: 'scraped', seconds: phaseSeconds, scrape: [daemon] }, unsubscribed));
    log(`${of} 4/4, ${phaseSeconds} s: nobody subscribed, ${peers.map((p) => p.name).join(' and ')} scraped in turn`);
    phases.peers.push(await runPhase({ name: 'peers', seconds: phaseSeconds, scrape: peers }, unsubscribed));
  }

  const responsiveness: Responsiveness | undefined = await probe?.stop();
  await daemon.stop();
  const info: RunInfo = {
    vms: options.vms,
    intervalSeconds: options.interval,
    subscribers: options.subscribers,
    tenants: tenants.length,
    probeEveryMs: options.probeEveryMs,
    tapsPerVm: TAPS_PER_VM,
    rounds: options.rounds,
    phaseSeconds,
    registerSeconds,
    slowTickLines: slowTickLines(daemon.logPath),
    links,
    cpuCount: availableParallelism(),
    machine: machine(),
    command: `npm run bench:scale -- ${process.argv.slice(2).join(' ')}`,
  };
  const summary = summarise(info, floors, phases, responsiveness);
  const windows = Object.entries(phases).map(([name, results]: [string, PhaseResult[]]) => ({
    name,
    ranges: results.map((phase) => phase.window),
  }));
  const profile = daemon.profileDir === undefined ? undefined : summariseProfile(daemon.profileDir, windows);
  if (profile !== undefined) {
    // Out of the temporary directory, which the cleanup removes.
    const kept = join(tmpdir(), `vmm-stats-scale-${options.vms}.cpuprofile`);
    copyFileSync(profile.path, kept);
    profile.path = kept;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ ...summary, profile })}\n`);
  } else {
    process.stdout.write(`${formatSummary(summary)}\n`);
    if (profile !== undefined) process.stdout.write(`\n${formatProfile(profile)}\n`);
  }
}

async function main(): Promise<number> {
  const options = commandLine('bench:scale', parseOptions, usage);
  if (typeof options === 'number') return options;
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:scale: needs root (taps need CAP_NET_ADMIN, taskstats needs it too)\n');
    return 1;
  }
  const missing = PEERS.filter((command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).error !== undefined);
  if (missing.length > 0) {
    process.stderr.write(`bench:scale: the peers are not installed (${missing.join(', ')}): apt-get install ${PEERS.join(' ')}\n`);
    return 1;
  }
  return withCleanup('bench:scale', log, (cleanup) => run(options, cleanup));
}

process.exitCode = await main();
