// `vmm-stats top` as an operator sees it: a real daemon sampling real processes (the busy one with KVM-style
// exit counters in a debugfs tree of the test's, rising as a guest's would), top running in a real terminal
// (tmux, 80x24), keys sent to it, the screen read back with its attributes; and top with its output piped,
// bounded by --iterations and --end-time, logging to a CSV file that is rotated under it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { TapVmm, tapUnavailableReason, uniqueInterfaceName } from '../helpers/net.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';
import { readCsv } from './read-csv.js';

const cli = new URL('../../bin/vmm-stats', import.meta.url).pathname;
const run = promisify(execFile);
const BUSY = 'zulu.busy';
const IDLE = 'alpha.idle';

function tmuxMissingReason(): string | undefined {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return "no 'tmux' command (Debian package tmux)";
  }
}

const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-top-'));
const socket = join(dir, 's.sock');
const debugfs = join(dir, 'kvm');
const children = new ChildProcesses();
let daemon: ChildProcess | undefined;
let counterWriter: ChildProcess | undefined;

/**
 * The busy VM's counters, as KVM names them, and how much each grows per 100 ms: exits fastest, and the
 * others in an order that is not their names'.
 */
const COUNTER_GROWTH = { exits: 300, io_exits: 60, halt_exits: 5 };

/**
 * A process of its own (the tests block this one's event loop while they wait for tmux) that writes the
 * counters of `pid`'s VM into the debugfs tree every 100 ms, each at the ticks so far times its growth.
 * Each file is replaced whole, as the kernel's are read: a file caught half-written would not read as a
 * counter.
 */
