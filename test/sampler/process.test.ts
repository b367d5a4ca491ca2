import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { processStartTimes, sampleProcess, sampleProcesses, SamplerError, type ProcessSample } from '../../src/sampler/sampler.js';
import { pythonUnavailableReason, UsageChild, withProcessSource } from './usage-child.js';

const isRoot = process.getuid?.() === 0;
const noPython = pythonUnavailableReason();
if (noPython !== undefined) console.warn(`skipping the tests that drive a child process: ${noPython}`);
if (!isRoot) console.warn('skipping the taskstats tests: not root (taskstats needs CAP_NET_ADMIN)');

let scratch: string;
const children: UsageChild[] = [];

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'vmm-stats-sampler-'));
});

afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.kill()));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

async function usageChild(): Promise<UsageChild> {
  const child = await UsageChild.start();
  children.push(child);
  return child;
}

function seconds(time: { sec: bigint; usec: number }): number {
  return Number(time.sec) + time.usec / 1e6;
}

function expectSamplerError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SamplerError);
    expect((err as SamplerError).code).toBe(code);
    return;
  }
  expect.fail(`expected a SamplerError ${code}`);
}

/** A pid no process can have: one above the kernel's pid_max. */
function impossiblePid(): number {
  return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
}

async function exitedPid(): Promise<number> {
  const child = spawn('true');
  await once(child, 'exit');
  return child.pid!;
}

function sampled(pid: number): ProcessSample {
  const [result] = sampleProcesses([pid]);
  if (!result!.ok) throw result!.error;
  return result!.value;
}

// Every path of the Linux reader: taskstats (insisted on, so the test knows it was used) and /proc alone.
const sources = [
  { source: 'taskstats' as const, unavailable: isRoot ? undefined : 'not root' },
  { source: 'procfs' as const, unavailable: undefined },
];

describe.each(sources)('process usage from $source', ({ source, unavailable }) => {
  const skip = unavailable !== undefined || noPython !== undefined;

  it.skipIf(skip)('grows as the process burns CPU, touches memory and faults', async () => {
    const child = await usageChild();
    const before = withProcessSource(source, () => sampled(child.pid));
    await child.burn(300);
    await child.touch(64);
    const after = withProcessSource(source, () => sampled(child.pid));

    expect(seconds(after.rusage.utime) - seconds(before.rusage.utime)).toBeGreaterThanOrEqual(0.2);
    expect(after.rusage.maxrss - before.rusage.maxrss).toBeGreaterThanOrEqual(60n * 1024n);
    // 16 Ki pages of 4 KiB; far fewer faults if transparent huge pages back the allocation.
    expect(after.rusage.minflt - before.rusage.minflt).toBeGreaterThanOrEqual(16n);
    expect(after.startTime).toBe(before.startTime);
  });

  it.skipIf(skip)('counts written bytes as 512-byte blocks out', async () => {
    const child = await usageChild();
    const before = withProcessSource(source, () => sampled(child.pid));
    await child.write(1024, scratch);
    const after = withProcessSource(source, () => sampled(child.pid));
    // 1 MiB of file pages is 2048 blocks; creating the file may dirty a directory or inode block or two.
    const written = after.rusage.outblock - before.rusage.outblock;
    expect(written).toBeGreaterThanOrEqual(2048n);
    expect(written).toBeLessThan(2048n + 256n);
  });

  it.skipIf(skip)('fills what Linux has no count of with 0', async () => {
    const child = await usageChild();
    const { rusage } = withProcessSource(source, () => sampled(child.pid));
    for (const field of ['ixrss', 'idrss', 'isrss', 'nswap', 'msgsnd', 'msgrcv', 'nsignals'] as const) {
      expect(rusage[field], field).toBe(0n);
    }
    expect(rusage.nvcsw + rusage.nivcsw).toBeGreaterThan(0n);
  });

  it.skipIf(unavailable !== undefined)('answers a pid with no process ESRCH, alone and in a batch', async () => {
    const gone = await exitedPid();
    withProcessSource(source, () => {
      expectSamplerError(() => sampleProcess(impossiblePid()), 'ESRCH');
      expectSamplerError(() => sampleProcess(gone), 'ESRCH');
      const results = sampleProcesses([process.pid, impossiblePid(), process.pid]);
      expect(results.map((result) => result.ok)).toEqual([true, false, true]);
      const failure = results[1]!;
      expect(!failure.ok && failure.error.code).toBe('ESRCH');
      expect(!failure.ok && failure.error.message).toContain(String(impossiblePid()));
    });
  });
});

