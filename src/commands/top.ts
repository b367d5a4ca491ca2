import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { StatsClient } from '../client/client.js';
import { TopModel } from '../top/model.js';
import {
  DEFAULT_ORDER,
  orderAfterKey,
  renderPlainBlock,
  renderScreen,
  SORT_CHOICES,
  type SortOrder,
  type View,
} from '../top/screen.js';
import { parseCommandLine, terminationSignal, UsageError, type Command } from './command.js';
import { socketOption } from './client-commands.js';
import { vmLabels } from '../vm/vm.js';
import { usageText, type OptionTable } from './options.js';

/** Frames of one tick arrive together: wait for a quiet moment, so a tick is drawn once and whole. */
const QUIET_MS = 100;
/** ...but draw at least this often while frames keep coming. */
const MAX_WAIT_MS = 500;
/** The screen is redrawn this often without Data too: the clock moves, and silent VMs go away. */
const CLOCK_MS = 1000;
const QUIT_KEYS = ['q', 'Q', '\x03'];

const ENTER_SCREEN = '\x1b[?1049h\x1b[?25l';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';

const topOptions = {
  sort: {
    type: 'string',
    placeholder: 'COLUMN',
    default: DEFAULT_ORDER.column,
    help: `the starting order: ${SORT_CHOICES.map((choice) => choice.column).join(', ')}`,
  },
  ...socketOption,
} satisfies OptionTable;

const usage = usageText(
  `usage: vmm-stats top [NAME] [--sort COLUMN] [--socket PATH]

A live view of the VMs: subscribes to NAME and every VM below it (no NAME: every VM) and shows one
row per VM, refreshed as each interval's Data arrives:
  CPU%        user + system CPU time over wall-clock time between the VM's last two Data;
              100 is one core busy
  MAXRSS MiB  the VM process's peak resident set size, as getrusage reports it (ru_maxrss)
  IN, OUT     packets and bytes per second summed over the VM's taps; IN is traffic from the VM
  TAPS        the taps in the latest Data
'-' is a rate not known yet (one Data so far, or the process restarted). A VM that sends no Data
for a few intervals (removed, or its process exited) leaves the view.

Keys: ${SORT_CHOICES.map((choice) => `${choice.key} sort by ${choice.column}`).join(', ')} (bytes/s),
r reverse the order, q or Ctrl-C quit. When standard output is not a terminal, top prints one plain
block of rows per interval instead.`,
  topOptions,
);

function parseSort(text: string): SortOrder {
  const choice = SORT_CHOICES.find((candidate) => candidate.column === text);
  if (choice === undefined) {
    throw new UsageError(`--sort takes one of ${SORT_CHOICES.map((c) => c.column).join(', ')}, not '${text}'`);
  }
  return { column: choice.column, reversed: false };
}

/**
 * Calls `action` once things have been quiet for QUIET_MS after a poke, or MAX_WAIT_MS after the first.
 * Once stopped it stays stopped: Data still in flight after the user quit must not draw again.
 */
