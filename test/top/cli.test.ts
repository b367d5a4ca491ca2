// `vmm-stats top` on the command line, where no daemon is needed: help, usage errors, no daemon running.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = new URL('../../bin/vmm-stats', import.meta.url).pathname;

async function runTop(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const top = spawn(process.execPath, [cli, 'top', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  top.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  top.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(top, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('vmm-stats top on the command line', () => {
  it('exits 1 with a clear message, and nothing on stdout, when no daemon is running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-top-cli-'));
    try {
      const { code, stdout, stderr } = await runTop(['--socket', join(dir, 'nobody.sock')]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^vmm-stats top: no stats daemon answers at .*nobody\.sock \(is 'vmm-stats daemon' running\?\)\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains itself with --help: the columns, the keys, the options', async () => {
    const { code, stdout } = await runTop(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: vmm-stats top \[NAME\]/);
    expect(stdout).toMatch(/MAXRSS MiB +the VM process's peak resident set/);
    expect(stdout).toMatch(/IN is traffic from the VM/);
    expect(stdout).toMatch(/^ {2}q or Ctrl-C +quit$/m);
    expect(stdout).toMatch(/--socket PATH/);
    for (const flag of ['--fields LIST', '-d, --delay SECONDS', '-n, --iterations N', '--end-time TIME', '-b, --batch', '--csv FILE']) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/^ {2}exits +EXITS\/s +the hypervisor's VM exits per second/m);
    expect(stdout).toMatch(/^ {2}x +show the selected VM's hypervisor counters/m);
    expect(stdout).toMatch(/^ {2}f +choose the columns/m);
    expect(stdout).toMatch(/^ {2}n c m p P i o t e +sort by name, cpu, memory, /m);
    for (const line of stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    expect(stdout).toMatch(/SIGHUP makes top open FILE again/);
  });

  it('refuses bad values of the new flags with exit 2, saying what each takes', async () => {
    const cases: [string[], RegExp][] = [
      [['--delay', '0'], /--delay takes a number of seconds from 0\.1 to 86400, not '0'/],
      [['-d', 'soon'], /--delay takes a number of seconds from 0\.1 to 86400, not 'soon'/],
      [['-n', '0'], /--iterations takes a whole number from 1 to 1000000000, not "0"/],
      [['--iterations', '2.5'], /--iterations takes a whole number/],
      [['--end-time', 'tomorrow'], /--end-time: 'tomorrow': give an ISO 8601 timestamp/],
      [['--end-time', '2001-01-01T00:00:00Z'], /--end-time: '2001-01-01T00:00:00Z' is 2001-01-01T00:00:00\.000Z, which has passed/],
      [['--end-time', '2030-13-01T00:00:00Z'], /no such date or time/],
      [['--fields', 'cpu,colour'], /--fields: unknown field 'colour' \(valid fields: cpu, memory, packets-in, packets-out, in, out, taps, exits;/],
      [['--fields', 'cpu', '--sort', 'exits'], /--sort exits: that column is not among --fields/],
      [['--batch=yes'], /--batch/],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await runTop(args);
      expect(code, args.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr, args.join(' ')).toMatch(message);
    }
  });

  it('refuses a --csv file it cannot open, or one with other columns, before connecting, and leaves it alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-top-cli-'));
    try {
      const socket = join(dir, 'nobody.sock');
      const missingDir = await runTop(['--csv', join(dir, 'no', 'such.csv'), '--socket', socket]);
      expect(missingDir.code).toBe(1);
      expect(missingDir.stderr).toMatch(/^vmm-stats top: cannot open .*no\/such\.csv: ENOENT/);
      const other = join(dir, 'other.csv');
      writeFileSync(other, 'time,vm,cpu_percent\n2026-01-01T00:00:00.000Z,a,1\n');
      const mixed = await runTop(['--csv', other, '--fields', 'cpu,exits', '--socket', socket]);
      expect(mixed.code).toBe(1);
      expect(mixed.stderr).toMatch(/other\.csv holds other columns \(time,vm,cpu_percent\): give another file, or move that one away/);
      expect(readFileSync(other, 'utf8')).toBe('time,vm,cpu_percent\n2026-01-01T00:00:00.000Z,a,1\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown sort column and extra names with exit 2', async () => {
    const badSort = await runTop(['--sort', 'colour']);
    expect(badSort.code).toBe(2);
    expect(badSort.stderr).toMatch(/--sort takes one of name, cpu, memory, packets-in, packets-out, in, out, taps, exits, not 'colour'/);
    const twoNames = await runTop(['a', 'b']);
    expect(twoNames.code).toBe(2);
    expect(twoNames.stderr).toMatch(/give at most one VM name/);
  });
});
