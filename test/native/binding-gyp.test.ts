// binding.gyp as gyp itself evaluates it (node-gyp configure, in a copy of the package) for FreeBSD on x64,
// where bhyve's counters are built, on arm64, where a stub answers ENOTSUP, and for Linux.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch: string[] = [];

afterAll(() => {
  for (const directory of scratch) rmSync(directory, { recursive: true, force: true });
});

/** The objects and libraries of the Makefile gyp writes for `os` and `arch`. */
function buildFor(os: string, arch: string): { objects: string[]; libraries: string[] } {
  const copy = mkdtempSync(join(tmpdir(), `vmm-stats-gyp-${os}-${arch}-`));
  scratch.push(copy);
  for (const entry of ['binding.gyp', 'package.json', 'native']) cpSync(join(root, entry), join(copy, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const nodeGyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const configured = spawnSync(process.execPath, [nodeGyp, 'configure', `--arch=${arch}`, '--', `-DOS=${os}`], {
    cwd: copy,
    encoding: 'utf8',
  });
  if (configured.status !== 0) throw new Error(`node-gyp configure failed:\n${configured.stderr}`);
  const makefile = readFileSync(join(copy, 'build', 'vmm_stats.target.mk'), 'utf8');
  const objects = [...new Set(makefile.match(/native\/\w+\.o/g))].map((object) => object.slice('native/'.length)).sort();
  const libraries = [...new Set([...makefile.matchAll(/\s(-l\w+)/g)].map((match) => match[1]!))].sort();
  return { objects, libraries };
}

describe('binding.gyp', () => {
  it("builds bhyve's counters, with libvmmapi, for FreeBSD on x64", () => {
    expect(buildFor('freebsd', 'x64')).toEqual({
      objects: ['acceptor_posix.o', 'addon.o', 'freebsd_logic.o', 'host_addon.o', 'interfaces_freebsd.o', 'limits_posix.o', 'peer_freebsd.o', 'process_freebsd.o', 'vmm_freebsd.o'],
      libraries: ['-lpthread', '-lvmmapi'],
    });
  });

  it('builds process and tap counters without libvmmapi, and the ENOTSUP stub, for FreeBSD on arm64', () => {
    expect(buildFor('freebsd', 'arm64')).toEqual({
      objects: ['acceptor_posix.o', 'addon.o', 'freebsd_logic.o', 'host_addon.o', 'interfaces_freebsd.o', 'limits_posix.o', 'peer_freebsd.o', 'process_freebsd.o',
        'vmm_unsupported_freebsd.o'],
      libraries: ['-lpthread'],
    });
  });

  it('builds no FreeBSD file for Linux', () => {
    const { objects, libraries } = buildFor('linux', 'x64');
    expect(objects.filter((object) => object.includes('freebsd'))).toEqual([]);
    expect(objects).toContain('vmm_linux.o');
    expect(libraries).not.toContain('-lvmmapi');
  });
});
