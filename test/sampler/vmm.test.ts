import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEBUGFS_ROOT, openVmmDevice, SamplerError } from '../../src/sampler.js';
import { thrown } from '../helpers/thrown.js';

const fixture = fileURLToPath(new URL('../fixtures/kvm-debugfs', import.meta.url));
const isRoot = process.getuid?.() === 0;

const errorCode = (run: () => unknown) => thrown(SamplerError, run).code;

describe('KVM statistics from a debugfs tree', () => {
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'vmm-stats-debugfs-'));
  });

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('sums the counters of all the VMs of a process, by name, skipping what is not a counter', () => {
    const device = openVmmDevice({ pid: 4242, debugfsRoot: fixture });
    try {
      expect(device.read()).toEqual([
        ['exits', 1024n],
        ['halt_exits', 6n],
        ['io_exits', 610n],
        ['mmio_exits', 7n],
        ['pages_4k', 612n],
        ['remote_tlb_flush', 5n],
      ]);
    } finally {
      device.close();
    }
  });

  it('does not take another pid with the same digits in front for the one asked for', () => {
    const device = openVmmDevice({ pid: 42421, debugfsRoot: fixture });
    expect(device.read()).toEqual([
      ['exits', 99999n],
      ['io_exits', 99999n],
    ]);
    device.close();
  });

  it('answers ENOENT for a process without a VM (yet), and for a missing root', () => {
    expect(errorCode(() => openVmmDevice({ pid: 4243, debugfsRoot: fixture }))).toBe('ENOENT');
    expect(errorCode(() => openVmmDevice({ pid: 4242, debugfsRoot: join(scratch, 'absent') }))).toBe('ENOENT');
  });

  it('answers ENOENT on reading once the VM is gone', () => {
    const root = join(scratch, 'vanishing');
    cpSync(fixture, root, { recursive: true });
    const device = openVmmDevice({ pid: 5151, debugfsRoot: root });
    expect(device.read()).toEqual([
      ['exits', 7n],
      ['io_exits', 3n],
    ]);
    rmSync(join(root, '5151-20'), { recursive: true });
    expect(errorCode(() => device.read())).toBe('ENOENT');
    device.close();
    expect(errorCode(() => device.read())).toBe('EBADF');
  });

  it('names the default root as KVM publishes it', () => {
    expect(DEFAULT_DEBUGFS_ROOT).toBe('/sys/kernel/debug/kvm');
  });

  // Root reads any directory, so the refusal is shown by a child running as nobody.
  it.skipIf(!isRoot)('answers EACCES where the statistics may not be read', () => {
    const root = mkdtempSync(join(scratch, 'private-')); // mode 0700, owned by root
    cpSync(fixture, root, { recursive: true });
    const sampler = pathToFileURL(fileURLToPath(new URL('../../src/sampler.ts', import.meta.url))).href;
    const script = `import { openVmmDevice } from '${sampler}';
      try { openVmmDevice({ pid: 4242, debugfsRoot: '${root}' }); console.log('opened'); }
      catch (err) { console.log(err.code); }`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      uid: 65534,
      gid: 65534,
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('EACCES');
  });
});

// A real VM: test/kvm/tiny-vmm.c, compiled here, run where /dev/kvm is, sampled through debugfs.
describe('a VM run by a tiny VMM', () => {
  const source = fileURLToPath(new URL('../kvm/tiny-vmm.c', import.meta.url));
  let build: string;
  let binary: string | undefined;
  let compileFailure: string | undefined;

  const cannotRun = (): string | undefined => {
    if (process.arch !== 'x64') return `the tiny VMM's guest code is x86 and this is ${process.arch}`;
    if (compileFailure !== undefined) return compileFailure;
    if (!existsSync('/dev/kvm')) return 'no /dev/kvm on this machine';
    try {
      accessSync(DEFAULT_DEBUGFS_ROOT, constants.R_OK | constants.X_OK);
    } catch {
      return `${DEFAULT_DEBUGFS_ROOT} cannot be read (debugfs not mounted, or not root)`;
    }
    return undefined;
  };

  beforeAll(() => {
    build = mkdtempSync(join(tmpdir(), 'vmm-stats-kvm-'));
    try {
      binary = join(build, 'tiny-vmm');
      execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, source], { stdio: 'pipe' });
    } catch (err) {
      compileFailure = `cc could not build tiny-vmm.c: ${(err as Error).message.split('\n')[0]}`;
      binary = undefined;
    }
  });

  afterAll(() => {
    rmSync(build, { recursive: true, force: true });
  });

  it.skipIf(process.arch !== 'x64')('compiles', () => {
    expect(compileFailure).toBeUndefined();
  });

  it('has its exits counted by KVM, rising while it runs', async (context) => {
    const reason = cannotRun();
    if (reason !== undefined) {
      console.warn(`skipping the tiny VMM test: ${reason}`);
      context.skip();
      return;
    }
    const vmm = spawn(binary!, [], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(createInterface({ input: vmm.stdout! }), 'line')) as [string];
      expect(line).toBe('ready');
      const device = openVmmDevice({ pid: vmm.pid! });
      const exits = () => new Map(device.read()).get('io_exits') ?? -1n;
      const first = exits();
      expect(first).toBeGreaterThan(1000n);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(exits()).toBeGreaterThan(first);
      device.close();
    } finally {
      vmm.kill('SIGKILL');
    }
  });
});
