import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/kvm-debugfs', import.meta.url));

function vmmStats(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: repoRoot, encoding: 'utf8' });
}

describe('vmm-stats sample', () => {
  it('prints one JSON object: u64 values as decimal strings', () => {
    const run = vmmStats('sample', '--pid', String(process.pid), '--tap', 'lo', '--json');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const sample = JSON.parse(run.stdout);
    expect(sample.pid).toBe(process.pid);
    expect(sample.startTime).toMatch(/^[1-9][0-9]*$/);
    expect(sample.rusage.utime.sec).toMatch(/^[0-9]+$/);
    expect(typeof sample.rusage.utime.usec).toBe('number');
    expect(Number(sample.rusage.maxrss)).toBeGreaterThan(0);
    expect(sample.ifdata).toHaveLength(1);
    expect(sample.ifdata[0].name).toBe('lo');
    expect(typeof sample.ifdata[0].mtu).toBe('number');
    expect(sample.ifdata[0].input_packets).toMatch(/^[0-9]+$/);
    expect(sample.vmm).toBeUndefined();
  });

  it('reads hypervisor counters where told to', () => {
    const root = mkdtempSync(join(tmpdir(), 'vmm-stats-cli-'));
    try {
      // The fixture's VM 5151-20 as if this process ran it.
      cpSync(join(fixture, '5151-20'), join(root, `${process.pid}-20`), { recursive: true });
      const run = vmmStats('sample', '--pid', String(process.pid), '--debugfs', root, '--json');
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout).vmm).toEqual([
        ['exits', '7'],
        ['io_exits', '3'],
      ]);
      const none = vmmStats('sample', '--pid', String(process.pid), '--debugfs', fixture);
      expect(none.status).toBe(1);
      expect(none.stderr).toContain('ENOENT');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('prints a table for a person by default', () => {
    const run = vmmStats('sample', '--pid', String(process.pid), '--tap', 'lo');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`process ${process.pid} (start time `);
    for (const field of ['utime', 'stime', 'maxrss', 'minflt', 'nvcsw', 'nivcsw']) expect(run.stdout).toMatch(new RegExp(`^  ${field} `, 'm'));
    expect(run.stdout).toContain('interface lo');
  });

  it('fails with exit status 1 and a message on stderr', () => {
    const noProcess = vmmStats('sample', '--pid', '2147483647');
    expect(noProcess.status).toBe(1);
    expect(noProcess.stderr).toContain('ESRCH');
    expect(noProcess.stdout).toBe('');
    const noInterface = vmmStats('sample', '--pid', String(process.pid), '--tap', 'vstnosuchif0');
    expect(noInterface.status).toBe(1);
    expect(noInterface.stderr).toContain('vstnosuchif0');
    expect(noInterface.stderr).toContain('ENODEV');
  });

  it('refuses an empty --vmm-device, which names no VM', () => {
    const run = vmmStats('sample', '--pid', String(process.pid), '--vmm-device', '');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('an empty device name names no VM');
    expect(run.stderr).toContain('EINVAL');
  });

  it('wants --pid', () => {
    expect(vmmStats('sample').status).toBe(2);
  });
});
