// The package as an operator gets it: `npm pack` of a clean copy of the checkout, then `npm install -g` of
// the tarball into a fresh prefix, run from an empty directory under the system tmp with nothing of the
// checkout on PATH or NODE_PATH, so that what runs comes from the tarball and the registry alone. Twice:
// as packed, where the addon is built at install by npm's own node-gyp; and after `npm run prebuilds`,
// where node-gyp-build finds the prebuild and builds nothing.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTool } from '../helpers/prometheus.js';
import { eventually } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
/** What `npm ci` and a build leave in a checkout, and what is no part of the sources. */
const NOT_SOURCES = new Set(['node_modules', '.git', 'build', 'dist', 'prebuilds', 'test-results.json']);
/** npm, node-gyp and a compile each; on a busy 2-core machine. */
const STEP_MS = 150_000;

/** Why the package cannot be built here (node-gyp needs python3, make and g++), or undefined. */
function toolchainMissing(): string | undefined {
  const missing = ['npm', 'python3', 'make', 'g++'].filter((tool) => findTool(tool) === undefined);
  if (missing.length === 0) return undefined;
  const reason = `no ${missing.join(', ')} on PATH (Debian packages npm, python3, make, g++)`;
  console.warn(`skipping the npm package's install: ${reason}`);
  return reason;
}

/**
 * The environment of a shell on a machine without the checkout: none of the npm_* variables `npm test`
 * sets, no NODE_PATH or NODE_OPTIONS, and no PATH entry into the checkout or any node_modules/.bin (nor
 * npm's node-gyp shim, which npm adds for its scripts).
 */
function operatorEnv(extraPath: string[] = []): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && !['NODE_PATH', 'NODE_OPTIONS', 'INIT_CWD'].includes(key)),
  );
  const path = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '' && !dir.startsWith(ROOT) && !dir.includes(`node_modules${sep}.bin`) && !dir.includes('node-gyp-bin'));
  return { ...env, PATH: [...extraPath, ...path].join(delimiter) };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, killing it past `timeoutMs`. */
async function run(command: string, args: string[], options: SpawnOptions, timeoutMs = STEP_MS): Promise<Run> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs a command that must succeed, and gives its stdout. */
async function succeed(command: string, args: string[], options: SpawnOptions): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

/** `npm pack` in `dir`, the tarball written to `destination`: its path and the files npm says it holds. */
async function pack(dir: string, destination: string): Promise<{ tarball: string; files: string[] }> {
  mkdirSync(destination);
  const stdout = await succeed('npm', ['pack', '--json', '--pack-destination', destination], { cwd: dir, env: operatorEnv() });
  const [report] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  return { tarball: join(destination, report!.filename), files: report!.files.map((file) => file.path) };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]);
}

const skip = toolchainMissing();
const work = mkdtempSync(join(tmpdir(), 'vmm-stats-npm-'));
/** The tarballs: as packed from a clean tree, and packed again after `npm run prebuilds`. */
const tarballs = new Map<'packed' | 'prebuilt', { tarball: string; files: string[] }>();

