// The daemon against hostile clients and heavy ones, with 1000 VMs registered at a 1 s interval:
//   npm run bench:hostile -- [--vms N] [--fuzz-frames N] [--json]        (as root; --help for more)
// Progress goes to stderr; the table (or with --json one JSON line) to stdout.
import { createConnection } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { StatsClient } from '../src/client/client.js';
import { FrameReader, type VmName } from '../src/wire/index.js';
import { Crowd } from './hostile/crowd.js';
import { fuzz, type FuzzResult } from './hostile/fuzz.js';
import { descriptorChange, descriptorKinds, PeakWatch, resourcesOf, type Resources } from './hostile/probe.js';
import { ResponsivenessProbe } from './scale/responsiveness.js';
import { withCleanup, type Cleanup } from './scale/cleanup.js';
import { commandLine, positiveInteger } from './scale/options.js';
import { createFleet, MARKER, sweepLeftovers, type VmStandIn } from './scale/fleet.js';
import { startDaemon, type DaemonService } from './scale/services.js';
import { quantile } from './scale/statistics.js';

const usage = `usage: npm run bench:hostile -- [--vms N] [--crowd N] [--adds N] [--fuzz-frames N] [--json]

As root: N idle processes standing in for VMs (two taps each), registered with a vmm-stats daemon
(interval 1 s, --max-connections 25000), then, one after the other: CROWD idle connections; CROWD more
that each sent half a header; ADDS Adds pipelined on one connection (then as many Removes); FUZZ frames,
random and mutated from the seed's vectors, over 100 connections. Meanwhile a new client every 10 ms, in
a process of its own, registers an existing VM again and times the reply. Last, a daemon at the default
--max-connections (1024) with 1024 connections open: how fast the 1025th is refused, and whether the others are served.
Reports the round trips, the daemon's RSS and descriptors before, at each peak and after (once the fuzz's
registrations are removed, given up to 60 s to settle), and checks
that it survived and lost no registration. Cleans up even when interrupted.

  --vms N          VMs registered (default 1000)
  --crowd N        connections in each of the two crowds (default 10000)
  --adds N         pipelined Adds (default 100000)
  --fuzz-frames N  random and mutated frames (default 1000000)
  --json           one JSON line on stdout instead of the table`;

