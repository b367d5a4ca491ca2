// vmm-stats against the exporter KVM users run today, prometheus-libvirt-exporter, on the same real guests.
//   npm run bench:vms -- [--guests N] [--seconds S] [--json]      (as root; --help for more)
// The bench re-runs itself inside a network namespace and a mount namespace of its own: libvirtd, the
// exporter, the daemon, QEMU and the taps reach nothing but each other, and libvirt's state directories
// are the run's. Progress goes to stderr; the tables (or with --json one JSON line) to stdout.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { guestImage, guestUnavailableReason, type GuestImage } from '../test/helpers/guest.js';
import { NetworkNamespace } from '../test/helpers/netns.js';
import { withCleanup, type Cleanup } from './scale/cleanup.js';
import { commandLine } from './scale/options.js';
import { runPhase, type PhaseResult, type Targets } from './scale/measure.js';
import { freeLoopbackPort, startDaemon, startService } from './scale/services.js';
import { Subscriber } from './scale/subscriber.js';
import { readAgreement, type BenchGuest } from './vms/agreement.js';
import { createDomain, startLibvirt, type DomainSpec, type Libvirt } from './vms/libvirt.js';
import { parseOptions, usage, type Options } from './vms/options.js';
import { EXPORTER, formatSummary, LIBVIRTD, summarise, type Side } from './vms/report.js';

/** Set in the re-run: the name of the network namespace it runs in. */
const INSIDE = 'VMM_STATS_BENCH_VMS_NETNS';
const TOOLS: [string, string][] = [
  ['libvirtd', 'libvirt-daemon-system'], ['virsh', 'libvirt-clients'], ['prometheus-libvirt-exporter', 'prometheus-libvirt-exporter'],
  ['unshare', 'util-linux'],
];
const BOOT_DEADLINE_MS = 300_000;
const WARMUP_SECONDS = 15;

const log = (line: string) => process.stderr.write(`bench:vms: ${line}\n`);
const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/** Why the bench cannot run here, or undefined. */
function cannotRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (taps, libvirtd, namespaces)';
  const guest = guestUnavailableReason();
  if (guest !== undefined) return guest;
  const missing = TOOLS.filter(([tool]) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) return `missing ${missing.map(([tool]) => tool).join(', ')}: apt-get install ${missing.map(([, pkg]) => pkg).join(' ')}`;
  return undefined;
}

/** The whole bench in a fresh network and mount namespace; whatever it leaves running there is killed. */
async function outside(argv: string[]): Promise<number> {
  // Built (or found) here: the namespace has no way out to Debian's archive for the kernel package.
  await guestImage();
  const name = `vmm-stats-bench-${process.pid}`;
  const hadRunDir = existsSync('/run/libvirt');
  const netns = NetworkNamespace.create(name);
  try {
    const script = fileURLToPath(import.meta.url);
    const [command, args] = netns.command('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, '--import', 'tsx', script, ...argv]);
    // In a process group of its own, so that a terminal's ^C reaches it once, forwarded from here (a second
    // one stops its cleanup, and what it left in the namespace is killed below).
    const child = spawn(command, args, { stdio: 'inherit', detached: true, env: { ...process.env, [INSIDE]: name } });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const [code] = await once(child, 'exit');
    return typeof code === 'number' ? code : 1;
  } finally {
    const leftovers = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const pid of leftovers) process.kill(Number(pid), 'SIGKILL');
    if (leftovers.length > 0) log(`killed what the run left in its namespace: pids ${leftovers.join(', ')}`);
    netns.destroy();
    // The mount point made for libvirtd's runtime state, if there was none before.
    if (!hadRunDir) rmdirSync('/run/libvirt');
  }
}

async function waitForIdle(consoles: string[]): Promise<void> {
  const deadline = Date.now() + BOOT_DEADLINE_MS;
  const idle = (path: string) => existsSync(path) && readFileSync(path, 'utf8').includes('vmm-stats-guest: idle');
  while (!consoles.every(idle)) {
    if (Date.now() > deadline) throw new Error(`guests not idle after ${BOOT_DEADLINE_MS / 1000} s: ${consoles.filter((c) => !idle(c)).join(', ')}`);
    await sleep(0.5);
  }
}

