// `vmm-stats top` on the command line, where no daemon is needed: help, usage errors, no daemon running.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
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
    expect(stdout).toMatch(/q or Ctrl-C quit/);
    expect(stdout).toMatch(/--socket PATH/);
  });

  it('refuses an unknown sort column and extra names with exit 2', async () => {
    const badSort = await runTop(['--sort', 'colour']);
    expect(badSort.code).toBe(2);
    expect(badSort.stderr).toMatch(/--sort takes one of cpu, memory, name, in, out, not 'colour'/);
    const twoNames = await runTop(['a', 'b']);
    expect(twoNames.code).toBe(2);
    expect(twoNames.stderr).toMatch(/give at most one VM name/);
  });
});
