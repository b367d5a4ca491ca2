// The VMs of the benchmark: idle processes standing in for VMMs, two taps each, and the sweep that
// removes what a killed run left behind. Everything the harness creates carries MARKER in its name or
// command line, so that a later run can find it.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import { processesMarked } from './procfs.js';

export const MARKER = 'vmscale';
/** The stand-ins' argv[0]: what process-exporter's matcher selects them by. */
export const STAND_IN_ARGV0 = `${MARKER}-vm`;
/** A link group of our own: deleting a group is one batch in the kernel, deleting 2000 links one by one
 * waits for an RCU grace period each (about 20 ms apiece here). */
const TAP_GROUP = 30317;

export interface VmStandIn {
  labels: string[];
  pid: number;
  taps: string[];
}

function tapNames(index: number): string[] {
  return [`${MARKER}${index}a`, `${MARKER}${index}b`];
}

/** Runs `ip -batch -` on the given commands; `force` carries on past a failing line. */
function ipBatch(commands: string[], force = false): void {
  if (commands.length === 0) return;
  const args = force ? ['-force', '-batch', '-'] : ['-batch', '-'];
  const result = spawnSync('ip', args, { input: `${commands.join('\n')}\n`, encoding: 'utf8' });
  if (result.status !== 0 && !force) throw new Error(`ip -batch failed: ${result.stderr.trim()}`);
}

function linkNames(...filter: string[]): string[] {
  // 20,000 links list in some 4 MB.
  const listing = execFileSync('ip', ['-o', 'link', 'show', ...filter], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  return listing.split('\n').flatMap((line) => {
    const name = /^\d+: ([^:@]+)[:@]/.exec(line)?.[1];
    return name === undefined ? [] : [name];
  });
}

/** Every link of the host's network namespace: what a link dump walks, ours and anyone else's. */
export function countLinks(): number {
  return linkNames().length;
}

function deleteTaps(): void {
  const inGroup = linkNames('group', String(TAP_GROUP));
  // Only ever delete the group wholesale when nothing but our taps is in it.
  if (inGroup.length > 0 && inGroup.every((name) => name.startsWith(MARKER))) {
    execFileSync('ip', ['link', 'del', 'group', String(TAP_GROUP)]);
  }
  ipBatch(linkNames().filter((name) => name.startsWith(MARKER)).map((name) => `link del ${name}`), true);
}

function createTaps(names: string[]): void {
  ipBatch(names.flatMap((name) => [`tuntap add dev ${name} mode tap`, `link set dev ${name} group ${TAP_GROUP} up`]));
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** This process and its ancestors: a shell that ran us may well mention the marker. */
function ownLineage(): Set<number> {
  const lineage = new Set<number>();
  for (let pid = process.pid; pid > 1; pid = parentOf(pid)) lineage.add(pid);
  return lineage;
}

async function killAndWait(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some((pid) => existsSync(`/proc/${pid}`) && !isZombie(pid)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

/** Removes the processes, taps and directories an earlier run left when it was killed. Returns what it did. */
export async function sweepLeftovers(): Promise<string[]> {
  const done: string[] = [];
  const lineage = ownLineage();
  const strays = [...processesMarked(MARKER).keys()].filter((pid) => !lineage.has(pid));
  if (strays.length > 0) {
    await killAndWait(strays);
    done.push(`killed ${strays.length} processes`);
  }
  const taps = linkNames().filter((name) => name.startsWith(MARKER)).length;
  if (taps > 0) {
    deleteTaps();
    done.push(`deleted ${taps} taps`);
  }
  const dirs = readdirSync(tmpdir()).filter((entry) => entry.startsWith(`${MARKER}-`));
  for (const dir of dirs) rmSync(join(tmpdir(), dir), { recursive: true, force: true });
  if (dirs.length > 0) done.push(`removed ${dirs.length} temporary directories`);
  return done;
}

function startStandIn(): ChildProcess {
  // sleep(1) is as idle and as small as a process gets; argv0 makes it findable.
  return spawn('sleep', ['infinity'], { argv0: STAND_IN_ARGV0, stdio: 'ignore' });
}

/** The VM name prefix of tenant `t`. */
export function tenantPrefix(t: number): string[] {
  return ['scale', `tenant${t}`];
}

/**
 * Creates `count` stand-ins with two taps each, in `tenants` tenants of consecutive VMs (so that a
 * tenant's Data frames lie together in the daemon's memory, as they do for VMs registered together); the
 * cleanup kills them and deletes the taps.
 */
export async function createFleet(count: number, tenants: number, cleanup: Cleanup): Promise<VmStandIn[]> {
  const taps = Array.from({ length: count }, (_, i) => tapNames(i));
  cleanup.defer('deleting the taps', deleteTaps);
  createTaps(taps.flat());
  const children: ChildProcess[] = [];
  cleanup.defer('killing the VM stand-ins', () => killAndWait(children.map((child) => child.pid!)));
  // All forked first, then awaited: awaiting each in turn is three times slower.
  for (let i = 0; i < count; i++) children.push(startStandIn());
  await Promise.all(children.map((child) => once(child, 'spawn')));
  const tenantOf = (i: number) => Math.floor((i * Math.min(tenants, count)) / count);
  return children.map((child, i) => ({ labels: [...tenantPrefix(tenantOf(i)), `vm${i}`], pid: child.pid!, taps: taps[i]! }));
}