/** N guests, each on its tap and /24, each with traffic of its own: pings, and ARP requests nobody answers. */
function createGuests(options: Options, image: GuestImage, netns: NetworkNamespace, libvirt: Libvirt, dir: string, cleanup: Cleanup): BenchGuest[] {
  return Array.from({ length: options.guests }, (_, i) => {
    const spec: DomainSpec = {
      name: `vmmbench-${i}`, tap: `vmbench${i}`, guestAddress: `10.78.${i}.2/24`, hostAddress: `10.78.${i}.1`,
      workload: { pings: 20 + 7 * i, silentNeighbour: `10.78.${i}.9` }, console: join(dir, `console-${i}.log`), accelerator: options.accelerator,
    };
    netns.addTap(spec.tap, `${spec.hostAddress}/24`);
    cleanup.defer(`deleting ${spec.tap}`, () => void netns.run('ip', ['link', 'delete', spec.tap]));
    const pid = createDomain(libvirt, image, spec, dir, cleanup);
    return { domain: spec.name, vm: `bench.${spec.name}`, tap: spec.tap, pid };
  });
}

function side(text: string): Side {
  return { series: text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length, textBytes: Buffer.byteLength(text) };
}

async function run(options: Options, netnsName: string, cleanup: Cleanup): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-bench-vms-'));
  cleanup.defer('removing the temporary directory', () => rmSync(dir, { recursive: true, force: true }));
  const image = await guestImage();
  const libvirt = await startLibvirt(dir, cleanup);
  log(`libvirtd up (pid ${libvirt.pid}); creating ${options.guests} domains (${options.accelerator})`);
  const guests = createGuests(options, image, NetworkNamespace.named(netnsName), libvirt, dir, cleanup);
  await waitForIdle(guests.map((_, i) => join(dir, `console-${i}.log`)));
  log('every guest has booted, sent its traffic and idles');

  const daemon = await startDaemon(dir, { profile: false, options: [] }, cleanup);
  const registrar = await Subscriber.connect(daemon.socketPath);
  await registrar.register(guests.map((g) => ({ labels: g.vm.split('.'), pid: g.pid, taps: [g.tap] })));
  await registrar.close();
  const port = await freeLoopbackPort();
  const exporter = await startService({ name: EXPORTER, command: 'prometheus-libvirt-exporter',
    args: [`--web.listen-address=127.0.0.1:${port}`], port, dir }, cleanup);
  // The daemon tries the hypervisor counters on its first ticks, and both sides' code warms up.
  log(`daemon and exporter up; warming up ${WARMUP_SECONDS} s, both scraped`);
  const warmupEnd = Date.now() + WARMUP_SECONDS * 1000;
  while (Date.now() < warmupEnd) await Promise.all([daemon.scraper.scrape(), exporter.scraper.scrape(), sleep(1)]);

  const targets: Targets = { daemon, peers: [exporter, { name: LIBVIRTD, pid: libvirt.pid }], origin: performance.now(), dataFrames: () => 0 };
  const phaseSeconds = Math.floor(options.seconds / (2 * options.rounds));
  const ours: PhaseResult[] = [];
  const theirs: PhaseResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}/${options.rounds}: ${phaseSeconds} s of our /metrics, then ${phaseSeconds} s of the exporter's`);
    ours.push(await runPhase({ name: 'ours', seconds: phaseSeconds, scrape: [daemon] }, targets));
    theirs.push(await runPhase({ name: 'theirs', seconds: phaseSeconds, scrape: [exporter] }, targets));
  }
  const agreement = await readAgreement(guests, daemon.scraper, exporter.scraper);
  const sides = { ours: side(await daemon.scraper.text()), theirs: side(await exporter.scraper.text()) };
  const summary = summarise({
    guests: options.guests, accelerator: options.accelerator, rounds: options.rounds, phaseSeconds, sides,
    command: `npm run bench:vms -- ${process.argv.slice(2).join(' ')}`.trim(),
  }, ours, theirs, agreement);
  process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
}

async function main(): Promise<number> {
  const options = commandLine('bench:vms', parseOptions, usage);
  if (typeof options === 'number') return options;
  const reason = cannotRun();
  if (reason !== undefined) {
    process.stderr.write(`bench:vms: ${reason}\n`);
    return 1;
  }
  const netnsName = process.env[INSIDE];
  if (netnsName === undefined) return outside(process.argv.slice(2));
  return withCleanup('bench:vms', log, (cleanup) => run(options, netnsName, cleanup));
}

process.exitCode = await main();
