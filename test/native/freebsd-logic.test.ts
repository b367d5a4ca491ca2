// What the FreeBSD readers decide without the kernel (native/freebsd_logic.cc), and what the addon answers on a
// FreeBSD without bhyve (native/vmm_unsupported_freebsd.cc): the same source files the FreeBSD build compiles,
// built here with g++ into a small driver (test/native/freebsd-logic-driver.cc) that is given the kernel's
// answers and prints what the functions make of them.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { EAGAIN, EINVAL, ENAMETOOLONG, ENOENT, ENOTSUP, ENXIO, EPERM, EPROTO, ESRCH } = constants.errno;

let build: string;
let driver: string | undefined;
let whyNot: string | undefined;

beforeAll(() => {
  build = mkdtempSync(join(tmpdir(), 'vmm-stats-freebsd-logic-'));
  const sources = ['test/native/freebsd-logic-driver.cc', 'native/freebsd_logic.cc', 'native/vmm_unsupported_freebsd.cc'];
  const output = join(build, 'freebsd-logic');
  const flags = ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-I', join(root, 'native')];
  const compiled = spawnSync('g++', [...flags, '-o', output, ...sources.map((source) => join(root, source))], {
    encoding: 'utf8',
  });
  if (compiled.error !== undefined) whyNot = `no g++ to build the driver with (${compiled.error.message})`;
  else if (compiled.status !== 0) throw new Error(`g++ failed:\n${compiled.stderr}`);
  else driver = output;
});

afterAll(() => {
  rmSync(build, { recursive: true, force: true });
});

/** One answer line per command; each command is its fields, joined by tabs for the driver. */
function run(context: TestContext, ...commands: string[][]): string[] {
  if (driver === undefined) {
    console.warn(`skipping "${context.task.name}": ${whyNot}`);
    context.skip();
  }
  const input = commands.map((fields) => fields.join('\t') + '\n').join('');
  return execFileSync(driver!, { input, encoding: 'utf8' }).trimEnd().split('\n');
}

const one = (context: TestContext, ...fields: string[]) => run(context, fields)[0]!;

describe('the device name', () => {
  it('is the one given, else solo5-<pid>', (context) => {
    expect(run(context, ['device-name', '', '4242'], ['device-name', 'web', '4242'])).toEqual(['solo5-4242', 'web']);
  });

  it('is refused when empty, "." or "..", or holding a slash', (context) => {
    const refused = ['', '.', '..', 'a/b', '../etc', '/'].map((name) => ['check-name', '229', name]);
    expect(run(context, ...refused)).toEqual(refused.map(() => String(EINVAL)));
  });

  it('is refused from VM_MAX_NAMELEN characters on, which vm_create refuses too', (context) => {
    const name = (length: number) => ['check-name', '229', 'v'.repeat(length)];
    expect(run(context, name(228), name(229), name(300))).toEqual(['0', String(ENAMETOOLONG), String(ENAMETOOLONG)]);
  });

  it('may hold dots and dashes, as bhyve VM names and solo5-<pid> do', (context) => {
    expect(run(context, ['check-name', '229', 'tenant.web-1'], ['check-name', '229', 'solo5-4242'])).toEqual(['0', '0']);
  });
});

describe('a VM that is gone', () => {
  it('is ENOENT whether devfs has no such name (ENOENT) or the held device lost its VM (ENXIO)', (context) => {
    expect(run(context, ['gone', String(ENOENT)], ['gone', String(ENXIO)])).toEqual([String(ENOENT), String(ENOENT)]);
  });

  it('leaves other errors as they are', (context) => {
    expect(run(context, ['gone', String(EPERM)], ['gone', String(EINVAL)])).toEqual([String(EPERM), String(EINVAL)]);
  });
});

describe('the vCPUs read', () => {
  it("are the topology's sockets × cores × threads, numbered from 0", (context) => {
    expect(one(context, 'guest-vcpus', '2', '2', '1', '16')).toBe('rc=0 vcpus=0,1,2,3');
    expect(one(context, 'guest-vcpus', '1', '1', '1', '16')).toBe('rc=0 vcpus=0');
  });

  it('are never more than maxcpus', (context) => {
    expect(one(context, 'guest-vcpus', '4', '4', '2', '8')).toBe('rc=0 vcpus=0,1,2,3,4,5,6,7');
  });

  it('are an error for a topology without one', (context) => {
    expect(one(context, 'guest-vcpus', '0', '1', '1', '16')).toBe(`rc=${EPROTO} vcpus=`);
  });
});

describe('the counters', () => {
  it('are summed over the vCPUs, counter by counter', (context) => {
    expect(one(context, 'sum', '1,2,3', '10,20,30', '100,200,300', '1000,0,0')).toBe('rc=0 totals=1111,222,333 reads=4');
  });

  it("keep vCPU 0's VM-wide counters, which the other vCPUs leave at 0", (context) => {
    expect(one(context, 'sum', '7,4096', '5,0')).toBe('rc=0 totals=12,4096 reads=2');
  });

  it("are the failing vCPU's error, and no other vCPU is read after it", (context) => {
    expect(one(context, 'sum', '1,2', `!${ENXIO}`, '3,4')).toBe(`rc=${ENXIO} totals= reads=2`);
  });

  it('are refused when two vCPUs answer different numbers of counters', (context) => {
    expect(one(context, 'sum', '1,2,3', '1,2')).toBe(`rc=${EPROTO} totals= reads=2`);
    expect(one(context, 'sum', '1,2', '1,2,3')).toBe(`rc=${EPROTO} totals= reads=2`);
  });
});

describe('the boot time a batch of start times is taken against', () => {
  it('is the one read before and after the batch when both agree', (context) => {
    expect(one(context, 'boot', '1700000000000000', '1700000000000000')).toBe('rc=0 boot=1700000000000000 batches=1');
  });

  it('is read again, with the batch, when the clock was stepped in between', (context) => {
    expect(one(context, 'boot', '100', '5000100', '5000100', '5000100')).toBe('rc=0 boot=5000100 batches=2');
  });

  it('gives EAGAIN, never a start time, when the clock moved at every attempt', (context) => {
    expect(one(context, 'boot', '1', '2', '3', '4', '5', '6')).toBe(`rc=${EAGAIN} boot=0 batches=3`);
  });

  it("is kern.boottime's error when it cannot be read", (context) => {
    expect(one(context, 'boot', `!${EPERM}`)).toBe(`rc=${EPERM} boot=0 batches=0`);
    expect(one(context, 'boot', '100', `!${ESRCH}`)).toBe(`rc=${ESRCH} boot=0 batches=1`);
  });
});

describe('a FreeBSD without bhyve', () => {
  it('answers ENOTSUP for hypervisor counters, and no device', (context) => {
    expect(one(context, 'open-without-bhyve')).toBe(`rc=${ENOTSUP} device=no`);
  });
});