async function startCounterWriter(pid: number): Promise<ChildProcess> {
  const vmDir = join(debugfs, `${pid}-11`);
  mkdirSync(vmDir, { recursive: true });
  const script = `
    const { renameSync, writeFileSync } = require('node:fs');
    const { join } = require('node:path');
    const [root, vmDir, growth] = [process.argv[1], process.argv[2], JSON.parse(process.argv[3])];
    let ticks = 0;
    const write = () => {
      for (const [name, perTick] of Object.entries(growth)) {
        writeFileSync(join(root, name), ticks * perTick + '\\n');
        renameSync(join(root, name), join(vmDir, name));
      }
      ticks++;
    };
    write();
    process.send('ready');
    setInterval(write, 100);`;
  const writer = spawn(process.execPath, ['-e', script, debugfs, vmDir, JSON.stringify(COUNTER_GROWTH)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  await once(writer, 'message');
  return writer;
}

/**
 * A daemon ticking every 0.2 s, with a CPU-burning process and an idle one registered as two VMs; the busy
 * one has hypervisor counters (the daemon reads them from debugfs, the idle one has none).
 */
beforeAll(async () => {
  const busy = await children.busy();
  const idle = await children.idle();
  counterWriter = await startCounterWriter(busy.pid!);
  const daemonArgs = ['daemon', '--socket', socket, '--interval', '0.2', '--log-level', 'warn', '--state-file', '', '--debugfs', debugfs];
  daemon = spawn(process.execPath, [cli, ...daemonArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let daemonErrors = '';
  daemon.stderr!.on('data', (chunk: Buffer) => (daemonErrors += chunk.toString()));
  await eventually(() => {
    if (daemon!.exitCode !== null) throw new Error(`the daemon exited with ${daemon!.exitCode}: ${daemonErrors}`);
    return existsSync(socket) ? true : undefined;
  }, 15_000, 'the daemon socket');
  await run(process.execPath, [cli, 'add', BUSY, '--pid', String(busy.pid), '--socket', socket]);
  await run(process.execPath, [cli, 'add', IDLE, '--pid', String(idle.pid), '--socket', socket]);
});

afterAll(async () => {
  if (counterWriter && counterWriter.exitCode === null) {
    const stopped = once(counterWriter, 'exit');
    counterWriter.kill('SIGKILL');
    await stopped;
  }
  if (daemon && daemon.exitCode === null) {
    const exited = once(daemon, 'exit');
    daemon.kill('SIGTERM');
    await exited;
  }
  await children.killAll();
  rmSync(dir, { recursive: true, force: true });
});

/** A VM's row on the screen, as its cells: name, CPU%, MAXRSS MiB, in/out packets/s, in/out bytes/s, taps. */
function cellsOf(line: string): string[] {
  return line.trim().split(/\s+/);
}

function vmRows(lines: string[]): string[][] {
  return lines.filter((line) => line.startsWith(`${BUSY} `) || line.startsWith(`${IDLE} `)).map(cellsOf);
}

const tmuxMissing = tmuxMissingReason();
if (tmuxMissing) console.warn(`skipping the terminal tests of top: ${tmuxMissing}`);

/** The texts a line shows in reverse video, from `tmux capture-pane -e` (which ends a span with any other SGR). */
function reversedIn(line: string): string[] {
  return [...line.matchAll(/\x1b\[7m([^\x1b]*)/g)].map((match) => match[1]!.trim()); // eslint-disable-line no-control-regex
}

/** A tmux server of its own holding one 80x24 window, no status line, running top (with `args`) in a shell. */
class Terminal {
  static #count = 0;
  // A socket in the test's directory, removed with it (tmux leaves its socket file behind).
  readonly #server = join(dir, `tmux-${Terminal.#count++}.sock`);

  constructor(config: string, args: string[] = []) {
    // After top, the shell says how top exited and whether the tty is back in cooked mode, on one line.
    const script =
      'cli=$1; socket=$2; shift 2; "$0" "$cli" top --socket "$socket" "$@"; status=$?; ' +
      'modes=$(stty -a | tr " ;" "\\n\\n" | grep -xE -- "-?(isig|icanon|echo)" | tr "\\n" " "); ' +
      'echo "top exited with status $status; tty: $modes"; exec sleep 3600';
    this.tmux('-f', config, 'new-session', '-d', '-x', '80', '-y', '24', 'sh', '-c', script, process.execPath, cli, socket, ...args);
  }

  /** The screen with its attributes as escape codes. */
  styledScreen(): string[] {
    return this.tmux('capture-pane', '-p', '-e').replace(/\n$/, '').split('\n');
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.#server, ...args], { encoding: 'utf8' });
  }

  screen(): string[] {
    return this.tmux('capture-pane', '-p').replace(/\n$/, '').split('\n');
  }

  /** Whether the alternate screen is on, and whether the cursor is shown. */
  flags(): string {
    return this.tmux('display-message', '-p', '#{alternate_on} #{cursor_flag}').trim();
  }

  press(key: string): void {
    this.tmux('send-keys', key);
  }

  async screenWhere(what: string, test: (lines: string[]) => boolean): Promise<string[]> {
    try {
      return await eventually(() => (test(this.screen()) ? this.screen() : undefined), 15_000, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}; the screen was:\n${this.screen().join('\n')}`);
    }
  }

  kill(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // Already gone.
    }
  }
}

describe.skipIf(tmuxMissing !== undefined)('top in a real 80x24 terminal (tmux)', () => {
  const config = join(dir, 'tmux.conf');
  const terminals: Terminal[] = [];

  function startTop(args: string[] = []): Terminal {
    const terminal = new Terminal(config, args);
    terminals.push(terminal);
    return terminal;
  }

  async function expectRestoredAfterExit(terminal: Terminal): Promise<void> {
    const lines = await terminal.screenWhere('top to exit', (l) => l.some((line) => line.startsWith('top exited')));
    // Exit status 0, out of the alternate screen, cursor shown, and the tty in cooked mode again.
    expect(lines.find((line) => line.startsWith('top exited'))).toMatch(/^top exited with status 0; tty: isig icanon echo\s*$/);
    expect(terminal.flags()).toBe('0 1');
    expect(lines.some((line) => line.startsWith(`${BUSY} `))).toBe(false);
  }

  beforeAll(() => {
    writeFileSync(config, 'set -g status off\n');
  });

  afterAll(() => {
    for (const terminal of terminals) terminal.kill();
  });

  const FOOTER = /^r reverse {2}< > column {2}f fields {2}x expand {2}q quit +by /;

  /** Waits for both VMs on the screen with the busy one's CPU % and exits per second known. */
  async function bothVmsWithRates(terminal: Terminal): Promise<string[]> {
    return terminal.screenWhere(`CPU % and exits/s above 0 for ${BUSY}`, (lines) => {
      const busy = vmRows(lines).find((cells) => cells[0] === BUSY);
      return busy !== undefined && Number(busy[1]) > 0 && busy[8] !== '-' && rateValue(busy[8]!) > 0 && vmRows(lines).length === 2;
    });
  }

  it('shows both VMs with the busy one on top by CPU, its exits per second, re-sorts on keys, adapts to resizes, quits on q', async () => {
    const terminal = startTop();
    const first = await bothVmsWithRates(terminal);
    expect(terminal.flags()).toBe('1 0');
    expect(first).toHaveLength(24);
    expect(first[0]).toMatch(/^vmm-stats top \d\d:\d\d:\d\d {2}2 VMs {2}CPU [\d.]+% of \d+%/);
    expect(first[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN pk\/s +OUT pk\/s +IN B\/s +OUT B\/s +TAPS +EXITS\/s$/);
    expect(first[22]).toMatch(/^sort: n name {2}c cpu {2}m mem {2}p pk-in {2}P pk-out {2}i in {2}o out {2}t taps {2}e exits$/);
    expect(first[23]).toMatch(FOOTER);
    expect(first[23]).toMatch(/by CPU%, high first$/);
    expect(vmRows(first).map((cells) => cells[0])).toEqual([BUSY, IDLE]);
    // 300 exits per 100 ms: about 3000 a second. Top times frames by their arrival, so on a loaded machine a
    // rate over one short refresh may be well off, never by orders of magnitude.
    const busyExits = rateValue(vmRows(first)[0]![8]!);
    expect(busyExits).toBeGreaterThan(0);
    expect(busyExits).toBeLessThan(30_000);
    expect(vmRows(first)[1]![8]).toBe('-');

    terminal.press('n');
    await terminal.screenWhere('name order', (lines) =>
      lines[23]!.endsWith('by VM, A-Z') && vmRows(lines).map((cells) => cells[0]).join() === [IDLE, BUSY].join(),
    );

    const memory = (lines: string[]) => vmRows(lines).map((cells) => Number(cells[2]));
    terminal.press('m');
    const byMemory = await terminal.screenWhere('memory order', (lines) => lines[23]!.endsWith('by MAXRSS MiB, high first'));
    expect(memory(byMemory)[0]).toBeGreaterThanOrEqual(memory(byMemory)[1]!);
    terminal.press('r');
    const reversed = await terminal.screenWhere('reversed memory order', (lines) => lines[23]!.endsWith('by MAXRSS MiB, low first'));
    expect(memory(reversed)[0]).toBeLessThanOrEqual(memory(reversed)[1]!);

    for (const [columns, rows] of [[60, 12], [100, 30], [80, 24]] as const) {
      terminal.tmux('resize-window', '-x', String(columns), '-y', String(rows));
      const redrawn = (lines: string[]) =>
        lines.length === rows && lines[0]!.startsWith('vmm-stats top ') && vmRows(lines).length === 2 && FOOTER.test(lines[rows - 1]!);
      const resized = await terminal.screenWhere(`the screen redrawn at ${columns}x${rows}`, redrawn);
      for (const line of resized) expect(line.length, line).toBeLessThanOrEqual(columns);
      if (columns >= 80) expect(resized[1]).toMatch(/ IN pk\/s .* EXITS\/s$/);
      else expect(resized[1]).not.toContain('pk/s');
    }

    terminal.press('q');
    await expectRestoredAfterExit(terminal);
  });

  it('sorts by any shown column: its key, or < and > to move along; the title and the key show it in reverse video', async () => {
    const terminal = startTop();
    await bothVmsWithRates(terminal);
    const sortedBy = (footer: string) => terminal.screenWhere(`the order ${footer}`, (lines) => lines[23]!.endsWith(footer));
    terminal.press('e');
    const byExits = await sortedBy('by EXITS/s, high first');
    expect(vmRows(byExits).map((cells) => cells[0])).toEqual([BUSY, IDLE]);
    const styled = terminal.styledScreen();
    expect(reversedIn(styled[1]!)).toEqual(['EXITS/s']);
    expect(reversedIn(styled[22]!)).toEqual(['e exits']);
    terminal.press('<');
    await sortedBy('by TAPS, high first');
    expect(reversedIn(terminal.styledScreen()[1]!)).toEqual(['TAPS']);
    terminal.press('>');
    await sortedBy('by EXITS/s, high first');
    terminal.press('>');
    const wrapped = await sortedBy('by VM, A-Z');
    expect(vmRows(wrapped).map((cells) => cells[0])).toEqual([IDLE, BUSY]);
    terminal.press('>');
    await sortedBy('by CPU%, high first');
    terminal.press('q');
    await expectRestoredAfterExit(terminal);
  });

  it('chooses the columns with f: the fields screen toggles them, a hidden sorted column sorts by name', async () => {
    const terminal = startTop();
    await bothVmsWithRates(terminal);
    terminal.press('f');
    const fields = await terminal.screenWhere('the fields screen', (lines) => lines[1] === 'fields: 1-8 show or hide a column');
    expect(fields[3]).toMatch(/^ {2}1 {2}\[x\] {2}CPU% +c +user \+ system CPU time/);
    expect(fields[10]).toMatch(/^ {2}8 {2}\[x\] {2}EXITS\/s +e +the hypervisor's VM exits per second/);
    terminal.press('1');
    terminal.press('3');
    await terminal.screenWhere('CPU% and IN pk/s hidden', (lines) => lines[3]!.includes('[ ]  CPU%') && lines[5]!.includes('[ ]  IN pk/s'));
    terminal.press('f');
    const back = await terminal.screenWhere('the VMs without CPU%', (lines) => lines[1]!.startsWith('VM ') && !lines[1]!.includes('CPU%'));
    expect(back[1]).toMatch(/^VM +MAXRSS MiB +OUT pk\/s +IN B\/s +OUT B\/s +TAPS +EXITS\/s$/);
    expect(back[23]).toMatch(/by VM, A-Z$/);
    expect(back[22]).not.toMatch(/c cpu/);
    // The key of a hidden column sorts nothing.
    terminal.press('c');
    terminal.press('t');
    await terminal.screenWhere('sorted by taps', (lines) => lines[23]!.endsWith('by TAPS, high first'));
    terminal.press('q');
    await expectRestoredAfterExit(terminal);
  });

  it('starts with the columns and the order given by --fields and --sort', async () => {
    const terminal = startTop(['--fields', 'exits,cpu', '--sort', 'exits']);
    const lines = await terminal.screenWhere('the chosen columns', (l) => vmRows(l).length === 2 && /^VM +EXITS\/s +CPU%$/.test(l[1]!));
    expect(lines[23]).toMatch(/by EXITS\/s, high first$/);
    expect(reversedIn(terminal.styledScreen()[1]!)).toEqual(['EXITS/s']);
    terminal.press('q');
    await expectRestoredAfterExit(terminal);
  });

  it("expands the selected VM with x into its counters' rates, fastest first, as kvm_stat shows them", async () => {
    const terminal = startTop();
    await bothVmsWithRates(terminal);
    // The first row is selected: the busy VM, by CPU.
    expect(reversedIn(terminal.styledScreen()[2]!)[0]).toMatch(new RegExp(`^${BUSY.replace('.', '\\.')} `));
    terminal.press('x');
    // Rates over one refresh can be uneven on a loaded machine (a read between the writes of two files);
    // the order by rate shows within a few refreshes.
    const rates = (lines: string[]) => lines.slice(3, 6).map((line) => cellsOf(line));
    const expanded = await terminal.screenWhere(`${BUSY}'s counters by rate`, (lines) => {
      const counters = rates(lines);
      const perSecond = counters.map((cells) => (cells[2] === undefined || cells[2] === '-' ? NaN : rateValue(cells[2])));
      return (
        lines[1] === `${BUSY}: hypervisor counters, fastest first` &&
        counters.map((cells) => cells[0]).join() === 'exits,io_exits,halt_exits' &&
        perSecond[0]! > perSecond[1]! &&
        perSecond[1]! > perSecond[2]! &&
        perSecond[2]! > 0
      );
    });
    expect(expanded[2]).toMatch(/^COUNTER +TOTAL +PER SEC$/);
    const totals = rates(expanded).map((cells) => Number(cells[1]));
    expect(totals[0]).toBeGreaterThan(totals[1]!);
    expect(totals[1]).toBeGreaterThan(totals[2]!);
    expect(expanded[23]).toBe('x or Esc back  q quit');

    terminal.press('Escape');
    await terminal.screenWhere('the VMs again', (lines) => FOOTER.test(lines[23]!));
    terminal.press('Down');
    await terminal.screenWhere(`${IDLE} selected`, () => reversedIn(terminal.styledScreen()[3]!)[0]?.startsWith(`${IDLE} `) === true);
    terminal.press('x');
    await terminal.screenWhere(`${IDLE} without counters`, (lines) =>
      lines[1] === `${IDLE}: hypervisor counters, fastest first` && lines[3]!.startsWith("no hypervisor counters in this VM's Data"),
    );
    terminal.press('x');
    await terminal.screenWhere('the VMs again', (lines) => FOOTER.test(lines[23]!));
    terminal.press('q');
    await expectRestoredAfterExit(terminal);
  });

  it('prints plain blocks with --batch even on a terminal, and exits 0 after --iterations', async () => {
    const terminal = startTop(['-b', '-n', '2']);
    const lines = await terminal.screenWhere('top to exit', (l) => l.some((line) => line.startsWith('top exited')));
    expect(lines.find((line) => line.startsWith('top exited'))).toMatch(/^top exited with status 0; tty: isig icanon echo\s*$/);
    // Not on the alternate screen: the blocks are still there after top exited.
    expect(lines.filter((line) => line.startsWith('vmm-stats top '))).toHaveLength(2);
    expect(lines.filter((line) => /^VM +CPU%/.test(line))).toHaveLength(2);
    expect(vmRows(lines)).toHaveLength(4);
  });

  it('drops a VM from the screen a few intervals after it is removed', async () => {
    const removed = 'mike.removed';
    const idle = await children.idle();
    await run(process.execPath, [cli, 'add', removed, '--pid', String(idle.pid), '--socket', socket]);
    const terminal = startTop();
    const hasRemoved = (lines: string[]) => lines.some((line) => line.startsWith(`${removed} `));
    await terminal.screenWhere(`${removed} on the screen`, hasRemoved);
    await run(process.execPath, [cli, 'remove', removed, '--socket', socket]);
    const after = await terminal.screenWhere(`${removed} gone from the screen`, (lines) => !hasRemoved(lines));
    expect(after[0]).toMatch(/ {2}2 VMs {2}/);
    expect(vmRows(after)).toHaveLength(2);
    await children.kill(idle);
  });

  it('quits on Ctrl-C as on q', async () => {
    const terminal = startTop();
    await terminal.screenWhere('the VMs', (lines) => vmRows(lines).length === 2);
    terminal.press('C-c');
    await expectRestoredAfterExit(terminal);
  });
});

/** Runs top on the test's daemon with its output piped until it exits by itself (or 30 s pass). */
async function topUntilExit(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  const top = spawn(process.execPath, [cli, 'top', '--socket', socket, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  top.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  top.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const limit = setTimeout(() => top.kill('SIGKILL'), 30_000);
  const [code] = (await once(top, 'exit')) as [number | null];
  clearTimeout(limit);
  return { code, stdout, stderr, seconds: (performance.now() - started) / 1000 };
}

function blocksIn(output: string): number {
  return output.split('\n').filter((line) => line.startsWith('vmm-stats top ')).length;
}

/** Reads back a rate as top writes it: 0, 7.5, 512, 1.2k, 34k, 5.6M. */
function rateValue(text: string): number {
  const scale = { k: 1e3, M: 1e6, G: 1e9 }[text.slice(-1)] ?? 1;
  return parseFloat(text) * scale;
}

const tapMissing = tapUnavailableReason();
if (tapMissing) console.warn(`skipping top's tap traffic test: ${tapMissing}`);

describe('top without a terminal', () => {
  it('prints plain blocks of rows, one per interval, without escape codes, and exits 0 on SIGINT', async () => {
    const top = spawn(process.execPath, [cli, 'top', '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    top.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const blocks = () => output.split('\n').filter((line) => line.startsWith('vmm-stats top ')).length;
    await eventually(() => (blocks() >= 4 ? true : undefined), 15_000, `four blocks; got:\n${output}`);
    const exited = once(top, 'exit');
    top.kill('SIGINT');
    expect((await exited)[0]).toBe(0);
    expect(output).not.toContain('\x1b');
    const lines = output.split('\n');
    expect(lines[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN pk\/s +OUT pk\/s +IN B\/s +OUT B\/s +TAPS +EXITS\/s$/);
    const busyCpu = vmRows(lines)
      .filter((cells) => cells[0] === BUSY)
      .map((cells) => Number(cells[1]));
    expect(busyCpu.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...busyCpu.filter((cpu) => !Number.isNaN(cpu)))).toBeGreaterThan(0);
  });

  it('exits 0 by itself after --iterations refreshes', async () => {
    const { code, stdout, seconds } = await topUntilExit(['-n', '3']);
    expect(code).toBe(0);
    expect(blocksIn(stdout)).toBe(3);
    // The daemon ticks every 0.2 s: three refreshes come within a few seconds.
    expect(seconds).toBeLessThan(10);
  });

  it('ends --iterations even when no VM sends Data, refreshing every 3 seconds then', async () => {
    const { code, stdout, seconds } = await topUntilExit(['nobody.here', '-n', '2']);
    expect(code).toBe(0);
    expect(blocksIn(stdout)).toBe(2);
    expect(stdout).toMatch(/^vmm-stats top \d\d:\d\d:\d\d {2}0 VMs /m);
    expect(seconds).toBeGreaterThanOrEqual(6);
  });

  it('refreshes every --delay seconds, not with each of the daemon\'s ticks, with rates over the delay', async () => {
    const { code, stdout, seconds } = await topUntilExit(['--delay', '1', '-n', '3']);
    expect(code).toBe(0);
    expect(blocksIn(stdout)).toBe(3);
    // The first refresh comes with the first Data, then one a second.
    expect(seconds).toBeGreaterThanOrEqual(2);
    const busyExits = vmRows(stdout.split('\n')).filter((cells) => cells[0] === BUSY).map((cells) => cells[8]!);
    expect(busyExits[0]).toBe('-');
    // Over a whole second the writer's 3000 a second show, give or take a loaded machine's delays.
    for (const exits of busyExits.slice(1)) expect(rateValue(exits)).toBeGreaterThan(500);
  });

  it('exits 0 at --end-time, given from now, as an ISO 8601 timestamp, or as a time of day', async () => {
    const timeOfDay = (at: Date) => at.toTimeString().slice(0, 8);
    const ends: [string, () => string, number][] = [
      ['from now', () => '+2', 2000],
      ['ISO 8601', () => new Date(Date.now() + 2000).toISOString(), 2000],
      // Whole seconds: three from now is at least two.
      ['time of day', () => timeOfDay(new Date(Date.now() + 3000)), 2000],
    ];
    for (const [what, endTime, atLeastMs] of ends) {
      const started = Date.now();
      const { code, stdout } = await topUntilExit(['--end-time', endTime()]);
      expect(code, what).toBe(0);
      expect(Date.now() - started, what).toBeGreaterThanOrEqual(atLeastMs - 100);
      expect(blocksIn(stdout), what).toBeGreaterThan(2);
    }
  });

  it('logs one CSV line per VM per refresh, with a header, ISO 8601 times and quoted names', async () => {
    const odd = 'csv, "odd" name';
    const idle = await children.idle();
    await run(process.execPath, [cli, 'add', odd, '--pid', String(idle.pid), '--socket', socket]);
    const path = join(dir, 'log.csv');
    try {
      const { code } = await topUntilExit(['-n', '4', '--csv', path, '--fields', 'cpu,exits,memory']);
      expect(code).toBe(0);
    } finally {
      await run(process.execPath, [cli, 'remove', odd, '--socket', socket]);
      await children.kill(idle);
    }
    const records = readCsv(readFileSync(path, 'utf8'));
    expect(records[0]).toEqual(['time', 'vm', 'cpu_percent', 'exits_per_s', 'maxrss_mib']);
    const rows = records.slice(1);
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((row) => row[1]))).toEqual(new Set([IDLE, BUSY, odd]));
    for (const row of rows) expect(new Date(row[0]!).toISOString()).toBe(row[0]);
    expect(new Set(rows.map((row) => row[0])).size).toBe(4);
    const busy = rows.filter((row) => row[1] === BUSY);
    expect(busy[0]!.slice(2, 4)).toEqual(['', '']);
    for (const row of busy.slice(1)) {
      expect(row[2]).toMatch(/^\d+(\.\d+)?$/);
      expect(row[3]).toMatch(/^\d+(\.\d+)?$/);
    }
    expect(Math.max(...busy.slice(1).map((row) => Number(row[2])))).toBeGreaterThan(0);
    expect(Math.max(...busy.slice(1).map((row) => Number(row[3])))).toBeGreaterThan(0);
    for (const row of rows.filter((r) => r[1] !== BUSY)) expect(row[3]).toBe('');
    for (const row of rows) expect(Number(row[4])).toBeGreaterThan(0);
  });

  it('reopens the CSV file on SIGHUP: after a rename, a new file with the header and further lines', async () => {
    const path = join(dir, 'rotated.csv');
    const top = spawn(process.execPath, [cli, 'top', '--socket', socket, '--csv', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    const lineCount = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);
    try {
      await eventually(() => (lineCount(path) >= 5 ? true : undefined), 15_000, 'lines in the CSV file');
      renameSync(path, `${path}.1`);
      await eventually(() => (lineCount(`${path}.1`) >= 7 ? true : undefined), 15_000, 'lines in the renamed file, still written');
      top.kill('SIGHUP');
      await eventually(() => (lineCount(path) >= 5 ? true : undefined), 15_000, 'lines in a new CSV file');
      const exited = once(top, 'exit');
      top.kill('SIGINT');
      expect((await exited)[0]).toBe(0);
    } finally {
      if (top.exitCode === null) top.kill('SIGKILL');
    }
    const [old, fresh] = [readCsv(readFileSync(`${path}.1`, 'utf8')), readCsv(readFileSync(path, 'utf8'))];
    for (const records of [old, fresh]) {
      expect(records[0]).toEqual(['time', 'vm', 'cpu_percent', 'maxrss_mib', 'packets_in_per_s', 'packets_out_per_s', 'bytes_in_per_s', 'bytes_out_per_s', 'taps', 'exits_per_s']);
      expect(records.slice(1).every((record) => record[0] !== 'time' && record.length === 10)).toBe(true);
    }
    // Nothing lost or repeated across the rotation: the new file goes on where the old one stopped.
    const times = [...old.slice(1), ...fresh.slice(1)].map((record) => record[0]!);
    expect([...times].sort()).toEqual(times);
    expect(fresh[1]![0]! >= old.at(-1)![0]!).toBe(true);
  });

  it.skipIf(tapMissing !== undefined)("shows a tap's traffic from the VM as IN, per second, for a NAME subtree", async () => {
    const tap = await TapVmm.create(uniqueInterfaceName('vtop'));
    let top: ChildProcess | undefined;
    try {
      await run(process.execPath, [cli, 'add', 'tapped.vm', '--pid', String(tap.process.pid), '--tap', tap.name, '--socket', socket]);
      top = spawn(process.execPath, [cli, 'top', 'tapped', '--socket', socket], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      top.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const rows = () => output.split('\n').filter((line) => line.startsWith('tapped.vm ')).map(cellsOf);
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline) await tap.send(50, 200);
      const busy = rows().filter((cells) => cells[3] !== '-' && rateValue(cells[3]!) > 0);
      expect(busy.length, output).toBeGreaterThan(0);
      for (const [, , , packetsIn, packetsOut, bytesIn, bytesOut, taps] of busy) {
        expect(taps).toBe('1');
        expect([packetsOut, bytesOut]).toEqual(['0', '0']);
        // Frames of 200 bytes: the bytes and packets rates agree, within the rounding of the display.
        expect(rateValue(bytesIn!) / rateValue(packetsIn!)).toBeGreaterThan(150);
        expect(rateValue(bytesIn!) / rateValue(packetsIn!)).toBeLessThan(250);
      }
      expect(output).not.toMatch(new RegExp(`^(${BUSY}|${IDLE}) `, 'm'));
    } finally {
      top?.kill('SIGINT');
      await tap.destroy();
    }
  });
});
