// `vmm-stats top` as an operator sees it: a real daemon sampling real processes, top running in a real
// terminal (tmux, 80x24), keys sent to it, the screen read back; and top with its output piped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TapVmm, tapUnavailableReason, uniqueInterfaceName } from '../helpers/net.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';

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
const children = new ChildProcesses();
let daemon: ChildProcess | undefined;

/** A daemon ticking every 0.2 s, with a CPU-burning process and an idle one registered as two VMs. */
beforeAll(async () => {
  daemon = spawn(process.execPath, [cli, 'daemon', '--socket', socket, '--interval', '0.2', '--log-level', 'warn', '--state-file', ''], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let daemonErrors = '';
  daemon.stderr!.on('data', (chunk: Buffer) => (daemonErrors += chunk.toString()));
  await eventually(() => {
    if (daemon!.exitCode !== null) throw new Error(`the daemon exited with ${daemon!.exitCode}: ${daemonErrors}`);
    return existsSync(socket) ? true : undefined;
  }, 15_000, 'the daemon socket');
  const busy = await children.busy();
  const idle = await children.idle();
  await run(process.execPath, [cli, 'add', BUSY, '--pid', String(busy.pid), '--socket', socket]);
  await run(process.execPath, [cli, 'add', IDLE, '--pid', String(idle.pid), '--socket', socket]);
});

afterAll(async () => {
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

/** A tmux server of its own holding one 80x24 window, no status line, running top in a shell. */
class Terminal {
  static #count = 0;
  // A socket in the test's directory, removed with it (tmux leaves its socket file behind).
  readonly #server = join(dir, `tmux-${Terminal.#count++}.sock`);

  constructor(config: string) {
    // After top, the shell says how top exited and whether the tty is back in cooked mode, on one line.
    const script =
      '"$0" "$1" top --socket "$2"; status=$?; ' +
      'modes=$(stty -a | tr " ;" "\\n\\n" | grep -xE -- "-?(isig|icanon|echo)" | tr "\\n" " "); ' +
      'echo "top exited with status $status; tty: $modes"; exec sleep 3600';
    this.tmux('-f', config, 'new-session', '-d', '-x', '80', '-y', '24', 'sh', '-c', script, process.execPath, cli, socket);
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

  function startTop(): Terminal {
    const terminal = new Terminal(config);
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

  it('shows both VMs with the busy one on top by CPU, re-sorts on keys, redraws on resize, quits on q', async () => {
    const terminal = startTop();
    const first = await terminal.screenWhere(`a CPU % above 0 for ${BUSY}`, (lines) => {
      const busy = vmRows(lines).find((cells) => cells[0] === BUSY);
      return busy !== undefined && Number(busy[1]) > 0 && vmRows(lines).length === 2;
    });
    expect(terminal.flags()).toBe('1 0');
    expect(first).toHaveLength(24);
    expect(first[0]).toMatch(/^vmm-stats top \d\d:\d\d:\d\d {2}2 VMs {2}CPU [\d.]+% of \d+%/);
    expect(first[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN pk\/s +OUT pk\/s +IN B\/s +OUT B\/s +TAPS$/);
    expect(first[23]).toMatch(/^c CPU {2}m mem {2}n name .* q quit +by CPU%, high first$/);
    expect(vmRows(first).map((cells) => cells[0])).toEqual([BUSY, IDLE]);

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

    terminal.tmux('resize-window', '-x', '60', '-y', '12');
    const small = await terminal.screenWhere('the screen redrawn at 60x12', (lines) => lines.length === 12 && lines[11]!.startsWith('c CPU'));
    expect(small[0]).toMatch(/^vmm-stats top /);
    expect(vmRows(small)).toHaveLength(2);

    terminal.press('q');
    await expectRestoredAfterExit(terminal);
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
    expect(lines[1]).toMatch(/^VM +CPU% +MAXRSS MiB +IN pk\/s +OUT pk\/s +IN B\/s +OUT B\/s +TAPS$/);
    const busyCpu = vmRows(lines)
      .filter((cells) => cells[0] === BUSY)
      .map((cells) => Number(cells[1]));
    expect(busyCpu.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...busyCpu.filter((cpu) => !Number.isNaN(cpu)))).toBeGreaterThan(0);
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
