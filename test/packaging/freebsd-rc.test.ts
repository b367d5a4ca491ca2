// packaging/freebsd/vmm_stats, the rc.d script: valid sh, the rcorder(8) keywords FreeBSD needs, and only
// flags that `vmm-stats daemon` has, read from the daemon's own --help.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scriptPath = fileURLToPath(new URL('../../packaging/freebsd/vmm_stats', import.meta.url));
const script = readFileSync(scriptPath, 'utf8');

/** The words of the rcorder keyword line `# KEY: ...`, or undefined without one. */
function keyword(key: string): string[] | undefined {
  const line = new RegExp(`^# ${key}:(.*)$`, 'm').exec(script);
  return line?.[1]!.trim().split(/\s+/);
}

/** The flags `vmm-stats daemon --help` lists. */
function daemonFlags(): Set<string> {
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'daemon', '--help'], { cwd: root, encoding: 'utf8' });
  expect(help.status).toBe(0);
  return new Set([...(help.stdout + help.stderr).matchAll(/^ {2}(--[a-z-]+)/gm)].map((match) => match[1]!));
}

describe('the FreeBSD rc.d script', () => {
  it('is valid sh', () => {
    const check = spawnSync('sh', ['-n', scriptPath], { encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('provides vmm_stats, its name and rcvar, after LOGIN, before the VM manager, stopped at shutdown', () => {
    expect(keyword('PROVIDE')).toEqual(['vmm_stats']);
    expect(keyword('REQUIRE')).toContain('LOGIN');
    expect(keyword('BEFORE')).toContain('albatross_daemon');
    expect(keyword('KEYWORD')).toContain('shutdown');
    expect(script).toMatch(/^name=vmm_stats$/m);
    expect(script).toMatch(/^rcvar=vmm_stats_enable$/m);
    expect(script).toMatch(/^\. \/etc\/rc\.subr$/m);
    expect(script).toMatch(/^run_rc_command "\$1"$/m);
  });

  it('passes the daemon only flags it has', () => {
    const commandArgs = /^command_args="([^"]*)"/ms.exec(script)?.[1];
    expect(commandArgs).toBeDefined();
    const daemonArgs = commandArgs!.slice(commandArgs!.indexOf('vmm-stats daemon') + 'vmm-stats daemon'.length);
    // Flags set in shell variables before command_args count too; daemon(8)'s own take one dash.
    const code = script.split('\n').filter((line) => !line.trimStart().startsWith('#')).join('\n');
    const passed = [...new Set([...code.matchAll(/(?:^|[\s"])(--[a-z-]+)/g)].map((match) => match[1]!))];
    expect(daemonArgs).toContain('${vmm_stats_manager_flags}');
    expect(passed).toEqual(['--manager-user', '--socket', '--socket-group', '--state-file']);
    const flags = daemonFlags();
    expect(flags.size).toBeGreaterThan(5);
    for (const flag of passed) expect(flags).toContain(flag);
  });

  it('finds node, which rc(8) leaves out of PATH', () => {
    expect(script).toMatch(/^PATH="\$\{PATH\}:\/usr\/local\/bin"$/m);
  });
});