beforeAll(async () => {
  if (skip !== undefined) return;
  // A clean tree, as a fresh clone has it: `prepare` builds dist/ there and not under the feet of the tests
  // that run bin/vmm-stats from the checkout. Its node_modules are the checkout's: tsc, node-gyp, prebuildify.
  const source = join(work, 'source');
  cpSync(ROOT, source, { recursive: true, filter: (path) => !NOT_SOURCES.has(relative(ROOT, path).split(sep)[0]!) });
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
  tarballs.set('packed', await pack(source, join(work, 'packed')));
  await succeed('npm', ['run', 'prebuilds'], { cwd: source, env: operatorEnv() });
  tarballs.set('prebuilt', await pack(source, join(work, 'prebuilt')));
}, 3 * STEP_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(skip !== undefined)('npm pack', () => {
  it('puts in the built dist/, the sources the addon builds from, the man page and the packaging files', () => {
    const { files } = tarballs.get('packed')!;
    for (const file of ['bin/vmm-stats', 'dist/cli.js', 'binding.gyp', 'native/addon.cc', 'packaging/man/vmm-stats.8', 'package.json']) {
      expect(files).toContain(file);
    }
    for (const file of filesUnder(join(ROOT, 'packaging'))) expect(files).toContain(relative(ROOT, file));
    expect(files.filter((file) => /^(src|test|bench|node_modules|build|prebuilds)\//.test(file))).toEqual([]);
  });

  it('puts in the prebuilds once `npm run prebuilds` made them', () => {
    expect(tarballs.get('prebuilt')!.files.filter((file) => file.startsWith(`prebuilds/${process.platform}-${process.arch}/`))).not.toEqual([]);
  });
});

describe.skipIf(skip !== undefined).each([
  { kind: 'packed' as const, addon: 'built at install from the sources' },
  { kind: 'prebuilt' as const, addon: 'the prebuild, nothing built' },
])('npm install -g of the $kind tarball into a fresh prefix', ({ kind, addon }) => {
  const prefix = join(work, `prefix-${kind}`);
  const installed = join(prefix, 'lib', 'node_modules', 'vmm-stats');
  const cli = join(prefix, 'bin', 'vmm-stats');
  const elsewhere = join(work, `elsewhere-${kind}`);
  const env = () => operatorEnv([join(prefix, 'bin'), dirname(process.execPath)]);
  const vmmStats = (args: string[]) => run(cli, args, { cwd: elsewhere, env: env() }, 30_000);

  beforeAll(async () => {
    mkdirSync(elsewhere);
    // npm reads its global config from <prefix>/etc/npmrc: a fresh prefix would lose the machine's (a cafile,
    // say), so keep the one npm uses without --prefix.
    const globalConfig = (await succeed('npm', ['config', 'get', 'globalconfig'], { cwd: elsewhere, env: env() })).trim();
    const { tarball } = tarballs.get(kind)!;
    // npm 11 asks that a dependency's install scripts be allowed; a tarball is named by its path.
    await succeed(
      'npm',
      ['install', '-g', tarball, '--prefix', prefix, '--globalconfig', globalConfig, `--allow-scripts=file:${tarball}`],
      { cwd: elsewhere, env: env() },
    );
  }, 2 * STEP_MS);

  it(`has the addon: ${addon}`, () => {
    expect(existsSync(join(installed, 'build'))).toBe(kind === 'packed');
    if (kind === 'packed') expect(existsSync(join(installed, 'build', 'Release', 'vmm_stats.node'))).toBe(true);
    // node-gyp is no dependency: a build at install is npm's own node-gyp's, which npm puts on its scripts' PATH.
    expect(existsSync(join(installed, 'node_modules', 'node-gyp'))).toBe(false);
  });

  it('prints the package version', async () => {
    const result = await vmmStats(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `vmm-stats ${version}\n` });
  });

  it('samples a process', async () => {
    const result = await vmmStats(['sample', '--pid', String(process.pid), '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const sample = JSON.parse(result.stdout) as { pid: number; rusage: { utime: { sec: string } } };
    expect(sample.pid).toBe(process.pid);
    expect(Number(sample.rusage.utime.sec)).toBeGreaterThanOrEqual(0);
  });

  it('runs the daemon: a VM is added, its Data arrives, and SIGTERM stops it with 0 and removes the socket', async () => {
    const socket = join(elsewhere, 'stat.sock');
    const daemon = spawn(cli, ['daemon', '--socket', socket, '--state-file', '', '--interval', '0.2'], {
      cwd: elsewhere,
      env: env(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    daemon.stderr!.setEncoding('utf8').on('data', (text: string) => (log += text));
    let watch: ChildProcess | undefined;
    try {
      await eventually(() => {
        if (daemon.exitCode !== null) throw new Error(`the daemon exited with ${daemon.exitCode}: ${log}`);
        return existsSync(socket) ? true : undefined;
      }, 20_000, 'the daemon to listen');
      expect(await vmmStats(['add', 'package.check', '--pid', String(process.pid), '--socket', socket])).toMatchObject({ code: 0 });
      watch = spawn(cli, ['watch', 'package', '--json', '--socket', socket], { cwd: elsewhere, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let seen = '';
      watch.stdout!.setEncoding('utf8').on('data', (text: string) => (seen += text));
      const line = await eventually(() => (seen.includes('\n') ? seen.slice(0, seen.indexOf('\n')) : undefined), 20_000, 'a Data frame');
      expect(JSON.parse(line)).toMatchObject({ ok: true, kind: 'stats.data', name: ['package', 'check'] });
      const watchExit = once(watch, 'exit');
      watch.kill('SIGTERM');
      expect((await watchExit)[0]).toBe(0);
      expect(await vmmStats(['remove', 'package.check', '--socket', socket])).toMatchObject({ code: 0 });
    } finally {
      watch?.kill('SIGKILL');
      const exited = once(daemon, 'exit');
      daemon.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
    }
    expect(existsSync(socket)).toBe(false);
  });

  it('installs the man page in share/man/man8 and the packaging files beside the package', () => {
    expect(readFileSync(join(prefix, 'share', 'man', 'man8', 'vmm-stats.8'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'packaging', 'man', 'vmm-stats.8'), 'utf8'),
    );
    for (const file of filesUnder(join(ROOT, 'packaging'))) {
      expect(readFileSync(join(installed, relative(ROOT, file)), 'utf8'), relative(ROOT, file)).toBe(readFileSync(file, 'utf8'));
    }
  });
});