function coalescer(action: () => void): { poke(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let firstPoke = 0;
  let stopped = false;
  const fire = () => {
    timer = undefined;
    action();
  };
  return {
    poke() {
      if (stopped) return;
      const now = performance.now();
      if (timer === undefined) firstPoke = now;
      clearTimeout(timer);
      timer = setTimeout(fire, Math.min(QUIET_MS, firstPoke + MAX_WAIT_MS - now));
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

type Outcome = { kind: 'quit' } | { kind: 'daemon-closed'; error: Error | undefined };

/** Where the view goes: a terminal screen, or plain lines. `finished` settles when the user is done. */
interface Display {
  dataArrived(): void;
  finished: Promise<Outcome>;
  close(): void;
}

/** SIGINT or SIGTERM, the ordinary ways to stop a program that runs until stopped, are a quit. */
function interrupted(): Promise<Outcome> {
  return terminationSignal().then(() => ({ kind: 'quit' }));
}

/** Output closed by its reader (`vmm-stats top | head`) is a normal end, not an error. */
function outputClosed(): Promise<Outcome> {
  return new Promise((resolve) => process.stdout.once('error', () => resolve({ kind: 'quit' })));
}

function plainDisplay(view: () => View): Display {
  const block = coalescer(() => process.stdout.write(renderPlainBlock(view()).join('\n') + '\n'));
  return {
    dataArrived: () => block.poke(),
    finished: Promise.race([interrupted(), outputClosed()]),
    close: () => block.stop(),
  };
}

/** Writes each line at its place, erasing the old line first (the screen always has `rows` lines). */
function drawScreen(lines: string[]): void {
  process.stdout.write(lines.map((line, row) => `\x1b[${row + 1};1H\x1b[2K${line}`).join(''));
}

function terminalDisplay(view: () => View, onKey: (key: string) => void): Display {
  const stdout = process.stdout;
  const size = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const draw = () => drawScreen(renderScreen(view(), size()));
  const redraw = coalescer(draw);
  const clock = setInterval(draw, CLOCK_MS);
  const keys = process.stdin.isTTY ? process.stdin : undefined;
  let quit: (outcome: Outcome) => void = () => {};
  const pressed = new Promise<Outcome>((resolve) => (quit = resolve));
  const readKeys = (chunk: string) => {
    for (const key of chunk) {
      if (QUIT_KEYS.includes(key)) quit({ kind: 'quit' });
      else onKey(key);
    }
    draw();
  };
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    redraw.stop();
    clearInterval(clock);
    stdout.off('resize', draw);
    keys?.off('data', readKeys).setRawMode(false).pause();
    stdout.write(LEAVE_SCREEN);
  };
  stdout.write(ENTER_SCREEN);
  // Should anything throw past us, the shell still gets its terminal back.
  process.once('exit', restore);
  keys?.setRawMode(true).setEncoding('utf8');
  keys?.on('data', readKeys).resume();
  stdout.on('resize', draw);
  draw();
  return {
    dataArrived: () => redraw.poke(),
    finished: Promise.race([pressed, interrupted()]),
    close: restore,
  };
}

export const topCommand: Command = {
  name: 'top',
  summary: 'a live, sortable view of every VM: CPU, memory and tap traffic',
  options: topOptions,
  usage,
  async run(argv) {
    const { values, positionals } = parseCommandLine(argv, topOptions, true);
    if (positionals.length > 1) throw new UsageError('give at most one VM name');
    let order = parseSort(values.sort);
    const client = await StatsClient.connect(values.socket);
    const model = new TopModel();
    const cores = availableParallelism();
    const view = (): View => {
      model.expire(performance.now());
      return { rows: model.rows(), order, now: new Date(), cores };
    };
    // Listening before subscribing: Data may follow the reply in the same read.
    let dataArrived = () => {};
    client.onData((frame) => {
      if (frame.message.kind !== 'stats.data') return;
      model.observe(frame.message.name, frame.message.stats, performance.now());
      dataArrived();
    });
    const reply = await client.request({ kind: 'stats.subscribe', name: vmLabels(positionals[0] ?? '') });
    if (reply.kind === 'fail') {
      process.stderr.write(`vmm-stats: the daemon refused the subscription: ${reply.msg ?? ''}\n`);
      client.close();
      return 1;
    }
    const display = process.stdout.isTTY
      ? terminalDisplay(view, (key) => (order = orderAfterKey(order, key) ?? order))
      : plainDisplay(view);
    dataArrived = display.dataArrived;
    const daemonClosed = client.closed().then((error): Outcome => ({ kind: 'daemon-closed', error }));
    const outcome = await Promise.race([display.finished, daemonClosed]);
    display.close();
    client.close();
    if (outcome.kind === 'quit') return 0;
    const why = outcome.error ? `: ${outcome.error.message}` : '';
    process.stderr.write(`vmm-stats: the daemon closed the connection${why}\n`);
    return 1;
  },
};
