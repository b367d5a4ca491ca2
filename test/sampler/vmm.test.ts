import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  accessSync,
  chmodSync,
  constants,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { DEFAULT_DEBUGFS_ROOT, openVmmDevice, SamplerError, type VmmDevice, type VmmTarget } from '../../src/sampler/sampler.js';
import { readableCopy } from '../helpers/readable-copy.js';
import { thrown } from '../helpers/thrown.js';

const fixture = fileURLToPath(new URL('../fixtures/kvm-debugfs', import.meta.url));
const isRoot = process.getuid?.() === 0;

const errorCode = (run: () => unknown) => thrown(SamplerError, run).code;

/** The package as another user can read it, wherever this checkout lies; made on first use. */
let readable: string | undefined;
afterAll(() => {
  if (readable !== undefined) rmSync(readable, { recursive: true, force: true });
});

/**
 * What openVmmDevice(target) gives a process running as nobody, with the capabilities given (setpriv grants
 * them): 'opened', or the SamplerError's code.
 */
function openAsNobody(target: VmmTarget, capabilities: string[] = []): string {
  readable ??= readableCopy();
  const sampler = pathToFileURL(join(readable, 'src', 'sampler', 'sampler.js')).href;
  const script = `import { openVmmDevice } from '${sampler}';
    try { openVmmDevice(${JSON.stringify(target)}); console.log('opened'); }
    catch (err) { console.log(err.code); }`;
  const node = [process.execPath, '--input-type=module', '-e', script];
  const granted = capabilities.map((capability) => `+${capability}`).join(',');
  const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
  const setpriv = ['setpriv', ...nobody, `--inh-caps=${granted}`, `--ambient-caps=${granted}`];
  const [command, ...args] = capabilities.length > 0 ? [...setpriv, ...node] : node;
  const child = spawnSync(command!, args, {
    ...(capabilities.length > 0 ? {} : { uid: 65534, gid: 65534 }),
    cwd: readable,
    encoding: 'utf8',
  });
  expect(child.stderr).toBe('');
  return child.stdout.trim();
}

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
    expect(openAsNobody({ pid: 4242, debugfsRoot: root })).toBe('EACCES');
  });

  // As under kernel lockdown, which lets the read-only files be read and refuses the rest (exits among them):
  // the files left must not pass for all of the VM's counters.
  it.skipIf(!isRoot)('answers EACCES where some of the statistics may not be read', () => {
    const root = mkdtempSync(join(tmpdir(), 'vmm-stats-debugfs-partial-'));
    try {
      chmodSync(root, 0o755);
      cpSync(fixture, root, { recursive: true });
      chmodSync(join(root, '4242-11', 'exits'), 0);
      expect(openAsNobody({ pid: 4242, debugfsRoot: root })).toBe('EACCES');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

// A real VM: test/kvm/tiny-vmm.c, compiled here and run where /dev/kvm is, read through the KVM statistics
// fds it keeps open (--stats-fds, as QEMU keeps its vCPUs'), or through debugfs when it keeps none.
//
// The counter these tests watch is `exits`: every port write of the guest is an exit of its vCPU, whatever
// runs it. `io_exits` counts only the writes the CPU traps itself; a KVM that emulates the real-mode guest
// instead (kvm_pvm, which has no hardware virtualisation to use; VMX without unrestricted guest) counts
// them as insn_emulation and leaves io_exits at 0.
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
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    } catch {
      return '/dev/kvm cannot be opened by this user';
    }
    return undefined;
  };

  const skip = (context: TestContext, reason: string) => {
    console.warn(`skipping "${context.task.name}": ${reason}`);
    context.skip();
  };

  /** The tiny VMM once it is ready, or why it cannot run here (its exit status 2 and 3 say so). */
  const start = async (args: string[]): Promise<ChildProcess | string> => {
    const vmm = spawn(binary!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    vmm.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const outcome = await Promise.race([
      once(createInterface({ input: vmm.stdout! }), 'line').then(([line]) => ({ line: line as string })),
      once(vmm, 'exit').then(([status]) => ({ status: status as number | null })),
    ]);
    if ('line' in outcome && outcome.line === 'ready') return vmm;
    vmm.kill('SIGKILL');
    const status = 'status' in outcome ? outcome.status : undefined;
    if (status === 2 || status === 3) return `tiny-vmm cannot run here: ${stderr.trim()}`;
    throw new Error(`tiny-vmm ${args.join(' ')} did not get ready (${JSON.stringify(outcome)}): ${stderr}`);
  };

  /** Runs body against a ready tiny VMM, killed afterwards; skips the test, saying why, where none can run. */
  const withVmm = async (context: TestContext, args: string[], body: (vmm: ChildProcess) => Promise<void> | void) => {
    const reason = cannotRun();
    if (reason !== undefined) return skip(context, reason);
    const vmm = await start(args);
    if (typeof vmm === 'string') return skip(context, vmm);
    try {
      await body(vmm);
    } finally {
      vmm.kill('SIGKILL');
    }
  };

  const withDevice = async <T>(vmm: ChildProcess, body: (device: VmmDevice) => T | Promise<T>): Promise<T> => {
    const device = openVmmDevice({ pid: vmm.pid! });
    try {
      return await body(device);
    } finally {
      device.close();
    }
  };

  const counters = (vmm: ChildProcess) => withDevice(vmm, (device) => new Map(device.read()));

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

  it('has its exits counted by KVM, rising while it runs', (context) =>
    withVmm(context, ['--stats-fds=vcpu'], (vmm) =>
      withDevice(vmm, async (device) => {
        const exits = () => new Map(device.read()).get('exits') ?? -1n;
        const first = exits();
        // It says ready after its 1000th port write.
        expect(first).toBeGreaterThanOrEqual(1000n);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(exits()).toBeGreaterThan(first);
      }),
    ));

  it("gives its VM's and its vCPUs' statistics, sorted by name", (context) =>
    withVmm(context, ['--stats-fds=all'], async (vmm) => {
      const names = [...(await counters(vmm)).keys()];
      expect(names).toEqual([...names].sort());
      // vCPU statistics, then VM-wide ones.
      expect(names).toEqual(expect.arrayContaining(['exits', 'io_exits', 'halt_exits', 'remote_tlb_flush', 'pages_4k']));
      // Histograms are left out.
      expect(names.filter((name) => name.endsWith('_hist'))).toEqual([]);
    }));

  it('gives only the vCPU statistics of a VMM that keeps only those', (context) =>
    withVmm(context, ['--stats-fds=vcpu'], async (vmm) => {
      const names = [...(await counters(vmm)).keys()];
      expect(names).toContain('exits');
      expect(names).not.toContain('remote_tlb_flush');
    }));

  // KVM makes the files of a VM's debugfs directory from the descriptors the statistics fds give; under
  // lockdown most of them cannot be read, but all of them can be listed.
  it('names its counters as debugfs names the files of the VM', (context) =>
    withVmm(context, ['--stats-fds=all'], async (vmm) => {
      const directory = debugfsDirectory(vmm.pid!);
      if (directory === undefined) {
        return skip(context, `no directory for the VM under ${DEFAULT_DEBUGFS_ROOT} (debugfs not mounted)`);
      }
      const files = readdirSync(directory).filter((name) => statSync(join(directory, name)).isFile());
      const names = [...(await counters(vmm)).keys()];
      expect(files).toEqual(expect.arrayContaining(names));
      // What debugfs has besides: the histograms, and x86's table of rmap sizes, which is no KVM statistic.
      const besides = files.filter((file) => !names.includes(file));
      expect(besides.filter((file) => !file.endsWith('_hist') && file !== 'mmu_rmaps_stat')).toEqual([]);
    }));

  it('sums a vCPU statistic over the vCPUs', (context) =>
    withVmm(context, ['--stats-fds=vcpu', '2', '5000'], async (vmm) => {
      // Each vCPU made 5000 port writes, each of them an exit, and then stopped: either vCPU alone is ~5000,
      // and a vCPU counted twice would make ~15000.
      const exits = (await counters(vmm)).get('exits')!;
      expect(exits).toBeGreaterThanOrEqual(10_000n);
      expect(exits).toBeLessThan(12_500n);
    }));

  it('answers ENOENT on reading once the VMM has exited', (context) =>
    withVmm(context, ['--stats-fds=vcpu'], (vmm) =>
      withDevice(vmm, async (device) => {
        expect(device.read().length).toBeGreaterThan(0);
        const exited = once(vmm, 'exit');
        vmm.kill('SIGKILL');
        await exited;
        expect(errorCode(() => device.read())).toBe('ENOENT');
      }),
    ));

  // Not this process: it holds the copies of statistics fds of any device a test left open.
  it('answers ENOENT for a process without a VM', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      expect(errorCode(() => openVmmDevice({ pid: child.pid! }))).toBe('ENOENT');
    } finally {
      child.kill('SIGKILL');
    }
  });

  // What the fallback gives depends on this machine's debugfs, so the test asks debugfs first.
  it('falls back to debugfs for a VMM that keeps no statistics fd', (context) =>
    withVmm(context, [], async (vmm) => {
      const directory = debugfsDirectory(vmm.pid!);
      const target = { pid: vmm.pid! };
      if (directory === undefined) {
        expect(errorCode(() => openVmmDevice(target))).toBe('ENODATA');
      } else if (readRefused(join(directory, 'exits'))) {
        expect(errorCode(() => openVmmDevice(target))).toBe('EACCES');
      } else {
        expect((await counters(vmm)).get('exits')).toBeGreaterThanOrEqual(1000n);
      }
    }));

  it.skipIf(!isRoot)("answers EACCES to a user who may not take the VMM's descriptors", (context) =>
    withVmm(context, ['--stats-fds=all'], (vmm) => {
      expect(openAsNobody({ pid: vmm.pid! })).toBe('EACCES');
      // Either capability alone is not enough: one lets us list the descriptors, the other take them.
      if (hasSetpriv()) expect(openAsNobody({ pid: vmm.pid! }, ['sys_ptrace'])).toBe('EACCES');
    }));

  it.skipIf(!isRoot)("is read by another user with the systemd unit's capabilities", (context) =>
    withVmm(context, ['--stats-fds=all'], (vmm) => {
      if (!hasSetpriv()) return skip(context, 'no setpriv (util-linux) to grant the capabilities with');
      expect(openAsNobody({ pid: vmm.pid! }, ['sys_ptrace', 'dac_read_search'])).toBe('opened');
    }));
});

function hasSetpriv(): boolean {
  return spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The VM's directory in the default debugfs, if debugfs is mounted. */
function debugfsDirectory(pid: number): string | undefined {
  if (!existsSync(DEFAULT_DEBUGFS_ROOT)) return undefined;
  const name = readdirSync(DEFAULT_DEBUGFS_ROOT).find((entry) => entry.startsWith(`${pid}-`));
  return name === undefined ? undefined : join(DEFAULT_DEBUGFS_ROOT, name);
}

function readRefused(file: string): boolean {
  try {
    readFileSync(file);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EACCES') return true;
    throw err;
  }
}