const log = (line: string) => process.stderr.write(`bench:hostile: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long the daemon is given, after the clients left, to come back to its baseline. */
const SETTLE_SECONDS = 60;
/** How often the prober, in a process of its own, asks the daemon. */
const PROBE_EVERY_MS = 10;

interface Options {
  vms: number;
  crowd: number;
  adds: number;
  fuzzFrames: number;
  json: boolean;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      vms: { type: 'string', default: '1000' },
      crowd: { type: 'string', default: '10000' },
      adds: { type: 'string', default: '100000' },
      'fuzz-frames': { type: 'string', default: '1000000' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  return {
    vms: positiveInteger('--vms', values.vms, 1),
    crowd: positiveInteger('--crowd', values.crowd, 1),
    adds: positiveInteger('--adds', values.adds, 1),
    fuzzFrames: positiveInteger('--fuzz-frames', values['fuzz-frames'], 1),
    json: values.json,
  };
}

/** One load: the new client's round trips while it lasted, and the daemon's peak. */
interface LoadResult {
  load: string;
  p50: number;
  p99: number;
  max: number;
  roundTrips: number;
  failures: number;
  peak: Resources;
  /** Connections open at the peak, for the memory goal. */
  connections: number;
  detail: string;
}

class Harness {
  readonly cleanup: Cleanup;
  readonly dir: string;
  fleet: VmStandIn[] = [];

  constructor(cleanup: Cleanup, dir: string) {
    this.cleanup = cleanup;
    this.dir = dir;
  }

  /** Runs `load` with the prober and the peak watch going; `detail` says what the load itself measured. */
  /**
   * Runs `load` with the prober and the peak watch going; `detail` says what the load itself measured. The
   * prober is a new client each time, or with `onOneConnection` one that connected before the load.
   */
  async measure(
    daemon: DaemonService, load: string, connections: () => number, run: () => Promise<string>, onOneConnection = false,
  ): Promise<LoadResult> {
    log(load);
    const vm = this.fleet[0]!;
    const request = { kind: 'stats.add', name: vm.labels, pid: vm.pid, taps: vm.taps } as const;
    const probe = await ResponsivenessProbe.start(daemon.socketPath, PROBE_EVERY_MS, { request, fresh: !onOneConnection });
    const watch = new PeakWatch(daemon.pid);
    const detail = await run();
    const open = connections();
    const { replies, failures } = await probe.stop();
    const millis = replies.map(([, latency]) => latency);
    await sleep(50);
    return {
      load, p50: quantile(millis, 0.5), p99: quantile(millis, 0.99), max: Math.max(...millis), roundTrips: millis.length,
      failures, peak: watch.stop(), connections: open, detail,
    };
  }

  async register(daemon: DaemonService): Promise<void> {
    const client = await StatsClient.connect(daemon.socketPath);
    const replies = await Promise.all(this.fleet.map((vm) => client.request({ kind: 'stats.add', name: vm.labels, pid: vm.pid, taps: vm.taps })));
    client.close();
    const refused = replies.filter((reply) => reply.kind !== 'success');
    if (refused.length > 0) throw new Error(`${refused.length} Adds of the fleet were refused: ${refused[0]!.msg}`);
  }

  /** Whether every VM of the fleet is still registered as it was: an Add of it again is "unchanged". */
  async lostRegistrations(daemon: DaemonService): Promise<number> {
    const client = await StatsClient.connect(daemon.socketPath);
    const replies = await Promise.all(this.fleet.map((vm) => client.request({ kind: 'stats.add', name: vm.labels, pid: vm.pid, taps: vm.taps })));
    client.close();
    return replies.filter((reply) => reply.kind !== 'success' || !reply.msg?.startsWith('unchanged')).length;
  }
}

/** ADDS Adds of new names, pipelined on one connection, then as many Removes: seconds each, and refusals. */
async function pipelined(daemon: DaemonService, fleet: VmStandIn[], adds: number): Promise<string> {
  const client = await StatsClient.connect(daemon.socketPath);
  try {
    const names = Array.from({ length: adds }, (_, i) => ['hostile', 'bulk', `vm${i}`]);
    let started = performance.now();
    const added = await Promise.all(names.map((name, i) => client.request({ kind: 'stats.add', name, pid: fleet[i % fleet.length]!.pid, taps: [] })));
    const addSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const removed = await Promise.all(names.map((name) => client.request({ kind: 'stats.remove', name })));
    const removeSeconds = (performance.now() - started) / 1000;
    const refused = [...added, ...removed].filter((reply) => reply.kind !== 'success').length;
    return `Adds answered in ${addSeconds.toFixed(2)} s, Removes in ${removeSeconds.toFixed(2)} s; refused: ${refused}`;
  } finally {
    client.close();
  }
}

/** Removes what a load registered, as its manager would once done with it. */
async function removeAll(daemon: DaemonService, names: VmName[]): Promise<void> {
  const client = await StatsClient.connect(daemon.socketPath);
  await Promise.all(names.map((name) => client.request({ kind: 'stats.remove', name })));
  client.close();
}

/**
 * The daemon's resources once the clients have left: polled each second for up to SETTLE_SECONDS, until its
 * RSS is within the goal's 5 MB of the baseline (V8 gives memory back a few GCs after it was last needed).
 */
async function settled(pid: number, baseline: Resources): Promise<Resources & { seconds: number }> {
  await sleep(3000);
  let seconds = 3;
  let now = resourcesOf(pid);
  while (seconds < SETTLE_SECONDS && now.rssMB - baseline.rssMB > 5) {
    await sleep(1000);
    seconds += 1;
    now = resourcesOf(pid);
  }
  return { ...now, seconds };
}

/** With `open` connections held, how long a further one takes to get its refusal and be closed. */
async function refusalMillis(socketPath: string): Promise<{ millis: number; refused: boolean }> {
  const started = performance.now();
  const socket = createConnection(socketPath);
  const reader = new FrameReader();
  let frames = 0;
  socket.on('data', (chunk: Buffer) => (frames += reader.push(chunk).length));
  socket.on('error', () => {});
  await once(socket, 'close');
  return { millis: performance.now() - started, refused: frames === 1 };
}

function fuzzDetail(result: FuzzResult): string {
  return `${result.sent} frames sent, ${result.answered} replies, ${result.closedByDaemon} connections closed after an unreadable header, ` +
    `${result.unanswered} requests unanswered; the ${result.registered.size} VMs its Adds registered removed after`;
}

/**
 * The crowds' size: as asked, or less where the daemon's open-files limit (its soft one raised to the host's
 * hard one) cannot hold two crowds beside what it has open already and the loads after them.
 */
function crowdThatFits(pid: number, baseline: Resources, asked: number): number {
  const limit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1]);
  const fits = Math.floor((limit - baseline.fds - 1000) / 2);
  if (fits >= asked) return asked;
  log(`the daemon may open ${limit} files (the host's hard limit, which only CAP_SYS_RESOURCE raises): two crowds of ${fits}, not ${asked}`);
  return fits;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main(): Promise<number> {
  const options = commandLine('bench:hostile', parseOptions, usage);
  if (typeof options === 'number') return options;
  if (process.getuid?.() !== 0) {
    log('runs as root: it creates taps, and runs clients by the thousand against a daemon that must sample them');
    return 2;
  }
  return withCleanup('bench:hostile', log, (cleanup) => run(options, cleanup));
}

async function run(options: Options, cleanup: Cleanup): Promise<void> {
  for (const done of await sweepLeftovers()) log(`left by an earlier run: ${done}`);
  const dir = mkdtempSync(join(tmpdir(), `${MARKER}-hostile-`));
  cleanup.defer('removing the temporary directory', () => rmSync(dir, { recursive: true, force: true }));
  const harness = new Harness(cleanup, dir);
  log(`creating ${options.vms} VM stand-ins`);
  harness.fleet = await createFleet(options.vms, 1, harness.cleanup);
  const daemon = await startDaemon(harness.dir, { profile: false, options: [] }, harness.cleanup,
    ['--max-connections', '25000', '--max-vms', String(options.vms + options.adds + 100_000)]);
  // The scraper's keep-alive connection (the readiness check) would count in the baseline, then time out.
  daemon.scraper.close();
  await harness.register(daemon);
  await sleep(3000);
  const baseline = resourcesOf(daemon.pid);
  const baselineKinds = descriptorKinds(daemon.pid);
  const crowd = crowdThatFits(daemon.pid, baseline, options.crowd);
  const loads: LoadResult[] = [];
  const idle = new Crowd();
  const halfOpen = new Crowd();
  loads.push(await harness.measure(daemon, `${crowd} idle connections`, () => idle.opened, async () => {
    await idle.open(daemon.socketPath, crowd, false);
    await sleep(5000);
    return `${idle.opened} open, ${idle.refused} refused`;
  }));
  loads.push(await harness.measure(daemon, `${crowd} half-open connections (a partial header each), the idle ones still open`,
    () => idle.opened + halfOpen.opened, async () => {
      await halfOpen.open(daemon.socketPath, crowd, true);
      await sleep(5000);
      return `${halfOpen.opened} open, ${halfOpen.refused} refused`;
    }));
  await Promise.all([idle.close(), halfOpen.close()]);
  loads.push(await harness.measure(daemon, `${options.adds} Adds pipelined on one connection, then as many Removes`, () => 1,
    () => pipelined(daemon, harness.fleet, options.adds)));
  loads.push(await harness.measure(daemon, `${options.fuzzFrames} random and mutated frames over 100 connections`, () => 100,
    async () => {
      const result = await fuzz(daemon.socketPath, options.fuzzFrames, 100);
      await removeAll(daemon, [...result.registered.values()]);
      return fuzzDetail(result);
    }));
  const after = await settled(daemon.pid, baseline);
  const leftOver = descriptorChange(baselineKinds, descriptorKinds(daemon.pid));
  const lost = await harness.lostRegistrations(daemon);
  const alive = isAlive(daemon.pid);
  await daemon.stop();

  log('a daemon at the default --max-connections (1024), with 1024 connections open');
  const limited = await startDaemon(harness.dir, { profile: false, options: [] }, harness.cleanup);
  await harness.register(limited);
  const atLimit = new Crowd();
  const served = await StatsClient.connect(limited.socketPath);
  // A new client would be refused here, as it should: the round trips are those of a client already connected
  // (the prober's, the 1024th connection with `served` and the crowd).
  loads.push(await harness.measure(limited, 'at the default limit: the 1025th connection, the 1024 open ones served', () => 1024, async () => {
    await atLimit.open(limited.socketPath, 1022, false);
    const refusals = [];
    for (let i = 0; i < 20; i++) refusals.push(await refusalMillis(limited.socketPath));
    const reply = await served.request({ kind: 'stats.subscribe', name: ['nothing-here'] });
    const all = refusals.every((r) => r.refused);
    const millis = refusals.map((r) => r.millis);
    return `1025th connection refused with one failure frame: ${all ? 'yes' : 'no'}, in ${fixed(quantile(millis, 0.5), 2)} ms (p50), ` +
      `${fixed(Math.max(...millis), 2)} ms (max); an open connection's request: ${reply.kind}; crowd: ${atLimit.opened} open, ${atLimit.refused} refused`;
  }, true));
  served.close();
  await atLimit.close();
  await limited.stop();

  const report = { vms: options.vms, baseline, after, leftOver, lostRegistrations: lost, crashed: !alive, loads };
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatReport(report));
}

interface Report {
  vms: number;
  baseline: Resources;
  /** And how many seconds after the last client left. */
  after: Resources & { seconds: number };
  /** How the daemon's descriptors after the loads differ from before, by kind. */
  leftOver: string[];
  lostRegistrations: number;
  crashed: boolean;
  loads: LoadResult[];
}

function formatReport(report: Report): string {
  const lines = [
    `vmm-stats hostile-client bench: ${report.vms} VMs registered, interval 1 s; a new client's Add every 10 ms throughout`,
    '',
    'load                                                     Add round trip ms p50 / p99 / max   failed   peak RSS MB   peak fds',
  ];
  for (const load of report.loads) {
    lines.push(`${load.load.padEnd(56)} ${`${fixed(load.p50)} / ${fixed(load.p99)} / ${fixed(load.max)}`.padStart(22)}   ${String(load.failures).padStart(6)}   ${fixed(load.peak.rssMB).padStart(11)}   ${String(load.peak.fds).padStart(8)}`);
    lines.push(`    ${load.detail}`);
  }
  lines.push('', `daemon before: RSS ${fixed(report.baseline.rssMB)} MB, ${report.baseline.fds} fds; ${report.after.seconds} s after the clients left: RSS ${fixed(report.after.rssMB)} MB, ${report.after.fds} fds`);
  lines.push('', 'goals:');
  const goal = (met: boolean, text: string) => lines.push(`  [${met ? 'met' : 'not met'}] ${text}`);
  for (const load of report.loads) goal(load.p99 <= 50, `new client's p99 <= 50 ms under "${load.load}": ${fixed(load.p99)} ms`);
  for (const load of report.loads) {
    const bound = 100 + (2 * load.connections) / 1024;
    goal(load.peak.rssMB <= bound, `peak RSS <= 100 MB + 2 KB per open connection (${fixed(bound)} MB) under "${load.load}": ${fixed(load.peak.rssMB)} MB`);
  }
  const change = report.leftOver.length === 0 ? '' : ` (${report.leftOver.join(', ')})`;
  goal(report.after.fds === report.baseline.fds, `fds back to the baseline exactly: ${report.baseline.fds} -> ${report.after.fds}${change}`);
  goal(Math.abs(report.after.rssMB - report.baseline.rssMB) <= 5, `RSS within 5 MB of the baseline after: ${fixed(report.after.rssMB - report.baseline.rssMB)} MB`);
  goal(!report.crashed, 'no crash');
  goal(report.lostRegistrations === 0, `no registration lost: ${report.lostRegistrations}`);
  return `${lines.join('\n')}\n`;
}

process.exitCode = await main();