describe('process identity', () => {
  it('gives one start time per process, fixed for its life', async () => {
    const first = spawn('sleep', ['60']);
    const second = spawn('sleep', ['60']);
    await Promise.all([once(first, 'spawn'), once(second, 'spawn')]);
    // Start times count clock ticks (10 ms): make the second start a tick or more later.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const third = spawn('sleep', ['60']);
    await once(third, 'spawn');
    try {
      const [a, b] = sampleProcesses([first.pid!, third.pid!]).map((result) => (result.ok ? result.value : undefined));
      expect(a?.startTime).toBeGreaterThan(0n);
      expect(b?.startTime).toBeGreaterThan(a!.startTime);
      expect(sampleProcess(first.pid!).startTime).toBe(a!.startTime);
      expect(sampled(first.pid!).startTime).toBe(a!.startTime);
    } finally {
      for (const child of [first, second, third]) child.kill();
    }
  });

  it('reports ESRCH once a process sampled before has exited', async () => {
    const child = spawn('sleep', ['60']);
    await once(child, 'spawn');
    const pid = child.pid!;
    expect(sampleProcesses([pid])[0]!.ok).toBe(true); // the reader now keeps this pid's files open
    child.kill('SIGKILL');
    await once(child, 'exit');
    const [after] = sampleProcesses([pid]);
    expect(!after!.ok && after!.error.code).toBe('ESRCH');
  });

  // The kernel hands out the pid after /proc/sys/kernel/ns_last_pid next; writing it takes root. Another
  // process on the machine may take that pid first, hence the attempts.
  it.skipIf(!isRoot)('tells a reused pid by its start time, and reads the new process', async (context) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const old = spawn('sleep', ['60']);
      await once(old, 'spawn');
      const pid = old.pid!;
      await new Promise((resolve) => setTimeout(resolve, 30)); // a clock tick or more before the successor
      const before = sampled(pid);
      old.kill('SIGKILL');
      await once(old, 'exit');
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
      const successor = spawn('sleep', ['60']);
      await once(successor, 'spawn');
      try {
        if (successor.pid !== pid) continue;
        const after = sampled(pid); // through the files kept open for the old process
        expect(after.startTime).not.toBe(before.startTime);
        expect(after.startTime).toBe(withProcessSource('procfs', () => sampleProcess(pid)).startTime);
        return;
      } finally {
        successor.kill('SIGKILL');
      }
    }
    console.warn('skipped: other processes took the freed pid in every attempt');
    context.skip();
  });
});

// The same stopped process read both ways. Fields both paths take from the same /proc file must be equal;
// the ones taskstats gives must be equal too, except where the kernel itself computes them differently.
describe.skipIf(!isRoot || noPython !== undefined)('taskstats agrees with /proc', () => {
  // taskstats' RSS high-water mark reads the kernel's per-CPU RSS counters as they stand (as getrusage
  // does); /proc sums them. Each of the three counters (anon, file, shmem) may be off by up to
  // batch × CPUs pages, batch = max(32, 2 × CPUs).
  const cpuCount = cpus().length;
  const rssToleranceKiB = BigInt(3 * cpuCount * Math.max(32, 2 * cpuCount) * 4);

  it.each([
    { threads: 0, why: 'one thread: its I/O from taskstats' },
    { threads: 3, why: 'threads: I/O from /proc/<pid>/io, switches summed over threads' },
  ])('on a process with $threads extra threads ($why)', async ({ threads }) => {
    const child = await usageChild();
    await child.threads(threads);
    await child.burn(100);
    await child.touch(16);
    await child.write(256, scratch);
    await child.freeze();

    const fromTaskstats = withProcessSource('taskstats', () => sampleProcess(child.pid));
    const fromProcfs = withProcessSource('procfs', () => sampleProcess(child.pid));
    const a = fromTaskstats.rusage;
    const b = fromProcfs.rusage;

    expect(fromTaskstats.startTime).toBe(fromProcfs.startTime);
    expect(a.utime).toEqual(b.utime);
    expect(a.stime).toEqual(b.stime);
    expect(a.minflt).toBe(b.minflt);
    expect(a.majflt).toBe(b.majflt);
    expect(a.nvcsw).toBe(b.nvcsw);
    expect(a.nivcsw).toBe(b.nivcsw);
    expect(a.outblock).toBeGreaterThanOrEqual(512n);
    // taskstats rounds a thread's bytes down to whole KiB: at most one 512-byte block less.
    expect(b.outblock - a.outblock).toBeGreaterThanOrEqual(0n);
    expect(b.outblock - a.outblock).toBeLessThanOrEqual(1n);
    expect(b.inblock - a.inblock).toBeGreaterThanOrEqual(0n);
    expect(b.inblock - a.inblock).toBeLessThanOrEqual(1n);
    const rss = a.maxrss > b.maxrss ? a.maxrss - b.maxrss : b.maxrss - a.maxrss;
    expect(rss).toBeLessThanOrEqual(rssToleranceKiB);
    expect(a.maxrss).toBeGreaterThan(16n * 1024n);
  });
});

describe('processStartTimes', () => {
  it('gives each pid the start time a whole sample gives, and ESRCH for a process that is gone', async () => {
    const child = spawn('sleep', ['60']);
    await once(child, 'spawn');
    const gone = spawn('true');
    await once(gone, 'exit');
    try {
      const [self, sleeper, missing] = processStartTimes([process.pid, child.pid!, gone.pid!]);
      expect(self).toBe(sampleProcess(process.pid).startTime);
      expect(sleeper).toBe(sampleProcess(child.pid!).startTime);
      expect(sleeper).not.toBe(self);
      expect(missing).toBeInstanceOf(SamplerError);
      expect((missing as SamplerError).code).toBe('ESRCH');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
